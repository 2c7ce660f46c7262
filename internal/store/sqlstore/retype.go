package sqlstore

import (
	"fmt"
	"slices"
	"strings"

	"github.com/plinth-dev/plinth/internal/query"
	"github.com/plinth-dev/plinth/internal/spec"
	"github.com/plinth-dev/plinth/internal/store/sqlwhere"
)

// retype is a field whose stored values have another type than the spec now says, which a
// plan allowing data loss converts: expand (a new column of the new type), backfill (the
// values, converted, in batches), switch (the new column takes the field's name, the old one
// is kept under a name no field can have), and contract later (a later plan drops it).
type retype struct {
	resource *spec.Resource
	field    *spec.Field
	from     string // the stored signature, "" when none was stored
	fromType string // the column's type, as DDL.TypeName spells it
}

// How a retype carries the values over.
type carry int

const (
	lost   carry = iota // the new column starts empty: the old values stay in the kept column
	cast                // each value is cast to the new column's type
	inside              // the values stay where they are: only their signature changes
)

// how says how the values carry over: in place between text types (a string becomes an enum
// or back); by a cast that keeps every value exactly, on both databases (an integer becomes
// a number or a string); and not at all otherwise.
func (rt retype) how(ddl *DDL) carry {
	from, to := spec.Type(rt.from), rt.field.Type
	text := func(t spec.Type) bool { return t == spec.TypeString || t == spec.TypeEnum }
	switch {
	case text(from) && text(to) && rt.fromType == ddl.TypeName(query.KindString):
		return inside
	case from == spec.TypeInteger && (to == spec.TypeNumber || to == spec.TypeString):
		return cast
	}
	return lost
}

// check refuses what a retype cannot do even when data may be lost: a reference keeps its
// target (its foreign key and the ids it holds go together), and an enum takes only its
// values.
func (rt retype) check(p *planner, count func(string) (int64, error)) ([]string, error) {
	name := rt.resource.Name + "." + rt.field.Name
	if strings.HasPrefix(rt.from, "ref(") || rt.field.Type == spec.TypeRef {
		return []string{fmt.Sprintf("%s holds %s values but the spec now says %s: a reference cannot be retyped; add a new field, and drop this one", name, cmpOr(rt.from, rt.fromType), rt.field.Signature())}, nil
	}
	if rt.how(p.ddl) != inside || rt.field.Type != spec.TypeEnum {
		return nil, nil
	}
	values := make([]string, len(rt.field.Values))
	for i, v := range rt.field.Values {
		values[i] = Quoted(v)
	}
	col := p.dbCol(rt.resource.Name, rt.field.Name)
	n, err := count("SELECT count(*) FROM " + p.dbTable(rt.resource.Name) + " WHERE " + col + " IS NOT NULL AND " + col + " NOT IN (" + strings.Join(values, ", ") + ")")
	if err != nil || n == 0 {
		return nil, err
	}
	holds := fmt.Sprintf("%d records hold values that are", n)
	if n == 1 {
		holds = "1 record holds a value that is"
	}
	return []string{fmt.Sprintf("%s becomes an enum, but %s not among its values: change them first", name, holds)}, nil
}

// cmpOr is a, or b when a is empty.
func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// columns are the names of the retype's new column, until the switch, and of the column it
// keeps after.
func (rt retype) columns(tag string) (fresh, kept string) {
	kept = rt.field.Name
	if tag != "" {
		kept += "_" + tag
	}
	return shortName("_new_", rt.field.Name, nil), shortName("_old_", kept, nil)
}

// expand adds the retype's new column.
func (p *planner) expand(rt retype) {
	if rt.how(p.ddl) == inside {
		return
	}
	fresh, _ := rt.columns(p.opts.Tag)
	col := *rt.field
	col.Name = fresh
	p.add(Step{SQL: "ALTER TABLE " + p.table(rt.resource.Name) + " ADD COLUMN " + p.ddl.Column(&col), Planned: true,
		Why: fmt.Sprintf("%s.%s is retyped from %s to %s: a new column of the new type takes its values first.",
			rt.resource.Name, rt.field.Name, cmpOr(rt.from, rt.fromType), rt.field.Signature()),
		change: "retyped field", attrs: []any{"resource", rt.resource.Name, "field", rt.field.Name}, fails: "add " + rt.resource.Name + "." + fresh})
}

// convert fills the retype's new column and switches it in: in one transaction that keeps
// writers off the table, the rows written since the backfill are converted again, the
// field's indexes are dropped (the index step builds them again on the new column), and the
// columns swap names.
func (p *planner) convert(rt retype) {
	how := rt.how(p.ddl)
	if how == inside {
		return
	}
	r, field := rt.resource.Name, rt.field.Name
	table := p.table(r)
	fresh, kept := rt.columns(p.opts.Tag)
	newCol, oldCol := sqlwhere.Quote(fresh), sqlwhere.Quote(field)
	value := "CAST(" + oldCol + " AS " + p.ddl.TypeName(rt.field.Type.Kind()) + ")"
	if how == cast {
		s := Step{SQL: "UPDATE " + table + " SET " + newCol + " = " + value + " WHERE " + newCol + " IS NULL AND " + oldCol + " IS NOT NULL",
			Table: table, Planned: true, counted: true,
			Why:    fmt.Sprintf("Copy every %s.%s into the new column, converted, in batches: writers wait for one batch at a time.", r, field),
			change: "converted values", attrs: []any{"resource", r, "field", field}, fails: "convert " + r + "." + field}
		if p.opts.File {
			s.Mode = Backfill
		}
		p.add(s)
	}
	switchWhy := fmt.Sprintf("Switch reads to the new column: %s.%s takes its name, and the old column stays as %s until a later plan drops it.", r, field, kept)
	if p.ddl.LockTable != nil {
		p.add(Step{SQL: p.ddl.LockTable(table), Planned: true, Why: switchWhy + " Writers wait until the switch commits.", fails: "lock " + r})
		switchWhy = ""
	}
	if how == cast {
		p.add(Step{SQL: "UPDATE " + table + " SET " + newCol + " = " + value + " WHERE " + newCol + " IS DISTINCT FROM " + value, Planned: true,
			Why: strings.TrimSpace(switchWhy + " Convert again what was written during the backfill."), fails: "convert " + r + "." + field})
		switchWhy = ""
	}
	for _, ix := range rt.resource.Indexes {
		name := IndexName(r, ix)
		if !slices.Contains(ix.Fields, field) || !slices.Contains(p.cat.Indexes[r], name) {
			continue
		}
		p.cat.Indexes[r] = slices.DeleteFunc(p.cat.Indexes[r], func(n string) bool { return n == name })
		p.add(Step{SQL: "DROP INDEX " + p.ddl.Qualify(name), Planned: true, Why: "The index " + name + " is built again on the new column, below.",
			change: "dropped index", attrs: []any{"resource", r, "index", name}, fails: "drop index " + name})
	}
	p.add(Step{SQL: "ALTER TABLE " + table + " RENAME COLUMN " + oldCol + " TO " + sqlwhere.Quote(kept), Planned: true, Why: strings.TrimSpace(switchWhy),
		change: "renamed column", attrs: []any{"resource", r, "field", kept, "from", field}, fails: "keep the old " + r + "." + field})
	p.add(Step{SQL: "ALTER TABLE " + table + " RENAME COLUMN " + newCol + " TO " + oldCol, Planned: true,
		change: "renamed column", attrs: []any{"resource", r, "field", field, "from", fresh}, fails: "switch " + r + "." + field})
}
