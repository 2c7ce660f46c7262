package storetest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/plinth-dev/plinth/internal/store"
	"github.com/plinth-dev/plinth/internal/store/sqlstore"
)

// RunPlanned runs the checks of planned migrations: what `plinth migrate plan` writes from a
// database and a spec, what `plinth migrate apply` does with the files, and what a start does
// beside them. Every driver must plan the same changes, keep the same records, and refuse the
// same. Files are written to a folder of the test's own, as the command writes them, and read
// back from it. Each subtest runs in parallel with databases of its own.
func RunPlanned(t *testing.T, newDB NewDatabase) {
	tests := []struct {
		name string
		fn   func(t *testing.T, db *plannedDB)
	}{
		{"FromEmpty", testPlanFromEmpty},
		{"Additive", testPlanAdditive},
		{"RenameField", testRenameField},
		{"RenameResource", testRenameResource},
		{"DropField", testDropField},
		{"Retype", testRetype},
		{"RetypeLosing", testRetypeLosing},
		{"RetypeRefused", testPlannedRetypeRefused},
		{"DropTable", testDropTable},
		{"EditedFile", testEditedFile},
		{"StartRefuses", testStartRefuses},
		{"Resume", testResume},
		{"ConcurrentAppliers", testConcurrentAppliers},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.fn(t, &plannedDB{migrationDB: &migrationDB{t: t, ctx: context.Background(), db: newDB(t)}, dir: t.TempDir(),
				fresh: func() Database { return newDB(t) }})
		})
	}
}

// plannedDB is a database, and the folder of the planned migrations of its spec.
type plannedDB struct {
	*migrationDB
	dir    string
	driver string          // known once a migrator has been opened
	fresh  func() Database // another empty database of the test's own
}

// beside is another empty database whose spec's planned files are db's.
func (db *plannedDB) beside() *plannedDB {
	return &plannedDB{migrationDB: &migrationDB{t: db.t, ctx: db.ctx, db: db.fresh()}, dir: db.dir, fresh: db.fresh}
}

// migrator opens the database for planned migrations, closed when the test ends.
func (db *plannedDB) migrator(batch int) *sqlstore.Migrator {
	db.t.Helper()
	m, closeDB, err := db.db.Migrator(batch)
	if err != nil {
		db.t.Fatalf("migrator: %v", err)
	}
	db.t.Cleanup(func() { closeDB() })
	db.driver = m.Driver
	return m
}

// files reads the planned files, as a start or the command reads them.
func (db *plannedDB) files() []*sqlstore.File {
	db.t.Helper()
	db.migrator(0)
	files, err := sqlstore.ReadFiles(db.dir, db.driver)
	if err != nil {
		db.t.Fatal(err)
	}
	return files
}

// plan plans src, allowing data loss or not, writes the file as the command does, and
// returns its text; "" when there was nothing to plan.
func (db *plannedDB) plan(src string, allowLoss bool) string {
	db.t.Helper()
	text, err := db.tryPlan(src, allowLoss)
	if err != nil {
		db.t.Fatalf("plan: %v", err)
	}
	return text
}

// tryPlan is plan, returning its error.
func (db *plannedDB) tryPlan(src string, allowLoss bool) (string, error) {
	db.t.Helper()
	files := db.files()
	m := db.migrator(0)
	model := compileSpec(db.t, src)
	next := sqlstore.NextName(files, "")
	plan, err := m.Plan(db.ctx, model, files, strings.TrimSuffix(next, "_"), allowLoss)
	if err != nil || len(plan.Steps) == 0 {
		return "", err
	}
	path, err := plan.WriteFile(db.dir, sqlstore.Header{Name: next + plan.Slug(), Driver: m.Driver,
		Fingerprint: sqlstore.Fingerprint(model), Spec: "plinth.yaml"})
	if err != nil {
		db.t.Fatal(err)
	}
	text, err := os.ReadFile(path)
	if err != nil {
		db.t.Fatal(err)
	}
	return string(text), nil
}

// apply applies the pending files, in backfills of batch rows, and returns the names of
// those it ran.
func (db *plannedDB) apply(batch int) []string {
	db.t.Helper()
	ran, err := db.tryApply(batch)
	if err != nil {
		db.t.Fatalf("apply: %v", err)
	}
	return ran
}

func (db *plannedDB) tryApply(batch int) ([]string, error) {
	files := db.files()
	return db.migrator(batch).Apply(db.ctx, files, &countingProgress{})
}

