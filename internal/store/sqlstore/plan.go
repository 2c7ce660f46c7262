package sqlstore

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"github.com/plinth-dev/plinth/internal/query"
	"github.com/plinth-dev/plinth/internal/spec"
	"github.com/plinth-dev/plinth/internal/store"
	"github.com/plinth-dev/plinth/internal/store/sqlwhere"
)

// DDL is how a driver spells what its migrations write differently from the other's.
type DDL struct {
	// Values encodes a literal default as the driver stores values of its kind.
	Values *sqlwhere.Dialect
	// Qualify is the quoted name of a table or an index, in the driver's schema if it has one.
	Qualify func(name string) string
	// TypeName is a kind's column type as Catalog.Columns spells it; problems name it so.
	TypeName func(query.Kind) string
	// CreateTable creates r's table, under its qualified name, with every column.
	CreateTable func(table string, r *spec.Resource) string
	// Column defines a field's column, as CREATE TABLE and ADD COLUMN take it.
	Column func(f *spec.Field) string
	// IndexColumn is a column of an index, ordered as lists read it.
	IndexColumn func(name string) string
	// InlineForeignKeys says that Column declares a ref field's foreign key (see References):
	// none is added apart, and Catalog.ForeignKeys is not read. SQLite cannot add a
	// constraint to a table.
	InlineForeignKeys bool
}

// References is the foreign key of a ref field to the id of the table (its qualified name).
// Deleting a referenced record is refused: the engine clears or deletes what refers to it
// first, as on_delete says, so changing on_delete changes no schema.
func References(table string) string {
	return " REFERENCES " + table + ` ("id") ON DELETE RESTRICT`
}

// Migration is what Plan decided: the statements to run, in order, and the tables kept for
// resources the spec no longer has.
type Migration struct {
	Steps   []Step
	Orphans []string
}

// Step is one statement of a migration, and what the log says once it has run.
type Step struct {
	SQL  string
	Args []any
	// change is the log's message, and attrs its attributes.
	change string
	attrs  []any
	// counted says that the log also gives the rows the statement changed, and says nothing
	// when it changed none.
	counted bool
	// fails says what could not be done when the statement fails.
	fails string
}

// Plan decides how to bring the database that cat describes to model, or refuses. It refuses
// with a *store.MigrationError, listing every problem sorted, where the model drops or retypes
// a field (a column the spec no longer has; a column type or stored signature that differs),
// or where records would lack a value for a field that must have one (see checkNulls; count
// runs its queries, each of which returns one count). Otherwise the steps create tables, add
// columns and fill them with literal defaults, then add foreign keys and create and drop
// indexes: a ref may name a resource declared later, so no foreign key comes before every
// table exists. An unchanged spec plans no step.
func Plan(model *spec.Model, cat *Catalog, ddl *DDL, count func(query string) (int64, error)) (*Migration, error) {
	fills, err := check(model, cat, ddl, count)
	if err != nil {
		return nil, err
	}
	m := &Migration{Orphans: orphans(model, cat)}
	for _, r := range model.Resources {
		if err := m.tableAndColumns(r, cat.Columns[r.Name], fills[r.Name], ddl); err != nil {
			return nil, fmt.Errorf("migrate %s: %w", r.Name, err)
		}
	}
	for _, r := range model.Resources {
		if !ddl.InlineForeignKeys {
			m.foreignKeys(r, cat.ForeignKeys[r.Name], ddl)
		}
		m.indexes(r, cat.Indexes[r.Name], ddl)
	}
	return m, nil
}

