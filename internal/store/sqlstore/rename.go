package sqlstore

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/plinth-dev/plinth/internal/store/sqlwhere"
)

// fieldsTable is the table where migrations record what the catalog cannot say of each field
// (see Catalog.ScanFields).
const fieldsTable = "_plinth_fields"

// renames renames the tables and columns that renamed_from names, where the database has the
// old name and not the new one, and changes the catalog as if they had run. Resources come
// first, so that a field renamed in a renamed resource is found under its new table.
func (p *planner) renames() {
	for _, r := range p.model.Resources {
		if r.RenamedFrom != "" {
			p.renameTable(r.RenamedFrom, r.Name)
		}
	}
	for _, r := range p.model.Resources {
		for _, f := range r.Fields {
			if f.RenamedFrom != "" {
				p.renameColumn(r.Name, f.RenamedFrom, f.Name)
			}
		}
	}
}

// renameTable renames the table old to name, with its constraints and its records' rows in
// "_plinth_fields", and points the signatures of refs to it at the new name.
func (p *planner) renameTable(old, name string) {
	c := p.cat
	if _, ok := c.Columns[old]; !ok {
		return
	}
	if _, ok := c.Columns[name]; ok {
		return
	}
	p.add(Step{SQL: "ALTER TABLE " + p.ddl.Qualify(old) + " RENAME TO " + sqlwhere.Quote(name), Planned: true,
		Why:    fmt.Sprintf("%s was %s (renamed_from): its table takes the new name, with every record.", name, old),
		change: "renamed table", attrs: []any{"resource", name, "from", old}, fails: "rename table " + old})
	for col := range c.Columns[old] {
		p.renameConstraint(old, name, ForeignKeyName(old, col), ForeignKeyName(name, col))
	}
	p.renameConstraint(old, name, PrimaryKeyName(old), PrimaryKeyName(name))
	fields := p.ddl.Qualify(fieldsTable)
	p.record("DELETE FROM "+fields+` WHERE "resource" = `+Quoted(name),
		"UPDATE "+fields+` SET "resource" = `+Quoted(name)+` WHERE "resource" = `+Quoted(old),
		"UPDATE "+fields+` SET "signature" = replace("signature", `+Quoted("ref("+old+")")+", "+Quoted("ref("+name+")")+")")
	p.dbName[name] = old
	for _, m := range []map[string]map[string]string{c.Columns, c.Signatures} {
		moveKey(m, old, name)
	}
	moveKey(c.NoNulls, old, name)
	moveKey(c.Retired, old, name)
	moveKey(c.Indexes, old, name)
	moveKey(c.Constraints, old, name)
	for _, sigs := range c.Signatures {
		for f, sig := range sigs {
			sigs[f] = strings.ReplaceAll(sig, "ref("+old+")", "ref("+name+")")
		}
	}
}

// renameColumn renames the column old of table to name, with its foreign key and its row in
// "_plinth_fields".
func (p *planner) renameColumn(table, old, name string) {
	c := p.cat
	cols := c.Columns[table]
	if _, ok := cols[old]; !ok {
		return
	}
	if _, ok := cols[name]; ok {
		return
	}
	p.add(Step{SQL: "ALTER TABLE " + p.table(table) + " RENAME COLUMN " + sqlwhere.Quote(old) + " TO " + sqlwhere.Quote(name), Planned: true,
		Why:    fmt.Sprintf("%s.%s was %s (renamed_from): its column takes the new name, with every value.", table, name, old),
		change: "renamed column", attrs: []any{"resource", table, "field", name, "from", old}, fails: "rename " + table + "." + old})
	p.renameConstraint(table, table, ForeignKeyName(table, old), ForeignKeyName(table, name))
	fields := p.ddl.Qualify(fieldsTable)
	where := ` WHERE "resource" = ` + Quoted(table) + ` AND "field" = `
	p.record("DELETE FROM "+fields+where+Quoted(name), "UPDATE "+fields+` SET "field" = `+Quoted(name)+where+Quoted(old))
	p.dbColumn[[2]string{table, name}] = old
	moveKey(cols, old, name)
	moveKey(c.Signatures[table], old, name)
	moveKey(c.NoNulls[table], old, name)
	moveKey(c.Retired[table], old, name)
}

// renameConstraint renames a constraint of a table (known as it was before, and as it is) that
// the catalog has, where constraints have names Plinth gives: their names say what they
// constrain, and a new constraint of the old name must not meet them.
func (p *planner) renameConstraint(before, table, from, to string) {
	if p.ddl.InlineForeignKeys || !slices.Contains(p.cat.Constraints[before], from) {
		return
	}
	p.add(Step{SQL: "ALTER TABLE " + p.table(table) + " RENAME CONSTRAINT " + sqlwhere.Quote(from) + " TO " + sqlwhere.Quote(to), Planned: true,
		Why: fmt.Sprintf("The constraint %s follows its table or column to its new name.", from), fails: "rename constraint " + from})
	list := p.cat.Constraints[before]
	list[slices.Index(list, from)] = to
}

// record adds statements that keep "_plinth_fields" in step; they log nothing.
func (p *planner) record(stmts ...string) {
	for _, q := range stmts {
		p.add(Step{SQL: q, fails: "record the fields in " + fieldsTable})
	}
}

// moveKey moves m's entry from old to name.
func moveKey[V any](m map[string]V, old, name string) {
	if v, ok := m[old]; ok {
		delete(m, old)
		m[name] = v
	}
}

// keys is m's keys, sorted.
func keys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }
