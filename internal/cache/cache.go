// Package cache keeps records in memory in front of a store, for reads by id and the
// records that expands load, and keeps them consistent through the outbox: the keys a write
// touched are invalidated when its transaction returns, and the changes of every other
// process through the change feed (Run), before which the cache serves nothing
// (docs/decisions/0029-read-cache.md). It caches only resources whose writes append events:
// a change to another resource would never reach the feed.
package cache

import (
	"cmp"
	"context"
	"hash/maphash"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/maypok86/otter/v2"

	"github.com/plinth-dev/plinth/internal/spec"
	"github.com/plinth-dev/plinth/internal/store"
)

// DefaultSize is the memory a cache may hold, in bytes, when Config.Size is zero.
const DefaultSize = 64 << 20

// Observer is told what the cache does, for metrics (internal/obs implements it). Its
// methods must be cheap and safe for concurrent use.
type Observer interface {
	CacheHit()
	CacheMiss()
	// CacheInvalidation counts a key dropped because its record changed.
	CacheInvalidation()
}

// Config holds what a Cache needs. Store is required.
type Config struct {
	// Store is the database the cache stands in front of; its Backlog gives the outbox's
	// head where the feed starts.
	Store Feed
	// Size bounds the memory the cached records take, in bytes (an estimate); default
	// DefaultSize.
	Size int64
	// Poll is how often the feed reads the outbox without a wake-up; default one second. The
	// cache serves nothing when its last complete read of the outbox began more than three
	// polls ago.
	Poll time.Duration
	// Listens says the database wakes the feed at every commit (PostgreSQL's
	// LISTEN/NOTIFY): the cache then serves only while Listening(true) holds.
	Listens  bool
	Observer Observer     // nil for none
	Logger   *slog.Logger // defaults to a logger that discards
}

// Feed is the store the cache reads through and follows.
type Feed interface {
	store.Store
	Backlog(ctx context.Context) (store.Backlog, error)
}

// key identifies a cached record.
type key struct {
	resource, id string
}

// stripes is how many locks and generations the keys are spread over.
const stripes = 256

// stripe orders a fill against the invalidations of its keys. gen moves at every
// invalidation of any of its keys; a fill stores a record only when gen has not moved since
// before the record was read, so that an invalidation that raced the read wins.
type stripe struct {
	mu  sync.Mutex
	gen uint64
}

// Cache is a store.Store that answers Get and GetMany from memory when it may.
type Cache struct {
	store.Store
	feed    Feed
	records *otter.Cache[key, *store.Record]
	stripes [stripes]stripe
	seed    maphash.Seed
	obs     Observer
	log     *slog.Logger
	start   time.Time // the monotonic clock's origin for liveUntil, never a test's clock
	poll    time.Duration
	listens bool

	// seen is the outbox position up to which every change has been invalidated.
	seen atomic.Int64
	// liveUntil is when the cache stops serving unless the feed completes another read
	// (nanoseconds since start); zero while it must not serve at all.
	liveUntil atomic.Int64
	// listening says the database's wake-ups arrive; lost counts the times they stopped.
	// state orders the changes of lost with the feed's decision to serve.
	listening atomic.Bool
	state     sync.Mutex
	lost      uint64
	// behind says the feed's last read was not at the outbox's head: the cache restarts
	// empty once it is.
	behind atomic.Bool
	lag    atomic.Int64
	wake   chan struct{}
}

// New returns a cache in front of cfg.Store, serving nothing until Run has read the outbox.
func New(cfg Config) (*Cache, error) {
	size := cmp.Or(cfg.Size, DefaultSize)
	records, err := otter.New(&otter.Options[key, *store.Record]{MaximumWeight: uint64(size), Weigher: weigh})
	if err != nil {
		return nil, err
	}
	c := &Cache{Store: cfg.Store, feed: cfg.Store, records: records, seed: maphash.MakeSeed(), obs: cfg.Observer,
		log: cmp.Or(cfg.Logger, slog.New(slog.DiscardHandler)), start: time.Now(), poll: cmp.Or(cfg.Poll, time.Second),
		listens: cfg.Listens, wake: make(chan struct{}, 1)}
	if c.obs == nil {
		c.obs = nopObserver{}
	}
	c.behind.Store(true)
	return c, nil
}

type nopObserver struct{}

func (nopObserver) CacheHit()          {}
func (nopObserver) CacheMiss()         {}
func (nopObserver) CacheInvalidation() {}

// Bytes is the estimated memory the cached records take.
func (c *Cache) Bytes() uint64 { return c.records.WeightedSize() }

// Lag is how many events the feed's last read found waiting: 0 when it is at the head.
func (c *Cache) Lag() int64 { return c.lag.Load() }

// Seen is the outbox position up to which every change has been invalidated.
func (c *Cache) Seen() int64 { return c.seen.Load() }

// Serving says whether reads are answered from memory now.
func (c *Cache) Serving() bool {
	until := c.liveUntil.Load()
	return until != 0 && c.elapsed() < until && (!c.listens || c.listening.Load())
}

// elapsed is the time since the cache was made, by the monotonic clock.
func (c *Cache) elapsed() int64 { return int64(time.Since(c.start)) }

