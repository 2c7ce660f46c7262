package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/plinth-dev/plinth/internal/fault"
	"github.com/plinth-dev/plinth/internal/store"
)

func (f *fixture) putOutcome(o store.Outcome) error {
	return f.store.Write(f.ctx, func(tx store.Tx) error { return tx.PutOutcome(f.ctx, o) })
}

// checkOutcome reads the outcome under want's key and compares it with want: the response's
// bytes as they were, times to the microsecond, in UTC.
func (f *fixture) checkOutcome(what string, want store.Outcome) {
	f.t.Helper()
	got, err := f.store.Outcome(f.ctx, want.Scope, want.Operation, want.Key)
	if err != nil {
		f.t.Errorf("%s: Outcome: %v", what, err)
		return
	}
	var d []string
	if got.Scope != want.Scope || got.Operation != want.Operation || got.Key != want.Key {
		d = append(d, fmt.Sprintf("key %q %q %q", got.Scope, got.Operation, got.Key))
	}
	if got.Fingerprint != want.Fingerprint {
		d = append(d, fmt.Sprintf("fingerprint %q, want %q", got.Fingerprint, want.Fingerprint))
	}
	if !bytes.Equal(got.Response, want.Response) {
		d = append(d, fmt.Sprintf("response %q, want %q", got.Response, want.Response))
	}
	for _, tm := range []struct {
		name      string
		got, want time.Time
	}{{"created_at", got.CreatedAt, want.CreatedAt}, {"expires_at", got.ExpiresAt, want.ExpiresAt}} {
		if !tm.got.Equal(stored(tm.want)) || tm.got.Location() != time.UTC {
			d = append(d, fmt.Sprintf("%s %v, want %v", tm.name, tm.got, stored(tm.want)))
		}
	}
	if len(d) > 0 {
		f.t.Errorf("%s: %v", what, d)
	}
}

// outcome is an outcome whose response holds every byte value, for the store to keep as it is.
func outcome(scope, operation, key, fingerprint string, created time.Time, ttl time.Duration) store.Outcome {
	response := []byte("201\n\x00\xff\r\n ü \" \\ <&>")
	for b := range 256 {
		response = append(response, byte(b))
	}
	return store.Outcome{Scope: scope, Operation: operation, Key: key, Fingerprint: fingerprint,
		Response: response, CreatedAt: created, ExpiresAt: created.Add(ttl)}
}

func testIdempotency(t *testing.T, open Opener) {
	f := newFixture(t, open)
	first := outcome("alice", "POST /v1/orders", "k1", "f1", baseTime, 24*time.Hour)
	if err := f.putOutcome(first); err != nil {
		t.Fatal(err)
	}
	f.checkOutcome("stored", first)

	// A live key is taken, and keeps its first outcome.
	second := outcome("alice", "POST /v1/orders", "k1", "f2", baseTime.Add(time.Hour), 24*time.Hour)
	second.Response = []byte("another")
	err := f.putOutcome(second)
	if !store.IsKeyTaken(err) || fault.CodeOf(err) != fault.Conflict {
		t.Errorf("put of a live key: %v, want ErrKeyTaken", err)
	}
	f.checkOutcome("after a refused put", first)

	// Each part of the key separates outcomes; case and bytes matter.
	others := []store.Outcome{
		outcome("bob", "POST /v1/orders", "k1", "bob", baseTime, time.Hour),
		outcome("alice", "PATCH /v1/orders", "k1", "patch", baseTime, time.Hour),
		outcome("alice", "POST /v1/orders/1", "k1", "path", baseTime, time.Hour),
		outcome("alice", "POST /v1/orders", "K1", "case", baseTime, time.Hour),
		outcome("alice", "POST /v1/orders", "k1 ", "space", baseTime, time.Hour),
		outcome("", "POST /v1/orders", "k1", "anonymous", baseTime, time.Hour),
		// Transports may name operations with any bytes: REST paths are decoded from the URL.
		outcome("alice", "POST /v1/orders/\x00", "k1", "nul", baseTime, time.Hour),
		outcome("alice", "POST /v1/orders/\xff", "k1", "not utf-8", baseTime, time.Hour),
	}
	for _, o := range others {
		if err := f.putOutcome(o); err != nil {
			t.Errorf("put %q %q %q: %v", o.Scope, o.Operation, o.Key, err)
		}
	}
	for _, o := range others {
		f.checkOutcome(fmt.Sprintf("%q %q %q", o.Scope, o.Operation, o.Key), o)
	}
	f.checkOutcome("first, among others", first)

	// An expired outcome gives way to a new one, from the moment it expires.
	early := outcome("alice", "POST /v1/orders", "k1", "early", first.ExpiresAt.Add(-time.Microsecond), time.Hour)
	if err := f.putOutcome(early); !store.IsKeyTaken(err) {
		t.Errorf("put a microsecond before expiry: %v, want ErrKeyTaken", err)
	}
	replaced := outcome("alice", "POST /v1/orders", "k1", "replaced", first.ExpiresAt, time.Hour)
	replaced.Response = nil
	if err := f.putOutcome(replaced); err != nil {
		t.Fatalf("put at expiry: %v", err)
	}
	f.checkOutcome("replaced at expiry, by an empty response", replaced)

	// A put in a transaction that rolls back stores nothing.
	gone := outcome("alice", "POST /v1/orders", "rolled-back", "f", baseTime, time.Hour)
	err = f.store.Write(f.ctx, func(tx store.Tx) error {
		if err := tx.PutOutcome(f.ctx, gone); err != nil {
			return err
		}
		return errRollback
	})
	if !errors.Is(err, errRollback) {
		t.Errorf("rolled back write: %v", err)
	}
	if o, err := f.store.Outcome(f.ctx, "alice", "POST /v1/orders", "rolled-back"); fault.CodeOf(err) != fault.NotFound {
		t.Errorf("Outcome after rollback: %v, %v; want NotFound", o, err)
	}
	if o, err := f.store.Outcome(f.ctx, "nobody", "POST /v1/orders", "k1"); fault.CodeOf(err) != fault.NotFound {
		t.Errorf("Outcome of a missing key: %v, %v; want NotFound", o, err)
	}

	// A taken key fails the put, and the transaction's other writes with it when the body
	// returns the error, as the engine does.
	things := f.res("things")
	err = f.store.Write(f.ctx, func(tx store.Tx) error {
		if err := tx.Insert(f.ctx, things, store.FromMap(newRecord("with-key", baseTime, nil))); err != nil {
			return err
		}
		return tx.PutOutcome(f.ctx, outcome("bob", "POST /v1/orders", "k1", "again", baseTime, time.Hour))
	})
	if !store.IsKeyTaken(err) {
		t.Errorf("put of a taken key with a write: %v, want ErrKeyTaken", err)
	}
	f.mustBeMissing(things, "with-key")
}

