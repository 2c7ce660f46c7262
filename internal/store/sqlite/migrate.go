package sqlite

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"log/slog"
	"strings"

	"github.com/plinth-dev/plinth/internal/query"
	"github.com/plinth-dev/plinth/internal/spec"
	"github.com/plinth-dev/plinth/internal/store/sqlstore"
)

// sqlType is the STRICT column type that holds a kind; see value.go for the encodings.
func sqlType(k query.Kind) string {
	switch k {
	case query.KindInteger, query.KindBool:
		return "INTEGER"
	case query.KindNumber:
		return "REAL"
	default:
		return "TEXT"
	}
}

// migrate brings the schema to the model in one transaction: it creates tables, adds
// columns, fills null values of fields the model says are never null with their literal
// defaults, and creates or drops indexes. It refuses, changing nothing, where the model drops
// or retypes a column, or where records would lack a value for a field that must have one and
// has no literal default (see sqlstore.CheckNulls).
func migrate(ctx context.Context, db *sql.DB, model *spec.Model, log *slog.Logger) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer tx.Rollback()
	for _, ddl := range []string{outcomesTable, outcomesIndex, eventsTable, fieldsTable,
		subscriptionsTable, deliveriesTable, deliveriesDueIndex, deliveriesRecordIndex, leasesTable} {
		if _, err := tx.ExecContext(ctx, ddl); err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
	}
	if err := convertOutcomes(ctx, tx); err != nil {
		return fmt.Errorf("migrate: convert outcomes: %w", err)
	}
	if err := addNoNulls(ctx, tx); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	problems, noNulls, err := checkSignatures(ctx, tx, model)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	for _, r := range model.Resources {
		p, err := migrateResource(ctx, tx, r, noNulls[r.Name], log)
		if err != nil {
			return fmt.Errorf("migrate %s: %w", r.Name, err)
		}
		problems = append(problems, p...)
	}
	if err := sqlstore.Refuse(problems); err != nil {
		return err
	}
	if err := saveSignatures(ctx, tx, model); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if err := warnOrphans(ctx, tx, model, log); err != nil {
		return err
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
// sqlstore.ScanFields). fieldsTable is made without it, so that a database from before it and
// a new one take the same path.
func addNoNulls(ctx context.Context, tx *sql.Tx) error {
	cols, err := tableColumns(ctx, tx, "_plinth_fields")
	if _, ok := cols["no_nulls"]; ok || err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `ALTER TABLE "_plinth_fields" ADD COLUMN "no_nulls" INTEGER NOT NULL DEFAULT 0`)
	return err
}

