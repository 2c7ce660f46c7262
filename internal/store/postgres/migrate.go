package postgres

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash/fnv"
	"log/slog"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/plinth-dev/plinth/internal/query"
	"github.com/plinth-dev/plinth/internal/spec"
	"github.com/plinth-dev/plinth/internal/store/sqlstore"
)

// sqlType is the column type that holds a kind, as written in DDL. TEXT columns use the "C"
// collation: byte order, as SQLite's BINARY, so that sorting, comparisons and the startsWith
// ranges of where.go mean the same in both drivers.
func sqlType(k query.Kind) string {
	switch k {
	case query.KindString:
		return `TEXT COLLATE "C"`
	case query.KindInteger:
		return "BIGINT"
	case query.KindNumber:
		return "DOUBLE PRECISION"
	case query.KindBool:
		return "BOOLEAN"
	case query.KindTimestamp:
		return "TIMESTAMPTZ"
	default:
		return "JSONB"
	}
}

// typeName is how a kind's column type reads in messages, and what typeNameOf returns for a
// column that has it.
func typeName(k query.Kind) string {
	return strings.TrimSuffix(sqlType(k), ` COLLATE "C"`)
}

// typeNameOf converts format_type's spelling of an existing column's type to typeName's.
func typeNameOf(formatted string) string {
	switch formatted {
	case "timestamp with time zone":
		return "TIMESTAMPTZ"
	}
	return strings.ToUpper(formatted)
}

// lockKey derives a constant advisory-lock key for one purpose in one schema, so that
// deployments in different schemas of a database never wait for each other.
func lockKey(purpose, schema string) int64 {
	h := fnv.New64a()
	h.Write([]byte("plinth\x00" + purpose + "\x00" + schema))
	return int64(h.Sum64())
}