// openPlanned opens the database with src and its planned files, taking no change itself,
// runs fn and closes it; it returns the changes logged.
func (db *plannedDB) openPlanned(src string, fn func(f *fixture)) []string {
	db.t.Helper()
	m := compileSpec(db.t, src)
	log := &changeLog{}
	s, err := db.db.Open(m, OpenOptions{Log: slog.New(log), Planned: db.files(), PlannedOnly: true})
	if err != nil {
		db.t.Fatalf("open: %v", err)
	}
	defer s.Close()
	fn(&fixture{t: db.t, ctx: db.ctx, store: s, model: m})
	return log.changes()
}

// startRefused opens the database with src and its planned files, which it must refuse
// with need; it returns the problems.
func (db *plannedDB) startRefused(src string, plannedOnly bool, need store.MigrationNeed) []string {
	db.t.Helper()
	s, err := db.db.Open(compileSpec(db.t, src), OpenOptions{Log: slog.New(slog.DiscardHandler), Planned: db.files(), PlannedOnly: plannedOnly})
	if err == nil {
		s.Close()
		db.t.Fatal("the start was taken, want it refused")
	}
	return wantNeed(db.t, err, need)
}

// wantNeed checks that err is a *store.MigrationError of need, and returns its problems.
func wantNeed(t *testing.T, err error, need store.MigrationNeed) []string {
	t.Helper()
	var me *store.MigrationError
	if !errors.As(err, &me) || me.Need != need {
		t.Fatalf("err = %v, want a *store.MigrationError of need %d", err, need)
	}
	return me.Problems
}

// wantText checks that a planned file says each of want, in order.
func wantText(t *testing.T, text string, want ...string) {
	t.Helper()
	rest := text
	for _, w := range want {
		i := strings.Index(rest, w)
		if i < 0 {
			t.Fatalf("the planned file lacks, or has out of order, %q:\n%s", w, text)
		}
		rest = rest[i+len(w):]
	}
}

// countingProgress counts what a backfill reports.
type countingProgress struct {
	mu           sync.Mutex
	starts, rows int64
}

func (p *countingProgress) Start(string, int64) { p.mu.Lock(); p.starts++; p.mu.Unlock() }
func (p *countingProgress) Add(n int64)         { p.mu.Lock(); p.rows += n; p.mu.Unlock() }
func (p *countingProgress) Finish()             {}

// seedPlanned plans and applies migrationSpec on the empty database, and stores recs.
func (db *plannedDB) seedPlanned(recs ...row) {
	db.t.Helper()
	db.plan(migrationSpec, false)
	db.apply(0)
	db.openPlanned(migrationSpec, func(f *fixture) { f.insert(f.res("things"), recs...) })
}

// testPlanFromEmpty plans a spec on an empty database: one file that creates the tables and
// indexes and records the fields, which applies once, after which the spec has nothing left
// to plan, a start with the files takes the database as it is, and the file lists as applied.
func testPlanFromEmpty(t *testing.T, db *plannedDB) {
	text := db.plan(migrationSpec, false)
	wantText(t, text, "-- Plinth migration 0001_create_things, for "+db.driver+".",
		"-- plinth:driver "+db.driver, "-- plinth:fingerprint ", "-- plinth:transaction",
		"-- things is a new resource: its table.", `CREATE TABLE "things"`, `INSERT INTO "_plinth_fields"`)
	if strings.Contains(text, `"`+"t_") || strings.Contains(text, `"public".`) {
		t.Errorf("a planned file names its tables without a schema:\n%s", text)
	}
	if got := db.apply(0); !slices.Equal(got, []string{"0001_create_things"}) {
		t.Errorf("applied %v, want the one file", got)
	}
	if got := db.apply(0); len(got) != 0 {
		t.Errorf("the second apply ran %v, want nothing", got)
	}
	if text := db.plan(migrationSpec, false); text != "" {
		t.Errorf("the applied spec plans again:\n%s", text)
	}
	a := newRecord("a", baseTime, row{"title": "first"})
	wantChanges(t, "a start after the plan", db.openPlanned(migrationSpec, func(f *fixture) { f.insert(f.res("things"), a) }))
	sts, err := db.migrator(0).Status(db.ctx, db.files())
	if err != nil {
		t.Fatal(err)
	}
	if len(sts) != 1 || sts[0].State != sqlstore.Applied || sts[0].AppliedAt.IsZero() || sts[0].Done != len(sts[0].File.Groups) {
		t.Errorf("status = %+v, want the file applied", sts)
	}
}

