package engine

import (
	"context"
	"time"

	"github.com/plinth-dev/plinth/internal/fault"
	"github.com/plinth-dev/plinth/internal/spec"
	"github.com/plinth-dev/plinth/internal/store"
	"github.com/plinth-dev/plinth/internal/trace"
)

// Every committed write appends an event to an outbox in the same transaction, with a
// monotonic sequence number: nothing is emitted for a write that rolls back or for an
// idempotent replay, and nothing committed goes without its event. Consumers read the outbox
// by sequence: GET /v1/events now, webhooks and realtime streams later.

// Event kinds, the suffix of an event's type ("orders.created").
const (
	EventCreated = "created"
	EventUpdated = "updated"
	EventDeleted = "deleted"
)

// DefaultEventRetention is how long events are kept unless configured otherwise.
const DefaultEventRetention = 7 * 24 * time.Hour

// emit appends the event of a change to r inside tx, unless r opted out with `events: false`.
func (e *Engine) emit(ctx context.Context, tx store.Tx, r *spec.Resource, kind string, rec, old *store.Record) error {
	if !r.Events {
		return nil
	}
	id, err := newID()
	if err != nil {
		return err
	}
	return tx.AppendEvent(ctx, r, store.Event{ID: id, Type: r.Name + "." + kind, Resource: r.Name,
		RecordID: rec.ID, Time: e.clock(), Actor: PrincipalFrom(ctx).Subject, Record: rec, Old: old, Trace: trace.Parent(ctx)})
}

// EventParams select events: those after a sequence number, optionally of some resources.
type EventParams struct {
	After     int64
	Resources []string
	Limit     *int // nil means DefaultEventLimit
}

// Event page limits.
const (
	DefaultEventLimit = 100
	MaxEventLimit     = 1000
)

// EventPage is one page of the change feed. NextAfter is where the next page starts; it
// advances past events the caller may not see, so no page is read twice.
type EventPage struct {
	Items     []store.Event
	NextAfter int64
}

// Events reads the change feed. A caller sees an event only if the resource's read rule
// admits the event's record, exactly as a read would. Errors: Invalid for an unknown resource
// or a limit out of range.
func (e *Engine) Events(ctx context.Context, p EventParams) (*EventPage, error) {
	var v validator
	limit := v.limit(p.Limit, DefaultEventLimit, MaxEventLimit)
	if p.After < 0 {
		v.add("after", "range", "must not be negative")
	}
	for _, name := range p.Resources {
		if r, ok := e.model.Resource(name); !ok || !r.Events {
			v.add("resource", "unknown", "%q is not a resource with events", name)
		}
	}
	if len(v.errs) > 0 {
		return nil, &fault.Error{Code: fault.Invalid, Type: fault.TypeInvalidQuery, Message: "the event parameters are invalid", Fields: v.errs}
	}
	page := &EventPage{NextAfter: p.After}
	// Events the caller may not see are skipped, within a budget, so that a page of a feed
	// mostly about others' records still comes back promptly.
	budget := 10 * limit
	for budget > 0 && len(page.Items) < limit {
		want := min(limit, budget)
		batch, err := e.db.Events(ctx, page.NextAfter, p.Resources, want)
		if err != nil {
			return nil, err
		}
		for _, ev := range batch {
			page.NextAfter = ev.Seq
			r, _ := e.model.Resource(ev.Resource)
			if r != nil && e.canRead(ctx, r, ev.Record) {
				page.Items = append(page.Items, e.redact(ctx, r, ev))
				if len(page.Items) == limit {
					break
				}
			}
		}
		budget -= want
		if len(batch) < want {
			break // the end of the feed
		}
	}
	return page, nil
}

// redact hides what the caller may not know of an event it may see: the previous record,
// unless the read rule admits it too, and who made the change, unless it was the caller (or
// the caller is an admin) — an effect's product update must not tell everyone who bought.
func (e *Engine) redact(ctx context.Context, r *spec.Resource, ev store.Event) store.Event {
	if ev.Old != nil && !e.canRead(ctx, r, ev.Old) {
		ev.Old = nil
	}
	if p := PrincipalFrom(ctx); p.Role != RoleAdmin && (p.Anonymous() || p.Subject != ev.Actor) {
		ev.Actor = ""
	}
	return ev
}

// SweepEvents deletes events older than the retention in small batches.
func (e *Engine) SweepEvents(ctx context.Context) (int, error) {
	total := 0
	for {
		n, err := e.db.SweepEvents(ctx, e.clock().Add(-e.eventRetention), sweepBatch)
		total += n
		if err != nil || n < sweepBatch {
			return total, err
		}
	}
}
