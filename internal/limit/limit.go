// Package limit enforces the spec's rate limits (spec.Limit): a token bucket per rule and
// caller, kept in the process's memory, or shared between replicas through Redis (GCRA, with
// github.com/go-redis/redis_rate) when a Redis URL is given. A Redis that cannot be reached
// costs a request nothing: its call is bounded by a tight timeout, a circuit breaker stops
// calling it at all while it stays down, and the request is limited by the per-process
// buckets instead (docs/decisions/0027-rate-limits.md).
package limit

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"sync/atomic"
	"time"

	"github.com/failsafe-go/failsafe-go/circuitbreaker"
	"github.com/go-redis/redis_rate/v10"
	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/redis/go-redis/v9"
	"golang.org/x/time/rate"

	"github.com/plinth-dev/plinth/internal/spec"
)

// Defaults of Config.
const (
	DefaultMaxKeys      = 100_000
	DefaultRedisTimeout = 100 * time.Millisecond
	DefaultBreakerDelay = 5 * time.Second
	DefaultPrefix       = "plinth:"
)

// Config configures a Limiter.
type Config struct {
	Limits []*spec.Limit
	// RedisURL shares the buckets through Redis (redis:// or rediss://); empty keeps them in
	// the process's memory.
	RedisURL string
	// Prefix begins every Redis key; default DefaultPrefix and the spec's name, so that the
	// replicas of one spec share their buckets and other specs do not.
	Prefix string
	// MaxKeys bounds the buckets kept in memory per rule; the least recently used go first
	// (a full bucket is forgotten at no loss). Default DefaultMaxKeys.
	MaxKeys int
	// RedisTimeout bounds each call to Redis; default DefaultRedisTimeout.
	RedisTimeout time.Duration
	// BreakerDelay is how long Redis is left alone after it failed, before one request tries
	// it again; default DefaultBreakerDelay.
	BreakerDelay time.Duration
	Now          func() time.Time // default time.Now; the per-process buckets' clock
	Logger       *slog.Logger
}

// Limiter checks requests against the rate limits. Its methods are safe for concurrent use.
type Limiter struct {
	rules   []*rule
	now     func() time.Time
	log     *slog.Logger
	redis   *redis.Client // nil for buckets in memory only
	gcra    *redis_rate.Limiter
	prefix  string
	timeout time.Duration
	breaker circuitbreaker.CircuitBreaker[any]
	redisUp atomic.Bool
}

// rule is a limit and its per-process buckets, by caller.
type rule struct {
	*spec.Limit
	rate    rate.Limit
	buckets *lru.Cache[string, *rate.Limiter]
	gcra    redis_rate.Limit
}

// New returns a Limiter of cfg's limits. It fails only for a Redis URL it cannot parse: a
// Redis that cannot be reached is not an error, as the Limiter works without it.
func New(cfg Config) (*Limiter, error) {
	l := &Limiter{now: cfg.Now, log: cmp.Or(cfg.Logger, slog.New(slog.DiscardHandler)),
		timeout: cmp.Or(cfg.RedisTimeout, DefaultRedisTimeout), prefix: cmp.Or(cfg.Prefix, DefaultPrefix)}
	if l.now == nil {
		l.now = time.Now
	}
	for _, s := range cfg.Limits {
		buckets, err := lru.New[string, *rate.Limiter](cmp.Or(cfg.MaxKeys, DefaultMaxKeys))
		if err != nil {
			return nil, fmt.Errorf("rate limit %s: %w", s.Name, err)
		}
		l.rules = append(l.rules, &rule{Limit: s, rate: rate.Limit(s.PerSecond()), buckets: buckets,
			gcra: redis_rate.Limit{Rate: s.Count, Burst: s.Burst, Period: s.Period}})
	}
	if cfg.RedisURL == "" {
		return l, nil
	}
	opts, err := redis.ParseURL(cfg.RedisURL)
	if err != nil {
		return nil, fmt.Errorf("the rate limits' Redis URL: %w", err)
	}
	// One try per call, bounded by the timeout: a slow Redis must not slow the request.
	opts.MaxRetries, opts.ContextTimeoutEnabled = -1, true
	opts.DialTimeout, opts.ReadTimeout, opts.WriteTimeout, opts.PoolTimeout = l.timeout, l.timeout, l.timeout, l.timeout
	l.redis = redis.NewClient(opts)
	l.gcra = redis_rate.NewLimiter(l.redis)
	l.breaker = circuitbreaker.NewBuilder[any]().WithFailureThreshold(1).WithSuccessThreshold(1).
		WithDelay(cmp.Or(cfg.BreakerDelay, DefaultBreakerDelay)).Build()
	l.redisUp.Store(true)
	return l, nil
}

// Close closes the connections to Redis.
func (l *Limiter) Close() error {
	if l == nil || l.redis == nil {
		return nil
	}
	return l.redis.Close()
}