// testPlanAdditive adds a field with a literal default, an index and a resource: the file
// fills the default in a backfill and builds the index (concurrently, alone, where the
// database can), and a start takes the result without a change. Without the plan, a start
// that takes planned migrations only refuses, saying what it would change.
func testPlanAdditive(t *testing.T, db *plannedDB) {
	a, b := newRecord("a", baseTime, row{"title": "first"}), newRecord("b", baseTime, nil)
	db.seedPlanned(a, b)
	grown := strings.Replace(migrationSpec, "count: {type: integer}", "count: {type: integer}\n      size: {type: integer, default: 3}", 1) +
		"    indexes: [[count]]\n  more:\n    fields:\n      x: {type: string}\n"
	wantProblems(t, db.startRefused(grown, true, store.NeedPlan), "added column resource=things field=size", "created table resource=more",
		"filled null values with the default resource=things field=size", "created index resource=things index=ix_things_count",
		"created index resource=more index=ix_more_created_at", "this database takes planned migrations only")
	text := db.plan(grown, false)
	wantText(t, text, `ADD COLUMN "size"`, `CREATE TABLE "more"`, "-- plinth:backfill ", `UPDATE "things" SET "size" = 3 WHERE "size" IS NULL`)
	if db.migrator(0).DDL.Concurrently {
		wantText(t, text, "-- plinth:alone", `DROP INDEX CONCURRENTLY IF EXISTS "ix_things_count"`, `CREATE INDEX CONCURRENTLY "ix_things_count"`)
	}
	db.apply(1)
	changes := db.openPlanned(grown, func(f *fixture) {
		things := f.res("things")
		checkRecord(t, "record a", expected(things, a, row{"size": int64(3)}), f.get(things, "a"))
		checkRecord(t, "record b", expected(things, b, row{"size": int64(3)}), f.get(things, "b"))
	})
	wantChanges(t, "a start after the plan", changes)
}

// testRenameField renames a plain field and a ref field with its index: a start refuses the
// rename until it is planned; the plan renames the columns, and the records keep their values
// under the new names, the reference still holding.
func testRenameField(t *testing.T, db *plannedDB) {
	withOwner := migrationSpec + "      owner: {type: ref, resource: owners}\n  owners:\n    fields:\n      name: {type: string}\n"
	db.plan(withOwner, false)
	db.apply(0)
	a := newRecord("a", baseTime, row{"title": "first", "count": int64(2), "owner": "o"})
	db.openPlanned(withOwner, func(f *fixture) {
		f.insert(f.res("owners"), newRecord("o", baseTime, nil))
		f.insert(f.res("things"), a)
	})
	renamed := strings.NewReplacer("title: {type: string}", "name: {type: string, renamed_from: title}",
		"owner: {type: ref, resource: owners}", "maker: {type: ref, resource: owners, renamed_from: owner}").Replace(withOwner)
	wantProblems(t, db.startRefused(renamed, false, store.NeedPlan), "renamed column resource=things field=name from=title",
		"renamed column resource=things field=maker from=owner", "created index resource=things index=ix_things_maker",
		"dropped index resource=things index=ix_things_owner")
	text := db.plan(renamed, false)
	wantText(t, text, "0002_rename_things_name", `RENAME COLUMN "title" TO "name"`, `RENAME COLUMN "owner" TO "maker"`,
		`CREATE INDEX`, `"ix_things_maker"`, `DROP INDEX`, `"ix_things_owner"`)
	db.apply(0)
	db.openPlanned(renamed, func(f *fixture) {
		things := f.res("things")
		checkRecord(t, "record a", expected(things, newRecord("a", baseTime, row{"name": "first", "count": int64(2), "maker": "o"}), nil), f.get(things, "a"))
		f.conflicts("a thing of a missing maker", "", func(tx store.Tx) error {
			return tx.Insert(f.ctx, things, store.FromMap(newRecord("b", baseTime, row{"maker": "missing"})))
		})
	})
	if text := db.plan(renamed, false); text != "" {
		t.Errorf("the renamed spec plans again:\n%s", text)
	}
}