func cacheable(r *spec.Resource) bool { return r.Events }

func (c *Cache) stripe(k key) *stripe {
	var h maphash.Hash
	h.SetSeed(c.seed)
	h.WriteString(k.resource)
	h.WriteByte(0)
	h.WriteString(k.id)
	return &c.stripes[h.Sum64()%stripes]
}

// Get implements store.Store from memory when it may.
func (c *Cache) Get(ctx context.Context, r *spec.Resource, id string) (*store.Record, error) {
	if !cacheable(r) || !c.Serving() {
		return c.Store.Get(ctx, r, id)
	}
	k := key{r.Name, id}
	if rec, ok := c.records.GetIfPresent(k); ok {
		c.obs.CacheHit()
		return rec, nil
	}
	c.obs.CacheMiss()
	s := c.stripe(k)
	gen := s.generation()
	rec, err := c.Store.Get(ctx, r, id)
	if err != nil {
		return nil, err
	}
	c.fill(s, gen, k, rec)
	return rec, nil
}

// GetMany implements store.Store, reading from the database only the records not in memory.
func (c *Cache) GetMany(ctx context.Context, r *spec.Resource, ids []string) ([]*store.Record, error) {
	if !cacheable(r) || !c.Serving() {
		return c.Store.GetMany(ctx, r, ids)
	}
	var out []*store.Record
	var missing []string
	gens := map[string]uint64{}
	for _, id := range ids {
		k := key{r.Name, id}
		if rec, ok := c.records.GetIfPresent(k); ok {
			c.obs.CacheHit()
			out = append(out, rec)
			continue
		}
		c.obs.CacheMiss()
		if _, dup := gens[id]; !dup {
			gens[id] = c.stripe(k).generation()
			missing = append(missing, id)
		}
	}
	if len(missing) == 0 {
		return out, nil
	}
	recs, err := c.Store.GetMany(ctx, r, missing)
	if err != nil {
		return nil, err
	}
	for _, rec := range recs {
		k := key{r.Name, rec.ID}
		c.fill(c.stripe(k), gens[rec.ID], k, rec)
	}
	return append(out, recs...), nil
}

func (s *stripe) generation() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.gen
}

// fill keeps rec, read after the stripe was at generation gen, unless a key of the stripe
// was invalidated since (rec may predate that change) or a newer version is kept already.
func (c *Cache) fill(s *stripe, gen uint64, k key, rec *store.Record) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.gen != gen {
		return
	}
	if old, ok := c.records.GetIfPresent(k); ok && old.Version > rec.Version {
		return
	}
	c.records.Set(k, rec)
}

// invalidate drops k, and every fill under way of a key of its stripe.
func (c *Cache) invalidate(k key) {
	s := c.stripe(k)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gen++
	if _, ok := c.records.GetIfPresent(k); ok {
		c.records.Invalidate(k)
		c.obs.CacheInvalidation()
	}
}

// clear drops everything and every fill under way.
func (c *Cache) clear() {
	for i := range c.stripes {
		s := &c.stripes[i]
		s.mu.Lock()
		s.gen++
		s.mu.Unlock()
	}
	c.records.InvalidateAll()
}

// Write implements store.Store: when fn's transaction returns, committed or not, the records
// it inserted, updated or deleted are dropped, before the write's caller learns of it.
func (c *Cache) Write(ctx context.Context, fn func(tx store.Tx) error) error {
	var touched []key
	err := c.Store.Write(ctx, func(tx store.Tx) error {
		return fn(&tracked{Tx: tx, touched: &touched})
	})
	for _, k := range touched {
		c.invalidate(k)
	}
	return err
}

// tracked is a transaction that notes the keys it changes.
type tracked struct {
	store.Tx
	touched *[]key
}

func (x *tracked) Insert(ctx context.Context, r *spec.Resource, rec *store.Record) error {
	*x.touched = append(*x.touched, key{r.Name, rec.ID})
	return x.Tx.Insert(ctx, r, rec)
}

func (x *tracked) Update(ctx context.Context, r *spec.Resource, rec *store.Record, prev int64) error {
	*x.touched = append(*x.touched, key{r.Name, rec.ID})
	return x.Tx.Update(ctx, r, rec, prev)
}

func (x *tracked) Delete(ctx context.Context, r *spec.Resource, id string) error {
	*x.touched = append(*x.touched, key{r.Name, id})
	return x.Tx.Delete(ctx, r, id)
}

// weigh estimates the bytes a record takes in memory.
func weigh(k key, rec *store.Record) uint32 {
	n := 160 + len(k.resource) + 2*len(k.id)
	for name, v := range rec.Fields {
		n += 48 + len(name) + valueSize(v)
	}
	return uint32(min(n, 1<<31))
}

func valueSize(v any) int {
	switch v := v.(type) {
	case string:
		return len(v)
	case []any:
		n := 24
		for _, x := range v {
			n += 16 + valueSize(x)
		}
		return n
	case map[string]any:
		n := 48
		for k, x := range v {
			n += 32 + len(k) + valueSize(x)
		}
		return n
	}
	return 16
}
