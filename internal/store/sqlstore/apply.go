package sqlstore

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/plinth-dev/plinth/internal/spec"
	"github.com/plinth-dev/plinth/internal/store"
)

// Migrator plans, applies and lists the planned migrations of one database; a driver makes
// it, with its own connection, once the internal tables exist.
type Migrator struct {
	// Driver is the kind of database, which names the folder of its files.
	Driver string
	// DDL spells planned files. Their tables are named without a schema: the driver's
	// connection resolves them in its own, so that one file serves every schema.
	DDL *DDL
	// Dialect spells the statements of the internal tables.
	Dialect *Dialect
	// Tx runs fn in a write transaction: its statements commit together, or not at all.
	Tx func(ctx context.Context, fn func(Conn) error) error
	// Alone runs statements outside any transaction, each committed by itself.
	Alone Conn
	// Lock, when set, keeps every other applier out until unlock is called, across the
	// transactions of a whole run. Where it is not set, transactions run one at a time (the
	// one writer of SQLite) and each step reads, in its own, whether it is done already.
	Lock func(ctx context.Context) (unlock func(), err error)
	// Catalog reads the database's catalog in a transaction.
	Catalog func(ctx context.Context, c Conn) (*Catalog, error)
	// BatchSize is how many rows a backfill's batch changes at the most; default 1,000.
	BatchSize int
	// Now is the clock of applied_at; default time.Now.
	Now func() time.Time
}

// Progress shows how far a backfill is.
type Progress interface {
	// Start begins a backfill that walks total rows, described by what.
	Start(what string, total int64)
	// Add counts n more rows walked.
	Add(n int64)
	// Finish ends the backfill.
	Finish()
}

// State is where a planned file stands on a database.
type State string

// The states of a planned file.
const (
	Applied State = "applied" // every group has run
	Partial State = "partial" // some groups have run: an interrupted apply
	Pending State = "pending" // not started
	Edited  State = "edited"  // started or applied, but the file has changed since
	Unknown State = "unknown" // started or applied, but the folder does not have it
)

// FileState is where one planned file stands.
type FileState struct {
	Name      string
	File      *File // nil when Unknown
	State     State
	Done      int       // groups done
	AppliedAt time.Time // when Applied
}

// appliedRow is a row of the migrations table.
type appliedRow struct {
	checksum string
	done     int
	at       time.Time
}

// states reads the migrations table and says where each file stands, in the order of the
// files, then those the database has and the files do not.
func states(ctx context.Context, q Querier, d *Dialect, files []*File) ([]FileState, error) {
	rows := map[string]appliedRow{}
	var names []string
	err := q.Query(ctx, func(rs Rows) error {
		var name string
		var r appliedRow
		var at any
		return each(rs, func() {
			if at != nil {
				r.at, _ = d.ParseTime(at)
			}
			rows[name] = r
			names = append(names, name)
			r = appliedRow{}
		}, &name, &r.checksum, &r.done, &at)
	}, `SELECT "name", "checksum", "steps_done", "applied_at" FROM `+d.Table(Migrations)+` ORDER BY "name"`)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", Migrations, err)
	}
	out := make([]FileState, 0, len(files)+len(rows))
	known := map[string]bool{}
	for _, f := range files {
		known[f.Name] = true
		r, ok := rows[f.Name]
		st := FileState{Name: f.Name, File: f, State: Pending}
		switch {
		case !ok:
		case r.checksum != f.Checksum:
			st.State, st.Done = Edited, r.done
		case !r.at.IsZero():
			st.State, st.Done, st.AppliedAt = Applied, r.done, r.at
		default:
			st.State, st.Done = Partial, r.done
		}
		out = append(out, st)
	}
	for _, name := range names {
		if !known[name] {
			r := rows[name]
			out = append(out, FileState{Name: name, State: Unknown, Done: r.done, AppliedAt: r.at})
		}
	}
	return out, nil
}

// ahead refuses a database whose applied files differ from the folder's: one edited since,
// or one the folder does not have.
func ahead(sts []FileState) error {
	var problems []string
	for _, st := range sts {
		switch st.State {
		case Edited:
			problems = append(problems, st.Name+".sql has changed since it was applied; an applied migration must not change (restore it, and plan a new one)")
		case Unknown:
			problems = append(problems, st.Name+" was applied to the database, but the migrations folder does not have it")
		}
	}
	if problems != nil {
		return &store.MigrationError{Problems: problems, Need: store.NeedNewerSpec}
	}
	return nil
}

