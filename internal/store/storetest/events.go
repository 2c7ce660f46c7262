package storetest

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/plinth-dev/plinth/internal/spec"
	"github.com/plinth-dev/plinth/internal/store"
)

func (f *fixture) appendEvents(r *spec.Resource, evs ...store.Event) {
	f.t.Helper()
	f.write(func(tx store.Tx) error {
		for _, ev := range evs {
			if err := tx.AppendEvent(f.ctx, r, ev); err != nil {
				return err
			}
		}
		return nil
	})
}

func (f *fixture) events(after int64, resources []string, limit int) []store.Event {
	f.t.Helper()
	evs, err := f.store.Events(f.ctx, after, resources, limit)
	if err != nil {
		f.t.Fatalf("events after %d of %v: %v", after, resources, err)
	}
	return evs
}

func eventIDs(evs []store.Event) []string {
	out := make([]string, len(evs))
	for i, ev := range evs {
		out[i] = ev.ID
	}
	return out
}

// checkEvent compares an event read back with the one appended: the store adds Seq, keeps
// Time to the microsecond in UTC, and returns records with their field types (timestamps in
// records keep their nanoseconds, being JSON text).
func checkEvent(t *testing.T, want store.Event, wantRecord, wantOld row, got store.Event) {
	t.Helper()
	if got.ID != want.ID || got.Type != want.Type || got.Resource != want.Resource ||
		got.RecordID != want.RecordID || got.Actor != want.Actor || got.Trace != want.Trace {
		t.Errorf("event %s read back as %+v", want.ID, got)
	}
	if !got.Time.Equal(stored(want.Time)) || got.Time.Location() != time.UTC {
		t.Errorf("event %s time %v, want %v", want.ID, got.Time, stored(want.Time))
	}
	if d := diff(want.ID+".record", map[string]any(wantRecord), got.Record.Map()); len(d) > 0 {
		t.Errorf("%v", d)
	}
	if wantOld == nil && got.Old != nil {
		t.Errorf("event %s has old %v, want none", want.ID, got.Old)
	}
	if wantOld != nil {
		if d := diff(want.ID+".old", map[string]any(wantOld), got.Old.Map()); len(d) > 0 {
			t.Errorf("%v", d)
		}
	}
}

