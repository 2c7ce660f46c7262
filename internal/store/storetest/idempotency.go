package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"testing"
	"time"

	"github.com/plinth-dev/plinth/internal/fault"
	"github.com/plinth-dev/plinth/internal/store"
)

func (f *fixture) putIdempotency(rec store.IdempotencyRecord) error {
	return f.store.Write(f.ctx, func(tx store.Tx) error { return tx.PutIdempotency(f.ctx, rec) })
}

// checkOutcome reads the outcome under rec's key and compares it with rec: times are kept to
// the microsecond, in UTC.
func (f *fixture) checkOutcome(what string, rec store.IdempotencyRecord) {
	f.t.Helper()
	got, err := f.store.GetIdempotency(f.ctx, rec.Scope, rec.Method, rec.Path, rec.Key)
	if err != nil {
		f.t.Errorf("%s: GetIdempotency: %v", what, err)
		return
	}
	var d []string
	if got.Scope != rec.Scope || got.Method != rec.Method || got.Path != rec.Path || got.Key != rec.Key {
		d = append(d, fmt.Sprintf("key %q %q %q %q", got.Scope, got.Method, got.Path, got.Key))
	}
	if got.Fingerprint != rec.Fingerprint {
		d = append(d, fmt.Sprintf("fingerprint %q, want %q", got.Fingerprint, rec.Fingerprint))
	}
	if got.Response.Status != rec.Response.Status {
		d = append(d, fmt.Sprintf("status %d, want %d", got.Response.Status, rec.Response.Status))
	}
	if len(got.Response.Header) != len(rec.Response.Header) || !maps.Equal(got.Response.Header, rec.Response.Header) {
		d = append(d, fmt.Sprintf("header %v, want %v", got.Response.Header, rec.Response.Header))
	}
	if !bytes.Equal(got.Response.Body, rec.Response.Body) {
		d = append(d, fmt.Sprintf("body %q, want %q", got.Response.Body, rec.Response.Body))
	}
	for _, tm := range []struct {
		name      string
		got, want time.Time
	}{{"created_at", got.CreatedAt, rec.CreatedAt}, {"expires_at", got.ExpiresAt, rec.ExpiresAt}} {
		if !tm.got.Equal(stored(tm.want)) || tm.got.Location() != time.UTC {
			d = append(d, fmt.Sprintf("%s %v, want %v", tm.name, tm.got, stored(tm.want)))
		}
	}
	if len(d) > 0 {
		f.t.Errorf("%s: %v", what, d)
	}
}

func outcome(scope, method, path, key, fingerprint string, created time.Time, ttl time.Duration) store.IdempotencyRecord {
	return store.IdempotencyRecord{Scope: scope, Method: method, Path: path, Key: key, Fingerprint: fingerprint,
		Response: store.Response{Status: 201,
			Header: map[string]string{"Content-Type": "application/json", "Location": "/v1/orders/1", "X-Odd": "ü \" \\ <&>"},
			Body:   []byte("{\"id\":\"1\",\"bytes\":\"\x00\xff\"}\n")},
		CreatedAt: created, ExpiresAt: created.Add(ttl)}
}