// behind refuses a database that has not applied every file, or whose applied files differ
// from the folder's (see ahead).
func behind(sts []FileState) error {
	if err := ahead(sts); err != nil {
		return err
	}
	var problems []string
	for _, st := range sts {
		switch st.State {
		case Pending:
			problems = append(problems, st.Name+" is not applied")
		case Partial:
			problems = append(problems, fmt.Sprintf("%s was interrupted after %d of its %d steps", st.Name, st.Done, len(st.File.Groups)))
		}
	}
	if problems != nil {
		return &store.MigrationError{Problems: problems, Need: store.NeedApply}
	}
	return nil
}

// Status says where each planned file stands on the database: files first, in their order,
// then what the database has applied that the files do not.
func (m *Migrator) Status(ctx context.Context, files []*File) ([]FileState, error) {
	return states(ctx, m.Alone, m.Dialect, files)
}

// Plan plans the next file: the steps from the database's schema to model's, numbered tag.
// The database must have applied every file first (a *store.MigrationError when it has not),
// or the plan would repeat theirs. Nothing is changed.
func (m *Migrator) Plan(ctx context.Context, model *spec.Model, files []*File, tag string, allowDataLoss bool) (*Migration, error) {
	sts, err := m.Status(ctx, files)
	if err != nil {
		return nil, err
	}
	if err := behind(sts); err != nil {
		return nil, err
	}
	var plan *Migration
	err = m.Tx(ctx, func(c Conn) error {
		cat, err := m.Catalog(ctx, c)
		if err != nil {
			return err
		}
		plan, err = Plan(model, cat, m.DDL, counter(ctx, c), PlanOptions{File: true, AllowDataLoss: allowDataLoss, Tag: tag})
		return err
	})
	return plan, err
}

// counter runs a count on c.
func counter(ctx context.Context, c Querier) func(q string) (int64, error) {
	return func(q string) (n int64, err error) {
		err = c.Query(ctx, func(rs Rows) error { return each(rs, func() {}, &n) }, q)
		return n, err
	}
}

// Apply runs the files that are not applied, in order, and returns the names of those it
// ran steps of. Each group of a file runs once: a transaction's statements commit with the
// record that they ran, a group that runs alone is recorded after it ran (it can run again),
// and a backfill commits batch by batch (it changes only the rows that still need it). An
// interrupted apply therefore goes on, when run again, where it stopped, and several
// appliers at once apply each group once. It refuses, running nothing, when an applied file
// has changed or is missing from files (a *store.MigrationError).
func (m *Migrator) Apply(ctx context.Context, files []*File, progress Progress) ([]string, error) {
	if m.Lock != nil {
		unlock, err := m.Lock(ctx)
		if err != nil {
			return nil, fmt.Errorf("lock: %w", err)
		}
		defer unlock()
	}
	sts, err := m.Status(ctx, files)
	if err != nil {
		return nil, err
	}
	if err := ahead(sts); err != nil {
		return nil, err
	}
	var ran []string
	for _, st := range sts {
		if st.State == Applied {
			continue
		}
		some := false
		for i, g := range st.File.Groups {
			did, err := m.group(ctx, st.File, i, g, progress)
			if err != nil {
				return ran, fmt.Errorf("%s, step %d of %d: %w", st.Name, i+1, len(st.File.Groups), err)
			}
			some = some || did
		}
		if some {
			ran = append(ran, st.Name)
		}
	}
	return ran, nil
}

// group runs group i of f unless it is done, and reports whether it ran.
func (m *Migrator) group(ctx context.Context, f *File, i int, g Group, progress Progress) (bool, error) {
	switch g.Mode {
	case Alone:
		if done, err := m.done(ctx, m.Alone, f); err != nil || done > i {
			return false, err
		}
		for _, s := range g.Statements {
			if _, err := m.Alone.Exec(ctx, s); err != nil {
				return false, err
			}
		}
	case Backfill:
		if err := m.backfill(ctx, f, i, g, progress); err != nil {
			return false, err
		}
	}
	return m.commit(ctx, f, i, func(c Conn) error {
		if g.Mode != InTx {
			return nil
		}
		for _, s := range g.Statements {
			if _, err := c.Exec(ctx, s); err != nil {
				return err
			}
		}
		return nil
	})
}

