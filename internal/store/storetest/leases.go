package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/plinth-dev/plinth/internal/store"
)

// testLeases: a lease belongs to one owner until it expires; its owner, and only its owner,
// can renew it for longer or cut it short, and cannot renew it once another has taken it.
func testLeases(t *testing.T, open Opener) {
	f := newFixture(t, open)
	l, ok := f.store.(store.Leaser)
	if !ok {
		t.Fatal("the store grants no leases")
	}
	// Each call asks for a lease (or its renewal) from now for d.
	ask := func(verb string, fn func(context.Context, string, string, time.Time, time.Time) (bool, error)) func(name, owner string, d time.Duration) bool {
		return func(name, owner string, d time.Duration) bool {
			now := time.Now()
			ok, err := fn(f.ctx, name, owner, now, now.Add(d))
			if err != nil {
				t.Fatalf("%s %s for %s: %v", verb, name, owner, err)
			}
			return ok
		}
	}
	take, renew := ask("lease", l.Lease), ask("renew", l.Renew)
	if !take("held", "a", 300*time.Millisecond) {
		t.Fatal("a free lease was refused")
	}
	if take("held", "b", time.Second) || renew("held", "b", time.Second) {
		t.Error("another owner took or renewed a lease that is not free")
	}
	if !renew("held", "a", 2*time.Second) {
		t.Error("the owner could not renew its lease")
	}
	if !take("lapsed", "a", 100*time.Millisecond) {
		t.Fatal("a free lease was refused")
	}
	time.Sleep(500 * time.Millisecond)
	if take("held", "b", time.Second) {
		t.Error("a renewed lease was taken before its new end")
	}
	if !take("lapsed", "b", time.Second) {
		t.Error("an expired lease was refused")
	}
	if renew("lapsed", "a", time.Second) {
		t.Error("the previous owner renewed a lease another has taken")
	}
	// Cutting a lease short frees it then; only its owner can.
	cut := func(name, owner string, d time.Duration) {
		now := time.Now()
		if err := l.Cut(f.ctx, name, owner, now, now.Add(d)); err != nil {
			t.Fatalf("cut %s for %s: %v", name, owner, err)
		}
	}
	cut("held", "a", 50*time.Millisecond)
	cut("lapsed", "a", 0)
	time.Sleep(100 * time.Millisecond)
	if !take("held", "b", time.Second) {
		t.Error("a lease cut short was still held")
	}
	if take("lapsed", "c", time.Second) {
		t.Error("a lease was cut by another than its owner")
	}
}
