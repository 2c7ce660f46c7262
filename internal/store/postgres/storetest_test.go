package postgres

import (
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