func testIdempotencySweep(t *testing.T, open Opener) {
	f := newFixture(t, open)
	now := baseTime
	ttls := map[string]time.Duration{"gone-2h": -2 * time.Hour, "gone-1h": -time.Hour, "gone-now": 0,
		"live-1us": time.Microsecond, "live-1h": time.Hour}
	for key, ttl := range ttls {
		if err := f.putOutcome(outcome("s", "POST /", key, key, now.Add(-3*time.Hour), ttl+3*time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	n, err := f.store.SweepOutcomes(f.ctx, now, 2)
	if err != nil || n != 2 {
		t.Fatalf("first sweep: %d, %v; want 2", n, err)
	}
	n, err = f.store.SweepOutcomes(f.ctx, now, 10)
	if err != nil || n != 1 {
		t.Fatalf("second sweep: %d, %v; want 1", n, err)
	}
	n, err = f.store.SweepOutcomes(f.ctx, now, 10)
	if err != nil || n != 0 {
		t.Fatalf("third sweep: %d, %v; want 0", n, err)
	}
	for key, ttl := range ttls {
		_, err := f.store.Outcome(f.ctx, "s", "POST /", key)
		if ttl > 0 && err != nil {
			t.Errorf("%s was swept: %v", key, err)
		}
		if ttl <= 0 && fault.CodeOf(err) != fault.NotFound {
			t.Errorf("%s survived the sweep: %v", key, err)
		}
	}
}

// testIdempotencyRace puts one key from several goroutines at once: exactly one wins, the
// others find the key taken.
func testIdempotencyRace(t *testing.T, open Opener) {
	f := newFixture(t, open)
	things := f.res("things")
	const n = 8
	winner := oneWins(t, "storing the key", n, func(i int) error {
		return f.store.Write(f.ctx, func(tx store.Tx) error {
			if err := tx.Insert(f.ctx, things, store.FromMap(newRecord(fmt.Sprintf("race-%d", i), baseTime, nil))); err != nil {
				return err
			}
			return tx.PutOutcome(f.ctx, outcome("s", "POST /v1/things", "same", fmt.Sprint(i), baseTime, time.Hour))
		})
	}, store.IsKeyTaken)
	got, err := f.store.Outcome(f.ctx, "s", "POST /v1/things", "same")
	if err != nil || got.Fingerprint != fmt.Sprint(winner) {
		t.Errorf("stored outcome %+v, %v; want the winner's (%d)", got, err, winner)
	}
	for i := range n {
		_, err := f.store.Get(f.ctx, things, fmt.Sprintf("race-%d", i))
		if (i == winner) != (err == nil) {
			t.Errorf("record of writer %d: %v (winner %d)", i, err, winner)
		}
	}
}
