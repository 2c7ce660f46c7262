package sqlstore

import (
	"fmt"
	"strconv"

	"github.com/plinth-dev/plinth/internal/spec"
	"github.com/plinth-dev/plinth/internal/store/sqlwhere"
)

// Nullable reports whether a stored column may hold null: when the field may (see
// spec.Field.Nullable), and for computed fields, which are null in existing records until a
// write computes them.
func Nullable(f *spec.Field) bool { return f.Nullable() || f.Computed != nil }

// literal is the field's literal default, if it has one that is not null.
func literal(f *spec.Field) (any, bool) {
	if f.Default == nil || f.Default.Expr != nil || f.Default.Literal == nil {
		return nil, false
	}
	return f.Default.Literal, true
}

// gap is a field that is never null by the spec, on a table whose rows may lack a value for
// it: its column is new, or it may hold null (the field was nullable, or the database does
// not know).
type gap struct {
	Field *spec.Field
	// New is set when the column is to be added: every existing row lacks a value.
	New bool
}

// gaps lists the gaps of r's table, in field order. columns are the table's columns;
// noNulls names the fields that the last migration left without null, whose columns need no
// scan: an unchanged spec then costs no query. retyped names the fields this migration
// retypes, with whether their values carry over: one whose values do not is new.
func gaps(r *spec.Resource, columns map[string]string, noNulls, retyped map[string]bool) []gap {
	var out []gap
	for _, f := range r.Fields {
		if Nullable(f) {
			continue
		}
		_, has := columns[f.Name]
		if carries, ok := retyped[f.Name]; ok && !carries {
			has = false
		}
		if has && noNulls[f.Name] {
			continue
		}
		out = append(out, gap{Field: f, New: !has})
	}
	return out
}

// checkNulls decides what a migration does about the rows of r's existing table (table is its
// quoted name, and column quotes a field's column as the table names it now; columns are its
// columns) that would hold null in a field the spec says is never null. A field with a
// literal default is filled with it: those gaps are returned, for Plan to fill with fillSQL
// once their columns exist. Any other — a required field without a default, or one whose
// default is an expression, which has no value for records written before — refuses the
// migration if any row lacks a value: those are the problems. count runs a query that
// returns one count.
func checkNulls(r *spec.Resource, table string, column func(field string) string, columns map[string]string, noNulls, retyped map[string]bool,
	count func(query string) (int64, error)) (fills []gap, problems []string, err error) {
	rows := int64(-1) // the table's rows, counted once for all new columns
	for _, g := range gaps(r, columns, noNulls, retyped) {
		if _, ok := literal(g.Field); ok {
			fills = append(fills, g)
			continue
		}
		var n int64
		switch {
		case !g.New:
			n, err = count("SELECT count(*) FROM " + table + " WHERE " + column(g.Field.Name) + " IS NULL")
		case rows < 0:
			rows, err = count("SELECT count(*) FROM " + table)
			n = rows
		default:
			n = rows
		}
		if err != nil {
			return nil, nil, err
		}
		if n > 0 {
			problems = append(problems, g.problem(r.Name, n))
		}
	}
	return fills, problems, nil
}

// problem says why n rows without a value refuse the migration, and what to do instead.
func (g gap) problem(resource string, n int64) string {
	name := resource + "." + g.Field.Name
	records := func(noun string) string {
		s := strconv.FormatInt(n, 10) + " " + noun
		if n != 1 {
			s += "s"
		}
		return s
	}
	switch expr := g.Field.Default != nil && g.Field.Default.Expr != nil; {
	case g.New && expr:
		return fmt.Sprintf("%s is new and its default is an expression, which gives no value to the %s: give it a literal default, or add it as optional first", name, records("existing record"))
	case g.New:
		return fmt.Sprintf("%s is new and required, but it has no value in the %s: give it a literal default, or add it as optional first", name, records("existing record"))
	case expr:
		return fmt.Sprintf("%s now defaults to an expression, which gives no value to the %s where it is null: give it a literal default, or fill it in first", name, records("record"))
	default:
		return fmt.Sprintf("%s is now required, but it is null in %s: give it a literal default, or fill it in first", name, records("record"))
	}
}

// fillSQL is the statement that writes the field's literal default, encoded as d stores values
// of its kind, into the rows of table (its quoted name) where the field is null, with its
// parameters.
func (g gap) fillSQL(d *sqlwhere.Dialect, table string) (string, []any, error) {
	v, _ := literal(g.Field)
	arg, err := d.Encode(g.Field.Type.Kind(), v)
	if err != nil {
		return "", nil, fmt.Errorf("%s: its default cannot be stored: %w", g.Field.Name, err)
	}
	return g.update(table, d.Placeholder(1)), []any{arg}, nil
}

// fillLiteral is fillSQL with the value written into the statement, as a planned file has it.
func (g gap) fillLiteral(d *sqlwhere.Dialect, table string) (string, error) {
	_, args, err := g.fillSQL(d, table)
	if err != nil {
		return "", err
	}
	lit, err := Literal(args[0])
	if err != nil {
		return "", fmt.Errorf("%s: its default cannot be written in SQL: %w", g.Field.Name, err)
	}
	return g.update(table, lit), nil
}

// update sets the field to value where it is null.
func (g gap) update(table, value string) string {
	col := sqlwhere.Quote(g.Field.Name)
	return "UPDATE " + table + " SET " + col + " = " + value + " WHERE " + col + " IS NULL"
}
