package sqlstore

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
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
	// TypeName is a kind's column type as Catalog.Columns spells it; problems name it so, and
	// a conversion casts to it.
	TypeName func(query.Kind) string
	// CreateTable creates r's table, under its qualified name, with every column.
	CreateTable func(table string, r *spec.Resource) string
	// Column defines a field's column, as CREATE TABLE and ADD COLUMN take it.
	Column func(f *spec.Field) string
	// IndexColumn is a column of an index, ordered as lists read it.
	IndexColumn func(name string) string
	// InlineForeignKeys says that Column declares a ref field's foreign key (see References):
	// none is added apart, and Catalog.ForeignKeys is not read. SQLite cannot add a
	// constraint to a table, nor drop a column that has one. Where foreign keys are added
	// apart, constraints have names that follow renames.
	InlineForeignKeys bool
	// Concurrently says that a planned file builds indexes without blocking writes, outside
	// any transaction (PostgreSQL's CREATE INDEX CONCURRENTLY).
	Concurrently bool
	// DropTables drops tables (their qualified names) that may refer to each other.
	DropTables func(tables []string) []string
	// LockTable, when set, is the statement that keeps every other transaction off a table
	// until the end of this one; where it is not, a write transaction has the database to
	// itself already (SQLite).
	LockTable func(table string) string
}

// References is the foreign key of a ref field to the id of the table (its qualified name).
// Deleting a referenced record is refused: the engine clears or deletes what refers to it
// first, as on_delete says, so changing on_delete changes no schema.
func References(table string) string {
	return " REFERENCES " + table + ` ("id") ON DELETE RESTRICT`
}

// Migration is what Plan decided: the statements to run, in order, the tables kept for
// resources the spec no longer has, and notes for whoever reviews a planned file.
type Migration struct {
	Steps   []Step
	Orphans []string
	Notes   []string
}

// Mode is how a step runs.
type Mode int

const (
	// InTx runs in one transaction with the steps around it.
	InTx Mode = iota
	// Alone runs outside any transaction, one statement after the other: what a database
	// cannot do in a transaction. Its statements can run again after an interruption.
	Alone
	// Backfill is an UPDATE that ends in its WHERE clause, run over the table in batches of
	// ids, each committed on its own, so that writers wait for one batch at a time. It can
	// run again: it changes only the rows that still need it.
	Backfill
)

// Step is one statement of a migration, and what the log says once it has run.
type Step struct {
	// SQL is one statement; an Alone step may have several, each ending in ";\n".
	SQL  string
	Args []any
	Mode Mode
	// Table is the table a Backfill walks, as SQL names it.
	Table string
	// Why says, in a planned file, what the step does and why.
	Why string
	// Planned marks a change that only a planned migration makes: a rename, a retype, a
	// field retired, a column or table dropped. A start refuses it.
	Planned bool
	// change is the log's message, and attrs its attributes; an empty change is not logged.
	change string
	attrs  []any
	// counted says that the log also gives the rows the statement changed, and says nothing
	// when it changed none.
	counted bool
	// fails says what could not be done when the statement fails.
	fails string
}

// PlanOptions say what Plan plans beyond what a start applies by itself.
type PlanOptions struct {
	// File says that the plan is written to a file for review: values are literals in the
	// SQL, fills run as backfills, and indexes are built concurrently where the DDL says so.
	File bool
	// AllowDataLoss plans what loses data instead of refusing it: a field the spec no longer
	// has is retired (kept, for replicas still serving a spec that has it), a retyped field
	// is converted into a new column that takes its place, and retired columns and the
	// tables of resources the spec no longer has are dropped.
	AllowDataLoss bool
	// Tag goes into the names of the columns a retype keeps: the planned file's number.
	Tag string
}

// Planned reports whether any step is one only a planned migration makes.
func (m *Migration) Planned() bool {
	return slices.ContainsFunc(m.Steps, func(s Step) bool { return s.Planned })
}

// Changes lists what the steps change, one line each, for a refusal to start that says what
// a plan would do; the record of fields is left out.
func (m *Migration) Changes() []string {
	var out []string
	for _, s := range m.Steps {
		if s.change == "" {
			continue
		}
		line := s.change
		for i := 0; i+1 < len(s.attrs); i += 2 {
			line += fmt.Sprintf(" %v=%v", s.attrs[i], s.attrs[i+1])
		}
		out = append(out, line)
	}
	return out
}

