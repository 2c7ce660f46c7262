package sqlite

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/plinth-dev/plinth/internal/spec"
	"github.com/plinth-dev/plinth/internal/store"
	"github.com/plinth-dev/plinth/internal/store/sqlstore"
)

// eventsTable is the outbox. AUTOINCREMENT makes sequence numbers strictly increasing and
// never reused, even after the newest events are swept; writes are serialised, so sequence
// order is commit order.
const eventsTable = `CREATE TABLE IF NOT EXISTS ` + sqlstore.Events + ` (
  "seq" INTEGER PRIMARY KEY AUTOINCREMENT,
  "id" TEXT NOT NULL,
  "type" TEXT NOT NULL,
  "resource" TEXT NOT NULL,
  "record_id" TEXT NOT NULL,
  "time" TEXT NOT NULL,
  "actor" TEXT NOT NULL,
  "data" TEXT NOT NULL
) STRICT`

// Events have no index besides seq: every write adds one, and readers scan forward from a
// sequence number anyway. Event ids are UUIDv7s, unique by construction.

const appendEventSQL = `INSERT INTO "_plinth_events" ("id", "type", "resource", "record_id", "time", "actor", "data")
VALUES (?, ?, ?, ?, ?, ?, ?)`

// AppendEvent implements store.Tx.
func (x *tx) AppendEvent(ctx context.Context, r *spec.Resource, ev store.Event) error {
	ctx = noCancel(ctx)
	data, err := sqlstore.AppendEventData(nil, ev.Record, ev.Old)
	if err != nil {
		return fmt.Errorf("encode event: %w", err)
	}
	_, err = x.tx.StmtContext(ctx, x.db.appendEvent).ExecContext(ctx, ev.ID, ev.Type, ev.Resource, ev.RecordID, ev.Time.UTC().Format(TimeLayout), ev.Actor, string(data))
	return x.db.classify(err, nil)
}

// Events implements store.Store.
func (db *DB) Events(ctx context.Context, after int64, resources []string, limit int) ([]store.Event, error) {
	q := `SELECT "seq", "id", "type", "resource", "record_id", "time", "actor", "data" FROM "_plinth_events" WHERE "seq" > ?`
	args := []any{after}
	if len(resources) > 0 {
		q += ` AND "resource" IN (` + strings.TrimSuffix(strings.Repeat("?,", len(resources)), ",") + `)`
		for _, r := range resources {
			args = append(args, r)
		}
	}
	q += ` ORDER BY "seq" LIMIT ?`
	args = append(args, limit)
	rows, err := db.read.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, db.classify(err, nil)
	}
	defer rows.Close()
	var out []store.Event
	for rows.Next() {
		var ev store.Event
		var at, data string
		if err := rows.Scan(&ev.Seq, &ev.ID, &ev.Type, &ev.Resource, &ev.RecordID, &at, &ev.Actor, &data); err != nil {
			return nil, db.classify(err, nil)
		}
		if ev.Time, err = time.Parse(TimeLayout, at); err != nil {
			return nil, fmt.Errorf("event %d time: %w", ev.Seq, err)
		}
		if ev.Record, ev.Old, err = sqlstore.ReadEventData(db.resource(ev.Resource), data); err != nil {
			return nil, fmt.Errorf("event %d: %w", ev.Seq, err)
		}
		out = append(out, ev)
	}
	return out, db.classify(rows.Err(), nil)
}

// SweepEvents implements store.Store.
func (db *DB) SweepEvents(ctx context.Context, before time.Time, limit int) (int, error) {
	var n int64
	err := db.Write(ctx, func(t store.Tx) error {
		ctx := noCancel(ctx)
		res, err := t.(*tx).exec(ctx, `DELETE FROM "_plinth_events" WHERE "seq" IN (
			SELECT "seq" FROM "_plinth_events" WHERE "time" < ? ORDER BY "seq" LIMIT ?)`, before.UTC().Format(TimeLayout), limit)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return int(n), err
}
