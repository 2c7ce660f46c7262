package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/plinth-dev/plinth/internal/spec"
	"github.com/plinth-dev/plinth/internal/store/sqlstore"
)

// Driver names SQLite's planned migrations: their folder, and the header of each.
const Driver = "sqlite"

// migrate brings the schema to the model in one transaction, as sqlstore.Start decides: it
// creates tables, adds columns, fills null values of fields the model says are never null
// with their literal defaults, and creates or drops indexes. It refuses, changing nothing,
// where the model drops, retypes or renames a column, where records would lack a value for a
// field that must have one and has no literal default, where planned files are not applied,
// and, with opts.PlannedOnly, where there is any change to make.
func migrate(ctx context.Context, db *sql.DB, model *spec.Model, opts Options, log *slog.Logger) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer tx.Rollback()
	if err := prepare(ctx, tx); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	start := sqlstore.Start{Files: opts.Planned, Auto: !opts.PlannedOnly, DDL: &ddl, Dialect: &internalDialect, Catalog: readCatalog, Log: log}
	if err := start.Run(ctx, plain{tx}, model); err != nil {
		return err
	}
	return tx.Commit()
}

// prepare creates the internal tables, and brings those of earlier versions up to date.
func prepare(ctx context.Context, tx *sql.Tx) error {
	for _, stmt := range []string{outcomesTable, outcomesIndex, eventsTable, fieldsTable,
		subscriptionsTable, deliveriesTable, deliveriesDueIndex, deliveriesRecordIndex, leasesTable, migrationsTable} {
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			return err
		}
	}
	if err := convertOutcomes(ctx, tx); err != nil {
		return fmt.Errorf("convert outcomes: %w", err)
	}
	for _, col := range []struct{ table, name, decl string }{
		{"_plinth_fields", "no_nulls", "INTEGER NOT NULL DEFAULT 0"},
		{"_plinth_fields", "retired", "INTEGER NOT NULL DEFAULT 0"},
		{"_plinth_events", sqlstore.TraceColumn, "TEXT"},
		{"_plinth_deliveries", sqlstore.TraceColumn, "TEXT"},
	} {
		if err := addColumn(ctx, tx, col.table, col.name, col.decl); err != nil {
			return err
		}
	}
	return nil
}

// fieldsTable remembers each field's signature, so that a retype between types that share a
// column type (string to timestamp, ref to another resource) is caught too.
const fieldsTable = `CREATE TABLE IF NOT EXISTS "_plinth_fields" (
  "resource" TEXT NOT NULL,
  "field" TEXT NOT NULL,
  "signature" TEXT NOT NULL,
  PRIMARY KEY ("resource", "field")
) STRICT`

// migrationsTable records the planned migrations applied, and how far an interrupted one got.
const migrationsTable = `CREATE TABLE IF NOT EXISTS "_plinth_migrations" (
  "name" TEXT PRIMARY KEY NOT NULL,
  "checksum" TEXT NOT NULL,
  "fingerprint" TEXT NOT NULL,
  "steps_done" INTEGER NOT NULL,
  "applied_at" TEXT
) STRICT`

// addColumn gives an internal table a column it lacks, declared as decl: the flags of
// "_plinth_fields" (see sqlstore.Catalog.ScanFields), false in every row, and the trace
// context of events and deliveries, null in every row. The tables are made without them, so
// that a database from before them and a new one take the same path.
func addColumn(ctx context.Context, tx *sql.Tx, table, name, decl string) error {
	var has bool
	err := tx.QueryRowContext(ctx, `SELECT count(*) > 0 FROM pragma_table_info(?) WHERE "name" = ?`, table, name).Scan(&has)
	if has || err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `ALTER TABLE `+quote(table)+` ADD COLUMN `+quote(name)+` `+decl)
	return err
}

// readCatalog reads every table's columns and indexes, and what the last migration stored of
// each field.
func readCatalog(ctx context.Context, c sqlstore.Conn) (*sqlstore.Catalog, error) {
	cat := &sqlstore.Catalog{}
	if err := c.Query(ctx, cat.ScanColumns, `SELECT m."name", c."name", upper(c."type") FROM sqlite_master m JOIN pragma_table_info(m."name") c
		WHERE m."type" = 'table' AND m."name" NOT LIKE 'sqlite\_%' ESCAPE '\'`); err != nil {
		return nil, err
	}
	if err := c.Query(ctx, cat.ScanIndexes, `SELECT "tbl_name", "name" FROM sqlite_master WHERE "type" = 'index'`); err != nil {
		return nil, err
	}
	if err := c.Query(ctx, cat.ScanFields, `SELECT `+sqlstore.FieldsColumns+` FROM "_plinth_fields"`); err != nil {
		return nil, err
	}
	return cat, nil
}

// sqlRunner is a *sql.DB or a *sql.Tx.
type sqlRunner interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// plain runs statements on a database/sql connection or transaction, as migrations do, with
// the errors as database/sql gives them.
type plain struct{ r sqlRunner }

func (p plain) Exec(ctx context.Context, query string, args ...any) (int64, error) {
	res, err := p.r.ExecContext(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func (p plain) Query(ctx context.Context, scan func(sqlstore.Rows) error, query string, args ...any) error {
	rows, err := p.r.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	return scan(rows)
}

// MigratorOptions tune OpenMigrator.
type MigratorOptions struct {
	// BusyWait is how long a step waits for another process's write; default 10 minutes, so
	// that an applier started beside another waits for its steps rather than fail.
	BusyWait time.Duration
	// BatchSize is how many rows a backfill changes in one transaction; default 1,000.
	BatchSize int
}

// OpenMigrator opens the database in dir (creating it if needed, with the internal tables)
// for planned migrations, on one connection. Planned files are spelled as migrations at
// start are: a transaction has the database to itself, and SQLite has no schemas. Several appliers may run at once: each step
// runs in a transaction that takes SQLite's one writer lock and first reads whether another
// did it. close closes the connection.
func OpenMigrator(ctx context.Context, dir string, opts MigratorOptions) (m *sqlstore.Migrator, close func() error, err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, nil, fmt.Errorf("create data folder: %w", err)
	}
	path := filepath.Join(dir, FileName)
	db, err := sql.Open("sqlite", dsn(path, cmp.Or(opts.BusyWait, 10*time.Minute)))
	if err != nil {
		return nil, nil, fmt.Errorf("open %s: %w", path, err)
	}
	db.SetMaxOpenConns(1)
	inTx := func(ctx context.Context, fn func(*sql.Tx) error) error {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		defer tx.Rollback()
		if err := fn(tx); err != nil {
			return err
		}
		return tx.Commit()
	}
	if err := inTx(ctx, func(tx *sql.Tx) error { return prepare(ctx, tx) }); err != nil {
		db.Close()
		return nil, nil, fmt.Errorf("open %s: %w", path, err)
	}
	return &sqlstore.Migrator{Driver: Driver, DDL: &ddl, Dialect: &internalDialect, Alone: plain{db},
		Tx: func(ctx context.Context, fn func(sqlstore.Conn) error) error {
			return inTx(ctx, func(tx *sql.Tx) error { return fn(plain{tx}) })
		},
		Catalog: readCatalog, BatchSize: opts.BatchSize}, db.Close, nil
}
