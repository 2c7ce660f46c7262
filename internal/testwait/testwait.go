// Package testwait waits in tests for a condition that has no event to wait on: a file that
// grows, a server that becomes ready, a cache that catches up with a feed. It looks again
// every few milliseconds until the condition holds or the deadline passes; the pause between
// looks is the interval of a poll, never the signal itself.
package testwait

import (
	"testing"
	"time"
)

// interval is the pause between two looks at a condition.
const interval = 10 * time.Millisecond

// Within looks at cond until it holds, and fails the test naming what it waited for when it
// has not held within d.
func Within(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(interval)
	}
}
