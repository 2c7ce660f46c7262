// Package store is the contract between Plinth and its databases, in one place: the values
// that cross it (records, events, stored outcomes, webhook deliveries), what a database must
// do (Store and Tx for the engine, Queue for the webhook worker, Leaser for schedules,
// Listener for wake-ups) and the errors it reports. The engine and the worker use it; the
// drivers (internal/store/sqlite, internal/store/postgres) implement it; it imports neither,
// so a driver never sees the engine (docs/decisions/0005-store-interface.md). The shared
// suite in internal/store/storetest says what every method must do, on every driver.
package store

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/plinth-dev/plinth/internal/fault"
	"github.com/plinth-dev/plinth/internal/query"
	"github.com/plinth-dev/plinth/internal/spec"
)

// Event is one committed change, as the outbox keeps it.
type Event struct {
	ID       string // a UUIDv7, stable across deliveries, for receivers to deduplicate
	Seq      int64  // the outbox position, set by the store; increases with every commit
	Type     string // resource + "." + kind
	Resource string
	RecordID string
	Time     time.Time
	Actor    string  // the caller's subject; empty for anonymous callers
	Record   *Record // the record after the change; for a delete, as it was
	Old      *Record // the record before an update; nil otherwise
	// Trace is the W3C traceparent of the write that made the event, "" when it was not
	// traced: a webhook delivery's span links to it.
	Trace string
}

// Change is which record an event of the outbox is of.
type Change struct {
	Seq      int64
	Resource string
	RecordID string
}

// Outcome is what a write made under an idempotency key answered, kept so that a retry of it
// gets the same answer. The engine keys it; the transport that served the write names the
// operation and alone reads the response.
type Outcome struct {
	Scope string // whose key it is: the caller
	// Operation is what the transport calls the request, such as "POST /v1/orders" for REST
	// (its method and request path); a key is scoped to it.
	Operation   string
	Key         string // the client's idempotency key
	Fingerprint string // of the request's body, to tell a retry from another request
	// Response is the answer, encoded by the transport; the store keeps its bytes as they are.
	Response  []byte
	CreatedAt time.Time
	ExpiresAt time.Time
}

// DB is everything Plinth needs of a database; each driver is one.
type DB interface {
	Store
	Queue
	Leaser
	// Ping says whether the database answers.
	Ping(ctx context.Context) error
	Close() error
}

// Store is what the engine needs. Every method returns *fault.Error for conditions a client
// can act on: NotFound for a missing record, Conflict (with field errors) for unique
// violations and references that block a delete, Unavailable when the database cannot be
// reached.
type Store interface {
	// Get reads one record by id outside any transaction.
	Get(ctx context.Context, r *spec.Resource, id string) (*Record, error)
	// GetMany reads the records with the given ids; missing ids are left out.
	GetMany(ctx context.Context, r *spec.Resource, ids []string) ([]*Record, error)
	// List runs a selection.
	List(ctx context.Context, r *spec.Resource, q query.Select) ([]*Record, error)
	// Outcome reads the outcome stored under a key, expired or not; NotFound when there is
	// none.
	Outcome(ctx context.Context, scope, operation, key string) (*Outcome, error)
	// SweepOutcomes deletes up to limit outcomes that expired before now, and says how many.
	SweepOutcomes(ctx context.Context, now time.Time, limit int) (int, error)
	// Events reads up to limit events with a sequence above after, of the given resources
	// (all when empty), in sequence order.
	Events(ctx context.Context, after int64, resources []string, limit int) ([]Event, error)
	// Changes reads up to limit changes with a sequence above after, in order: which record
	// each event is of, without the records themselves, for a reader that only needs to
	// know what moved (the read cache) and should not decode every event's body to learn it.
	Changes(ctx context.Context, after int64, limit int) ([]Change, error)
	// SweepEvents deletes up to limit events older than before, and says how many.
	SweepEvents(ctx context.Context, before time.Time, limit int) (int, error)
	// Write runs fn in one write transaction and commits when fn returns nil. A driver may
	// run fn again after a transient failure, so fn must have no effect outside tx; and fn
	// must not call Write itself (a single-writer driver would wait on itself).
	Write(ctx context.Context, fn func(tx Tx) error) error
}

// Tx is a write transaction.
type Tx interface {
	// Get reads a record inside the transaction. Where writers can run concurrently
	// (PostgreSQL), the row stays locked until the transaction ends, so that a read-modify-
	// write such as a stock reservation cannot lose an update.
	Get(ctx context.Context, r *spec.Resource, id string) (*Record, error)
	Insert(ctx context.Context, r *spec.Resource, rec *Record) error
	// Update replaces the stored record whose version is prevVersion; Conflict if it changed.
	Update(ctx context.Context, r *spec.Resource, rec *Record, prevVersion int64) error
	Delete(ctx context.Context, r *spec.Resource, id string) error
	// List runs a selection inside the transaction, which it sees as written so far; it
	// locks no row. A delete finds the records that refer to it this way.
	List(ctx context.Context, r *spec.Resource, q query.Select) ([]*Record, error)
	// AppendEvent adds ev, a change to a record of r, to the outbox; the store assigns Seq.
	AppendEvent(ctx context.Context, r *spec.Resource, ev Event) error
	// PutOutcome stores an outcome; an error that IsKeyTaken when a live outcome is stored
	// under its key already (an expired one gives way).
	PutOutcome(ctx context.Context, o Outcome) error
}

