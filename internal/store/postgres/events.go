package postgres

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/plinth-dev/plinth/internal/fault"
	"github.com/plinth-dev/plinth/internal/spec"
	"github.com/plinth-dev/plinth/internal/store"
	"github.com/plinth-dev/plinth/internal/store/sqlstore"
)

// eventsTable is the outbox. The identity column never reuses a number, even after the newest
// events are swept. A sequence alone does not give commit order in PostgreSQL (a transaction
// can take 7, another 8 and commit first, and a reader that saw 8 would skip 7 for ever), so
// the numbers are drawn under an advisory lock held until commit: see appendEvents and
// docs/decisions/0009-postgres-outbox-order.md.
const eventsTable = `CREATE TABLE IF NOT EXISTS {schema}.` + sqlstore.Events + ` (
  "seq" BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  "id" TEXT COLLATE "C" NOT NULL,
  "type" TEXT COLLATE "C" NOT NULL,
  "resource" TEXT COLLATE "C" NOT NULL,
  "record_id" TEXT COLLATE "C" NOT NULL,
  "time" TIMESTAMPTZ NOT NULL,
  "actor" TEXT COLLATE "C" NOT NULL,
  "data" JSONB NOT NULL
)`

// Events have no index besides seq, as in the SQLite driver: every write adds one (here under
// the outbox lock), and readers scan forward from a sequence number anyway. Event ids are
// UUIDv7s, unique by construction.

// pendingEvent is an event encoded by AppendEvent, inserted when the transaction commits.
type pendingEvent struct {
	ev   store.Event
	data string
}

// AppendEvent implements store.Tx. The event is encoded now, so that a value that cannot be
// stored fails the write here, and inserted just before the transaction commits (see
// appendEvents): until then it is invisible to everyone anyway.
func (x *tx) AppendEvent(ctx context.Context, r *spec.Resource, ev store.Event) error {
	data, err := sqlstore.AppendEventData(nil, ev.Record, ev.Old)
	if err != nil {
		return fmt.Errorf("encode event: %w", err)
	}
	for _, s := range []string{ev.ID, ev.Type, ev.Resource, ev.RecordID, ev.Actor} {
		if !sqlstore.Storable(s) {
			return fault.Wrap(fault.Invalid, errNUL, "the change cannot be recorded: its text contains the character U+0000")
		}
	}
	if jsonHasNUL(data) {
		return fault.Wrap(fault.Invalid, errNUL, "the change cannot be recorded: its text contains the character U+0000")
	}
	x.events = append(x.events, pendingEvent{ev: ev, data: string(data)})
	return nil
}

// appendEvents inserts the transaction's events, last thing before COMMIT, under
// pg_advisory_xact_lock(db.eventsLock). The lock is held until the transaction ends, so
// sequence numbers are drawn one committing transaction at a time and their order is commit
// order: a reader that sees seq n sees every event below n that will ever exist.
//
// The cost: transactions that append events commit one at a time, from this insert to the end
// of COMMIT (including its WAL flush), so the change feed bounds write throughput at about
// one commit per flush. Taking the lock here rather than in AppendEvent keeps that window
// short, and, because nothing waits for a row lock after it, it cannot deadlock with row
// locks that the rest of the transaction takes (an effect updating stock after the event of
// the order was appended).
func (x *tx) appendEvents(ctx context.Context) error {
	if len(x.events) == 0 {
		return nil
	}
	b := &pgx.Batch{}
	b.Queue("SELECT pg_advisory_xact_lock($1)", x.db.eventsLock)
	insert := x.db.internal.AppendEventSQL()
	for _, p := range x.events {
		b.Queue(insert, x.db.internal.EventArgs(p.ev, p.data)...)
	}
	// Delivered at commit, to every process listening: their webhook workers look at once.
	b.Queue("SELECT pg_notify($1, '')", x.db.channel())
	if err := x.tx.SendBatch(ctx, b).Close(); err != nil {
		return x.db.classify(err, nil)
	}
	return nil
}

// channel is the LISTEN/NOTIFY channel of this schema's outbox.
func (db *DB) channel() string { return "plinth_events_" + strconv.FormatInt(db.eventsLock, 36) }

// Listen calls wake whenever any process commits events to this schema's outbox, until ctx
// ends. It holds one connection of its own, and reconnects after a lost connection; between
// notifications the worker's poll still runs, so a missed one only delays. up says when it
// listens and when it stops.
func (db *DB) Listen(ctx context.Context, wake func(), up func(listening bool)) {
	for ctx.Err() == nil {
		if err := db.listen(ctx, wake, up); err != nil && ctx.Err() == nil {
			db.log.WarnContext(ctx, "listening for events failed; retrying", "err", err)
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}
}

func (db *DB) listen(ctx context.Context, wake func(), up func(bool)) error {
	conn, err := db.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{db.channel()}.Sanitize()); err != nil {
		return err
	}
	// In a closure: a deferred method call evaluates its receiver at once, which would send
	// UNLISTEN now and hold the connection busy until the deferred Close.
	defer func() { conn.Conn().PgConn().Exec(context.Background(), "UNLISTEN *").Close() }()
	up(true)
	defer up(false)
	for {
		if _, err := conn.Conn().WaitForNotification(ctx); err != nil {
			return err
		}
		wake()
	}
}
