package postgres

import (
	"context"
	"fmt"
	"hash/fnv"
	"log/slog"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/plinth-dev/plinth/internal/spec"
	"github.com/plinth-dev/plinth/internal/store/sqlstore"
)

// lockKey derives a constant advisory-lock key for one purpose in one schema, so that
// deployments in different schemas of a database never wait for each other.
func lockKey(purpose, schema string) int64 {
	h := fnv.New64a()
	h.Write([]byte("plinth\x00" + purpose + "\x00" + schema))
	return int64(h.Sum64())
}

// migrate brings the schema to the model in one transaction, as sqlstore.Plan decides, under
// a transaction-level advisory lock so that several processes starting at once migrate once:
// the others wait, then find nothing to do. It creates the schema, tables, columns, foreign
// keys and indexes, and drops indexes the model no longer has; it fills null values of fields
// the model says are never null with their literal defaults. It refuses, changing nothing,
// where the model drops or retypes a field (a column type or a field signature changes), or
// where records would lack a value for a field that must have one and has no literal default.
func migrate(ctx context.Context, db *DB, model *spec.Model) error {
	tx, err := db.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.ReadCommitted})
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	m := &migration{tx: tx, schema: db.schema, log: db.log}
	// Building an index can take longer than a request may, and waiting for another process
	// to finish migrating is the point of the lock.
	if _, err := tx.Exec(ctx, "SET LOCAL statement_timeout = 0; SET LOCAL lock_timeout = 0"); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", lockKey("migrate", db.schema)); err != nil {
		return fmt.Errorf("migrate: lock: %w", err)
	}
	if err := m.ensureSchema(ctx); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	for _, ddl := range []string{outcomesTable, outcomesIndex, eventsTable, fieldsTable,
		addNoNulls, subscriptionsTable, deliveriesTable, deliveriesDueIndex, deliveriesRecordIndex, leasesTable} {
		if _, err := tx.Exec(ctx, strings.ReplaceAll(ddl, "{schema}", quote(db.schema))); err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
	}
	if err := convertOutcomes(ctx, tx, db.schema); err != nil {
		return fmt.Errorf("migrate: convert outcomes: %w", err)
	}
	cat, err := m.catalog(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	plan, err := sqlstore.Plan(model, cat, newDDL(db.schema), func(q string) (n int64, err error) {
		err = tx.QueryRow(ctx, q).Scan(&n)
		return n, err
	})
	if err != nil {
		return err
	}
	err = plan.Apply(ctx, func(ctx context.Context, q string, args ...any) (int64, error) {
		tag, err := tx.Exec(ctx, q, args...)
		return tag.RowsAffected(), err
	}, db.log)
	if err != nil {
		return err
	}
	if err := m.saveSignatures(ctx, model); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("migrate: %w", err)
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

// addNoNulls gives "_plinth_fields" the column that remembers which fields hold no null (see
// sqlstore.Catalog.ScanFields). fieldsTable is made without it, so that a database from
// before it and a new one take the same path.
const addNoNulls = `ALTER TABLE {schema}."_plinth_fields" ADD COLUMN IF NOT EXISTS "no_nulls" BOOLEAN NOT NULL DEFAULT FALSE`

// saveSignatures stores each field's signature, and whether it holds no null: a migration
// that commits has filled or refused every null of a field the model says is never null.
func (m *migration) saveSignatures(ctx context.Context, model *spec.Model) error {
	var res, fields, sigs []string
	var noNulls []bool
	for _, r := range model.Resources {
		for _, f := range r.Fields {
			res, fields, sigs = append(res, r.Name), append(fields, f.Name), append(sigs, f.Signature())
			noNulls = append(noNulls, !sqlstore.Nullable(f))
		}
	}
	_, err := m.tx.Exec(ctx, `INSERT INTO `+m.table("_plinth_fields")+` ("resource", "field", "signature", "no_nulls")
		SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::boolean[])
		ON CONFLICT ("resource", "field") DO UPDATE SET "signature" = excluded."signature", "no_nulls" = excluded."no_nulls"
		WHERE ("_plinth_fields"."signature", "_plinth_fields"."no_nulls") IS DISTINCT FROM (excluded."signature", excluded."no_nulls")`,
		res, fields, sigs, noNulls)
	return err
}

type migration struct {
	tx     pgx.Tx
	schema string
	log    *slog.Logger
}

func (m *migration) table(name string) string { return qualified(m.schema, name) }

// ensureSchema creates the schema when it is missing. It looks first, so that a role without
// the CREATE privilege on the database can use a schema made for it.
func (m *migration) ensureSchema(ctx context.Context) error {
	var exists bool
	if err := m.tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)", m.schema).Scan(&exists); err != nil {
		return err
	}
	if exists {
		return nil
	}
	if _, err := m.tx.Exec(ctx, "CREATE SCHEMA "+quote(m.schema)); err != nil {
		return err
	}
	m.log.InfoContext(ctx, "created schema", "schema", m.schema)
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

// catalog reads every table's columns, indexes and foreign keys in the schema, and what the
// last migration stored of each field.
func (m *migration) catalog(ctx context.Context) (*sqlstore.Catalog, error) {
	cat := &sqlstore.Catalog{}
	read := func(query string, scan func(sqlstore.Rows) error, args ...any) error {
		rows, err := m.tx.Query(ctx, query, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		return scan(rows)
	}
	if err := read(columnsQuery, cat.ScanColumns, m.schema); err != nil {
		return nil, err
	}
	if err := read(`SELECT tablename, indexname FROM pg_indexes WHERE schemaname = $1`, cat.ScanIndexes, m.schema); err != nil {
		return nil, err
	}
	if err := read(`SELECT tbl.relname, con.conname FROM pg_constraint con
		JOIN pg_class tbl ON tbl.oid = con.conrelid
		JOIN pg_namespace n ON n.oid = tbl.relnamespace
		WHERE n.nspname = $1 AND con.contype = 'f'`, cat.ScanForeignKeys, m.schema); err != nil {
		return nil, err
	}
	if err := read(`SELECT `+sqlstore.FieldsColumns+` FROM `+m.table("_plinth_fields"), cat.ScanFields); err != nil {
		return nil, err
	}
	return cat, nil
}