func testEvents(t *testing.T, open Opener) {
	f := newFixture(t, open)
	things, owners := f.res("things"), f.res("owners")
	nested := time.Date(2024, 1, 2, 3, 4, 5, 987654321, time.FixedZone("IST", 5*3600+1800))
	rec := newRecord("t1", baseTime, row{"s": "ü 日本語 \"q\"", "i": int64(-7), "n": 3.0, "b": false,
		"t": baseTime, "e": nil, "ints": []any{int64(1), int64(9007199254740993)}, "nums": []any{1.0, 0.5},
		"times": []any{nested}, "items": []any{map[string]any{"q": int64(1), "price": 2.0, "at": nested}},
		"obj": map[string]any{"a": int64(1), "x": 4.0, "when": nested}, "j": map[string]any{"x": 1.0, "y": 1.5}})
	wantRec := row{"id": "t1", "created_at": baseTime.UTC(), "updated_at": baseTime.UTC(),
		"version": int64(1), "s": "ü 日本語 \"q\"", "i": int64(-7), "n": 3.0, "b": false, "t": baseTime.UTC(),
		"e": nil, "ints": []any{int64(1), int64(9007199254740993)}, "nums": []any{1.0, 0.5},
		"times": []any{nested.UTC()}, "items": []any{map[string]any{"q": int64(1), "price": 2.0, "at": nested.UTC()}},
		"obj": map[string]any{"a": int64(1), "x": 4.0, "when": nested.UTC()}, "j": map[string]any{"x": int64(1), "y": 1.5}}
	updated := newRecord("t1", baseTime, row{"s": "new"})
	updated["version"] = int64(2)
	wantUpdated := row{"id": "t1", "created_at": baseTime.UTC(), "updated_at": baseTime.UTC(),
		"version": int64(2), "s": "new"}
	owner := newRecord("o1", baseTime, row{"name": "owner"})
	wantOwner := row{"id": "o1", "created_at": baseTime.UTC(), "updated_at": baseTime.UTC(),
		"version": int64(1), "name": "owner"}

	created := store.Event{ID: "e1", Type: "things.created", Resource: "things", RecordID: "t1",
		Time: baseTime, Actor: "alice", Record: store.FromMap(rec)}
	change := store.Event{ID: "e2", Type: "things.updated", Resource: "things", RecordID: "t1",
		Time: baseTime.Add(time.Second), Actor: "", Record: store.FromMap(updated), Old: store.FromMap(rec),
		Trace: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"} // the write's trace context comes back as it was
	ownerEv := store.Event{ID: "e3", Type: "owners.created", Resource: "owners", RecordID: "o1",
		Time: baseTime.Add(2 * time.Second), Actor: "bob", Record: store.FromMap(owner)}
	deleted := store.Event{ID: "e4", Type: "things.deleted", Resource: "things", RecordID: "t1",
		Time: baseTime.Add(3 * time.Second), Actor: "alice", Record: store.FromMap(updated)}
	f.appendEvents(things, created)
	f.appendEvents(things, change)
	f.appendEvents(owners, ownerEv)
	f.appendEvents(things, deleted)
	// The event of a resource the spec no longer has keeps its system members and the decoded
	// values of its fields.
	ghost := store.Event{ID: "e5", Type: "ghosts.created", Resource: "ghosts", RecordID: "g1",
		Time: baseTime, Record: store.FromMap(newRecord("g1", baseTime, row{"at": baseTime, "n": 2.0, "f": 2.5}))}
	f.appendEvents(things, ghost)

	all := f.events(0, nil, 100)
	if got := eventIDs(all); !slices.Equal(got, []string{"e1", "e2", "e3", "e4", "e5"}) {
		t.Fatalf("events = %v", got)
	}
	for i := 1; i < len(all); i++ {
		if all[i].Seq <= all[i-1].Seq {
			t.Errorf("seq %d after %d", all[i].Seq, all[i-1].Seq)
		}
	}
	if all[0].Seq <= 0 {
		t.Errorf("first seq %d, want positive", all[0].Seq)
	}
	checkEvent(t, created, wantRec, nil, all[0])
	checkEvent(t, change, wantUpdated, wantRec, all[1])
	checkEvent(t, ownerEv, wantOwner, nil, all[2])
	checkEvent(t, deleted, wantUpdated, nil, all[3])
	checkEvent(t, ghost, newRecord("g1", baseTime, row{"at": baseTime.Format(time.RFC3339Nano), "n": int64(2), "f": 2.5}), nil, all[4])

	// Changes name the same events' records, in the same order, without their bodies.
	changes, err := f.store.Changes(f.ctx, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(changes) != len(all) {
		t.Fatalf("changes = %v, want one per event", changes)
	}
	for i, c := range changes {
		if want := (store.Change{Seq: all[i].Seq, Resource: all[i].Resource, RecordID: all[i].RecordID}); c != want {
			t.Errorf("change %d = %+v, want %+v", i, c, want)
		}
	}
	if later, err := f.store.Changes(f.ctx, all[3].Seq, 1); err != nil || len(later) != 1 || later[0].Seq != all[4].Seq {
		t.Errorf("one change after the fourth = %v, %v", later, err)
	}

	// Filters: after a sequence number, by resource, limited.
	if got := eventIDs(f.events(all[1].Seq, nil, 100)); !slices.Equal(got, []string{"e3", "e4", "e5"}) {
		t.Errorf("after e2: %v", got)
	}
	if got := eventIDs(f.events(all[4].Seq, nil, 100)); len(got) != 0 {
		t.Errorf("after the last: %v", got)
	}
	if got := eventIDs(f.events(0, []string{"owners"}, 100)); !slices.Equal(got, []string{"e3"}) {
		t.Errorf("owners: %v", got)
	}
	if got := eventIDs(f.events(0, []string{"things"}, 2)); !slices.Equal(got, []string{"e1", "e2"}) {
		t.Errorf("things, 2: %v", got)
	}
	if got := eventIDs(f.events(all[0].Seq, []string{"things", "owners"}, 2)); !slices.Equal(got, []string{"e2", "e3"}) {
		t.Errorf("after e1, things and owners, 2: %v", got)
	}
	if got := eventIDs(f.events(0, []string{"nothing"}, 100)); len(got) != 0 {
		t.Errorf("an unknown resource: %v", got)
	}
	// A resource name no store can hold (U+0000, or not UTF-8) matches nothing, as any unknown one.
	if got := eventIDs(f.events(0, []string{"owners", "things\x00", "\xffthings"}, 100)); !slices.Equal(got, []string{"e3"}) {
		t.Errorf("owners and names no store holds: %v", got)
	}
	if got := eventIDs(f.events(0, nil, 1)); !slices.Equal(got, []string{"e1"}) {
		t.Errorf("limit 1: %v", got)
	}

	// Several events in one transaction keep their order; a rolled-back one leaves none.
	f.appendEvents(things, store.Event{ID: "e6", Type: "things.created", Resource: "things", RecordID: "a", Time: baseTime, Record: store.FromMap(row{"id": "a"})},
		store.Event{ID: "e7", Type: "things.created", Resource: "things", RecordID: "b", Time: baseTime, Record: store.FromMap(row{"id": "b"})})
	err = f.store.Write(f.ctx, func(tx store.Tx) error {
		if err := tx.AppendEvent(f.ctx, things, store.Event{ID: "e8", Type: "things.created", Resource: "things",
			RecordID: "c", Time: baseTime, Record: store.FromMap(row{"id": "c"})}); err != nil {
			return err
		}
		return errRollback
	})
	if err == nil {
		t.Fatal("rolled back write succeeded")
	}
	after := f.events(all[4].Seq, nil, 100)
	if got := eventIDs(after); !slices.Equal(got, []string{"e6", "e7"}) {
		t.Errorf("after e5: %v", got)
	}
}

func testEventSweep(t *testing.T, open Opener) {
	f := newFixture(t, open)
	things := f.res("things")
	now := baseTime
	offsets := []time.Duration{-2 * time.Hour, time.Hour, -time.Hour, -time.Microsecond, 0}
	for i, off := range offsets {
		f.appendEvents(things, store.Event{ID: fmt.Sprintf("s%d", i), Type: "things.created", Resource: "things",
			RecordID: "x", Time: now.Add(off), Record: store.FromMap(row{"id": "x"})})
	}
	before := f.events(0, nil, 100)
	maxSeq := before[len(before)-1].Seq

	// Older than now: s0, s2, s3, removed in sequence order, a limit at a time.
	n, err := f.store.SweepEvents(f.ctx, now, 2)
	if err != nil || n != 2 {
		t.Fatalf("first sweep: %d, %v; want 2", n, err)
	}
	if got := eventIDs(f.events(0, nil, 100)); !slices.Equal(got, []string{"s1", "s3", "s4"}) {
		t.Errorf("after the first sweep: %v, want the oldest two by sequence gone", got)
	}
	n, err = f.store.SweepEvents(f.ctx, now, 10)
	if err != nil || n != 1 {
		t.Fatalf("second sweep: %d, %v; want 1", n, err)
	}
	n, err = f.store.SweepEvents(f.ctx, now, 10)
	if err != nil || n != 0 {
		t.Fatalf("third sweep: %d, %v; want 0", n, err)
	}
	if got := eventIDs(f.events(0, nil, 100)); !slices.Equal(got, []string{"s1", "s4"}) {
		t.Errorf("after sweeping: %v", got)
	}

	// Sequence numbers are never reused, even once the newest events are swept.
	n, err = f.store.SweepEvents(f.ctx, now.Add(24*time.Hour), 10)
	if err != nil || n != 2 {
		t.Fatalf("sweep of everything: %d, %v; want 2", n, err)
	}
	f.appendEvents(things, store.Event{ID: "later", Type: "things.created", Resource: "things", RecordID: "x",
		Time: now, Record: store.FromMap(row{"id": "x"})})
	evs := f.events(0, nil, 100)
	if len(evs) != 1 || evs[0].Seq <= maxSeq {
		t.Errorf("after sweeping everything, the next event has seq %v, want above %d", evs, maxSeq)
	}
}

// testEventOrder appends events from concurrent writers while a reader follows the feed by
// sequence number, as consumers do: sequence order must be commit order, so that the reader
// never moves past an event that commits later, and misses none.
func testEventOrder(t *testing.T, open Opener) {
	f := newFixture(t, open)
	things := f.res("things")
	const writers, each = 10, 20
	var wg sync.WaitGroup
	var failed sync.Once
	for w := range writers {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), 7))
			for i := range each {
				id := fmt.Sprintf("w%d-%d", w, i)
				err := f.store.Write(f.ctx, func(tx store.Tx) error {
					if err := tx.Insert(f.ctx, things, store.FromMap(newRecord(id, baseTime, nil))); err != nil {
						return err
					}
					if err := tx.AppendEvent(f.ctx, things, store.Event{ID: id, Type: "things.created",
						Resource: "things", RecordID: id, Time: baseTime, Record: store.FromMap(row{"id": id})}); err != nil {
						return err
					}
					// Hold the transaction open a little, so that commits interleave.
					time.Sleep(time.Duration(r.IntN(1500)) * time.Microsecond)
					return nil
				})
				if err != nil {
					failed.Do(func() { t.Errorf("writer %d: %v", w, err) })
					return
				}
			}
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()

	var seen []string
	var after int64
	poll := func() {
		evs := f.events(after, nil, 1000)
		for _, ev := range evs {
			if ev.Seq <= after {
				t.Errorf("seq %d after %d", ev.Seq, after)
			}
			after = ev.Seq
			seen = append(seen, ev.ID)
		}
	}
	for running := true; running; {
		select {
		case <-done:
			running = false
		case <-time.After(200 * time.Microsecond):
		}
		poll()
	}
	poll()
	var want []string
	for _, ev := range f.events(0, nil, 1000) {
		want = append(want, ev.ID)
	}
	if len(want) != writers*each && !t.Failed() {
		t.Errorf("%d events stored, want %d", len(want), writers*each)
	}
	if !slices.Equal(seen, want) {
		missed := 0
		for _, id := range want {
			if !slices.Contains(seen, id) {
				missed++
			}
		}
		t.Errorf("a reader following the feed saw %d events and missed %d of %d: sequence order is not commit order", len(seen), missed, len(want))
	}
}
