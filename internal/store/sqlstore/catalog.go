package sqlstore

import (
	"maps"
	"slices"
)

// Catalog is what a migration reads of the database before it plans: every table with its
// columns and indexes, its named constraints where the dialect adds foreign keys apart from
// their columns (see DDL.InlineForeignKeys), and what the last migration stored of each field. Each driver
// fills it from its own catalog with the Scan methods; Plan reads it.
type Catalog struct {
	// Columns maps each table to its columns' types, spelled as the dialect's DDL.TypeName.
	Columns map[string]map[string]string
	// Indexes maps each table to the names of its indexes.
	Indexes map[string][]string
	// Constraints maps each table to the names of its foreign and primary keys.
	Constraints map[string][]string
	// Signatures maps resource → field → the signature the last migration stored.
	Signatures map[string]map[string]string
	// NoNulls maps resource → field → true for the fields the last migration left without null.
	NoNulls map[string]map[string]bool
	// Retired maps resource → field → true for the fields a planned migration retired: the
	// spec no longer has them, and their columns stay until a later plan drops them.
	Retired map[string]map[string]bool
}

// clone is a copy of c that Plan changes as it plans renames.
func (c *Catalog) clone() *Catalog {
	return &Catalog{Columns: cloneNested(c.Columns), Indexes: cloneLists(c.Indexes), Constraints: cloneLists(c.Constraints),
		Signatures: cloneNested(c.Signatures), NoNulls: cloneNested(c.NoNulls), Retired: cloneNested(c.Retired)}
}

func cloneNested[V any](m map[string]map[string]V) map[string]map[string]V {
	out := make(map[string]map[string]V, len(m))
	for k, v := range m {
		out[k] = maps.Clone(v)
	}
	return out
}

func cloneLists(m map[string][]string) map[string][]string {
	out := make(map[string][]string, len(m))
	for k, v := range m {
		out[k] = slices.Clone(v)
	}
	return out
}

// Rows is a query's result as the drivers' libraries give it (database/sql and pgx alike).
type Rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
}

// ScanColumns reads rows of (table, column, type) into Columns.
func (c *Catalog) ScanColumns(rows Rows) error {
	var table, column, typ string
	return each(rows, func() { put(&c.Columns, table, column, typ) }, &table, &column, &typ)
}

// ScanIndexes reads rows of (table, index) into Indexes.
func (c *Catalog) ScanIndexes(rows Rows) error {
	return scanNames(rows, &c.Indexes)
}

// ScanConstraints reads rows of (table, constraint) into Constraints.
func (c *Catalog) ScanConstraints(rows Rows) error {
	return scanNames(rows, &c.Constraints)
}

// FieldsColumns is the select list that ScanFields reads from the "_plinth_fields" table.
const FieldsColumns = `"resource", "field", "signature", "no_nulls", "retired"`

// ScanFields reads the rows of FieldsColumns into Signatures, NoNulls and Retired.
func (c *Catalog) ScanFields(rows Rows) error {
	var res, field, sig string
	var none, retired bool
	return each(rows, func() {
		put(&c.Signatures, res, field, sig)
		if none {
			put(&c.NoNulls, res, field, true)
		}
		if retired {
			put(&c.Retired, res, field, true)
		}
	}, &res, &field, &sig, &none, &retired)
}

// scanNames reads rows of (table, name) into names.
func scanNames(rows Rows, names *map[string][]string) error {
	var table, name string
	return each(rows, func() {
		if *names == nil {
			*names = map[string][]string{}
		}
		(*names)[table] = append((*names)[table], name)
	}, &table, &name)
}

// each scans every row of rows into dest, and calls fn after each.
func each(rows Rows, fn func(), dest ...any) error {
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return err
		}
		fn()
	}
	return rows.Err()
}

// put sets (*m)[outer][inner], making the maps it needs.
func put[V any](m *map[string]map[string]V, outer, inner string, v V) {
	if *m == nil {
		*m = map[string]map[string]V{}
	}
	if (*m)[outer] == nil {
		(*m)[outer] = map[string]V{}
	}
	(*m)[outer][inner] = v
}
