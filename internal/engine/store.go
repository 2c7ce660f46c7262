package engine

import (
	"context"
	"time"

	"github.com/plinth-dev/plinth/internal/query"
	"github.com/plinth-dev/plinth/internal/spec"
)

// Record is one stored record: field name to value. Values are string, int64, float64, bool,
// time.Time (UTC), nil, []any and map[string]any, recursively; system fields included.
type Record = map[string]any

// Store is the storage the engine needs. Drivers (internal/store/...) satisfy it, importing
// the engine only for these types (docs/decisions/0005-store-interface.md). Every method returns *fault.Error for conditions a client can act on:
// NotFound for a missing record, Conflict (with field errors) for unique violations and
// references that block a delete, Unavailable when the database cannot be reached.
type Store interface {
	// Get reads one record by id outside any transaction.
	Get(ctx context.Context, r *spec.Resource, id string) (Record, error)
	// GetMany reads the records with the given ids; missing ids are left out.
	GetMany(ctx context.Context, r *spec.Resource, ids []string) ([]Record, error)
	// List runs a selection.
	List(ctx context.Context, r *spec.Resource, q query.Select) ([]Record, error)
	// GetIdempotency reads a stored outcome; NotFound when there is none.
	GetIdempotency(ctx context.Context, scope, method, path, key string) (*IdempotencyRecord, error)
	// SweepIdempotency deletes up to limit outcomes that expired before now, and says how many.
	SweepIdempotency(ctx context.Context, now time.Time, limit int) (int, error)
	// Events reads up to limit events with a sequence above after, of the given resources
	// (all when empty), in sequence order.
	Events(ctx context.Context, after int64, resources []string, limit int) ([]Event, error)
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
	Get(ctx context.Context, r *spec.Resource, id string) (Record, error)
	Insert(ctx context.Context, r *spec.Resource, rec Record) error
	// Update replaces the stored record whose version is prevVersion; Conflict if it changed.
	Update(ctx context.Context, r *spec.Resource, rec Record, prevVersion int64) error
	Delete(ctx context.Context, r *spec.Resource, id string) error
	// List runs a selection inside the transaction, which it sees as written so far; it
	// locks no row. A delete finds the records that refer to it this way (cascade.go).
	List(ctx context.Context, r *spec.Resource, q query.Select) ([]Record, error)
	// AppendEvent adds ev, a change to a record of r, to the outbox; the store assigns Seq.
	AppendEvent(ctx context.Context, r *spec.Resource, ev Event) error
	// PutIdempotency stores an outcome; ErrKeyTaken when the key is stored already.
	PutIdempotency(ctx context.Context, rec IdempotencyRecord) error
}
