package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/plinth-dev/plinth/internal/store"
	"github.com/plinth-dev/plinth/internal/store/sqlstore"
)

// The webhook worker's tables and the leases, as in the SQLite driver; sqlstore.Queue reads
// and writes them.
const (
	subscriptionsTable = `CREATE TABLE IF NOT EXISTS {schema}.` + sqlstore.Subscriptions + ` (
  "name" TEXT COLLATE "C" PRIMARY KEY,
  "cursor" BIGINT NOT NULL,
  "disabled_at" TIMESTAMPTZ
)`
	deliveriesTable = `CREATE TABLE IF NOT EXISTS {schema}.` + sqlstore.Deliveries + ` (
  "id" TEXT COLLATE "C" PRIMARY KEY,
  "subscription" TEXT COLLATE "C" NOT NULL,
  "event_id" TEXT COLLATE "C" NOT NULL,
  "event_seq" BIGINT NOT NULL,
  "event_type" TEXT COLLATE "C" NOT NULL,
  "resource" TEXT COLLATE "C" NOT NULL,
  "record_id" TEXT COLLATE "C" NOT NULL,
  "payload" BYTEA NOT NULL,
  "attempts" INTEGER NOT NULL,
  "state" TEXT COLLATE "C" NOT NULL,
  "next_at" TIMESTAMPTZ NOT NULL,
  "last_status" INTEGER NOT NULL,
  "last_error" TEXT COLLATE "C" NOT NULL,
  "created_at" TIMESTAMPTZ NOT NULL,
  "updated_at" TIMESTAMPTZ NOT NULL
)`
	leasesTable = `CREATE TABLE IF NOT EXISTS {schema}.` + sqlstore.Leases + ` (
  "name" TEXT COLLATE "C" PRIMARY KEY,
  "owner" TEXT COLLATE "C" NOT NULL,
  "until" TIMESTAMPTZ NOT NULL
)`
)

var deliveriesDueIndex, deliveriesRecordIndex = sqlstore.DeliveriesIndexes("{schema}." + sqlstore.Deliveries)

// internalDialect is PostgreSQL's share of the statements of the internal tables in schema
// (see sqlstore.Dialect). Replicas claim at once, so a claim takes its rows with FOR UPDATE
// SKIP LOCKED and replicas take different deliveries; they may run on hosts whose clocks
// differ, so due times, claims and leases are measured by the database's clock. A list of
// strings is a text[].
func internalDialect(schema string) *sqlstore.Dialect {
	return &sqlstore.Dialect{
		Dialect:    &dialect,
		Table:      func(name string) string { return quote(schema) + "." + name },
		Time:       func(t time.Time) any { return t.Truncate(time.Microsecond) }, // as TIMESTAMPTZ keeps it
		ParseTime:  readTime,
		At:         func(n int) string { return "now() + " + dialect.Placeholder(n) + "::interval" },
		AtArg:      func(now, t time.Time) any { return t.Sub(now) },
		Greatest:   "greatest",
		SkipLocked: " FOR UPDATE SKIP LOCKED",
		In:         func(col string, n int) string { return col + " = ANY(" + dialect.Placeholder(n) + "::text[])" },
		List:       func(values []string) any { return values },
	}
}

// runner runs the shared statements (see sqlstore.Runner): a statement on its own on the
// pool, committed by itself; a transaction through Write.
func (db *DB) runner() sqlstore.Runner {
	return sqlstore.Runner{
		Read:  pool{db},
		Alone: pool{db},
		Write: func(ctx context.Context, fn func(sqlstore.Conn) error) error {
			return db.Write(ctx, func(t store.Tx) error { return fn(conn{t.(*tx).tx}) })
		},
	}
}

// pool runs statements on the pool, each committed on its own.
type pool struct{ db *DB }

func (p pool) Exec(ctx context.Context, query string, args ...any) (int64, error) {
	tag, err := p.db.pool.Exec(ctx, query, args...)
	return tag.RowsAffected(), p.db.classify(err, nil)
}

func (p pool) Query(ctx context.Context, scan func(sqlstore.Rows) error, query string, args ...any) error {
	rows, err := p.db.pool.Query(ctx, query, args...)
	if err != nil {
		return p.db.classify(err, nil)
	}
	defer rows.Close()
	return p.db.classify(scan(rows), nil)
}

// conn runs statements in a transaction, or on a connection of its own; Write reads their
// errors.
type conn struct{ tx pgxConn }

// pgxConn is a pgx.Tx or a *pgx.Conn.
type pgxConn interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

func (c conn) Exec(ctx context.Context, query string, args ...any) (int64, error) {
	tag, err := c.tx.Exec(ctx, query, args...)
	return tag.RowsAffected(), err
}

func (c conn) Query(ctx context.Context, scan func(sqlstore.Rows) error, query string, args ...any) error {
	rows, err := c.tx.Query(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	return scan(rows)
}

// readTime reads a TIMESTAMPTZ column, which pgx scans into a time.Time.
func readTime(v any) (time.Time, error) {
	t, ok := v.(time.Time)
	if !ok {
		return time.Time{}, fmt.Errorf("read time: unexpected %T", v)
	}
	return t.UTC(), nil
}