// Shared says whether the buckets are shared through Redis.
func (l *Limiter) Shared() bool { return l != nil && l.redis != nil }

// RedisUp says whether Redis answered the last call made to it (true without Redis).
func (l *Limiter) RedisUp() bool { return l == nil || l.redis == nil || l.redisUp.Load() }

// Route is the rules that may apply to the requests of one route.
type Route struct {
	l     *Limiter
	rules []*rule
}

// Route returns the rules whose selection holds pattern, a ServeMux pattern as registered
// ("POST /v1/orders"); nil when none does.
func (l *Limiter) Route(pattern string) *Route {
	if l == nil {
		return nil
	}
	var rules []*rule
	for _, r := range l.rules {
		if r.Selection.Key == "" || slices.Contains(r.Selection.Routes, pattern) {
			rules = append(rules, r)
		}
	}
	if len(rules) == 0 {
		return nil
	}
	return &Route{l: l, rules: rules}
}

// Caller is who made a request, as the limits tell callers apart.
type Caller struct {
	Anonymous bool   // no token
	Role      string // the token's role; empty for none
	Subject   string // the token's subject
	Address   string // the IP address the request came from
}

// State is a rule's bucket for a caller after a check.
type State struct {
	Limit     *spec.Limit
	Remaining int           // requests the bucket holds now
	Reset     time.Duration // until the bucket is full again
}

// Decision is the outcome of a check.
type Decision struct {
	// States are the buckets of the rules that applied, in the order checked; the last is the
	// refusing rule's when the request is refused.
	States []State
	// Refused is the rule whose empty bucket refused the request; nil when it is admitted.
	Refused *spec.Limit
	// RetryAfter is how long until the refusing bucket admits a request.
	RetryAfter time.Duration
}

// Check spends one token of every rule of the route that applies to the caller, in order,
// and refuses the request at the first whose bucket is empty (the tokens spent before stay
// spent). It never fails: a Redis that does not answer leaves the per-process buckets to
// decide.
func (rt *Route) Check(ctx context.Context, c Caller) Decision {
	var d Decision
	for _, r := range rt.rules {
		if !r.Applies(c.Anonymous, c.Role) {
			continue
		}
		key := c.Address
		if r.Per == spec.CallerSubject {
			key = c.Subject
		}
		st, retry := rt.l.take(ctx, r, key)
		d.States = append(d.States, st)
		if retry > 0 {
			d.Refused, d.RetryAfter = r.Limit, retry
			break
		}
	}
	return d
}

// take spends a token of the caller's bucket of r: in Redis while it answers, in memory
// otherwise. A positive retry says the bucket is empty.
func (l *Limiter) take(ctx context.Context, r *rule, key string) (State, time.Duration) {
	if l.redis != nil && l.breaker.TryAcquirePermit() {
		st, retry, err := l.takeShared(ctx, r, key)
		if err == nil {
			l.breaker.RecordSuccess()
			if l.redisUp.CompareAndSwap(false, true) {
				l.log.InfoContext(ctx, "rate limits: Redis answers again; the buckets are shared again")
			}
			return st, retry
		}
		l.breaker.RecordFailure()
		if l.redisUp.CompareAndSwap(true, false) {
			l.log.WarnContext(ctx, "rate limits: Redis does not answer; limiting per process until it does", "err", err)
		}
	}
	return l.takeLocal(r, key)
}

func (l *Limiter) takeShared(ctx context.Context, r *rule, key string) (State, time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, l.timeout)
	defer cancel()
	res, err := l.gcra.Allow(ctx, l.prefix+r.Name+":"+key, r.gcra)
	if err != nil {
		return State{}, 0, err
	}
	st := State{Limit: r.Limit, Remaining: res.Remaining, Reset: max(res.ResetAfter, 0)}
	if res.Allowed == 0 {
		return st, max(res.RetryAfter, time.Nanosecond), nil
	}
	return st, 0, nil
}

func (l *Limiter) takeLocal(r *rule, key string) (State, time.Duration) {
	b, ok := r.buckets.Get(key)
	if !ok {
		b = rate.NewLimiter(r.rate, r.Burst)
		if prev, found, _ := r.buckets.PeekOrAdd(key, b); found {
			b = prev
		}
	}
	now := l.now()
	allowed := b.AllowN(now, 1)
	tokens := b.TokensAt(now)
	st := State{Limit: r.Limit, Remaining: max(int(math.Floor(tokens)), 0), Reset: seconds((float64(r.Burst) - tokens) / float64(r.rate))}
	if allowed {
		return st, 0
	}
	return st, max(seconds((1-tokens)/float64(r.rate)), time.Nanosecond)
}

func seconds(s float64) time.Duration { return max(time.Duration(s*float64(time.Second)), 0) }

// Buckets counts the per-process buckets kept, over every rule.
func (l *Limiter) Buckets() int {
	n := 0
	for _, r := range l.rules {
		n += r.buckets.Len()
	}
	return n
}
