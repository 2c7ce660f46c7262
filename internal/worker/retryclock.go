package worker

import (
	"slices"
	"time"
)

// maxRetryTimes bounds the retry times the worker remembers; later ones are found by the
// poll, which claims whatever is due.
const maxRetryTimes = 64

// retryClock wakes the worker when the earliest retry it knows of falls due: its timer is
// set for one time (armed) and the next ones wait, earliest first. Times within a
// millisecond of one already known are not kept twice. Only Run's goroutine uses it.
type retryClock struct {
	timer *time.Timer
	armed time.Time   // when the timer fires; zero when it is not set
	times []time.Time // known retries after armed, earliest first, at most maxRetryTimes
}

// add remembers a retry at at, setting the timer for it if it is the earliest.
func (c *retryClock) add(now, at time.Time) {
	switch {
	case c.armed.IsZero():
		c.set(now, at)
	case near(at, c.armed):
	case at.After(c.armed):
		c.keep(at)
	default:
		c.keep(c.armed)
		c.set(now, at)
	}
}

// fired sets the timer for the next known retry, once the timer has fired.
func (c *retryClock) fired(now time.Time) {
	c.armed = time.Time{}
	if len(c.times) > 0 {
		at := c.times[0]
		c.times = c.times[1:]
		c.set(now, at)
	}
}

func (c *retryClock) set(now, at time.Time) {
	c.armed = at
	c.timer.Reset(max(at.Sub(now), time.Millisecond))
}

func (c *retryClock) keep(at time.Time) {
	i, _ := slices.BinarySearchFunc(c.times, at, time.Time.Compare)
	if i >= maxRetryTimes || (i > 0 && near(c.times[i-1], at)) || (i < len(c.times) && near(c.times[i], at)) {
		return
	}
	c.times = slices.Insert(c.times, i, at)
	if len(c.times) > maxRetryTimes {
		c.times = c.times[:maxRetryTimes]
	}
}

// near says whether two times are within a millisecond, as far as waking up is concerned.
func near(a, b time.Time) bool {
	d := a.Sub(b)
	return d < time.Millisecond && d > -time.Millisecond
}
