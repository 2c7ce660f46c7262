package cache_test

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/plinth-dev/plinth/internal/cache"
	"github.com/plinth-dev/plinth/internal/spec"
	"github.com/plinth-dev/plinth/internal/store"
	"github.com/plinth-dev/plinth/internal/store/open"
	"github.com/plinth-dev/plinth/internal/store/pgtest"
	"github.com/plinth-dev/plinth/internal/testwait"
)

const itemsSpec = `plinth: 1
name: items
resources:
  items:
    fields:
      n: {type: integer}
`

// TestFillRacesInvalidation: readers that miss and fill race a writer whose every commit
// invalidates; once a write has returned, no read returns an older version. Without the
// stripes' generations, a read of the old version that finished after the invalidation
// would be kept for ever. Run it with -race.
func TestFillRacesInvalidation(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { testFillRace(t, open.Options{DataDir: t.TempDir()}) })
	t.Run("postgres", func(t *testing.T) {
		url := pgtest.URL(t)
		testFillRace(t, open.Options{DataDir: t.TempDir(), Database: url, Schema: pgtest.Schema(t, url)})
	})
}

func testFillRace(t *testing.T, o open.Options) {
	model, diags := spec.Compile("items.yaml", []byte(itemsSpec))
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	items, _ := model.Resource("items")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	db, err := open.Open(ctx, model, o)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	c, err := cache.New(cache.Config{Store: db, Poll: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	wg.Go(func() { c.Run(ctx) })
	rec := &store.Record{ID: "a", Version: 1, Fields: map[string]any{"n": int64(0)}}
	if err := c.Write(ctx, func(tx store.Tx) error { return tx.Insert(ctx, items, rec) }); err != nil {
		t.Fatal(err)
	}
	testwait.Within(t, 10*time.Second, "the cache to serve", c.Serving)

	var committed atomic.Int64
	committed.Store(1)
	done := make(chan struct{})
	var stale atomic.Int64
	var readers sync.WaitGroup
	for range 4 {
		readers.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				want := committed.Load()
				got, err := c.Get(ctx, items, "a")
				if err != nil {
					t.Error(err)
					return
				}
				if got.Version < want {
					stale.Add(1)
				}
			}
		})
	}
	for v := int64(2); v <= 200; v++ {
		err := c.Write(ctx, func(tx store.Tx) error {
			old, err := tx.Get(ctx, items, "a")
			if err != nil {
				return err
			}
			next := &store.Record{ID: "a", Version: old.Version + 1, CreatedAt: old.CreatedAt, UpdatedAt: old.UpdatedAt,
				Fields: map[string]any{"n": v}}
			if err := tx.Update(ctx, items, next, old.Version); err != nil {
				return err
			}
			return tx.AppendEvent(ctx, items, store.Event{ID: "e" + strconv.FormatInt(v, 10), Type: "items.updated", Resource: "items",
				RecordID: "a", Time: time.Now(), Record: next, Old: old})
		})
		if err != nil {
			t.Fatal(err)
		}
		committed.Store(v)
	}
	close(done)
	readers.Wait()
	if n := stale.Load(); n > 0 {
		t.Errorf("%d reads returned a version older than one committed before they began", n)
	}
}
