package worker

import (
	"context"
	"time"

	"github.com/failsafe-go/failsafe-go/circuitbreaker"

	"github.com/plinth-dev/plinth/internal/engine"
	"github.com/plinth-dev/plinth/internal/obs"
	"github.com/plinth-dev/plinth/internal/store"
)

// Bounds of webhook administration: the dead deliveries one listing shows unless asked for
// fewer or more, and at most; and the most ids one replay or discard may name.
const (
	DefaultDeadLetters = 100
	MaxDeadLetters     = 1000
	MaxSelected        = 1000
)

// BreakerStates are the states Status.Breaker takes.
var BreakerStates = []string{circuitbreaker.ClosedState.String(), circuitbreaker.OpenState.String(), circuitbreaker.HalfOpenState.String()}

// Status is what operators see of one webhook.
type Status struct {
	Name        string
	Enabled     bool      // its URL is configured
	Disabled    time.Time // when its receiver answered 410 Gone; zero otherwise
	Destination string    // the receiver's host
	Breaker     string    // closed, open or half-open
	Pending     int
	Delivered   int
	Dead        int
}

// requireAdmin keeps webhook administration to role admin: deliveries carry every record.
func requireAdmin(ctx context.Context) error { return engine.RequireAdmin(ctx, "manage webhooks") }

// Status reports every webhook with its breaker and delivery counts. Admins only.
func (w *Worker) Status(ctx context.Context) ([]Status, error) {
	if err := requireAdmin(ctx); err != nil {
		return nil, err
	}
	counts, err := w.queue.Counts(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Status, 0, len(w.order))
	for _, s := range w.order {
		st := Status{Name: s.spec.Name, Enabled: s.enabled, Destination: s.host, Breaker: "closed",
			Pending: counts[s.spec.Name][store.Pending], Delivered: counts[s.spec.Name][store.Delivered], Dead: counts[s.spec.Name][store.Dead]}
		if s.enabled {
			st.Breaker = w.breaker(s).State().String()
			sub, err := w.queue.Subscription(ctx, s.spec.Name)
			if err != nil {
				return nil, err
			}
			st.Disabled = sub.Disabled
		}
		out = append(out, st)
	}
	return out, nil
}

// DeadLetters lists up to limit dead deliveries, oldest first. Admins only.
func (w *Worker) DeadLetters(ctx context.Context, limit int) ([]store.Delivery, error) {
	if err := requireAdmin(ctx); err != nil {
		return nil, err
	}
	return w.queue.Deliveries(ctx, store.Dead, limit)
}

// Replay delivers dead deliveries again — those with the given ids, or all when ids is
// empty — and enables their webhooks again. Admins only.
func (w *Worker) Replay(ctx context.Context, ids []string) (int, error) {
	if err := requireAdmin(ctx); err != nil {
		return 0, err
	}
	n, err := w.queue.Replay(ctx, ids, w.now())
	if err == nil && n > 0 {
		signal(w.due)
	}
	return n, err
}

// Discard deletes dead deliveries — those with the given ids, or all when ids is empty — once
// an operator has dealt with them otherwise. Admins only.
func (w *Worker) Discard(ctx context.Context, ids []string) (int, error) {
	if err := requireAdmin(ctx); err != nil {
		return 0, err
	}
	return w.queue.Discard(ctx, ids)
}

// Outbox reads the outbox's head and, for each webhook of the model, its lag, dead letters
// and the state of its destination's breaker, for the metrics (obs.Metrics.WatchOutbox). A
// webhook that has never run counts as caught up.
func (w *Worker) Outbox(ctx context.Context) (obs.Outbox, error) {
	b, err := w.queue.Backlog(ctx)
	if err != nil {
		return obs.Outbox{}, err
	}
	now := w.now()
	out := obs.Outbox{Head: b.Head, Webhooks: make([]obs.Webhook, 0, len(w.order))}
	for _, s := range w.order {
		hook := obs.Webhook{Name: s.spec.Name}
		if sb, ok := b.Subscriptions[s.spec.Name]; ok {
			hook.LagEvents, hook.Dead = max(b.Head-sb.Cursor, 0), sb.Dead
			if !sb.Oldest.IsZero() {
				hook.LagSeconds = max(now.Sub(sb.Oldest).Seconds(), 0)
			}
		}
		if s.enabled {
			switch w.breaker(s).State() {
			case circuitbreaker.OpenState:
				hook.Breaker = obs.BreakerOpen
			case circuitbreaker.HalfOpenState:
				hook.Breaker = obs.BreakerHalfOpen
			}
		}
		out.Webhooks = append(out.Webhooks, hook)
	}
	return out, nil
}