// testRenameResource renames a resource that another refers to: its table, records and
// constraints take the new name, the refs to it keep their values and their signature
// follows, so nothing reads as retyped.
func testRenameResource(t *testing.T, db *plannedDB) {
	src := migrationSpec + "      owner: {type: ref, resource: owners}\n  owners:\n    fields:\n      name: {type: string, unique: true}\n"
	db.plan(src, false)
	db.apply(0)
	o := newRecord("o", baseTime, row{"name": "ann"})
	db.openPlanned(src, func(f *fixture) {
		f.insert(f.res("owners"), o)
		f.insert(f.res("things"), newRecord("a", baseTime, row{"owner": "o"}))
	})
	renamed := strings.NewReplacer("resource: owners}", "resource: people}", "  owners:\n", "  people:\n    renamed_from: owners\n").Replace(src)
	text := db.plan(renamed, false)
	wantText(t, text, "0002_rename_people", `ALTER TABLE "owners" RENAME TO "people"`, `SET "signature" = replace("signature", 'ref(owners)', 'ref(people)')`)
	db.apply(0)
	db.openPlanned(renamed, func(f *fixture) {
		people := f.res("people")
		checkRecord(t, "record o", expected(people, o, nil), f.get(people, "o"))
		f.conflicts("delete of a referenced person", "referenced", func(tx store.Tx) error { return tx.Delete(f.ctx, people, "o") })
		f.conflicts("a second person named ann", "unique", func(tx store.Tx) error {
			return tx.Insert(f.ctx, people, store.FromMap(newRecord("p", baseTime, row{"name": "ann"})))
		})
	})
	if text := db.plan(renamed, false); text != "" {
		t.Errorf("the renamed spec plans again:\n%s", text)
	}
	// A new resource may take the old name: nothing of the old table holds it.
	db.plan(strings.Replace(renamed, "    renamed_from: owners\n", "", 1)+"  owners:\n    fields:\n      y: {type: string}\n", false)
	db.apply(0)
}

// testDropField removes a field: refused as data loss unless allowed; allowed, the field is
// retired, and its column stays, so that both the new spec and the old one (a replica not yet
// updated) start on the database; a later plan allowing data loss drops it, after which the
// old spec is refused.
func testDropField(t *testing.T, db *plannedDB) {
	a := newRecord("a", baseTime, row{"title": "first", "count": int64(3)})
	db.seedPlanned(a)
	dropped := strings.Replace(migrationSpec, "      count: {type: integer}\n", "", 1)
	_, err := db.tryPlan(dropped, false)
	wantProblems(t, wantNeed(t, err, store.NeedDataLoss), "things.count has data but is no longer in the spec")
	text := db.plan(dropped, true)
	wantText(t, text, "0002_retire_things_count", "things.count is retired", `('things', 'count', 'integer', FALSE, TRUE)`)
	if strings.Contains(text, "DROP COLUMN") {
		t.Errorf("the first plan drops the column:\n%s", text)
	}
	db.apply(0)
	db.openPlanned(dropped, func(f *fixture) {
		things := f.res("things")
		checkRecord(t, "record a", expected(things, newRecord("a", baseTime, row{"title": "first"}), nil), f.get(things, "a"))
		f.insert(things, newRecord("b", baseTime, row{"title": "second"}))
	})
	db.openPlanned(migrationSpec, func(f *fixture) {
		things := f.res("things")
		checkRecord(t, "record a, by the old spec", expected(things, a, nil), f.get(things, "a"))
	})
	wantText(t, db.plan(dropped, true), "0003_drop_things_count", `DROP COLUMN "count"`, `DELETE FROM "_plinth_fields"`)
	db.apply(0)
	db.openPlanned(dropped, func(*fixture) {})
	if text := db.plan(dropped, true); text != "" {
		t.Errorf("the dropped field plans again:\n%s", text)
	}
	_, err = db.tryPlan(migrationSpec, false)
	if err != nil {
		t.Fatalf("the field back: %v", err)
	}
}

