package postgres

import (
	"context"
	"fmt"
	"hash/fnv"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/plinth-dev/plinth/internal/spec"
	"github.com/plinth-dev/plinth/internal/store/sqlstore"
)

// Driver names PostgreSQL's planned migrations: their folder, and the header of each.
const Driver = "postgres"

// lockKey derives a constant advisory-lock key for one purpose in one schema, so that
// deployments in different schemas of a database never wait for each other.
func lockKey(purpose, schema string) int64 {
	h := fnv.New64a()
	h.Write([]byte("plinth\x00" + purpose + "\x00" + schema))
	return int64(h.Sum64())
}

// lockedTx runs fn in a transaction that holds the migration lock of schema, and commits it;
// fn's error comes back as it is, and its own say "migrate".
// It waits for the lock between transactions, trying again after a pause that grows to a
// second: a transaction that waits in pg_advisory_xact_lock, or even one idle between tries,
// keeps a snapshot that CREATE INDEX CONCURRENTLY, run by the lock's holder, waits for, and
// the two would wait for each other for ever.
func lockedTx(ctx context.Context, begin func(context.Context) (pgx.Tx, error), schema string, fn func(pgx.Tx) error) error {
	wait := 20 * time.Millisecond
	for {
		tx, err := begin(ctx)
		if err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		var ok bool
		// Building an index can take longer than a request may, and waiting for another
		// process to finish migrating is the point of the lock.
		_, err = tx.Exec(ctx, "SET LOCAL statement_timeout = 0; SET LOCAL lock_timeout = 0")
		if err == nil {
			err = tx.QueryRow(ctx, "SELECT pg_try_advisory_xact_lock($1)", lockKey("migrate", schema)).Scan(&ok)
		}
		if err != nil {
			tx.Rollback(context.WithoutCancel(ctx))
			return fmt.Errorf("migrate: lock: %w", err)
		}
		if ok {
			if err := fn(tx); err != nil {
				tx.Rollback(context.WithoutCancel(ctx))
				return err
			}
			if err := tx.Commit(ctx); err != nil {
				return fmt.Errorf("migrate: %w", err)
			}
			return nil
		}
		tx.Rollback(context.WithoutCancel(ctx))
		if err := pause(ctx, &wait); err != nil {
			return err
		}
	}
}

// pause waits *wait, or until ctx is done, and doubles *wait up to a second.
func pause(ctx context.Context, wait *time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(*wait):
	}
	*wait = min(2**wait, time.Second)
	return nil
}

// waitLock takes the session advisory lock key on c, waiting between tries as lockedTx does.
func waitLock(ctx context.Context, c *pgx.Conn, key int64) error {
	wait := 20 * time.Millisecond
	for {
		var ok bool
		if err := c.QueryRow(ctx, "SELECT pg_try_advisory_lock($1)", key).Scan(&ok); ok || err != nil {
			return err
		}
		if err := pause(ctx, &wait); err != nil {
			return err
		}
	}
}

// migrate brings the schema to the model in one transaction, as sqlstore.Start decides, under
// a transaction-level advisory lock so that several processes starting at once migrate once:
// the others wait, then find nothing to do; a `plinth migrate apply` holds the same lock, so
// a process starting during one waits for it. It creates the schema, tables, columns, foreign
// keys and indexes, and drops indexes the model no longer has; it fills null values of fields
// the model says are never null with their literal defaults. It refuses, changing nothing,
// where the model drops, retypes or renames a field, where records would lack a value for a
// field that must have one and has no literal default, where planned files are not applied,
// and, with opts.PlannedOnly, where there is any change to make.
func migrate(ctx context.Context, db *DB, model *spec.Model, opts Options) error {
	begin := func(ctx context.Context) (pgx.Tx, error) {
		return db.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.ReadCommitted})
	}
	return lockedTx(ctx, begin, db.schema, func(tx pgx.Tx) error {
		if err := prepare(ctx, tx, db.schema, db.log); err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		start := sqlstore.Start{Files: opts.Planned, Auto: !opts.PlannedOnly, DDL: newDDL(db.schema), Dialect: db.internal,
			Catalog: readCatalog(db.schema), Log: db.log}
		return start.Run(ctx, conn{tx}, model)
	})
}

