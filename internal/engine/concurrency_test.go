package engine_test

import (
	"fmt"
	"sync"
	"testing"

	"github.com/plinth-dev/plinth/internal/engine"
	"github.com/plinth-dev/plinth/internal/fault"
	"github.com/plinth-dev/plinth/internal/store"
)

const counterSpec = `
plinth: 1
name: test
resources:
  counters:
    fields:
      name:  {type: string, max_length: 20, unique: true}
      value: integer
      owner: {type: string, default: auth.sub, max_length: 20}
    access:
      list:   "true"
      read:   "true"
      create: 'auth.sub != ""'
      update: 'auth.sub != ""'
`

func TestConcurrentCreates(t *testing.T) {
	t.Parallel()
	e := newEnv(t, counterSpec)
	const n = 50
	var wg sync.WaitGroup
	recs := make([]*store.Record, n)
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx := as(fmt.Sprintf("user%d", i), "customer")
			recs[i], errs[i] = create1(e.eng, ctx, "counters", map[string]any{"name": fmt.Sprintf("c%d", i), "value": int64(i)})
		}()
	}
	wg.Wait()
	seen := map[string]int{}
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("create %d: %s", i, describe(errs[i]))
		}
		id := recs[i].ID
		if j, dup := seen[id]; dup {
			t.Fatalf("creates %d and %d got the same id %s", j, i, id)
		}
		seen[id] = i
		if recs[i].Fields["owner"] != fmt.Sprintf("user%d", i) {
			t.Errorf("create %d: owner %v, each write must see its own caller", i, recs[i].Fields["owner"])
		}
	}
	all := e.all("counters")
	if len(all) != n {
		t.Fatalf("%d records stored, want %d", len(all), n)
	}
	for _, r := range all {
		i, ok := seen[r.ID]
		if !ok || r.Fields["value"] != int64(i) {
			t.Errorf("stored %v does not match what create %d returned", r, i)
		}
	}
}

func TestConcurrentUpdatesWithOnePrecondition(t *testing.T) {
	t.Parallel()
	e := newEnv(t, counterSpec)
	id := e.create(alice, "counters", `{"name": "c", "value": 0}`).ID
	const n = 20
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = update1(e.eng, alice, "counters", id, map[string]any{"value": int64(i + 1)}, engine.OpUpdate, engine.Precondition{Version: 1})
		}()
	}
	wg.Wait()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil:
			if winner >= 0 {
				t.Errorf("updates %d and %d both succeeded with the same precondition", winner, i)
			}
			winner = i
		case fault.CodeOf(err) == fault.PreconditionFailed:
			if v := fault.As(err).Extra["current_version"]; v != int64(2) {
				t.Errorf("update %d: current_version %v, want 2", i, v)
			}
		default:
			t.Errorf("update %d: %s, want success or PreconditionFailed", i, describe(err))
		}
	}
	if winner < 0 {
		t.Fatal("no update succeeded")
	}
	cur := e.get(alice, "counters", id)
	if cur.Version != int64(2) || cur.Fields["value"] != int64(winner+1) {
		t.Errorf("stored %v, want version 2 with the winner's value %d", cur, winner+1)
	}
}

// TestConcurrentUniqueCreates: of many concurrent creates with one unique value, one wins and
// the others are unique conflicts.
func TestConcurrentUniqueCreates(t *testing.T) {
	t.Parallel()
	e := newEnv(t, counterSpec)
	const n = 20
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = create1(e.eng, bob, "counters", map[string]any{"name": "same"})
		}()
	}
	wg.Wait()
	ok := 0
	for i, err := range errs {
		if err == nil {
			ok++
			continue
		}
		wantCode(t, err, fault.Conflict)
		if c := fieldCodes(t, err); c["name"] != "unique" {
			t.Errorf("create %d: %v, want name: unique", i, c)
		}
	}
	if ok != 1 || len(e.all("counters")) != 1 {
		t.Errorf("%d creates succeeded, %d stored; want 1", ok, len(e.all("counters")))
	}
}