// testRetype turns an indexed integer into a string with data loss allowed: expand (a new
// column), backfill in batches, switch (the rows written since converted again, the columns
// swapped, the index built again), and later contract. Every value carries over, the same on
// every driver.
func testRetype(t *testing.T, db *plannedDB) {
	indexed := migrationSpec + "    indexes: [[count]]\n"
	db.plan(indexed, false)
	db.apply(0)
	var recs []row
	for i := range 25 {
		recs = append(recs, newRecord(fmt.Sprintf("r%02d", i), baseTime, row{"count": int64(i * 10)}))
	}
	recs = append(recs, newRecord("z", baseTime, nil))
	db.openPlanned(indexed, func(f *fixture) { f.insert(f.res("things"), recs...) })
	retyped := strings.Replace(indexed, "count: {type: integer}", "count: {type: string}", 1)
	_, err := db.tryPlan(retyped, false)
	wantProblems(t, wantNeed(t, err, store.NeedDataLoss), "things.count holds integer values but the spec now says string")
	text := db.plan(retyped, true)
	wantText(t, text, "0002_retype_things_count", `ADD COLUMN "_new_count"`, "-- plinth:backfill ",
		`WHERE "_new_count" IS NULL AND "count" IS NOT NULL`, "-- plinth:transaction",
		`IS DISTINCT FROM`, `DROP INDEX`, `RENAME COLUMN "count" TO "_old_count_0002"`, `RENAME COLUMN "_new_count" TO "count"`,
		`"ix_things_count"`, `('things', 'count', 'string', FALSE, FALSE)`)
	files := db.files()
	progress := &countingProgress{}
	if _, err := db.migrator(7).Apply(db.ctx, files, progress); err != nil {
		t.Fatal(err)
	}
	if progress.starts != 1 || progress.rows != int64(len(recs)) {
		t.Errorf("the backfill reported %d starts and %d rows, want 1 and %d", progress.starts, progress.rows, len(recs))
	}
	db.openPlanned(retyped, func(f *fixture) {
		things := f.res("things")
		for _, r := range recs {
			want := row{"count": nil}
			if r["count"] != nil {
				want["count"] = fmt.Sprint(r["count"])
			}
			checkRecord(t, "record "+r["id"].(string), expected(things, r, want), f.get(things, r["id"].(string)))
		}
	})
	wantText(t, db.plan(retyped, true), `DROP COLUMN "_old_count_0002"`)
	db.apply(0)
	if text := db.plan(retyped, true); text != "" {
		t.Errorf("the retyped field plans again:\n%s", text)
	}
}

// testRetypeLosing retypes a string to an integer, which no cast carries exactly on every
// database: the new column starts empty (a required field would be refused), and the old
// values stay in the kept column until a later plan drops it.
func testRetypeLosing(t *testing.T, db *plannedDB) {
	a := newRecord("a", baseTime, row{"title": "red", "count": int64(3)})
	db.seedPlanned(a)
	required := strings.Replace(migrationSpec, "title: {type: string}", "title: {type: integer, required: true}", 1)
	_, err := db.tryPlan(required, true)
	wantProblems(t, wantNeed(t, err, store.NeedChange), "things.title is new and required, but it has no value in the 1 existing record")
	text := db.plan(strings.Replace(migrationSpec, "title: {type: string}", "title: {type: integer}", 1), true)
	if strings.Contains(text, "backfill") {
		t.Errorf("a retype that carries no value backfills:\n%s", text)
	}
	db.apply(0)
	db.openPlanned(strings.Replace(migrationSpec, "title: {type: string}", "title: {type: integer}", 1), func(f *fixture) {
		things := f.res("things")
		checkRecord(t, "record a", expected(things, newRecord("a", baseTime, row{"count": int64(3)}), nil), f.get(things, "a"))
	})
}

// testPlannedRetypeRefused checks what a retype never does, data loss allowed or not: a ref
// keeps its target, and a string becomes an enum only when its values are all the enum's;
// when they are, they stay where they are.
func testPlannedRetypeRefused(t *testing.T, db *plannedDB) {
	src := migrationSpec + "      other: {type: ref, resource: things}\n"
	db.plan(src, false)
	db.apply(0)
	db.openPlanned(src, func(f *fixture) {
		f.insert(f.res("things"), newRecord("a", baseTime, row{"title": "red"}), newRecord("b", baseTime, row{"title": "blue"}))
	})
	pointing := strings.Replace(src, "resource: things}", "resource: others}", 1) + "  others:\n    fields:\n      x: {type: string}\n"
	_, err := db.tryPlan(pointing, true)
	wantProblems(t, wantNeed(t, err, store.NeedChange), "things.other holds ref(things) values but the spec now says ref(others): a reference cannot be retyped")
	enum := strings.Replace(src, "title: {type: string}", "title: {type: enum, values: [red, green]}", 1)
	_, err = db.tryPlan(enum, true)
	wantProblems(t, wantNeed(t, err, store.NeedChange), "things.title becomes an enum, but 1 record holds a value that is not among its values")
	enum = strings.Replace(enum, "[red, green]", "[red, green, blue]", 1)
	text := db.plan(enum, true)
	if strings.Contains(text, "ADD COLUMN") || !strings.Contains(text, `('things', 'title', 'enum', FALSE, FALSE)`) {
		t.Errorf("a string becoming an enum is not kept in place:\n%s", text)
	}
	db.apply(0)
	db.openPlanned(enum, func(f *fixture) {
		things := f.res("things")
		checkRecord(t, "record b", expected(things, newRecord("b", baseTime, row{"title": "blue"}), nil), f.get(things, "b"))
	})
}

