package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/plinth-dev/plinth/internal/fault"
	"github.com/plinth-dev/plinth/internal/query"
	"github.com/plinth-dev/plinth/internal/store"
)

func testUpdateDelete(t *testing.T, open Opener) {
	f := newFixture(t, open)
	things := f.res("things")
	v1 := newRecord("u1", baseTime, row{"s": "one", "i": int64(1), "tags": []any{"a"}, "j": map[string]any{"k": "v"}})
	f.insert(things, v1)

	// An update replaces the record: fields left out become null.
	v2 := newRecord("u1", baseTime, row{"s": "two", "n": 2.5})
	v2["version"], v2["updated_at"] = int64(2), baseTime.Add(time.Minute)
	f.write(func(tx store.Tx) error { return tx.Update(f.ctx, things, store.FromMap(v2), 1) })
	checkRecord(t, "after update", expected(things, v2, nil), f.get(things, "u1"))

	// A stale version is a Conflict, and changes nothing.
	stale := newRecord("u1", baseTime, row{"s": "stale"})
	stale["version"] = int64(2)
	err := f.store.Write(f.ctx, func(tx store.Tx) error { return tx.Update(f.ctx, things, store.FromMap(stale), 1) })
	wantFault(t, "update with a stale version", err, fault.Conflict, "")
	checkRecord(t, "after a stale update", expected(things, v2, nil), f.get(things, "u1"))

	// So is an update of a record that does not exist.
	ghost := newRecord("ghost", baseTime, nil)
	err = f.store.Write(f.ctx, func(tx store.Tx) error { return tx.Update(f.ctx, things, store.FromMap(ghost), 1) })
	wantFault(t, "update of a missing record", err, fault.Conflict, "")
	f.mustBeMissing(things, "ghost")

	// Read, modify and write in one transaction.
	f.write(func(tx store.Tx) error {
		cur, err := tx.Get(f.ctx, things, "u1")
		if err != nil {
			return err
		}
		cur.Fields["s"] = "three"
		cur.Version++
		return tx.Update(f.ctx, things, cur, 2)
	})
	if got := f.get(things, "u1"); got.Fields["s"] != "three" || got.Version != int64(3) {
		t.Errorf("after read-modify-write: %v", got)
	}

	// Reads in one transaction see its own writes, however often the record is read.
	f.write(func(tx store.Tx) error {
		var cur *store.Record
		for range 2 {
			if cur, err = tx.Get(f.ctx, things, "u1"); err != nil || cur.Fields["s"] != "three" {
				t.Errorf("Tx.Get before the update: %v, %v", cur, err)
			}
		}
		next := cur.Clone()
		next.Fields["s"], next.Version = "four", 4
		if err := tx.Update(f.ctx, things, next, 3); err != nil {
			return err
		}
		for range 2 {
			if cur, err = tx.Get(f.ctx, things, "u1"); err != nil || cur.Fields["s"] != "four" || cur.Version != int64(4) {
				t.Errorf("Tx.Get after the update: %v, %v", cur, err)
			}
		}
		next = cur.Clone()
		next.Fields["i"], next.Version = int64(5), 5
		return tx.Update(f.ctx, things, next, 4)
	})
	if got := f.get(things, "u1"); got.Fields["s"] != "four" || got.Fields["i"] != int64(5) || got.Version != int64(5) {
		t.Errorf("after two updates in one transaction: %v", got)
	}

	// Tx.Get of a missing record is NotFound, and the transaction goes on.
	f.write(func(tx store.Tx) error {
		if _, err := tx.Get(f.ctx, things, "missing"); fault.CodeOf(err) != fault.NotFound {
			t.Errorf("Tx.Get missing: %v, want NotFound", err)
		}
		return tx.Insert(f.ctx, things, store.FromMap(newRecord("after-missing", baseTime, nil)))
	})
	f.get(things, "after-missing")

	// Delete.
	err = f.store.Write(f.ctx, func(tx store.Tx) error { return tx.Delete(f.ctx, things, "missing") })
	wantFault(t, "delete of a missing record", err, fault.NotFound, "")
	f.write(func(tx store.Tx) error {
		if err := tx.Delete(f.ctx, things, "u1"); err != nil {
			return err
		}
		if _, err := tx.Get(f.ctx, things, "u1"); fault.CodeOf(err) != fault.NotFound {
			t.Errorf("Tx.Get after delete in the same transaction: %v, want NotFound", err)
		}
		if err := tx.Delete(f.ctx, things, "u1"); fault.CodeOf(err) != fault.NotFound {
			t.Errorf("second delete in the same transaction: %v, want NotFound", err)
		}
		return nil
	})
	f.mustBeMissing(things, "u1")
	err = f.store.Write(f.ctx, func(tx store.Tx) error { return tx.Delete(f.ctx, things, "u1") })
	wantFault(t, "delete of a deleted record", err, fault.NotFound, "")

	// A deleted id can be used again.
	f.insert(things, newRecord("u1", baseTime, row{"s": "again"}))
	if got := f.get(things, "u1"); got.Fields["s"] != "again" {
		t.Errorf("reinserted: %v", got)
	}
}

func testUnique(t *testing.T, open Opener) {
	f := newFixture(t, open)
	things := f.res("things")
	f.insert(things,
		newRecord("a", baseTime, row{"code": "U1", "e": "red", "i": int64(1)}),
		newRecord("b", baseTime, row{"code": "u1", "e": "red", "i": int64(2)}), // case matters
		newRecord("c", baseTime, row{"code": "é"}),
		newRecord("d", baseTime, row{"code": "e\u0301"}), // bytes, not canonical equivalence
		newRecord("n1", baseTime, row{"e": "blue"}),      // NULLs never clash
		newRecord("n2", baseTime, row{"e": "blue"}),
	)
	cases := []struct {
		what   string
		fn     func(tx store.Tx) error
		fields []string
	}{
		{"same unique field", func(tx store.Tx) error {
			return tx.Insert(f.ctx, things, store.FromMap(newRecord("x", baseTime, row{"code": "U1"})))
		}, []string{"code"}},
		{"same unique pair", func(tx store.Tx) error {
			return tx.Insert(f.ctx, things, store.FromMap(newRecord("x", baseTime, row{"e": "red", "i": int64(2)})))
		}, []string{"e", "i"}},
		{"same id", func(tx store.Tx) error {
			return tx.Insert(f.ctx, things, store.FromMap(newRecord("a", baseTime, row{"code": "other"})))
		}, []string{"id"}},
		{"update to a taken value", func(tx store.Tx) error {
			rec := newRecord("c", baseTime, row{"code": "U1"})
			rec["version"] = int64(2)
			return tx.Update(f.ctx, things, store.FromMap(rec), 1)
		}, []string{"code"}},
		{"a clash after other writes", func(tx store.Tx) error {
			if err := tx.Insert(f.ctx, things, store.FromMap(newRecord("y", baseTime, row{"code": "Y"}))); err != nil {
				return err
			}
			return tx.Insert(f.ctx, things, store.FromMap(newRecord("z", baseTime, row{"code": "Y"})))
		}, []string{"code"}},
	}
	for _, c := range cases {
		err := f.store.Write(f.ctx, c.fn)
		fe := wantFault(t, c.what, err, fault.Conflict, "unique")
		if fe == nil {
			continue
		}
		var got []string
		for _, fl := range fe.Fields {
			if fl.Code != "unique" {
				t.Errorf("%s: field error %+v, want code unique", c.what, fl)
			}
			got = append(got, fl.Field)
		}
		if !slices.Equal(got, c.fields) {
			t.Errorf("%s: fields %v, want %v", c.what, got, c.fields)
		}
	}
	for _, id := range []string{"x", "y", "z"} {
		f.mustBeMissing(things, id)
	}
	if got := f.get(things, "c"); got.Fields["code"] != "é" || got.Version != int64(1) {
		t.Errorf("c after a refused update: %v", got)
	}
}

