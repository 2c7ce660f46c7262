package sqlite

import (
	"context"
	"encoding/json"
	"time"

	"github.com/plinth-dev/plinth/internal/query"
	"github.com/plinth-dev/plinth/internal/store"
	"github.com/plinth-dev/plinth/internal/store/sqlstore"
)

// The webhook worker's tables: each subscription's place in the outbox, and the deliveries;
// and the leases. sqlstore.Queue reads and writes them.
const (
	subscriptionsTable = `CREATE TABLE IF NOT EXISTS ` + sqlstore.Subscriptions + ` (
  "name" TEXT PRIMARY KEY NOT NULL,
  "cursor" INTEGER NOT NULL,
  "disabled_at" TEXT
) STRICT`
	deliveriesTable = `CREATE TABLE IF NOT EXISTS ` + sqlstore.Deliveries + ` (
  "id" TEXT PRIMARY KEY NOT NULL,
  "subscription" TEXT NOT NULL,
  "event_id" TEXT NOT NULL,
  "event_seq" INTEGER NOT NULL,
  "event_type" TEXT NOT NULL,
  "resource" TEXT NOT NULL,
  "record_id" TEXT NOT NULL,
  "payload" BLOB NOT NULL,
  "attempts" INTEGER NOT NULL,
  "state" TEXT NOT NULL,
  "next_at" TEXT NOT NULL,
  "last_status" INTEGER NOT NULL,
  "last_error" TEXT NOT NULL,
  "created_at" TEXT NOT NULL,
  "updated_at" TEXT NOT NULL
) STRICT`
	leasesTable = `CREATE TABLE IF NOT EXISTS ` + sqlstore.Leases + ` (
  "name" TEXT PRIMARY KEY NOT NULL,
  "owner" TEXT NOT NULL,
  "until" TEXT NOT NULL
) STRICT`
)

var deliveriesDueIndex, deliveriesRecordIndex = sqlstore.DeliveriesIndexes(sqlstore.Deliveries)

// internalDialect is SQLite's share of the statements of the internal tables (see
// sqlstore.Dialect). Times are TEXT in TimeLayout, whose text order is time order. Writes run
// one at a time, so a claim needs no row locks, and the process's clock is the only one. A
// list of strings is a JSON array, read with json_each, so that a statement does not vary
// with the length of its list and can be kept prepared.
var internalDialect = sqlstore.Dialect{
	Dialect:   &dialect,
	Table:     func(name string) string { return name },
	Time:      storedTime,
	ParseTime: readTime,
	At:        dialect.Placeholder,
	AtArg:     func(_, t time.Time) any { return storedTime(t) },
	Greatest:  "max",
	In: func(col string, n int) string {
		return col + ` IN (SELECT "value" FROM json_each(` + dialect.Placeholder(n) + `))`
	},
	List: func(values []string) any {
		b, _ := json.Marshal(values) // strings always encode
		return string(b)
	},
}

// storedTime is a time as a time column holds it.
func storedTime(t time.Time) any { return t.UTC().Format(TimeLayout) }

// readTime reads a time column, as it reads a timestamp field's.
func readTime(v any) (time.Time, error) {
	t, err := decodeValue(query.KindTimestamp, v)
	at, _ := t.(time.Time)
	return at, err
}

// runner runs the shared statements (see sqlstore.Runner): reads on the read pool, writes
// through the writer, each in its own savepoint of a group's transaction.
func (db *DB) runner() sqlstore.Runner {
	return sqlstore.Runner{
		Read: reader{db},
		Write: func(ctx context.Context, fn func(sqlstore.Conn) error) error {
			return db.Write(ctx, func(t store.Tx) error { return fn(conn{t.(*tx)}) })
		},
	}
}

// reader runs statements on the read pool.
type reader struct{ db *DB }

func (r reader) Query(ctx context.Context, scan func(sqlstore.Rows) error, query string, args ...any) error {
	rows, err := r.db.read.QueryContext(ctx, query, args...)
	if err != nil {
		return r.db.classify(err, nil)
	}
	defer rows.Close()
	return r.db.classify(scan(rows), nil)
}

// conn runs statements in a write, prepared once for the writer's connection.
type conn struct{ x *tx }

func (c conn) Exec(ctx context.Context, query string, args ...any) (int64, error) {
	res, err := c.x.exec(noCancel(ctx), query, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func (c conn) Query(ctx context.Context, scan func(sqlstore.Rows) error, query string, args ...any) error {
	rows, err := c.x.query(noCancel(ctx), query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	return scan(rows)
}