// Plan decides how to bring the database that cat describes to model, or refuses. It refuses
// with a *store.MigrationError, listing every problem sorted, where the model drops or retypes
// a field without opts.AllowDataLoss (a column the spec no longer has; a column type or stored
// signature that differs), or where records would lack a value for a field that must have one
// (see checkNulls; count runs its queries, each of which returns one count). Otherwise the
// steps rename what renamed_from names, create tables, add columns, convert retyped fields,
// fill nulls with literal defaults, retire removed fields, add foreign keys and create and
// drop indexes (a ref may name a resource declared later, so no foreign key comes before
// every table exists), drop what earlier plans retired, and record each field in
// "_plinth_fields". An unchanged spec plans no step.
func Plan(model *spec.Model, cat *Catalog, ddl *DDL, count func(query string) (int64, error), opts PlanOptions) (*Migration, error) {
	p := &planner{model: model, cat: cat.clone(), ddl: ddl, opts: opts, m: &Migration{},
		dbName: map[string]string{}, dbColumn: map[[2]string]string{}}
	p.renames()
	if err := p.check(count); err != nil {
		return nil, err
	}
	for _, r := range model.Resources {
		if err := p.tableAndColumns(r); err != nil {
			return nil, fmt.Errorf("migrate %s: %w", r.Name, err)
		}
	}
	for _, rt := range p.retypes {
		p.convert(rt)
	}
	for _, r := range model.Resources {
		if err := p.fill(r); err != nil {
			return nil, fmt.Errorf("migrate %s: %w", r.Name, err)
		}
	}
	for _, r := range model.Resources {
		if !ddl.InlineForeignKeys {
			p.foreignKeys(r)
		}
		p.indexes(r)
	}
	p.contract()
	p.recordFields()
	return p.m, nil
}

// planner is one run of Plan. cat is the catalog as it will be once the steps planned so far
// have run; dbName and dbColumn give the names the database has now, which the counts read.
type planner struct {
	model *spec.Model
	cat   *Catalog
	ddl   *DDL
	opts  PlanOptions
	m     *Migration

	dbName   map[string]string    // table → its name before this plan's renames
	dbColumn map[[2]string]string // (table, column) → its name before this plan's renames

	fills   map[string][]gap    // by resource
	retypes []retype            // in resource and field order
	retired map[string][]string // resource → fields retired by this plan
	dropped map[string][]string // resource → columns earlier plans retired
	lossy   int                 // how many problems a plan allowing data loss would plan
}

func (p *planner) add(s Step) { p.m.Steps = append(p.m.Steps, s) }

// table is the table of resource name, as statements name it.
func (p *planner) table(name string) string { return p.ddl.Qualify(name) }

// dbTable is the table of resource name as the database names it before this plan.
func (p *planner) dbTable(name string) string {
	if old, ok := p.dbName[name]; ok {
		return p.ddl.Qualify(old)
	}
	return p.ddl.Qualify(name)
}

// dbCol is the column of a table as the database names it before this plan, quoted.
func (p *planner) dbCol(table, column string) string {
	if old, ok := p.dbColumn[[2]string{table, column}]; ok {
		return sqlwhere.Quote(old)
	}
	return sqlwhere.Quote(column)
}

// check lists what the model asks of the existing tables that they cannot take, and refuses
// when there is anything; otherwise it keeps the gaps to fill, the fields to retype and
// those to retire.
func (p *planner) check(count func(string) (int64, error)) error {
	var problems []string
	p.fills = map[string][]gap{}
	p.retired = map[string][]string{}
	p.dropped = map[string][]string{}
	for _, r := range p.model.Resources {
		columns, exists := p.cat.Columns[r.Name]
		problems = append(problems, p.columns(r, columns)...)
		if !exists {
			continue
		}
		f, probs, err := checkNulls(r, p.dbTable(r.Name), func(f string) string { return p.dbCol(r.Name, f) },
			columns, p.cat.NoNulls[r.Name], p.retyped(r.Name), count)
		if err != nil {
			return fmt.Errorf("migrate %s: %w", r.Name, err)
		}
		p.fills[r.Name], problems = f, append(problems, probs...)
	}
	for _, rt := range p.retypes {
		probs, err := rt.check(p, count)
		if err != nil {
			return fmt.Errorf("migrate %s: %w", rt.resource.Name, err)
		}
		problems = append(problems, probs...)
	}
	if len(problems) > 0 {
		// Sorted, so that a refusal reads the same at every start and on every driver.
		need := store.NeedChange
		if p.lossy == len(problems) {
			need = store.NeedDataLoss
		}
		return &store.MigrationError{Problems: slices.Sorted(slices.Values(problems)), Need: need}
	}
	return nil
}