func testForeignKey(t *testing.T, open Opener) {
	f := newFixture(t, open)
	things, owners := f.res("things"), f.res("owners")
	f.insert(owners, newRecord("o1", baseTime, row{"name": "one"}), newRecord("o2", baseTime, nil))
	f.insert(things, newRecord("t1", baseTime, row{"owner": "o1"}))

	err := f.store.Write(f.ctx, func(tx store.Tx) error { return tx.Delete(f.ctx, owners, "o1") })
	wantFault(t, "delete of a referenced record", err, fault.Conflict, "referenced")
	f.get(owners, "o1")

	err = f.store.Write(f.ctx, func(tx store.Tx) error {
		return tx.Insert(f.ctx, things, store.FromMap(newRecord("t2", baseTime, row{"owner": "missing"})))
	})
	wantFault(t, "insert referring to a missing record", err, fault.Conflict, "")
	f.mustBeMissing(things, "t2")

	err = f.store.Write(f.ctx, func(tx store.Tx) error {
		rec := newRecord("t1", baseTime, row{"owner": "O1"})
		rec["version"] = int64(2)
		return tx.Update(f.ctx, things, store.FromMap(rec), 1)
	})
	wantFault(t, "update referring to a missing record", err, fault.Conflict, "")
	if got := f.get(things, "t1"); got.Fields["owner"] != "o1" {
		t.Errorf("t1 after a refused update: %v", got)
	}

	// Moving the reference frees the first owner; a record may refer to one created in the same
	// transaction.
	f.write(func(tx store.Tx) error {
		if err := tx.Insert(f.ctx, owners, store.FromMap(newRecord("o3", baseTime, nil))); err != nil {
			return err
		}
		rec := newRecord("t1", baseTime, row{"owner": "o3"})
		rec["version"] = int64(2)
		if err := tx.Update(f.ctx, things, store.FromMap(rec), 1); err != nil {
			return err
		}
		return tx.Delete(f.ctx, owners, "o1")
	})
	f.mustBeMissing(owners, "o1")
	f.write(func(tx store.Tx) error {
		if err := tx.Delete(f.ctx, things, "t1"); err != nil {
			return err
		}
		return tx.Delete(f.ctx, owners, "o3")
	})
	f.mustBeMissing(owners, "o3")
}

