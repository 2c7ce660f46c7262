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

// MigrationError is a change the database cannot take without losing data.
type MigrationError struct {
	Problems []string
}

func (e *MigrationError) Error() string {
	return "the spec no longer matches the data, and applying it would lose data:\n  - " +
		strings.Join(e.Problems, "\n  - ") +
		"\nrestore the field in the spec, or move the data first; nothing was changed"
}

// migrate brings the schema to the model in one transaction: it creates tables, adds
// columns and creates or drops indexes. It refuses, changing nothing, where the model drops
// or retypes a column, or adds a required field without a default to a table with rows.
func migrate(ctx context.Context, db *sql.DB, model *spec.Model, log *slog.Logger) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer tx.Rollback()
	for _, ddl := range []string{idempotencyTable, idempotencyIndex, eventsTable, fieldsTable,
		subscriptionsTable, deliveriesTable, deliveriesDueIndex, deliveriesRecordIndex, leasesTable} {
		if _, err := tx.ExecContext(ctx, ddl); err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
	}
	problems, err := checkSignatures(ctx, tx, model)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	for _, r := range model.Resources {
		p, err := migrateResource(ctx, tx, r, log)
		if err != nil {
			return fmt.Errorf("migrate %s: %w", r.Name, err)
		}
		problems = append(problems, p...)
	}
	if len(problems) > 0 {
		return &MigrationError{Problems: problems}
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

// checkSignatures reports every field whose stored signature differs from the spec's.
func checkSignatures(ctx context.Context, tx *sql.Tx, model *spec.Model) ([]string, error) {
	rows, err := tx.QueryContext(ctx, `SELECT "resource", "field", "signature" FROM "_plinth_fields"`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var problems []string
	for rows.Next() {
		var res, field, sig string
		if err := rows.Scan(&res, &field, &sig); err != nil {
			return nil, err
		}
		if problem := model.Retyped(res, field, sig); problem != "" {
			problems = append(problems, problem)
		}
	}
	return problems, rows.Err()
}

func saveSignatures(ctx context.Context, tx *sql.Tx, model *spec.Model) error {
	for _, r := range model.Resources {
		for _, f := range r.Fields {
			if _, err := tx.ExecContext(ctx, `INSERT INTO "_plinth_fields" ("resource", "field", "signature") VALUES (?, ?, ?)
				ON CONFLICT ("resource", "field") DO UPDATE SET "signature" = excluded."signature"`, r.Name, f.Name, f.Signature()); err != nil {
				return err
			}
		}
	}
	return nil
}

func migrateResource(ctx context.Context, tx *sql.Tx, r *spec.Resource, log *slog.Logger) ([]string, error) {
	existing, err := tableColumns(ctx, tx, r.Name)
	if err != nil {
		return nil, err
	}
	if existing == nil {
		if _, err := tx.ExecContext(ctx, createTable(r)); err != nil {
			return nil, err
		}
		log.InfoContext(ctx, "created table", "resource", r.Name)
	} else if problems, err := alterTable(ctx, tx, r, existing, log); err != nil || len(problems) > 0 {
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

func alterTable(ctx context.Context, tx *sql.Tx, r *spec.Resource, existing map[string]string, log *slog.Logger) ([]string, error) {
	var problems []string
	want := map[string]bool{}
	for _, c := range r.Columns() {
		want[c.Name] = true
		have, ok := existing[c.Name]
		if ok && have != sqlType(c.Kind) {
			problems = append(problems, fmt.Sprintf("%s.%s is stored as %s but the spec now needs %s (retyping a field is not automatic)", r.Name, c.Name, have, sqlType(c.Kind)))
		}
	}
	for name := range existing {
		if !want[name] {
			problems = append(problems, fmt.Sprintf("%s.%s has data but is no longer in the spec (dropping a field is not automatic)", r.Name, name))
		}
	}
	var empty *bool
	for _, f := range r.Fields {
		if _, ok := existing[f.Name]; ok {
			continue
		}
		if f.Required && f.Default == nil && f.Computed == nil {
			if empty == nil {
				var n int
				if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM (SELECT 1 FROM "+quote(r.Name)+" LIMIT 1)").Scan(&n); err != nil {
					return nil, err
				}
				e := n == 0
				empty = &e
			}
			if !*empty {
				problems = append(problems, fmt.Sprintf("%s.%s is new and required, but existing records have no value for it: give it a default, or add it as optional first", r.Name, f.Name))
				continue
			}
		}
		if len(problems) > 0 {
			continue
		}
		if _, err := tx.ExecContext(ctx, "ALTER TABLE "+quote(r.Name)+" ADD COLUMN "+columnDef(f)); err != nil {
			return nil, err
		}
		log.InfoContext(ctx, "added column", "resource", r.Name, "field", f.Name)
	}
	return problems, nil
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