// check lists what the model asks of the existing tables that they cannot take, and refuses
// when there is anything; otherwise it returns the gaps to fill, by resource.
func check(model *spec.Model, cat *Catalog, ddl *DDL, count func(string) (int64, error)) (map[string][]gap, error) {
	var problems []string
	fills := map[string][]gap{}
	for _, r := range model.Resources {
		columns, exists := cat.Columns[r.Name]
		problems = append(problems, columnProblems(model, r, columns, cat.Signatures[r.Name], ddl.TypeName)...)
		if !exists {
			continue
		}
		f, p, err := checkNulls(r, ddl.Qualify(r.Name), columns, cat.NoNulls[r.Name], count)
		if err != nil {
			return nil, fmt.Errorf("migrate %s: %w", r.Name, err)
		}
		fills[r.Name], problems = f, append(problems, p...)
	}
	if len(problems) > 0 {
		// Sorted, so that a refusal reads the same at every start and on every driver.
		return nil, &store.MigrationError{Problems: slices.Sorted(slices.Values(problems))}
	}
	return fills, nil
}

// columnProblems lists what r asks of its table that would lose data, one problem a column:
// a field whose signature is not the one stored (see spec.Model.Retyped), or else a column
// whose type is not typeName's for its kind (retyping is not automatic); and a column the spec
// no longer has (dropping is not automatic). The signature is the finer test (SQLite stores
// strings and timestamps alike), and the column type catches what no signature was stored
// for; taken in that order, a retype reads the same on every driver. columns maps each column
// of the table, if it exists, to its type as typeName spells it; signatures maps each field to
// the signature stored.
func columnProblems(model *spec.Model, r *spec.Resource, columns, signatures map[string]string, typeName func(query.Kind) string) []string {
	var problems []string
	want := map[string]bool{}
	for _, c := range r.Columns() {
		want[c.Name] = true
		if sig, ok := signatures[c.Name]; ok {
			if p := model.Retyped(r.Name, c.Name, sig); p != "" {
				problems = append(problems, p)
				continue
			}
		}
		if have, ok := columns[c.Name]; ok && have != typeName(c.Kind) {
			problems = append(problems, fmt.Sprintf("%s.%s is stored as %s but the spec now needs %s (retyping a field is not automatic)", r.Name, c.Name, have, typeName(c.Kind)))
		}
	}
	for name := range columns {
		if !want[name] {
			problems = append(problems, fmt.Sprintf("%s.%s has data but is no longer in the spec (dropping a field is not automatic)", r.Name, name))
		}
	}
	return problems
}

// tableAndColumns creates r's table when it has none (columns is nil); otherwise it adds the
// columns of new fields, then fills the gaps with their literal defaults.
func (m *Migration) tableAndColumns(r *spec.Resource, columns map[string]string, fills []gap, ddl *DDL) error {
	table := ddl.Qualify(r.Name)
	if columns == nil {
		m.Steps = append(m.Steps, Step{SQL: ddl.CreateTable(table, r),
			change: "created table", attrs: []any{"resource", r.Name}, fails: "create table " + r.Name})
		return nil
	}
	for _, f := range r.Fields {
		if _, ok := columns[f.Name]; ok {
			continue
		}
		m.Steps = append(m.Steps, Step{SQL: "ALTER TABLE " + table + " ADD COLUMN " + ddl.Column(f),
			change: "added column", attrs: []any{"resource", r.Name, "field", f.Name}, fails: "add " + r.Name + "." + f.Name})
	}
	for _, g := range fills {
		q, args, err := g.fillSQL(ddl.Values, table)
		if err != nil {
			return err
		}
		m.Steps = append(m.Steps, Step{SQL: q, Args: args, counted: true,
			change: "filled null values with the default", attrs: []any{"resource", r.Name, "field", g.Field.Name},
			fails: r.Name + "." + g.Field.Name + ": cannot fill existing records with its default"})
	}
	return nil
}