func testRollback(t *testing.T, open Opener) {
	f := newFixture(t, open)
	things, owners := f.res("things"), f.res("owners")
	f.insert(things, newRecord("kept", baseTime, row{"s": "before"}))
	f.insert(owners, newRecord("gone", baseTime, nil))

	idem := store.Outcome{Scope: "s", Operation: "POST /v1/things", Key: "k",
		Fingerprint: "f", Response: []byte("201"), CreatedAt: baseTime, ExpiresAt: baseTime.Add(time.Hour)}
	err := f.store.Write(f.ctx, func(tx store.Tx) error {
		rec := newRecord("new", baseTime, nil)
		if err := tx.Insert(f.ctx, things, store.FromMap(rec)); err != nil {
			return err
		}
		kept := newRecord("kept", baseTime, row{"s": "after"})
		kept["version"] = int64(2)
		if err := tx.Update(f.ctx, things, store.FromMap(kept), 1); err != nil {
			return err
		}
		if err := tx.Delete(f.ctx, owners, "gone"); err != nil {
			return err
		}
		if err := tx.AppendEvent(f.ctx, things, store.Event{ID: "ev", Type: "things.created", Resource: "things",
			RecordID: "new", Time: baseTime, Record: store.FromMap(rec)}); err != nil {
			return err
		}
		if err := tx.PutOutcome(f.ctx, idem); err != nil {
			return err
		}
		return fmt.Errorf("wrapped: %w", errRollback)
	})
	if !errors.Is(err, errRollback) {
		t.Fatalf("Write returned %v, want the body's error", err)
	}
	f.mustBeMissing(things, "new")
	if got := f.get(things, "kept"); got.Fields["s"] != "before" || got.Version != int64(1) {
		t.Errorf("kept after rollback: %v", got)
	}
	f.get(owners, "gone")
	if evs, err := f.store.Events(f.ctx, 0, nil, 10); err != nil || len(evs) != 0 {
		t.Errorf("events after rollback: %v, %v", evs, err)
	}
	if o, err := f.store.Outcome(f.ctx, "s", "POST /v1/things", "k"); fault.CodeOf(err) != fault.NotFound {
		t.Errorf("outcome after rollback: %v, %v", o, err)
	}

	// A fault from the body comes back as it is.
	denied := fault.New(fault.Forbidden, "no")
	err = f.store.Write(f.ctx, func(tx store.Tx) error {
		if err := tx.Insert(f.ctx, things, store.FromMap(newRecord("new", baseTime, nil))); err != nil {
			return err
		}
		return denied
	})
	if fault.As(err) != denied {
		t.Errorf("Write returned %v, want the body's fault", err)
	}
	f.mustBeMissing(things, "new")

	// After a database error the transaction is rolled back whole.
	err = f.store.Write(f.ctx, func(tx store.Tx) error {
		if err := tx.Insert(f.ctx, things, store.FromMap(newRecord("new", baseTime, nil))); err != nil {
			return err
		}
		return tx.Insert(f.ctx, things, store.FromMap(newRecord("kept", baseTime, nil)))
	})
	wantFault(t, "duplicate id", err, fault.Conflict, "unique")
	f.mustBeMissing(things, "new")
}

// testIsolation checks that nothing a transaction writes is visible outside it before commit.
func testIsolation(t *testing.T, open Opener) {
	f := newFixture(t, open)
	things := f.res("things")
	f.write(func(tx store.Tx) error {
		if err := tx.Insert(f.ctx, things, store.FromMap(newRecord("pending", baseTime, nil))); err != nil {
			return err
		}
		if _, err := tx.Get(f.ctx, things, "pending"); err != nil {
			t.Errorf("Tx.Get of its own insert: %v", err)
		}
		if rec, err := f.store.Get(f.ctx, things, "pending"); fault.CodeOf(err) != fault.NotFound {
			t.Errorf("Get outside the transaction before commit: %v, %v; want NotFound", rec, err)
		}
		recs, err := f.store.List(f.ctx, things, query.Select{Where: query.And{}, Order: []query.Sort{{Field: "id"}}, Limit: 10})
		if err != nil || len(recs) != 0 {
			t.Errorf("List outside the transaction before commit: %v, %v", ids(recs), err)
		}
		return nil
	})
	f.get(things, "pending")
}

// testCancelled checks that a cancelled request is Unavailable and writes nothing.
func testCancelled(t *testing.T, open Opener) {
	f := newFixture(t, open)
	things := f.res("things")
	f.insert(things, newRecord("a", baseTime, nil))
	ctx, cancel := context.WithCancel(f.ctx)
	cancel()
	_, err := f.store.Get(ctx, things, "a")
	wantFault(t, "Get", err, fault.Unavailable, "")
	_, err = f.store.GetMany(ctx, things, []string{"a"})
	wantFault(t, "GetMany", err, fault.Unavailable, "")
	_, err = f.store.List(ctx, things, query.Select{Where: query.And{}, Order: []query.Sort{{Field: "id"}}, Limit: 10})
	wantFault(t, "List", err, fault.Unavailable, "")
	_, err = f.store.Outcome(ctx, "s", "POST /", "k")
	wantFault(t, "Outcome", err, fault.Unavailable, "")
	_, err = f.store.Events(ctx, 0, nil, 10)
	wantFault(t, "Events", err, fault.Unavailable, "")
	err = f.store.Write(ctx, func(tx store.Tx) error {
		return tx.Insert(ctx, things, store.FromMap(newRecord("b", baseTime, nil)))
	})
	wantFault(t, "Write", err, fault.Unavailable, "")
	f.mustBeMissing(things, "b")
}