// errKeyTaken marks the error of PutOutcome for a key that is stored already.
var errKeyTaken = errors.New("idempotency key taken")

// ErrKeyTaken is the error drivers return from PutOutcome for a key stored already: a
// Conflict, wrapping cause.
func ErrKeyTaken(cause error) error {
	return &fault.Error{Code: fault.Conflict, Message: "the idempotency key is taken", Err: errors.Join(errKeyTaken, cause)}
}

// IsKeyTaken reports whether err says an idempotency key is stored already.
func IsKeyTaken(err error) bool { return errors.Is(err, errKeyTaken) }

// MigrationError is a change the database cannot take as it is at a start: it would lose
// data, leave records that break the spec, or it needs a planned migration. Drivers refuse
// such a change with it and change nothing. Problems are sorted, so that the same database
// and spec always give the same message; Need says what brings them together.
type MigrationError struct {
	Problems []string
	Need     MigrationNeed
}

// MigrationNeed is what a database that refused to start needs.
type MigrationNeed int

const (
	// NeedChange: the spec, or the data, must change first (records lack a value a field
	// must have, or share one that must be unique).
	NeedChange MigrationNeed = iota
	// NeedPlan: the changes are planned migrations to make (renames), or changes a start may
	// make but was told not to.
	NeedPlan
	// NeedDataLoss: the changes drop or retype fields, which a plan makes only when told it
	// may lose data.
	NeedDataLoss
	// NeedApply: planned migrations are waiting to be applied.
	NeedApply
	// NeedNewerSpec: the database is ahead of the spec: it has applied planned migrations
	// the spec's folder does not have, or one that differs from the spec's.
	NeedNewerSpec
)

func (e *MigrationError) Error() string {
	head, tail := "the spec no longer matches the data:", "change the spec, or the data first; nothing was changed"
	switch e.Need {
	case NeedPlan:
		head, tail = "the database is behind the spec, by changes a planned migration makes:", "plan them, review the file, and apply it; nothing was changed"
	case NeedDataLoss:
		tail = "change the spec, or plan these changes allowing data loss; nothing was changed"
	case NeedApply:
		head, tail = "the database is behind its planned migrations:", "apply them; nothing was changed"
	case NeedNewerSpec:
		head, tail = "the database is ahead of the spec:", "serve the spec whose migrations these are; nothing was changed"
	}
	return head + "\n  - " + strings.Join(e.Problems, "\n  - ") + "\n" + tail
}

// Leaser grants a named lease to one owner until a time, so that several processes on one
// database run each tick of a schedule once.
type Leaser interface {
	// Lease takes the lease until until when it is free or has expired.
	Lease(ctx context.Context, name, owner string, now, until time.Time) (bool, error)
	// Renew extends the owner's lease to until; false when the lease is no longer its.
	Renew(ctx context.Context, name, owner string, now, until time.Time) (bool, error)
	// Cut ends the owner's lease at until, earlier or later than it was.
	Cut(ctx context.Context, name, owner string, now, until time.Time) error
}

// Observer is told what a driver measures, for metrics (internal/obs implements it). Its
// methods must be cheap and safe for concurrent use.
type Observer interface {
	// Transaction observes a read of records (write false) or a write transaction (a SQLite
	// group commit is one) that took d.
	Transaction(write bool, d time.Duration)
	// Retry counts a write transaction of database (a driver's name) run again after a busy
	// database or a serialization failure.
	Retry(database string)
	// WriterWait observes how long a write waited for a single writer before it ran.
	WriterWait(d time.Duration)
	// GroupSize observes how many writes one group commit carried.
	GroupSize(n int)
}

// NopObserver observes nothing: the drivers' default.
type NopObserver struct{}

func (NopObserver) Transaction(bool, time.Duration) {}
func (NopObserver) Retry(string)                    {}
func (NopObserver) WriterWait(time.Duration)        {}
func (NopObserver) GroupSize(int)                   {}

// Pooled is a database with a pool of connections whose use can be read at any moment
// (PostgreSQL).
type Pooled interface {
	PoolStats() PoolStats
}

// PoolStats is the use of a connection pool.
type PoolStats struct {
	Acquired, Idle, Constructing, Max int32
	AcquireWait                       time.Duration // total time spent waiting for a connection
	EmptyAcquires                     int64         // acquisitions that had to wait for one
}

// Listener is a database that tells every process when any of them commits events
// (PostgreSQL's LISTEN/NOTIFY), so that their webhook workers need not wait for a poll. A
// driver without it is polled.
type Listener interface {
	// Listen calls wake after each commit of events, by any process, until ctx ends. It
	// calls up(true) once it listens, and up(false) when it stops (a lost connection), so
	// that the read cache knows when wake-ups may have been missed.
	Listen(ctx context.Context, wake func(), up func(listening bool))
}