// foreignKeys adds a foreign key to every top-level ref field of r that has none (have are
// those of its table). A ref cannot stop being one, or point elsewhere, without a signature
// change that Plan refuses, so foreign keys are only ever added.
func (m *Migration) foreignKeys(r *spec.Resource, have []string, ddl *DDL) {
	for _, f := range r.Fields {
		name := ForeignKeyName(r.Name, f.Name)
		if f.Type != spec.TypeRef || slices.Contains(have, name) {
			continue
		}
		m.Steps = append(m.Steps, Step{
			SQL: "ALTER TABLE " + ddl.Qualify(r.Name) + " ADD CONSTRAINT " + sqlwhere.Quote(name) +
				" FOREIGN KEY (" + sqlwhere.Quote(f.Name) + ")" + References(ddl.Qualify(f.Ref)),
			change: "created foreign key", attrs: []any{"resource", r.Name, "field", f.Name, "references", f.Ref},
			fails: fmt.Sprintf("%s.%s: cannot make it refer to %s, existing records refer to missing ones", r.Name, f.Name, f.Ref),
		})
	}
}

// indexes creates the indexes of r that its table lacks (have are those it has), and drops
// those Plinth made that the spec no longer has.
func (m *Migration) indexes(r *spec.Resource, have []string, ddl *DDL) {
	want := map[string]bool{}
	for _, ix := range r.Indexes {
		name := IndexName(r.Name, ix)
		want[name] = true
		if slices.Contains(have, name) {
			continue
		}
		fails := "create index " + name
		if ix.Unique {
			fails = fmt.Sprintf("%s: cannot make %s unique, existing records share values", r.Name, strings.Join(ix.Fields, ", "))
		}
		m.Steps = append(m.Steps, Step{SQL: createIndex(ddl, r.Name, name, ix),
			change: "created index", attrs: []any{"resource", r.Name, "index", name}, fails: fails})
	}
	for _, name := range slices.Sorted(slices.Values(have)) {
		if isPlinthIndex(name) && !want[name] {
			m.Steps = append(m.Steps, Step{SQL: "DROP INDEX " + ddl.Qualify(name),
				change: "dropped index", attrs: []any{"resource", r.Name, "index", name}, fails: "drop index " + name})
		}
	}
}

// createIndex is the DDL of one index. A non-unique index also covers id: lists break ties by
// id, so (fields, id) serves a sorted page without a sort.
func createIndex(ddl *DDL, table, name string, ix spec.Index) string {
	fields := ix.Fields
	unique := ""
	if ix.Unique {
		unique = "UNIQUE "
	} else if fields[len(fields)-1] != "id" {
		fields = append(slices.Clip(fields), "id")
	}
	cols := make([]string, len(fields))
	for i, f := range fields {
		cols[i] = ddl.IndexColumn(f)
	}
	return "CREATE " + unique + "INDEX " + sqlwhere.Quote(name) + " ON " + ddl.Qualify(table) + " (" + strings.Join(cols, ", ") + ")"
}

// orphans lists, sorted, the tables of resources the spec no longer has. Plinth's own tables
// start with "_".
func orphans(model *spec.Model, cat *Catalog) []string {
	var out []string
	for table := range cat.Columns {
		if _, ok := model.Resource(table); !ok && !strings.HasPrefix(table, "_") {
			out = append(out, table)
		}
	}
	slices.Sort(out)
	return out
}

// Exec runs one statement of a migration and returns how many rows it changed.
type Exec func(ctx context.Context, query string, args ...any) (int64, error)

// Apply runs the steps in order, logging each change, and warns of the tables kept for
// resources the spec no longer has: their data stays. It stops at the first statement that
// fails.
func (m *Migration) Apply(ctx context.Context, exec Exec, log *slog.Logger) error {
	for _, s := range m.Steps {
		n, err := exec(ctx, s.SQL, s.Args...)
		if err != nil {
			return fmt.Errorf("migrate: %s: %w", s.fails, err)
		}
		switch {
		case !s.counted:
			log.InfoContext(ctx, s.change, s.attrs...)
		case n > 0:
			log.InfoContext(ctx, s.change, append(s.attrs, "records", n)...)
		}
	}
	for _, table := range m.Orphans {
		log.WarnContext(ctx, "table kept for a resource no longer in the spec", "table", table)
	}
	return nil
}
