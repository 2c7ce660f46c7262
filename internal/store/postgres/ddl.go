package postgres

import (
	"strings"

	"github.com/plinth-dev/plinth/internal/query"
	"github.com/plinth-dev/plinth/internal/spec"
	"github.com/plinth-dev/plinth/internal/store/sqlstore"
)

// newDDL spells migrations at start for PostgreSQL, every table and index in schema.
func newDDL(schema string) *sqlstore.DDL {
	return &sqlstore.DDL{
		Values:      &dialect,
		Qualify:     func(name string) string { return qualified(schema, name) },
		TypeName:    typeName,
		CreateTable: createTable,
		Column:      columnDef,
		IndexColumn: indexColumn,
		DropTables:  dropTables,
		LockTable:   lockTable,
	}
}

// plannedDDL spells planned files for PostgreSQL: tables and indexes are named without a
// schema, which the applier's search_path gives, and indexes are built concurrently.
func plannedDDL() *sqlstore.DDL {
	d := newDDL("")
	d.Qualify = quote
	d.Concurrently = true
	return d
}

// dropTables drops tables in one statement, which may refer to each other; CASCADE drops the
// foreign keys that other tables' retired columns have to them.
func dropTables(tables []string) []string {
	return []string{"DROP TABLE " + strings.Join(tables, ", ") + " CASCADE"}
}

// lockTable keeps every other transaction, readers included, off a table until the end of
// this one: a switch renames columns under it, which needs that lock anyway, and taking it
// first means no writer slips in between the switch's statements.
func lockTable(table string) string { return "LOCK TABLE " + table + " IN ACCESS EXCLUSIVE MODE" }

// qualified is the quoted name of a table or index in schema.
func qualified(schema, name string) string { return quote(schema) + "." + quote(name) }

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

// typeName is how a kind's column type reads in messages, and in the catalog as migrate reads
// it (see columnsQuery).
func typeName(k query.Kind) string {
	return strings.TrimSuffix(sqlType(k), ` COLLATE "C"`)
}

func createTable(table string, r *spec.Resource) string {
	defs := []string{
		`"id" ` + sqlType(query.KindString) + ` NOT NULL`,
		`"created_at" TIMESTAMPTZ NOT NULL`,
		`"updated_at" TIMESTAMPTZ NOT NULL`,
		`"version" BIGINT NOT NULL`,
	}
	for _, f := range r.Fields {
		defs = append(defs, columnDef(f))
	}
	defs = append(defs, "CONSTRAINT "+quote(sqlstore.PrimaryKeyName(r.Name))+` PRIMARY KEY ("id")`)
	return "CREATE TABLE " + table + " (\n  " + strings.Join(defs, ",\n  ") + "\n)"
}

// columnDef is a user column; foreign keys are added apart, once every table exists.
func columnDef(f *spec.Field) string {
	return quote(f.Name) + " " + sqlType(f.Type.Kind())
}

// indexColumn orders an index's column as lists order it (see orderSQL): a user field NULLS
// FIRST, so that a forward scan reads ASC NULLS FIRST and a backward one DESC NULLS LAST; a
// system column, never NULL, in the default order. PostgreSQL then reads a sorted page from
// the index instead of sorting every row after the cursor.
func indexColumn(name string) string {
	if isSystem(name) {
		return quote(name)
	}
	return quote(name) + " NULLS FIRST"
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
