package store

import (
	"context"
	"errors"
	"time"
)

// State is where a webhook delivery stands.
type State string

// Delivery states.
const (
	Pending   State = "pending"   // waiting for its time, its turn or a closed breaker
	Delivered State = "delivered" // the receiver answered 2xx
	Dead      State = "dead"      // out of attempts, or the receiver answered 410; replayable
)

// Delivery is one event on its way to one webhook subscription.
type Delivery struct {
	ID           string // a UUIDv7
	Subscription string
	EventID      string // sent as webhook-id: the same on every attempt and replay
	EventSeq     int64
	EventType    string
	Resource     string
	RecordID     string
	Payload      []byte // the event document, exactly as it is sent
	Trace        string // the event's Trace
	Attempts     int
	State        State
	NextAt       time.Time
	Claimed      time.Time // the claim Claim made (its due time), which Save must still find
	LastStatus   int       // the receiver's last HTTP status; 0 when it did not answer
	LastError    string    // why the last attempt failed, for operators
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// ErrClaimLost says a delivery's claim expired before its outcome was saved.
var ErrClaimLost = errors.New("the delivery's claim was lost")

// ErrCursorMoved says another process matched a subscription's events first.
var ErrCursorMoved = errors.New("the subscription's cursor moved")

// Subscription is the stored state of one webhook.
type Subscription struct {
	Name     string
	Cursor   int64     // the outbox position up to which events were matched
	Disabled time.Time // when the receiver answered 410 Gone; zero while enabled
}

// Queue is what the webhook worker needs: the outbox, and a queue of deliveries with
// per-record order, claims that expire, and a dead-letter list
// (docs/decisions/0010-webhook-delivery.md).
type Queue interface {
	// Events reads the outbox, as Store.Events does.
	Events(ctx context.Context, after int64, resources []string, limit int) ([]Event, error)
	// Subscription reads a webhook's state, creating it at the current end of the outbox the
	// first time: a new subscription receives events from now on, not the backlog.
	Subscription(ctx context.Context, name string) (Subscription, error)
	// Enqueue stores deliveries and moves the subscription's cursor from from to after,
	// atomically. When the cursor is no longer at from (another process matched those events
	// first), it stores nothing and returns ErrCursorMoved.
	Enqueue(ctx context.Context, name string, from, after int64, ds []Delivery) error
	// Claim takes up to limit pending deliveries whose time has come and that are the oldest
	// pending delivery of their subscription and record (so records keep their order), and
	// makes them due again only at until: no other process takes them meanwhile, and a process
	// that dies with them hands them back when until passes.
	Claim(ctx context.Context, now, until time.Time, limit int) ([]Delivery, error)
	// Save records the outcome of an attempt, if the delivery is still under the claim
	// d.Claimed; otherwise (the claim expired and another process took it) it changes nothing
	// and returns ErrClaimLost.
	Save(ctx context.Context, d Delivery) error
	// Deliveries lists up to limit deliveries in a state, oldest first.
	Deliveries(ctx context.Context, state State, limit int) ([]Delivery, error)
	// Replay makes dead deliveries pending again, due at now: those with the given ids, or
	// all of them when ids is empty. It returns how many it revived.
	Replay(ctx context.Context, ids []string, now time.Time) (int, error)
	// Discard deletes dead deliveries: those with the given ids, or all of them when ids is
	// empty. It returns how many it deleted.
	Discard(ctx context.Context, ids []string) (int, error)
	// Disable marks a subscription as refused by its receiver (410 Gone).
	Disable(ctx context.Context, name string, at time.Time) error
	// Counts returns how many deliveries of each subscription are in each state.
	Counts(ctx context.Context) (map[string]map[State]int, error)
	// SweepDeliveries deletes up to limit delivered deliveries last touched before before.
	SweepDeliveries(ctx context.Context, before time.Time, limit int) (int, error)
	// Backlog reads the outbox's head and how far behind each subscription is, with a few
	// indexed queries: cheap enough for every scrape of the metrics.
	Backlog(ctx context.Context) (Backlog, error)
}

// Backlog is the outbox's head and each stored subscription's position behind it.
type Backlog struct {
	Head          int64 // the sequence number of the last event; 0 when there is none
	Subscriptions map[string]SubscriptionBacklog
}

// SubscriptionBacklog is how far behind the outbox's head a subscription is.
type SubscriptionBacklog struct {
	Cursor int64
	// Oldest is the time of the first event after the cursor; zero when there is none.
	Oldest time.Time
	Dead   int // its dead deliveries
}
