package postgres

import (
	"context"
	"testing"

	"github.com/plinth-dev/plinth/internal/spec"
	"github.com/plinth-dev/plinth/internal/store"
	"github.com/plinth-dev/plinth/internal/store/storetest"
)

// TestStore runs the behaviour suite every driver passes, with a fresh schema per store.
func TestStore(t *testing.T) {
	testURL(t) // fail once, not in every subtest, when the database is not configured
	storetest.Run(t, func(t *testing.T, model *spec.Model) store.Store {
		return openTest(t, model, Options{})
	})
}

// TestMigrationSuite runs the migration checks every driver passes, in a new schema each.
func TestMigrationSuite(t *testing.T) {
	url := testURL(t)
	storetest.RunMigrations(t, func(t *testing.T) storetest.Reopener {
		schema := newSchema(t)
		return func(model *spec.Model) (storetest.ClosingStore, error) {
			db, err := Open(context.Background(), url, model, Options{Schema: schema})
			if err != nil {
				return nil, err
			}
			return db, nil
		}
	})
}