// migrate brings the schema to the model in one transaction, under a transaction-level
// advisory lock so that several processes starting at once migrate once: the others wait,
// then find nothing to do. It creates the schema, tables, columns, foreign keys and indexes,
// and drops indexes the model no longer has; it fills null values of fields the model says are
// never null with their literal defaults. It refuses, changing nothing, where the model drops
// or retypes a field (a column type or a field signature changes), or where records would lack
// a value for a field that must have one and has no literal default (see sqlstore.CheckNulls).
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
	existing, err := m.columns(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	problems, noNulls, err := m.checkSignatures(ctx, model)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	fills := map[string][]sqlstore.Gap{}
	for _, r := range model.Resources {
		f, p, err := m.check(ctx, r, existing[r.Name], noNulls[r.Name])
		if err != nil {
			return fmt.Errorf("migrate %s: %w", r.Name, err)
		}
		fills[r.Name], problems = f, append(problems, p...)
	}
	if err := sqlstore.Refuse(problems); err != nil {
		return err
	}
	// Tables and columns first, then foreign keys: a ref may name a resource declared later.
	for _, r := range model.Resources {
		if err := m.tableAndColumns(ctx, r, existing[r.Name], fills[r.Name]); err != nil {
			return fmt.Errorf("migrate %s: %w", r.Name, err)
		}
	}
	for _, r := range model.Resources {
		if err := m.syncForeignKeys(ctx, r); err != nil {
			return fmt.Errorf("migrate %s: %w", r.Name, err)
		}
		if err := m.syncIndexes(ctx, r); err != nil {
			return fmt.Errorf("migrate %s: %w", r.Name, err)
		}
	}
	if err := m.saveSignatures(ctx, model); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if err := m.warnOrphans(ctx, model); err != nil {
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
// sqlstore.ScanFields). fieldsTable is made without it, so that a database from before it and
// a new one take the same path.
const addNoNulls = `ALTER TABLE {schema}."_plinth_fields" ADD COLUMN IF NOT EXISTS "no_nulls" BOOLEAN NOT NULL DEFAULT FALSE`

// checkSignatures reports every field whose stored signature differs from the spec's, and
// returns the fields known to hold no null.
func (m *migration) checkSignatures(ctx context.Context, model *spec.Model) ([]string, map[string]map[string]bool, error) {
	rows, err := m.tx.Query(ctx, `SELECT `+sqlstore.FieldsColumns+` FROM `+m.table("_plinth_fields")+` ORDER BY "resource", "field"`)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	return sqlstore.ScanFields(rows, model)
}

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

func (m *migration) table(name string) string { return quote(m.schema) + "." + quote(name) }

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

// columns reads every table's columns in the schema: table → column → type name. The
// catalog, not a side table, is the truth.
func (m *migration) columns(ctx context.Context) (map[string]map[string]string, error) {
	rows, err := m.tx.Query(ctx, `SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod)
		FROM pg_attribute a
		JOIN pg_class c ON c.oid = a.attrelid
		JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped`, m.schema)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]map[string]string{}
	for rows.Next() {
		var tbl, col, typ string
		if err := rows.Scan(&tbl, &col, &typ); err != nil {
			return nil, err
		}
		if out[tbl] == nil {
			out[tbl] = map[string]string{}
		}
		out[tbl][col] = typeNameOf(typ)
	}
	return out, rows.Err()
}

// check lists what the model asks of an existing table that it cannot take, and returns the
// fields whose null values are to be filled with their literal defaults.
func (m *migration) check(ctx context.Context, r *spec.Resource, existing map[string]string, noNulls map[string]bool) ([]sqlstore.Gap, []string, error) {
	if existing == nil {
		return nil, nil, nil
	}
	problems := sqlstore.ColumnProblems(r, existing, typeName)
	fills, p, err := sqlstore.CheckNulls(r, m.table(r.Name), existing, noNulls, func(q string) (n int64, err error) {
		err = m.tx.QueryRow(ctx, q).Scan(&n)
		return n, err
	})
	return fills, append(problems, p...), err
}

func (m *migration) tableAndColumns(ctx context.Context, r *spec.Resource, existing map[string]string, fills []sqlstore.Gap) error {
	if existing == nil {
		if _, err := m.tx.Exec(ctx, createTable(m.schema, r)); err != nil {
			return err
		}
		m.log.InfoContext(ctx, "created table", "resource", r.Name)
		return nil
	}
	for _, f := range r.Fields {
		if _, ok := existing[f.Name]; ok {
			continue
		}
		if _, err := m.tx.Exec(ctx, "ALTER TABLE "+m.table(r.Name)+" ADD COLUMN "+columnDef(f)); err != nil {
			return err
		}
		m.log.InfoContext(ctx, "added column", "resource", r.Name, "field", f.Name)
	}
	for _, g := range fills {
		q, args, err := g.FillSQL(&dialect, m.table(r.Name))
		if err != nil {
			return err
		}
		tag, err := m.tx.Exec(ctx, q, args...)
		if err != nil {
			return fmt.Errorf("%s: cannot fill existing records with its default: %w", g.Field.Name, err)
		}
		if n := tag.RowsAffected(); n > 0 {
			m.log.InfoContext(ctx, "filled null values with the default", "resource", r.Name, "field", g.Field.Name, "records", n)
		}
	}
	return nil
}

func createTable(schema string, r *spec.Resource) string {
	defs := []string{
		`"id" ` + sqlType(query.KindString) + ` NOT NULL`,
		`"created_at" TIMESTAMPTZ NOT NULL`,
		`"updated_at" TIMESTAMPTZ NOT NULL`,
		`"version" BIGINT NOT NULL`,
	}
	for _, f := range r.Fields {
		defs = append(defs, columnDef(f))
	}
	defs = append(defs, "CONSTRAINT "+quote(primaryKeyName(r.Name))+` PRIMARY KEY ("id")`)
	return "CREATE TABLE " + quote(schema) + "." + quote(r.Name) + " (\n  " + strings.Join(defs, ",\n  ") + "\n)"
}

// columnDef is a user column; foreign keys are added separately (syncForeignKeys).
func columnDef(f *spec.Field) string {
	return quote(f.Name) + " " + sqlType(f.Type.Kind())
}

// shortName is prefix + table + fields, hashed when long, as the SQLite driver names its
// indexes: stable for the same fields, so that an unchanged spec changes nothing, and within
// PostgreSQL's 63-byte identifiers.
func shortName(prefix, table string, fields []string) string {
	name := prefix + table
	if len(fields) > 0 {
		name += "_" + strings.Join(fields, "_")
	}
	if len(name) > 60 {
		sum := sha256.Sum256([]byte(name))
		name = name[:48] + "_" + hex.EncodeToString(sum[:5])
	}
	return name
}

// indexName names an index exactly as the SQLite driver does: ux_ or ix_, table, fields.
func indexName(table string, ix spec.Index) string {
	prefix := "ix_"
	if ix.Unique {
		prefix = "ux_"
	}
	return shortName(prefix, table, ix.Fields)
}

// isSystem reports whether a column is a system column, which is never NULL.
func isSystem(name string) bool {
	for _, s := range spec.SystemFields {
		if s.Name == name {
			return true
		}
	}
	return false
}

func primaryKeyName(table string) string { return shortName("pk_", table, nil) }

func foreignKeyName(table, field string) string { return shortName("fk_", table, []string{field}) }

// foreignKeyDDL adds the foreign key of a top-level ref field.
func foreignKeyDDL(schema string, r *spec.Resource, f *spec.Field) string {
	return "ALTER TABLE " + quote(schema) + "." + quote(r.Name) + " ADD CONSTRAINT " + quote(foreignKeyName(r.Name, f.Name)) +
		" FOREIGN KEY (" + quote(f.Name) + ") REFERENCES " + quote(schema) + "." + quote(f.Ref) + ` ("id") ON DELETE RESTRICT`
}

// indexDDL creates an index of the model. Like the SQLite driver's, a non-unique index also
// covers id, since lists break ties by id. Its columns are ordered as lists order them (see
// orderSQL): user fields NULLS FIRST, so that a forward scan reads ASC NULLS FIRST and a
// backward one DESC NULLS LAST; system columns, never NULL, in the default order. PostgreSQL
// then reads a sorted page from the index instead of sorting every row after the cursor.
func indexDDL(schema string, r *spec.Resource, ix spec.Index) string {
	fields := ix.Fields
	unique := ""
	if ix.Unique {
		unique = "UNIQUE "
	} else if fields[len(fields)-1] != "id" {
		fields = append(slices.Clip(fields), "id")
	}
	cols := make([]string, len(fields))
	for i, f := range fields {
		cols[i] = quote(f)
		if !isSystem(f) {
			cols[i] += " NULLS FIRST"
		}
	}
	return "CREATE " + unique + "INDEX " + quote(indexName(r.Name, ix)) + " ON " + quote(schema) + "." + quote(r.Name) +
		" (" + strings.Join(cols, ", ") + ")"
}

// syncForeignKeys gives every top-level ref field a foreign key (ON DELETE RESTRICT) to its
// resource's id. A ref cannot stop being one, or point elsewhere, without a signature change
// that migrate refuses, so foreign keys are only ever added.
func (m *migration) syncForeignKeys(ctx context.Context, r *spec.Resource) error {
	rows, err := m.tx.Query(ctx, `SELECT con.conname FROM pg_constraint con
		JOIN pg_class tbl ON tbl.oid = con.conrelid
		JOIN pg_namespace n ON n.oid = tbl.relnamespace
		WHERE n.nspname = $1 AND tbl.relname = $2 AND con.contype = 'f'`, m.schema, r.Name)
	if err != nil {
		return err
	}
	have, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	for _, f := range r.Fields {
		if f.Type != spec.TypeRef || slices.Contains(have, foreignKeyName(r.Name, f.Name)) {
			continue
		}
		if _, err := m.tx.Exec(ctx, foreignKeyDDL(m.schema, r, f)); err != nil {
			return fmt.Errorf("%s.%s: cannot make it refer to %s, existing records refer to missing ones: %w", r.Name, f.Name, f.Ref, err)
		}
		m.log.InfoContext(ctx, "created foreign key", "resource", r.Name, "field", f.Name, "references", f.Ref)
	}
	return nil
}

func (m *migration) syncIndexes(ctx context.Context, r *spec.Resource) error {
	rows, err := m.tx.Query(ctx, `SELECT indexname FROM pg_indexes
		WHERE schemaname = $1 AND tablename = $2 AND (indexname LIKE 'ix\_%' OR indexname LIKE 'ux\_%')`, m.schema, r.Name)
	if err != nil {
		return err
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	have := map[string]bool{}
	for _, n := range names {
		have[n] = true
	}
	want := map[string]bool{}
	for _, ix := range r.Indexes {
		name := indexName(r.Name, ix)
		want[name] = true
		if have[name] {
			continue
		}
		if _, err := m.tx.Exec(ctx, indexDDL(m.schema, r, ix)); err != nil {
			if ix.Unique {
				return fmt.Errorf("%s: cannot make %s unique, existing records share values: %w", r.Name, strings.Join(ix.Fields, ", "), err)
			}
			return err
		}
		m.log.InfoContext(ctx, "created index", "resource", r.Name, "index", name)
	}
	for _, name := range names {
		if !want[name] {
			if _, err := m.tx.Exec(ctx, "DROP INDEX "+quote(m.schema)+"."+quote(name)); err != nil {
				return err
			}
			m.log.InfoContext(ctx, "dropped index", "resource", r.Name, "index", name)
		}
	}
	return nil
}

// warnOrphans logs tables of resources the spec no longer has; their data is kept.
func (m *migration) warnOrphans(ctx context.Context, model *spec.Model) error {
	rows, err := m.tx.Query(ctx, `SELECT tablename FROM pg_tables WHERE schemaname = $1 AND tablename NOT LIKE '\_%'`, m.schema)
	if err != nil {
		return err
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	for _, n := range names {
		if _, ok := model.Resource(n); !ok {
			m.log.WarnContext(ctx, "table kept for a resource no longer in the spec", "table", n)
		}
	}
	return nil
}