// testDropTable removes two resources that refer to each other: their tables are kept,
// noted, until a plan allowing data loss drops them, records and all.
func testDropTable(t *testing.T, db *plannedDB) {
	extras := migrationSpec + "  extras:\n    fields:\n      pal: {type: ref, resource: pals}\n  pals:\n    fields:\n      back: {type: ref, resource: extras}\n"
	db.plan(extras, false)
	db.apply(0)
	db.openPlanned(extras, func(f *fixture) {
		f.insert(f.res("extras"), newRecord("e", baseTime, nil))
		f.insert(f.res("pals"), newRecord("p", baseTime, row{"back": "e"}))
		f.write(func(tx store.Tx) error {
			return tx.Update(f.ctx, f.res("extras"), store.FromMap(newRecord("e", baseTime, row{"pal": "p", "version": int64(2)})), 1)
		})
	})
	if text := db.plan(migrationSpec, false); text != "" {
		t.Errorf("removing resources plans without data loss allowed:\n%s", text)
	}
	text := db.plan(migrationSpec, true)
	wantText(t, text, "0002_drop_tables", "No longer in the spec: extras, pals.", `DELETE FROM "_plinth_fields" WHERE "resource" IN ('extras', 'pals')`)
	db.apply(0)
	db.openPlanned(migrationSpec, func(*fixture) {})
	if text := db.plan(migrationSpec, true); text != "" {
		t.Errorf("the dropped tables plan again:\n%s", text)
	}
	db.plan(extras, false)
	db.apply(0)
	db.openPlanned(extras, func(f *fixture) { f.mustBeMissing(f.res("extras"), "e") })
}

