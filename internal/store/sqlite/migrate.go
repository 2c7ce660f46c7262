package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"

	"github.com/plinth-dev/plinth/internal/spec"
	"github.com/plinth-dev/plinth/internal/store/sqlstore"
)

// migrate brings the schema to the model in one transaction, as sqlstore.Plan decides: it
// creates tables, adds columns, fills null values of fields the model says are never null
// with their literal defaults, and creates or drops indexes. It refuses, changing nothing,
// where the model drops or retypes a column, or where records would lack a value for a field
// that must have one and has no literal default.
func migrate(ctx context.Context, db *sql.DB, model *spec.Model, log *slog.Logger) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer tx.Rollback()
	for _, stmt := range []string{outcomesTable, outcomesIndex, eventsTable, fieldsTable,
		subscriptionsTable, deliveriesTable, deliveriesDueIndex, deliveriesRecordIndex, leasesTable} {
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
	}
	if err := convertOutcomes(ctx, tx); err != nil {
		return fmt.Errorf("migrate: convert outcomes: %w", err)
	}
	if err := addNoNulls(ctx, tx); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	cat, err := readCatalog(ctx, tx)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	plan, err := sqlstore.Plan(model, cat, &ddl, func(q string) (n int64, err error) {
		err = tx.QueryRowContext(ctx, q).Scan(&n)
		return n, err
	})
	if err != nil {
		return err
	}
	err = plan.Apply(ctx, func(ctx context.Context, q string, args ...any) (int64, error) {
		res, err := tx.ExecContext(ctx, q, args...)
		if err != nil {
			return 0, err
		}
		return res.RowsAffected()
	}, log)
	if err != nil {
		return err
	}
	if err := saveSignatures(ctx, tx, model); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return tx.Commit()
}

// fieldsTable remembers each field's signature, so that a retype between types that share a
// column type (string to timestamp, ref to another resource) is caught too.
const fieldsTable = `CREATE TABLE IF NOT EXISTS "_plinth_fields" (
  "resource" TEXT NOT NULL,
  "field" TEXT NOT NULL,
  "signature" TEXT NOT NULL,
  PRIMARY KEY ("resource", "field")
) STRICT`

// addNoNulls gives "_plinth_fields" the column that remembers which fields hold no null (see
// sqlstore.Catalog.ScanFields). fieldsTable is made without it, so that a database from
// before it and a new one take the same path.
func addNoNulls(ctx context.Context, tx *sql.Tx) error {
	var has bool
	err := tx.QueryRowContext(ctx, `SELECT count(*) > 0 FROM pragma_table_info('_plinth_fields') WHERE "name" = 'no_nulls'`).Scan(&has)
	if has || err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `ALTER TABLE "_plinth_fields" ADD COLUMN "no_nulls" INTEGER NOT NULL DEFAULT 0`)
	return err
}

// readCatalog reads every table's columns and indexes, and what the last migration stored of
// each field.
func readCatalog(ctx context.Context, tx *sql.Tx) (*sqlstore.Catalog, error) {
	cat := &sqlstore.Catalog{}
	read := func(query string, scan func(sqlstore.Rows) error) error {
		rows, err := tx.QueryContext(ctx, query)
		if err != nil {
			return err
		}
		defer rows.Close()
		return scan(rows)
	}
	if err := read(`SELECT m."name", c."name", upper(c."type") FROM sqlite_master m JOIN pragma_table_info(m."name") c
		WHERE m."type" = 'table' AND m."name" NOT LIKE 'sqlite\_%' ESCAPE '\'`, cat.ScanColumns); err != nil {
		return nil, err
	}
	if err := read(`SELECT "tbl_name", "name" FROM sqlite_master WHERE "type" = 'index'`, cat.ScanIndexes); err != nil {
		return nil, err
	}
	if err := read(`SELECT `+sqlstore.FieldsColumns+` FROM "_plinth_fields"`, cat.ScanFields); err != nil {
		return nil, err
	}
	return cat, nil
}

// saveSignatures stores each field's signature, and whether it holds no null: a migration
// that commits has filled or refused every null of a field the model says is never null.
func saveSignatures(ctx context.Context, tx *sql.Tx, model *spec.Model) error {
	for _, r := range model.Resources {
		for _, f := range r.Fields {
			if _, err := tx.ExecContext(ctx, `INSERT INTO "_plinth_fields" ("resource", "field", "signature", "no_nulls") VALUES (?, ?, ?, ?)
				ON CONFLICT ("resource", "field") DO UPDATE SET "signature" = excluded."signature", "no_nulls" = excluded."no_nulls"`,
				r.Name, f.Name, f.Signature(), !sqlstore.Nullable(f)); err != nil {
				return err
			}
		}
	}
	return nil
}
