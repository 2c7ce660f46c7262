package engine

import (
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/plinth-dev/plinth/internal/fault"
	"github.com/plinth-dev/plinth/internal/obs"
	"github.com/plinth-dev/plinth/internal/query"
	"github.com/plinth-dev/plinth/internal/spec"
	"github.com/plinth-dev/plinth/internal/store"
)

// RoleAdmin may act on resources that declare no rule for an operation.
const RoleAdmin = "admin"

// RequireAdmin lets role admin through, for what no spec rule governs (operating webhooks,
// profiling): Unauthorized for an anonymous caller, Forbidden for anyone else. what names
// the refused action in the message, as in "manage webhooks".
func RequireAdmin(ctx context.Context, what string) error {
	switch p := PrincipalFrom(ctx); {
	case p.Anonymous():
		return fault.New(fault.Unauthorized, "this request needs credentials")
	case p.Role != RoleAdmin:
		return fault.New(fault.Forbidden, "only role admin may %s", what)
	}
	return nil
}

// Config holds what an Engine needs. Model and Store are required.
type Config struct {
	Model  *spec.Model
	Store  store.Store
	Now    func() time.Time // defaults to time.Now
	Logger *slog.Logger     // defaults to a logger that discards
	// IdempotencyTTL is how long idempotency keys are remembered; default 24 hours.
	IdempotencyTTL time.Duration
	// EventRetention is how long events are kept in the outbox; default 7 days.
	EventRetention time.Duration
	// Committed, when set, is called after every write that committed; it must not block.
	// The webhook worker uses it to look at the outbox at once instead of at its next poll.
	Committed func()
	// CursorKey signs list cursors so that clients cannot forge them. A random key is used
	// when empty, which makes cursors valid only for the life of the process.
	CursorKey []byte
	// MaxCascade bounds the records one delete may delete or change through on_delete
	// besides its own; default DefaultMaxCascade.
	MaxCascade int
	// Metrics counts the callers' operations by outcome, and effect conflicts; nil for none.
	Metrics *obs.Metrics
}

// Engine is the service layer: every read and write of every transport goes through it, so
// access rules, validation, transitions and computed fields hold everywhere alike.
type Engine struct {
	model     *spec.Model
	db        store.Store
	now       func() time.Time
	log       *slog.Logger
	cursorKey []byte
	filters   filterCache
	idemTTL   time.Duration
	committed func()
	// eventRetention is how long the outbox keeps events.
	eventRetention time.Duration
	inflight       inflight
	maxCascade     int
	metrics        *obs.Metrics
}

// New returns an engine for cfg.
func New(cfg Config) (*Engine, error) {
	if cfg.Model == nil || cfg.Store == nil {
		return nil, errors.New("engine: Model and Store are required")
	}
	key := cfg.CursorKey
	if len(key) == 0 {
		key = make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return nil, err
		}
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	return &Engine{
		model:          cfg.Model,
		db:             cfg.Store,
		now:            now,
		log:            cmp.Or(cfg.Logger, slog.New(slog.DiscardHandler)),
		cursorKey:      key,
		filters:        filterCache{plans: map[filterKey]*query.Plan{}},
		idemTTL:        cmp.Or(cfg.IdempotencyTTL, DefaultIdempotencyTTL),
		eventRetention: cmp.Or(cfg.EventRetention, DefaultEventRetention),
		committed:      cfg.Committed,
		maxCascade:     cmp.Or(cfg.MaxCascade, DefaultMaxCascade),
		metrics:        cfg.Metrics,
	}, nil
}

// Model returns the compiled spec the engine serves.
func (e *Engine) Model() *spec.Model { return e.model }

func (e *Engine) resource(name string) (*spec.Resource, error) {
	r, ok := e.model.Resource(name)
	if !ok {
		return nil, fault.New(fault.NotFound, "there is no resource %q", name)
	}
	return r, nil
}

func (e *Engine) clock() time.Time { return e.now().UTC().Truncate(time.Microsecond) }

// Now is the engine's clock, in UTC: what transports ask when time decides an answer (an
// older version of the API past its sunset), so that a test's clock moves them too.
func (e *Engine) Now() time.Time { return e.clock() }

func newID() (string, error) {
	id, err := uuid.NewV7()
	if err != nil {
		return "", fault.Wrap(fault.Internal, err, "could not make an id")
	}
	return id.String(), nil
}

// permits checks op's rule on record (and old, for updates). A missing rule admits only
// role admin. hide says the caller may not learn whether the record exists: a denial that
// depends on the record is then a 404, as for a missing one.
func (e *Engine) permits(ctx context.Context, r *spec.Resource, op spec.Operation, record, old *store.Record, hide bool) error {
	if isSystem(ctx) {
		return nil
	}
	rule := r.Access[op]
	switch {
	case rule == nil:
		if PrincipalFrom(ctx).Role == RoleAdmin {
			return nil
		}
		return denial(ctx, false, op, r.Name)
	case rule.Constant != nil:
		if *rule.Constant {
			return nil
		}
		return denial(ctx, false, op, r.Name)
	}
	if !e.allowed(ctx, rule, ruleVars(ctx, e.clock(), record, old)) {
		return denial(ctx, hide && rule.Partial != nil, op, r.Name)
	}
	return nil
}

// refuses checks op's rule before any record is read: it is a denial when the rule is false
// for this caller whatever the record (an admin-only rule for a customer, `auth.sub != null
// && ...` for an anonymous caller). Such a denial says nothing about any record, so a missing
// and an existing record answer alike. Rules that depend on the record pass here and are
// checked again with it.
func (e *Engine) refuses(ctx context.Context, r *spec.Resource, op spec.Operation) error {
	if isSystem(ctx) {
		return nil
	}
	rule := r.Access[op]
	if rule == nil || rule.Partial == nil {
		return e.permits(ctx, r, op, nil, nil, false)
	}
	if rule.RefusesWhatever(ruleVars(ctx, e.clock(), nil, nil)) {
		return denial(ctx, false, op, r.Name)
	}
	return nil
}

// recheck is permits for a caller whom refuses let through for op: a rule that does not depend
// on the record was decided there, so only one that does is evaluated again, on the record.
func (e *Engine) recheck(ctx context.Context, r *spec.Resource, op spec.Operation, record, old *store.Record, hide bool) error {
	if rule := r.Access[op]; rule == nil || rule.Partial == nil {
		return nil
	}
	return e.permits(ctx, r, op, record, old, hide)
}

// canRead reports whether the caller may see rec.
func (e *Engine) canRead(ctx context.Context, r *spec.Resource, rec *store.Record) bool {
	return e.permits(ctx, r, spec.OpRead, rec, nil, true) == nil
}

// filterKey identifies a compiled user filter.
type filterKey struct {
	resource string
	src      string
}

// filterCache keeps compiled filters: clients repeat the same few, and compiling CEL costs
// far more than running the query plan. It is cleared when full rather than tracking age.
type filterCache struct {
	mu    sync.Mutex
	plans map[filterKey]*query.Plan
}

const maxCachedFilters = 1024

func (c *filterCache) get(r *spec.Resource, src string) (*query.Plan, error) {
	k := filterKey{r.Name, src}
	c.mu.Lock()
	p, ok := c.plans[k]
	c.mu.Unlock()
	if ok {
		return p, nil
	}
	p, err := r.CompileFilter(src)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if len(c.plans) >= maxCachedFilters {
		clear(c.plans)
	}
	c.plans[k] = p
	c.mu.Unlock()
	return p, nil
}
