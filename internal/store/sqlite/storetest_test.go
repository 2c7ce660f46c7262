package sqlite_test

import (
	"context"
	"testing"

	"github.com/plinth-dev/plinth/internal/spec"
	"github.com/plinth-dev/plinth/internal/store"
	"github.com/plinth-dev/plinth/internal/store/sqlite"
	"github.com/plinth-dev/plinth/internal/store/storetest"
)

// TestStore runs the behaviour suite every driver passes, with a fresh database per store.
func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T, model *spec.Model) store.Store {
		db, err := sqlite.Open(context.Background(), t.TempDir(), model, sqlite.Options{})
		if err != nil {
			t.Fatalf("open: %v", err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	})
}