// commit runs fn and records group i of f as done, in one transaction, unless it is done
// already; it reports whether it did.
func (m *Migrator) commit(ctx context.Context, f *File, i int, fn func(Conn) error) (ran bool, err error) {
	err = m.Tx(ctx, func(c Conn) error {
		done, err := m.done(ctx, c, f)
		if err != nil || done > i {
			return err
		}
		if err := fn(c); err != nil {
			return err
		}
		ran = true
		var at any
		if i == len(f.Groups)-1 {
			at = m.Dialect.Time(cmpOrNow(m.Now)())
		}
		d := m.Dialect
		_, err = c.Exec(ctx, `INSERT INTO `+d.Table(Migrations)+` ("name", "checksum", "fingerprint", "steps_done", "applied_at") VALUES (`+params(d, 5)+`)
			ON CONFLICT ("name") DO UPDATE SET "steps_done" = excluded."steps_done", "applied_at" = excluded."applied_at"`,
			f.Name, f.Checksum, f.Fingerprint, i+1, at)
		return err
	})
	return ran, err
}

// cmpOrNow is now, or time.Now when it is nil.
func cmpOrNow(now func() time.Time) func() time.Time {
	if now == nil {
		return time.Now
	}
	return now
}

// done reads how many groups of f have run, and refuses a file that changed since.
func (m *Migrator) done(ctx context.Context, q Querier, f *File) (int, error) {
	var sum string
	n := 0
	err := q.Query(ctx, func(rs Rows) error { return each(rs, func() {}, &sum, &n) },
		`SELECT "checksum", "steps_done" FROM `+m.Dialect.Table(Migrations)+` WHERE "name" = `+m.Dialect.Placeholder(1), f.Name)
	if err == nil && sum != "" && sum != f.Checksum {
		err = fmt.Errorf("%s.sql has changed since it began to apply", f.Name)
	}
	return n, err
}

// backfill runs the UPDATE of group i of f over its table in batches of ids, each in a
// transaction that first checks the group is not done (another applier may have finished
// it), showing its progress.
func (m *Migrator) backfill(ctx context.Context, f *File, i int, g Group, progress Progress) error {
	d := m.Dialect
	var total int64
	if err := m.Alone.Query(ctx, func(rs Rows) error { return each(rs, func() {}, &total) }, "SELECT count(*) FROM "+g.Table); err != nil {
		return err
	}
	progress.Start(f.Name+": "+backfillWhat(g.Statements[0]), total)
	defer progress.Finish()
	update := rangeUpdate(g.Statements[0], d)
	batch := m.BatchSize
	if batch <= 0 {
		batch = 1000
	}
	after := ""
	for {
		finished := false
		err := m.Tx(ctx, func(c Conn) error {
			done, err := m.done(ctx, c, f)
			if err != nil || done > i {
				finished = true
				return err
			}
			var upto *string
			var n int64
			err = c.Query(ctx, func(rs Rows) error { return each(rs, func() {}, &upto, &n) },
				`SELECT max("id"), count(*) FROM (SELECT "id" FROM `+g.Table+` WHERE "id" > `+d.Placeholder(1)+
					` ORDER BY "id" LIMIT `+d.Placeholder(2)+`) AS "batch"`, after, d.Limit(batch))
			if err != nil || upto == nil {
				finished = true
				return err
			}
			if _, err := c.Exec(ctx, update, after, *upto); err != nil {
				return err
			}
			after = *upto
			progress.Add(n)
			return nil
		})
		if err != nil || finished {
			return err
		}
	}
}

// rangeUpdate is a backfill's UPDATE limited to the ids after the first parameter, up to the
// second: its WHERE clause, the last in the statement, is kept whole in parentheses.
func rangeUpdate(stmt string, d *Dialect) string {
	bounds := `"id" > ` + d.Placeholder(1) + ` AND "id" <= ` + d.Placeholder(2)
	i := strings.LastIndex(strings.ToUpper(stmt), " WHERE ")
	if i < 0 {
		return stmt + " WHERE " + bounds
	}
	return stmt[:i] + " WHERE (" + stmt[i+len(" WHERE "):] + ") AND " + bounds
}

// backfillWhat describes a backfill by what it sets: `UPDATE "t" SET "c" = …` is "t.c".
func backfillWhat(stmt string) string {
	f := strings.Fields(stmt)
	if len(f) >= 4 && strings.EqualFold(f[2], "SET") {
		return strings.ReplaceAll(f[1]+"."+f[3], `"`, "")
	}
	return "backfill"
}