// prepare creates the schema and the internal tables, in a transaction that holds the
// migration lock, and brings those of earlier versions up to date.
func prepare(ctx context.Context, tx pgx.Tx, schema string, log *slog.Logger) error {
	if err := ensureSchema(ctx, tx, schema, log); err != nil {
		return err
	}
	for _, ddl := range []string{outcomesTable, outcomesIndex, eventsTable, addEventsTrace, fieldsTable, addNoNulls, addRetired,
		subscriptionsTable, deliveriesTable, addDeliveriesTrace, deliveriesDueIndex, deliveriesRecordIndex, leasesTable, migrationsTable} {
		if _, err := tx.Exec(ctx, strings.ReplaceAll(ddl, "{schema}", quote(schema))); err != nil {
			return err
		}
	}
	if err := convertOutcomes(ctx, tx, schema); err != nil {
		return fmt.Errorf("convert outcomes: %w", err)
	}
	return nil
}

// fieldsTable remembers each field's signature, so that a retype between types that share a
// column type (string to timestamp, ref to another resource) is caught too, as in the SQLite
// driver.
const fieldsTable = `CREATE TABLE IF NOT EXISTS {schema}."_plinth_fields" (
  "resource" TEXT COLLATE "C" NOT NULL,
  "field" TEXT COLLATE "C" NOT NULL,
  "signature" TEXT COLLATE "C" NOT NULL,
  PRIMARY KEY ("resource", "field")
)`

// addNoNulls and addRetired give "_plinth_fields" the columns that remember which fields hold
// no null, and which are retired (see sqlstore.Catalog.ScanFields). fieldsTable is made
// without them, so that a database from before them and a new one take the same path.
const (
	addNoNulls = `ALTER TABLE {schema}."_plinth_fields" ADD COLUMN IF NOT EXISTS "no_nulls" BOOLEAN NOT NULL DEFAULT FALSE`
	addRetired = `ALTER TABLE {schema}."_plinth_fields" ADD COLUMN IF NOT EXISTS "retired" BOOLEAN NOT NULL DEFAULT FALSE`
)

// addEventsTrace and addDeliveriesTrace give the outbox and the deliveries the trace context
// of the write that made each event (sqlstore.TraceColumn), null in the rows of before. The
// tables are made without it, so that a database from before it and a new one take the same
// path.
const (
	addEventsTrace     = `ALTER TABLE {schema}.` + sqlstore.Events + ` ADD COLUMN IF NOT EXISTS "` + sqlstore.TraceColumn + `" TEXT COLLATE "C"`
	addDeliveriesTrace = `ALTER TABLE {schema}.` + sqlstore.Deliveries + ` ADD COLUMN IF NOT EXISTS "` + sqlstore.TraceColumn + `" TEXT COLLATE "C"`
)

// migrationsTable records the planned migrations applied, and how far an interrupted one got.
const migrationsTable = `CREATE TABLE IF NOT EXISTS {schema}.` + sqlstore.Migrations + ` (
  "name" TEXT COLLATE "C" PRIMARY KEY,
  "checksum" TEXT COLLATE "C" NOT NULL,
  "fingerprint" TEXT COLLATE "C" NOT NULL,
  "steps_done" INTEGER NOT NULL,
  "applied_at" TIMESTAMPTZ
)`

// ensureSchema creates the schema when it is missing. It looks first, so that a role without
// the CREATE privilege on the database can use a schema made for it.
func ensureSchema(ctx context.Context, tx pgx.Tx, schema string, log *slog.Logger) error {
	var exists bool
	if err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)", schema).Scan(&exists); err != nil {
		return err
	}
	if exists {
		return nil
	}
	if _, err := tx.Exec(ctx, "CREATE SCHEMA "+quote(schema)); err != nil {
		return err
	}
	log.InfoContext(ctx, "created schema", "schema", schema)
	return nil
}

