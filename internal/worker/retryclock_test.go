package worker

import (
	"slices"
	"testing"
	"time"
)

// TestRetryClockKeepsEveryRetryInOrder: the timer is always set for the earliest retry known,
// and the others follow in order once it fires, however they arrive.
func TestRetryClockKeepsEveryRetryInOrder(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return now.Add(time.Duration(ms) * time.Millisecond) }
	c := &retryClock{timer: time.NewTimer(time.Hour)}
	defer c.timer.Stop()
	for _, ms := range []int{1000, 4100, 2200, 4100, 2200} { // the last two are known already
		c.add(now, at(ms))
	}
	if c.armed != at(1000) || !slices.Equal(c.times, []time.Time{at(2200), at(4100)}) {
		t.Fatalf("armed %v, then %v", c.armed, c.times)
	}
	c.add(now, at(500)) // earlier than the armed one: it takes its place
	if c.armed != at(500) || !slices.Equal(c.times, []time.Time{at(1000), at(2200), at(4100)}) {
		t.Fatalf("after an earlier retry: armed %v, then %v", c.armed, c.times)
	}
	var fired []time.Time
	for !c.armed.IsZero() {
		fired = append(fired, c.armed)
		c.fired(now)
	}
	if !slices.Equal(fired, []time.Time{at(500), at(1000), at(2200), at(4100)}) {
		t.Errorf("fired at %v", fired)
	}
	// It remembers a bounded number: the earliest.
	for ms := 200; ms > 0; ms-- {
		c.add(now, at(10*ms))
	}
	if c.armed != at(10) || len(c.times) != maxRetryTimes || c.times[maxRetryTimes-1] != at(10*(maxRetryTimes+1)) {
		t.Errorf("after 200 retries: armed %v, %d more up to %v", c.armed, len(c.times), c.times[len(c.times)-1])
	}
}