// columns lists what r asks of its table that would lose data, one problem a column, and
// keeps what AllowDataLoss plans instead: a field whose signature is not the one stored (see
// spec.Model.Retyped), or else a column whose type is not TypeName's for its kind, is
// retyped; a column the spec no longer has is retired. The signature is the finer test
// (SQLite stores strings and timestamps alike), and the column type catches what no
// signature was stored for; taken in that order, a retype reads the same on every driver.
// Columns that earlier plans retired are left for contract.
func (p *planner) columns(r *spec.Resource, columns map[string]string) []string {
	var problems []string
	want := map[string]bool{}
	for _, c := range r.Columns() {
		want[c.Name] = true
		have, ok := columns[c.Name]
		if !ok {
			continue
		}
		why := ""
		if sig, ok := p.cat.Signatures[r.Name][c.Name]; ok {
			why = p.model.Retyped(r.Name, c.Name, sig)
		}
		if why == "" && have != p.ddl.TypeName(c.Kind) {
			why = fmt.Sprintf("%s.%s is stored as %s but the spec now needs %s (retyping a field is not automatic)", r.Name, c.Name, have, p.ddl.TypeName(c.Kind))
		}
		if why == "" {
			continue
		}
		rt := retype{resource: r, field: c.Field, from: p.cat.Signatures[r.Name][c.Name], fromType: have}
		if c.Field == nil || !p.opts.AllowDataLoss {
			if c.Field != nil {
				p.lossy++
			}
			problems = append(problems, why)
			continue
		}
		p.retypes = append(p.retypes, rt)
	}
	for _, name := range slices.Sorted(maps.Keys(columns)) {
		switch {
		case want[name]:
		case p.isRetired(r.Name, name):
			p.dropped[r.Name] = append(p.dropped[r.Name], name)
		case !p.opts.AllowDataLoss:
			p.lossy++
			problems = append(problems, fmt.Sprintf("%s.%s has data but is no longer in the spec (dropping a field is not automatic)", r.Name, name))
		default:
			p.retired[r.Name] = append(p.retired[r.Name], name)
		}
	}
	return problems
}

// isRetired reports whether a column of a resource's table is one an earlier plan retired:
// a field the spec dropped, or a column a retype kept (its name starts with "_", which no
// field's can).
func (p *planner) isRetired(resource, column string) bool {
	return strings.HasPrefix(column, "_") || p.cat.Retired[resource][column]
}

// retyped names the fields of a resource that this plan retypes, each with whether its
// values carry over.
func (p *planner) retyped(resource string) map[string]bool {
	out := map[string]bool{}
	for _, rt := range p.retypes {
		if rt.resource.Name == resource {
			out[rt.field.Name] = rt.how(p.ddl) != lost
		}
	}
	return out
}

// tableAndColumns creates r's table when it has none; otherwise it adds the columns of new
// fields, and the new columns of retyped ones.
func (p *planner) tableAndColumns(r *spec.Resource) error {
	columns, exists := p.cat.Columns[r.Name]
	table := p.table(r.Name)
	if !exists {
		p.add(Step{SQL: p.ddl.CreateTable(table, r),
			Why:    fmt.Sprintf("%s is a new resource: its table.", r.Name),
			change: "created table", attrs: []any{"resource", r.Name}, fails: "create table " + r.Name})
		return nil
	}
	for _, f := range r.Fields {
		if _, ok := columns[f.Name]; ok {
			continue
		}
		p.add(Step{SQL: "ALTER TABLE " + table + " ADD COLUMN " + p.ddl.Column(f),
			Why:    fmt.Sprintf("%s.%s is a new field: %s.", r.Name, f.Name, newFieldWhy(f)),
			change: "added column", attrs: []any{"resource", r.Name, "field", f.Name}, fails: "add " + r.Name + "." + f.Name})
	}
	for _, rt := range p.retypes {
		if rt.resource == r {
			p.expand(rt)
		}
	}
	return nil
}

// newFieldWhy says what existing records hold in a new field's column.
func newFieldWhy(f *spec.Field) string {
	switch _, ok := literal(f); {
	case ok:
		return "existing records get its default, below"
	case f.Computed != nil:
		return "computed, it is null in existing records until their next write"
	}
	return "existing records hold null in it"
}

// fill writes the literal defaults into the gaps of r's table: in the migration's
// transaction at a start, in batches in a planned file.
func (p *planner) fill(r *spec.Resource) error {
	table := p.table(r.Name)
	for _, g := range p.fills[r.Name] {
		s := Step{counted: true, Table: table,
			Why:    fmt.Sprintf("%s.%s must have a value: records where it is null get its default.", r.Name, g.Field.Name),
			change: "filled null values with the default", attrs: []any{"resource", r.Name, "field", g.Field.Name},
			fails: r.Name + "." + g.Field.Name + ": cannot fill existing records with its default"}
		var err error
		if p.opts.File {
			s.Mode = Backfill
			s.SQL, err = g.fillLiteral(p.ddl.Values, table)
		} else {
			s.SQL, s.Args, err = g.fillSQL(p.ddl.Values, table)
		}
		if err != nil {
			return err
		}
		p.add(s)
	}
	return nil
}