// checkSignatures reports every field whose stored signature differs from the spec's, and
// returns the fields known to hold no null.
func checkSignatures(ctx context.Context, tx *sql.Tx, model *spec.Model) ([]string, map[string]map[string]bool, error) {
	rows, err := tx.QueryContext(ctx, `SELECT `+sqlstore.FieldsColumns+` FROM "_plinth_fields"`)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	return sqlstore.ScanFields(rows, model)
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

func migrateResource(ctx context.Context, tx *sql.Tx, r *spec.Resource, noNulls map[string]bool, log *slog.Logger) ([]string, error) {
	existing, err := tableColumns(ctx, tx, r.Name)
	if err != nil {
		return nil, err
	}
	if existing == nil {
		if _, err := tx.ExecContext(ctx, createTable(r)); err != nil {
			return nil, err
		}
		log.InfoContext(ctx, "created table", "resource", r.Name)
	} else if problems, err := alterTable(ctx, tx, r, existing, noNulls, log); err != nil || len(problems) > 0 {
		return problems, err
	}
	return nil, syncIndexes(ctx, tx, r, log)
}

func createTable(r *spec.Resource) string {
	defs := []string{
		`"id" TEXT PRIMARY KEY NOT NULL`,
		`"created_at" TEXT NOT NULL`,
		`"updated_at" TEXT NOT NULL`,
		`"version" INTEGER NOT NULL`,
	}
	for _, f := range r.Fields {
		defs = append(defs, columnDef(f))
	}
	return "CREATE TABLE " + quote(r.Name) + " (\n  " + strings.Join(defs, ",\n  ") + "\n) STRICT"
}

func columnDef(f *spec.Field) string {
	def := quote(f.Name) + " " + sqlType(f.Type.Kind())
	if f.Type == spec.TypeRef {
		def += " REFERENCES " + quote(f.Ref) + ` ("id") ON DELETE RESTRICT`
	}
	return def
}

// tableColumns returns column name → declared type, or nil when the table does not exist.
func tableColumns(ctx context.Context, tx *sql.Tx, name string) (map[string]string, error) {
	rows, err := tx.QueryContext(ctx, `SELECT "name", "type" FROM pragma_table_info(?)`, name)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var cols map[string]string
	for rows.Next() {
		var n, t string
		if err := rows.Scan(&n, &t); err != nil {
			return nil, err
		}
		if cols == nil {
			cols = map[string]string{}
		}
		cols[n] = strings.ToUpper(t)
	}
	return cols, rows.Err()
}

func alterTable(ctx context.Context, tx *sql.Tx, r *spec.Resource, existing map[string]string, noNulls map[string]bool, log *slog.Logger) ([]string, error) {
	problems := sqlstore.ColumnProblems(r, existing, sqlType)
	fills, p, err := sqlstore.CheckNulls(r, quote(r.Name), existing, noNulls, func(q string) (n int64, err error) {
		err = tx.QueryRowContext(ctx, q).Scan(&n)
		return n, err
	})
	if err != nil || len(problems)+len(p) > 0 {
		return append(problems, p...), err
	}
	for _, f := range r.Fields {
		if _, ok := existing[f.Name]; ok {
			continue
		}
		if _, err := tx.ExecContext(ctx, "ALTER TABLE "+quote(r.Name)+" ADD COLUMN "+columnDef(f)); err != nil {
			return nil, err
		}
		log.InfoContext(ctx, "added column", "resource", r.Name, "field", f.Name)
	}
	for _, g := range fills {
		q, args, err := g.FillSQL(&dialect, quote(r.Name))
		if err != nil {
			return nil, err
		}
		res, err := tx.ExecContext(ctx, q, args...)
		if err != nil {
			return nil, fmt.Errorf("%s: cannot fill existing records with its default: %w", g.Field.Name, err)
		}
		if n, _ := res.RowsAffected(); n > 0 {
			log.InfoContext(ctx, "filled null values with the default", "resource", r.Name, "field", g.Field.Name, "records", n)
		}
	}
	return nil, nil
}

// indexName is stable for the same fields, so that an unchanged spec changes nothing.
func indexName(table string, ix spec.Index) string {
	prefix := "ix_"
	if ix.Unique {
		prefix = "ux_"
	}
	name := prefix + table + "_" + strings.Join(ix.Fields, "_")
	if len(name) > 60 {
		sum := sha256.Sum256([]byte(name))
		name = name[:48] + "_" + hex.EncodeToString(sum[:5])
	}
	return name
}

// createIndex is the DDL of one index. A non-unique index also covers id: lists break ties by
// id, so (fields, id) serves a sorted page without a sort.
func createIndex(table string, ix spec.Index) string {
	cols := make([]string, 0, len(ix.Fields)+1)
	for _, f := range ix.Fields {
		cols = append(cols, quote(f))
	}
	unique := ""
	if ix.Unique {
		unique = "UNIQUE "
	} else if ix.Fields[len(ix.Fields)-1] != "id" {
		cols = append(cols, quote("id"))
	}
	return "CREATE " + unique + "INDEX " + quote(indexName(table, ix)) + " ON " + quote(table) + " (" + strings.Join(cols, ", ") + ")"
}

func syncIndexes(ctx context.Context, tx *sql.Tx, r *spec.Resource, log *slog.Logger) error {
	rows, err := tx.QueryContext(ctx, `SELECT "name" FROM sqlite_master WHERE "type" = 'index' AND "tbl_name" = ? AND ("name" LIKE 'ix\_%' ESCAPE '\' OR "name" LIKE 'ux\_%' ESCAPE '\')`, r.Name)
	if err != nil {
		return err
	}
	have := map[string]bool{}
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			rows.Close()
			return err
		}
		have[n] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	want := map[string]bool{}
	for _, ix := range r.Indexes {
		name := indexName(r.Name, ix)
		want[name] = true
		if have[name] {
			continue
		}
		if _, err := tx.ExecContext(ctx, createIndex(r.Name, ix)); err != nil {
			if ix.Unique {
				return fmt.Errorf("%s: cannot make %s unique, existing records share values: %w", r.Name, strings.Join(ix.Fields, ", "), err)
			}
			return err
		}
		log.InfoContext(ctx, "created index", "resource", r.Name, "index", name)
	}
	for name := range have {
		if !want[name] {
			if _, err := tx.ExecContext(ctx, "DROP INDEX "+quote(name)); err != nil {
				return err
			}
			log.InfoContext(ctx, "dropped index", "resource", r.Name, "index", name)
		}
	}
	return nil
}

// warnOrphans logs tables of resources the spec no longer has; their data is kept.
func warnOrphans(ctx context.Context, tx *sql.Tx, model *spec.Model, log *slog.Logger) error {
	rows, err := tx.QueryContext(ctx, `SELECT "name" FROM sqlite_master WHERE "type" = 'table' AND "name" NOT LIKE 'sqlite\_%' ESCAPE '\' AND "name" NOT LIKE '\_%' ESCAPE '\'`)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return err
		}
		if _, ok := model.Resource(n); !ok {
			log.WarnContext(ctx, "table kept for a resource no longer in the spec", "table", n)
		}
	}
	return rows.Err()
}