// columnsQuery reads every table's columns in the schema ($1): table, column, type as
// typeName spells it. The catalog, not a side table, is the truth.
const columnsQuery = `SELECT c.relname, a.attname,
		CASE a.atttypid WHEN 'timestamptz'::regtype THEN 'TIMESTAMPTZ' ELSE upper(format_type(a.atttypid, a.atttypmod)) END
	FROM pg_attribute a
	JOIN pg_class c ON c.oid = a.attrelid
	JOIN pg_namespace n ON n.oid = c.relnamespace
	WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped`

// readCatalog reads every table's columns, indexes, foreign and primary keys in the schema, and
// what the last migration stored of each field.
func readCatalog(schema string) func(ctx context.Context, c sqlstore.Conn) (*sqlstore.Catalog, error) {
	return func(ctx context.Context, c sqlstore.Conn) (*sqlstore.Catalog, error) {
		cat := &sqlstore.Catalog{}
		if err := c.Query(ctx, cat.ScanColumns, columnsQuery, schema); err != nil {
			return nil, err
		}
		if err := c.Query(ctx, cat.ScanIndexes, `SELECT tablename, indexname FROM pg_indexes WHERE schemaname = $1`, schema); err != nil {
			return nil, err
		}
		if err := c.Query(ctx, cat.ScanConstraints, `SELECT tbl.relname, con.conname FROM pg_constraint con
			JOIN pg_class tbl ON tbl.oid = con.conrelid
			JOIN pg_namespace n ON n.oid = tbl.relnamespace
			WHERE n.nspname = $1 AND con.contype IN ('f', 'p')`, schema); err != nil {
			return nil, err
		}
		if err := c.Query(ctx, cat.ScanFields, `SELECT `+sqlstore.FieldsColumns+` FROM `+qualified(schema, "_plinth_fields")); err != nil {
			return nil, err
		}
		return cat, nil
	}
}

// MigratorOptions tune OpenMigrator.
type MigratorOptions struct {
	// Schema holds the tables; default "public".
	Schema string
	// BatchSize is how many rows a backfill changes in one transaction; default 1,000.
	BatchSize int
}

// OpenMigrator connects to the database at url for planned migrations, on one connection
// whose search_path is the schema, so that a planned file, which names its tables without a
// schema, serves every schema; it creates the schema and the internal tables when missing.
// An apply holds a session advisory lock, the one a start takes, for its whole run: several
// appliers at once run one after the other, and a process starting meanwhile waits. Statements
// run without a timeout. close closes the connection.
func OpenMigrator(ctx context.Context, url string, opts MigratorOptions) (m *sqlstore.Migrator, close func() error, err error) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return nil, nil, fmt.Errorf("postgres: %w", err)
	}
	schema := opts.Schema
	if schema == "" {
		schema = "public"
	}
	cfg.RuntimeParams["application_name"] = "plinth migrate"
	cfg.RuntimeParams["statement_timeout"] = "0"
	cfg.RuntimeParams["lock_timeout"] = "0"
	c, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("postgres: %w", err)
	}
	close = func() error { return c.Close(context.Background()) }
	begin := func(ctx context.Context) (pgx.Tx, error) {
		return c.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.ReadCommitted})
	}
	log := slog.New(slog.DiscardHandler)
	err = lockedTx(ctx, begin, schema, func(tx pgx.Tx) error { return prepare(ctx, tx, schema, log) })
	if err == nil {
		_, err = c.Exec(ctx, "SET search_path TO "+quote(schema))
	}
	if err != nil {
		close()
		return nil, nil, fmt.Errorf("postgres: %w", err)
	}
	key := lockKey("migrate", schema)
	return &sqlstore.Migrator{Driver: Driver, DDL: plannedDDL(), Dialect: internalDialect(schema), Alone: conn{c},
		Tx: func(ctx context.Context, fn func(sqlstore.Conn) error) error {
			return pgx.BeginTxFunc(ctx, c, pgx.TxOptions{IsoLevel: pgx.ReadCommitted}, func(tx pgx.Tx) error { return fn(conn{tx}) })
		},
		Lock: func(ctx context.Context) (func(), error) {
			if err := waitLock(ctx, c, key); err != nil {
				return nil, err
			}
			return func() { c.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", key) }, nil
		},
		Catalog: readCatalog(schema), BatchSize: opts.BatchSize}, close, nil
}