func testIdempotency(t *testing.T, open Opener) {
	f := newFixture(t, open)
	first := outcome("alice", "POST", "/v1/orders", "k1", "f1", baseTime, 24*time.Hour)
	if err := f.putIdempotency(first); err != nil {
		t.Fatal(err)
	}
	f.checkOutcome("stored", first)

	// A live key is taken, and keeps its first outcome.
	second := outcome("alice", "POST", "/v1/orders", "k1", "f2", baseTime.Add(time.Hour), 24*time.Hour)
	err := f.putIdempotency(second)
	if !store.IsKeyTaken(err) || fault.CodeOf(err) != fault.Conflict {
		t.Errorf("put of a live key: %v, want ErrKeyTaken", err)
	}
	f.checkOutcome("after a refused put", first)

	// Each part of the key separates outcomes; case and bytes matter.
	others := []store.IdempotencyRecord{
		outcome("bob", "POST", "/v1/orders", "k1", "bob", baseTime, time.Hour),
		outcome("alice", "PATCH", "/v1/orders", "k1", "patch", baseTime, time.Hour),
		outcome("alice", "POST", "/v1/orders/1", "k1", "path", baseTime, time.Hour),
		outcome("alice", "POST", "/v1/orders", "K1", "case", baseTime, time.Hour),
		outcome("alice", "POST", "/v1/orders", "k1 ", "space", baseTime, time.Hour),
		outcome("", "POST", "/v1/orders", "k1", "anonymous", baseTime, time.Hour),
		// Paths are decoded from the URL and may hold any bytes.
		outcome("alice", "POST", "/v1/orders/\x00", "k1", "nul", baseTime, time.Hour),
		outcome("alice", "POST", "/v1/orders/\xff", "k1", "not utf-8", baseTime, time.Hour),
	}
	for _, o := range others {
		if err := f.putIdempotency(o); err != nil {
			t.Errorf("put %q %q %q %q: %v", o.Scope, o.Method, o.Path, o.Key, err)
		}
	}
	for _, o := range others {
		f.checkOutcome(fmt.Sprintf("%q %q %q %q", o.Scope, o.Method, o.Path, o.Key), o)
	}
	f.checkOutcome("first, among others", first)

	// An expired outcome gives way to a new one, from the moment it expires.
	early := outcome("alice", "POST", "/v1/orders", "k1", "early", first.ExpiresAt.Add(-time.Microsecond), time.Hour)
	if err := f.putIdempotency(early); !store.IsKeyTaken(err) {
		t.Errorf("put a microsecond before expiry: %v, want ErrKeyTaken", err)
	}
	replaced := outcome("alice", "POST", "/v1/orders", "k1", "replaced", first.ExpiresAt, time.Hour)
	replaced.Response = store.Response{Status: 422}
	if err := f.putIdempotency(replaced); err != nil {
		t.Fatalf("put at expiry: %v", err)
	}
	f.checkOutcome("replaced at expiry", replaced)

	// An empty body and no header are kept as such.
	if got, err := f.store.GetIdempotency(f.ctx, "alice", "POST", "/v1/orders", "k1"); err == nil {
		if len(got.Response.Body) != 0 || len(got.Response.Header) != 0 {
			t.Errorf("empty response read back as %+v", got.Response)
		}
	}

	// A put in a transaction that rolls back stores nothing.
	gone := outcome("alice", "POST", "/v1/orders", "rolled-back", "f", baseTime, time.Hour)
	err = f.store.Write(f.ctx, func(tx store.Tx) error {
		if err := tx.PutIdempotency(f.ctx, gone); err != nil {
			return err
		}
		return errRollback
	})
	if !errors.Is(err, errRollback) {
		t.Errorf("rolled back write: %v", err)
	}
	if rec, err := f.store.GetIdempotency(f.ctx, "alice", "POST", "/v1/orders", "rolled-back"); fault.CodeOf(err) != fault.NotFound {
		t.Errorf("GetIdempotency after rollback: %v, %v; want NotFound", rec, err)
	}
	if rec, err := f.store.GetIdempotency(f.ctx, "nobody", "POST", "/v1/orders", "k1"); fault.CodeOf(err) != fault.NotFound {
		t.Errorf("GetIdempotency of a missing key: %v, %v; want NotFound", rec, err)
	}

	// A taken key fails the put, and the transaction's other writes with it when the body
	// returns the error, as the engine does.
	things := f.res("things")
	err = f.store.Write(f.ctx, func(tx store.Tx) error {
		if err := tx.Insert(f.ctx, things, store.FromMap(newRecord("with-key", baseTime, nil))); err != nil {
			return err
		}
		return tx.PutIdempotency(f.ctx, outcome("bob", "POST", "/v1/orders", "k1", "again", baseTime, time.Hour))
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
		if err := f.putIdempotency(outcome("s", "POST", "/", key, key, now.Add(-3*time.Hour), ttl+3*time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	n, err := f.store.SweepIdempotency(f.ctx, now, 2)
	if err != nil || n != 2 {
		t.Fatalf("first sweep: %d, %v; want 2", n, err)
	}
	n, err = f.store.SweepIdempotency(f.ctx, now, 10)
	if err != nil || n != 1 {
		t.Fatalf("second sweep: %d, %v; want 1", n, err)
	}
	n, err = f.store.SweepIdempotency(f.ctx, now, 10)
	if err != nil || n != 0 {
		t.Fatalf("third sweep: %d, %v; want 0", n, err)
	}
	for key, ttl := range ttls {
		_, err := f.store.GetIdempotency(f.ctx, "s", "POST", "/", key)
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
			return tx.PutIdempotency(f.ctx, outcome("s", "POST", "/v1/things", "same", fmt.Sprint(i), baseTime, time.Hour))
		})
	}, store.IsKeyTaken)
	got, err := f.store.GetIdempotency(f.ctx, "s", "POST", "/v1/things", "same")
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