// foreignKeys adds a foreign key to every top-level ref field of r that has none. A ref
// cannot stop being one, or point elsewhere (Plan refuses that), so foreign keys are only
// ever added, or renamed with their table or field.
func (p *planner) foreignKeys(r *spec.Resource) {
	have := p.cat.Constraints[r.Name]
	for _, f := range r.Fields {
		name := ForeignKeyName(r.Name, f.Name)
		if f.Type != spec.TypeRef || slices.Contains(have, name) {
			continue
		}
		p.add(Step{
			SQL: "ALTER TABLE " + p.table(r.Name) + " ADD CONSTRAINT " + sqlwhere.Quote(name) +
				" FOREIGN KEY (" + sqlwhere.Quote(f.Name) + ")" + References(p.table(f.Ref)),
			Why:    fmt.Sprintf("%s.%s refers to %s: every value must be the id of one of its records.", r.Name, f.Name, f.Ref),
			change: "created foreign key", attrs: []any{"resource", r.Name, "field", f.Name, "references", f.Ref},
			fails: fmt.Sprintf("%s.%s: cannot make it refer to %s, existing records refer to missing ones", r.Name, f.Name, f.Ref),
		})
	}
}

// indexes creates the indexes of r that its table lacks, and drops those Plinth made that the
// spec no longer has. In a planned file on a database that builds them concurrently, each
// index of a table that exists already is built alone, without blocking writes; a new
// table's, empty, are built in its transaction.
func (p *planner) indexes(r *spec.Resource) {
	have := p.cat.Indexes[r.Name]
	_, exists := p.cat.Columns[r.Name]
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
		s := Step{SQL: createIndex(p.ddl, r.Name, name, ix, ""),
			Why:    fmt.Sprintf("%s is listed or sorted by %s%s.", r.Name, strings.Join(ix.Fields, ", "), uniqueWhy(ix)),
			change: "created index", attrs: []any{"resource", r.Name, "index", name}, fails: fails}
		if p.opts.File && p.ddl.Concurrently && exists {
			// A build that fails or is interrupted leaves an invalid index behind, which the
			// next run drops before building it again.
			s.Mode = Alone
			s.SQL = "DROP INDEX CONCURRENTLY IF EXISTS " + p.ddl.Qualify(name) + ";\n" + createIndex(p.ddl, r.Name, name, ix, "CONCURRENTLY ")
			s.Why += " Built without blocking writes; CONCURRENTLY cannot run in a transaction, so this step runs alone, and drops a half-built index first so that it can run again."
		}
		p.add(s)
	}
	for _, name := range slices.Sorted(slices.Values(have)) {
		if isPlinthIndex(name) && !want[name] {
			p.add(Step{SQL: "DROP INDEX " + p.ddl.Qualify(name),
				Why:    fmt.Sprintf("%s no longer has the index %s.", r.Name, name),
				change: "dropped index", attrs: []any{"resource", r.Name, "index", name}, fails: "drop index " + name})
		}
	}
}

// uniqueWhy adds, for a unique index, that it keeps values unique.
func uniqueWhy(ix spec.Index) string {
	if ix.Unique {
		return ", and no two records may share the value"
	}
	return ""
}

// createIndex is the DDL of one index; how is "" or "CONCURRENTLY ". A non-unique index also
// covers id: lists break ties by id, so (fields, id) serves a sorted page without a sort.
func createIndex(ddl *DDL, table, name string, ix spec.Index, how string) string {
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
	return "CREATE " + unique + "INDEX " + how + sqlwhere.Quote(name) + " ON " + ddl.Qualify(table) + " (" + strings.Join(cols, ", ") + ")"
}

// orphans lists, sorted, the tables of resources the spec no longer has. Plinth's own tables
// start with "_".
func (p *planner) orphans() []string {
	var out []string
	for table := range p.cat.Columns {
		if _, ok := p.model.Resource(table); !ok && !strings.HasPrefix(table, "_") {
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
// fails. Every step runs through exec, in the caller's transaction: Apply is how a start
// migrates, where every step is InTx.
func (m *Migration) Apply(ctx context.Context, exec Exec, log *slog.Logger) error {
	for _, s := range m.Steps {
		n, err := exec(ctx, s.SQL, s.Args...)
		if err != nil {
			return fmt.Errorf("migrate: %s: %w", s.fails, err)
		}
		s.log(ctx, log, n)
	}
	for _, table := range m.Orphans {
		log.WarnContext(ctx, "table kept for a resource no longer in the spec", "table", table)
	}
	return nil
}

// log logs the change a step made, n being the rows it changed.
func (s Step) log(ctx context.Context, log *slog.Logger, n int64) {
	switch {
	case s.change == "":
	case !s.counted:
		log.InfoContext(ctx, s.change, s.attrs...)
	case n > 0:
		log.InfoContext(ctx, s.change, append(slices.Clip(s.attrs), "records", n)...)
	}
}