// testConcurrentCounter increments one counter from 20 goroutines through Tx.Get and
// Tx.Update, running the write again on a version Conflict: no increment may be lost. Nor
// may any Conflict arise: Tx.Get holds the row (or the store runs one writer at a time), so
// that a read-modify-write such as a stock reservation never fails for a concurrent one.
func testConcurrentCounter(t *testing.T, open Opener) {
	f := newFixture(t, open)
	counters := f.res("counters")
	f.insert(counters, newRecord("c", baseTime, row{"n": int64(0)}))
	const workers, each = 20, 5
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	conflicts := 0
	for range workers {
		wg.Go(func() {
			for range each {
				for attempt := 0; ; attempt++ {
					err := f.store.Write(f.ctx, func(tx store.Tx) error {
						cur, err := tx.Get(f.ctx, counters, "c")
						if err != nil {
							return err
						}
						v := cur.Version
						cur.Fields["n"] = cur.Fields["n"].(int64) + 1
						cur.Version = v + 1
						return tx.Update(f.ctx, counters, cur, v)
					})
					if fault.CodeOf(err) == fault.Conflict && attempt < 100 {
						mu.Lock()
						conflicts++
						mu.Unlock()
						continue
					}
					if err != nil {
						mu.Lock()
						errs = append(errs, err)
						mu.Unlock()
					}
					break
				}
			}
		})
	}
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("%d writes failed, the first with %v", len(errs), errs[0])
	}
	got := f.get(counters, "c")
	if got.Fields["n"] != int64(workers*each) || got.Version != int64(workers*each+1) {
		t.Errorf("counter = %v (version %v), want %d (version %d)", got.Fields["n"], got.Version, workers*each, workers*each+1)
	}
	if conflicts > 0 {
		t.Errorf("%d read-modify-writes met a version Conflict: Tx.Get does not hold the row", conflicts)
	}
}

// testConcurrentFailures runs writes that succeed beside writes that fail on a unique value,
// all at once: each failing write rolls back whole (its record and its event), and takes no
// other write with it.
func testConcurrentFailures(t *testing.T, open Opener) {
	f := newFixture(t, open)
	things := f.res("things")
	f.insert(things, newRecord("taken", baseTime, row{"code": "TAKEN"}))
	const n = 20
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			id := fmt.Sprintf("w%02d", i)
			errs[i] = f.store.Write(f.ctx, func(tx store.Tx) error {
				if err := tx.Insert(f.ctx, things, store.FromMap(newRecord(id, baseTime, nil))); err != nil {
					return err
				}
				if err := tx.AppendEvent(f.ctx, things, store.Event{ID: id, Type: "things.created", Resource: "things",
					RecordID: id, Time: baseTime, Record: store.FromMap(row{"id": id})}); err != nil {
					return err
				}
				if i%2 == 1 {
					return tx.Insert(f.ctx, things, store.FromMap(newRecord(id+"-dup", baseTime, row{"code": "TAKEN"})))
				}
				return nil
			})
		})
	}
	wg.Wait()
	var want []string
	for i, err := range errs {
		id := fmt.Sprintf("w%02d", i)
		if i%2 == 1 {
			wantFault(t, "write "+id, err, fault.Conflict, "unique")
			f.mustBeMissing(things, id)
			continue
		}
		if err != nil {
			t.Errorf("write %s: %v", id, err)
		}
		f.get(things, id)
		want = append(want, id)
	}
	evs, err := f.store.Events(f.ctx, 0, nil, 100)
	if err != nil {
		t.Fatal(err)
	}
	got := eventIDs(evs)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("events of %v, want of %v", got, want)
	}
}