// testEditedFile edits an applied file: apply, plan and a start all refuse, naming it; a
// file the folder lost is refused the same way, as a database ahead of its spec.
func testEditedFile(t *testing.T, db *plannedDB) {
	db.seedPlanned()
	path := filepath.Join(db.dir, db.driver, "0001_create_things.sql")
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, append(src, []byte("-- a reviewer's afterthought\n")...), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = db.tryApply(0)
	wantProblems(t, wantNeed(t, err, store.NeedNewerSpec), "0001_create_things.sql has changed since it was applied")
	_, err = db.tryPlan(migrationSpec, false)
	wantNeed(t, err, store.NeedNewerSpec)
	db.startRefused(migrationSpec, false, store.NeedNewerSpec)
	if err := os.WriteFile(path, []byte(strings.ReplaceAll(string(src), "\n", "\r\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	db.openPlanned(migrationSpec, func(*fixture) {}) // line ends do not count
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	wantProblems(t, db.startRefused(migrationSpec, false, store.NeedNewerSpec), "0001_create_things was applied to the database, but the migrations folder does not have it")
}

// testStartRefuses checks a start beside planned files: pending files refuse it, saying to
// apply them; a database without them, but whose spec only adds, starts and migrates unless
// it takes planned migrations only.
func testStartRefuses(t *testing.T, db *plannedDB) {
	db.plan(migrationSpec, false)
	wantProblems(t, db.startRefused(migrationSpec, false, store.NeedApply), "0001_create_things is not applied")
	db.apply(0)
	grown := migrationSpec + "      note: {type: string}\n"
	wantProblems(t, db.startRefused(grown, true, store.NeedPlan), "added column resource=things field=note",
		"this database takes planned migrations only")
	s, err := db.db.Open(compileSpec(t, grown), OpenOptions{Log: slog.New(slog.DiscardHandler), Planned: db.files()})
	if err != nil {
		t.Fatalf("an additive start with auto-migrate: %v", err)
	}
	s.Close()
}

// testResume interrupts an apply at a failing step (a unique index on duplicate values):
// the steps before it stay done, the file is partial, a start refuses, and once the data is
// fixed the apply goes on from the failed step, running nothing twice.
func testResume(t *testing.T, db *plannedDB) {
	recs := []row{newRecord("a", baseTime, row{"title": "same"}), newRecord("b", baseTime, row{"title": "same"})}
	db.seedPlanned(recs...)
	grown := strings.Replace(migrationSpec, "title: {type: string}", "title: {type: string, unique: true}", 1) +
		"      note: {type: string, default: n}\n"
	db.plan(grown, false)
	if _, err := db.tryApply(1); err == nil || !strings.Contains(err.Error(), "0002_") {
		t.Fatalf("apply = %v, want the unique index to fail", err)
	}
	sts, err := db.migrator(0).Status(db.ctx, db.files())
	if err != nil {
		t.Fatal(err)
	}
	if last := sts[len(sts)-1]; last.State != sqlstore.Partial || last.Done == 0 {
		t.Fatalf("status = %+v, want the second file partial", last)
	}
	wantProblems(t, db.startRefused(grown, false, store.NeedApply), "was interrupted after")
	db.exec(`UPDATE "things" SET "title" = 'other' WHERE "id" = 'b'`)
	db.exec(`UPDATE "things" SET "note" = 'kept' WHERE "id" = 'a'`) // a second fill would not touch it
	db.apply(1)
	db.openPlanned(grown, func(f *fixture) {
		things := f.res("things")
		checkRecord(t, "record a", expected(things, recs[0], row{"note": "kept"}), f.get(things, "a"))
		checkRecord(t, "record b", expected(things, recs[1], row{"title": "other", "note": "n"}), f.get(things, "b"))
	})
}

// testConcurrentAppliers runs several appliers at once on one database, each with its own
// connection, over files planned on another (a retype with its backfill, then a new
// resource): every step runs once, whoever runs it, and the values are right.
func testConcurrentAppliers(t *testing.T, db *plannedDB) {
	number := strings.Replace(migrationSpec, "count: {type: integer}", "count: {type: number}", 1)
	final := number + "  more:\n    fields:\n      x: {type: string}\n"
	planner := db.beside()
	planner.plan(migrationSpec, false)
	planner.apply(0)
	planner.plan(number, true)
	planner.apply(0)
	planner.plan(final, false)
	files := db.files()
	if len(files) != 3 {
		t.Fatalf("planned %d files, want 3", len(files))
	}
	if _, err := db.migrator(0).Apply(db.ctx, files[:1], &countingProgress{}); err != nil {
		t.Fatal(err)
	}
	var recs []row
	for i := range 40 {
		recs = append(recs, newRecord(fmt.Sprintf("r%02d", i), baseTime, row{"count": int64(i)}))
	}
	seed := compileSpec(t, migrationSpec)
	s, err := db.db.Open(seed, OpenOptions{Log: slog.New(slog.DiscardHandler), Planned: files[:1], PlannedOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, ctx: db.ctx, store: s, model: seed}
	f.insert(f.res("things"), recs...)
	s.Close()
	ms := make([]*sqlstore.Migrator, 4)
	for i := range ms {
		ms[i] = db.migrator(3)
	}
	ran := make([][]string, len(ms))
	var wg sync.WaitGroup
	for i, m := range ms {
		wg.Go(func() {
			var err error
			if ran[i], err = m.Apply(db.ctx, files, &countingProgress{}); err != nil {
				t.Errorf("applier %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	all := slices.Concat(ran...)
	for _, f := range files[1:] {
		if !slices.Contains(all, f.Name) {
			t.Errorf("no applier applied %s: %v", f.Name, ran)
		}
	}
	sts, err := ms[0].Status(db.ctx, files)
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range sts {
		if st.State != sqlstore.Applied || st.Done != len(st.File.Groups) {
			t.Errorf("%s: %s after %d of %d steps", st.Name, st.State, st.Done, len(st.File.Groups))
		}
	}
	db.openPlanned(final, func(f *fixture) {
		things := f.res("things")
		for _, r := range recs {
			checkRecord(t, "record "+r["id"].(string), expected(things, r, row{"count": float64(r["count"].(int64))}), f.get(things, r["id"].(string)))
		}
	})
}
