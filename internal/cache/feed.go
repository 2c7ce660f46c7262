package cache

import (
	"context"
	"time"
)

// feedBatch is how many events one read of the outbox takes. A read that finds a full batch
// is behind: the cache stops serving until it has applied them all.
const feedBatch = 500

// Wake asks the feed to read the outbox now. It never blocks.
func (c *Cache) Wake() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// Listening tells the cache whether the database's wake-ups arrive (store.Listener's up).
// While they do not, the cache serves nothing; when they do again, it starts empty at the
// outbox's head, since what changed in between may be swept or many.
func (c *Cache) Listening(up bool) {
	if !up {
		c.state.Lock()
		c.lost++
		c.listening.Store(false)
		c.liveUntil.Store(0)
		c.behind.Store(true)
		c.state.Unlock()
		return
	}
	c.listening.Store(true)
	c.Wake()
}

// Run follows the outbox until ctx ends: at every wake-up and every poll it reads the events
// after Seen and invalidates their records; the cache serves only while these reads succeed.
func (c *Cache) Run(ctx context.Context) {
	t := time.NewTicker(c.poll)
	defer t.Stop()
	defer c.records.StopAllGoroutines()
	defer c.liveUntil.Store(0)
	for {
		c.read(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-c.wake:
		}
	}
}

// read brings the cache up to the outbox's head. The cache serves afterwards only if the
// database's wake-ups arrived all along (a commit after the read began wakes the feed
// again), and until three polls after the read began.
func (c *Cache) read(ctx context.Context) {
	began := c.elapsed()
	c.state.Lock()
	lost, listening := c.lost, c.listening.Load()
	c.state.Unlock()
	if c.listens && !listening {
		return
	}
	if err := c.catchUp(ctx); err != nil {
		if ctx.Err() == nil {
			c.log.WarnContext(ctx, "reading the outbox failed; the read cache is bypassed", "err", err)
		}
		c.liveUntil.Store(0)
		c.behind.Store(true)
		return
	}
	c.state.Lock()
	defer c.state.Unlock()
	if c.lost == lost {
		c.liveUntil.Store(began + int64(3*c.poll))
	}
}

// catchUp applies every event after Seen, or, when the cache fell behind (a lost listener,
// a failed read), empties it and starts at the head.
func (c *Cache) catchUp(ctx context.Context) error {
	if c.behind.Load() {
		b, err := c.feed.Backlog(ctx)
		if err != nil {
			return err
		}
		// The head was read first: every change up to it committed before the cache empties,
		// so whatever is read into it afterwards is at least as new.
		c.clear()
		c.seen.Store(b.Head)
		c.behind.Store(false)
	}
	for {
		changes, err := c.feed.Changes(ctx, c.seen.Load(), feedBatch)
		if err != nil {
			return err
		}
		c.lag.Store(int64(len(changes)))
		if len(changes) == feedBatch {
			c.liveUntil.Store(0)
		}
		for _, ch := range changes {
			c.invalidate(key{ch.Resource, ch.RecordID})
			c.seen.Store(ch.Seq)
		}
		if len(changes) < feedBatch {
			c.lag.Store(0)
			return nil
		}
	}
}
