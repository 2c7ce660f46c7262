package sqlite

import (
	"strings"

	"github.com/plinth-dev/plinth/internal/query"
	"github.com/plinth-dev/plinth/internal/spec"
	"github.com/plinth-dev/plinth/internal/store/sqlstore"
)

// ddl spells migrations for SQLite: STRICT tables in the one database, each ref column
// declaring its foreign key, since SQLite cannot add a constraint to a table.
var ddl = sqlstore.DDL{
	Values:            &dialect,
	Qualify:           quote,
	TypeName:          sqlType,
	CreateTable:       createTable,
	Column:            columnDef,
	IndexColumn:       quote,
	InlineForeignKeys: true,
	DropTables:        dropTables,
}

// dropTables drops tables that may refer to each other: their foreign keys are checked when
// the transaction commits, by which time every one of them is gone.
func dropTables(tables []string) []string {
	out := []string{"PRAGMA defer_foreign_keys = ON"}
	for _, t := range tables {
		out = append(out, "DROP TABLE "+t)
	}
	return out
}

// sqlType is the STRICT column type that holds a kind; see value.go for the encodings. The
// catalog is read in upper case, as it is written here.
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

func createTable(table string, r *spec.Resource) string {
	defs := []string{
		`"id" TEXT PRIMARY KEY NOT NULL`,
		`"created_at" TEXT NOT NULL`,
		`"updated_at" TEXT NOT NULL`,
		`"version" INTEGER NOT NULL`,
	}
	for _, f := range r.Fields {
		defs = append(defs, columnDef(f))
	}
	return "CREATE TABLE " + table + " (\n  " + strings.Join(defs, ",\n  ") + "\n) STRICT"
}

func columnDef(f *spec.Field) string {
	def := quote(f.Name) + " " + sqlType(f.Type.Kind())
	if f.Type == spec.TypeRef {
		def += sqlstore.References(quote(f.Ref))
	}
	return def
}
