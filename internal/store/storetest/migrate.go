package storetest

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/plinth-dev/plinth/internal/fault"
	"github.com/plinth-dev/plinth/internal/query"
	"github.com/plinth-dev/plinth/internal/spec"
	"github.com/plinth-dev/plinth/internal/store"
	"github.com/plinth-dev/plinth/internal/store/sqlstore"
)

// ClosingStore is a store the migration suite closes before it opens the database again.
type ClosingStore interface {
	store.Store
	Close() error
}

// Database is one database of the migration suite: every call of its functions reaches the
// same one.
type Database struct {
	// Open opens the database migrated to model, as o says. It returns the driver's refusal
	// when the database cannot take the model.
	Open func(model *spec.Model, o OpenOptions) (ClosingStore, error)
	// Migrator opens the database for planned migrations, whose backfills change batch rows
	// at a time.
	Migrator func(batch int) (m *sqlstore.Migrator, close func() error, err error)
	// Exec runs a statement on the database behind Plinth's back, as an older version of
	// Plinth could have left it. Tables are named unqualified.
	Exec func(stmt string) error
}

// OpenOptions are how a driver opens a database: its log, and the planned migrations.
type OpenOptions struct {
	Log         *slog.Logger
	Planned     []*sqlstore.File
	PlannedOnly bool
}

// NewDatabase returns a new, empty database of t's own.
type NewDatabase = func(t *testing.T) Database

// RunMigrations runs the checks of what opening a database again with a changed spec does:
// every driver must plan, fill and refuse the same, log the same changes, and leave the same
// records. Each subtest runs in parallel with databases of its own.
func RunMigrations(t *testing.T, newDB NewDatabase) {
	tests := []struct {
		name string
		fn   func(t *testing.T, newDB func() *migrationDB)
	}{
		{"NewResources", testNewResources},
		{"NewOptionalField", testNewOptionalField},
		{"NewFieldsWithLiteralDefaults", testNewLiteralDefaults},
		{"NewFieldsWithoutValue", testNewFieldsWithoutValue},
		{"FieldBecomesRequired", testBecomesRequired},
		{"FieldGainsLiteralDefault", testGainsLiteralDefault},
		{"FieldNullableAgain", testNullableAgain},
		{"KnownNoNulls", testKnownNoNulls},
		{"TraceColumnAdded", testTraceColumnAdded},
		{"Indexes", testIndexes},
		{"UniqueOnDuplicates", testUniqueOnDuplicates},
		{"RefAdded", testRefAdded},
		{"RetypeRefused", testRetypeRefused},
		{"DropRefused", testDropRefused},
		{"ResourceRemoved", testResourceRemoved},
		{"ProblemsInOrder", testProblemsInOrder},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.fn(t, func() *migrationDB { return &migrationDB{t: t, ctx: context.Background(), db: newDB(t)} })
		})
	}
}

// migrationSpec is the spec most migration checks start from: one resource, every field
// optional.
const migrationSpec = `
plinth: 1
name: migrations
resources:
  things:
    fields:
      title: {type: string}
      count: {type: integer}
`

// migrationDB is a database that a check opens with one spec after another.
type migrationDB struct {
	t   *testing.T
	ctx context.Context
	db  Database
}

func compileSpec(t *testing.T, src string) *spec.Model {
	t.Helper()
	m, diags := spec.Compile("migrations.yaml", []byte(src))
	if diags.HasErrors() {
		t.Fatalf("spec: %s", diags.Error())
	}
	return m
}

// open opens the database with src, which it must accept, runs fn and closes it. It returns
// the changes the migration logged (see changeLog).
func (db *migrationDB) open(src string, fn func(f *fixture)) []string {
	db.t.Helper()
	m := compileSpec(db.t, src)
	log := &changeLog{}
	s, err := db.db.Open(m, OpenOptions{Log: slog.New(log)})
	if err != nil {
		db.t.Fatalf("open: %v", err)
	}
	defer s.Close()
	fn(&fixture{t: db.t, ctx: db.ctx, store: s, model: m})
	return log.changes()
}

// failed opens the database with src, which it must not take, and returns the error.
func (db *migrationDB) failed(src string) error {
	db.t.Helper()
	s, err := db.db.Open(compileSpec(db.t, src), OpenOptions{Log: slog.New(slog.DiscardHandler)})
	if err == nil {
		s.Close()
		db.t.Fatal("the migration was applied, want it refused")
	}
	return err
}

// refused opens the database with src, which it must refuse, and returns the problems.
func (db *migrationDB) refused(src string) []string {
	db.t.Helper()
	err := db.failed(src)
	var me *store.MigrationError
	if !errors.As(err, &me) {
		db.t.Fatalf("err = %v, want a *store.MigrationError", err)
	}
	return me.Problems
}

// exec runs a statement behind Plinth's back.
func (db *migrationDB) exec(stmt string) {
	db.t.Helper()
	if err := db.db.Exec(stmt); err != nil {
		db.t.Fatalf("%s: %v", stmt, err)
	}
}

// seed opens the database with migrationSpec and stores the records.
func (db *migrationDB) seed(recs ...row) {
	db.t.Helper()
	db.open(migrationSpec, func(f *fixture) { f.insert(f.res("things"), recs...) })
}

// unchanged checks that the database is as seed left it: it takes migrationSpec without a
// change (no column, table or index was added or dropped), and still holds want.
func (db *migrationDB) unchanged(want ...row) {
	db.t.Helper()
	changes := db.open(migrationSpec, func(f *fixture) {
		things := f.res("things")
		for _, w := range want {
			checkRecord(db.t, "record "+w["id"].(string), expected(things, w, nil), f.get(things, w["id"].(string)))
		}
	})
	wantChanges(db.t, "reopening with the first spec", changes)
}

// changeLog is a slog.Handler that keeps the changes a migration logs, a line each: the
// message and its attributes ("created table resource=things").
type changeLog struct {
	mu    sync.Mutex
	lines []string
}

// changeVerbs start the messages of changes; anything else a driver logs is left out.
var changeVerbs = []string{"created ", "added ", "dropped ", "filled ", "table kept "}

func (l *changeLog) Enabled(context.Context, slog.Level) bool { return true }
func (l *changeLog) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *changeLog) WithGroup(string) slog.Handler            { return l }
func (l *changeLog) Handle(_ context.Context, r slog.Record) error {
	if !slices.ContainsFunc(changeVerbs, func(v string) bool { return strings.HasPrefix(r.Message, v) }) {
		return nil
	}
	line := r.Message
	r.Attrs(func(a slog.Attr) bool {
		line += " " + a.String()
		return true
	})
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, line)
	return nil
}

func (l *changeLog) changes() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.lines)
}

// onlySomeDrivers are changes that not every driver logs: PostgreSQL creates its schema, and
// adds foreign keys apart from their columns.
var onlySomeDrivers = []string{"created schema ", "created foreign key "}

// wantChanges checks that a migration logged exactly the changes want, in order, leaving out
// those of onlySomeDrivers unless it should have changed nothing.
func wantChanges(t *testing.T, what string, got []string, want ...string) {
	t.Helper()
	if len(want) > 0 {
		got = slices.DeleteFunc(got, func(line string) bool {
			return slices.ContainsFunc(onlySomeDrivers, func(p string) bool { return strings.HasPrefix(line, p) })
		})
	}
	if !slices.Equal(got, want) {
		t.Errorf("%s: the migration logged\n  %s\nwant\n  %s", what, strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

// conflicts checks that fn, run in a write transaction, fails with a Conflict of the type typ
// ("" for any).
func (f *fixture) conflicts(what, typ string, fn func(tx store.Tx) error) {
	f.t.Helper()
	wantFault(f.t, what, f.store.Write(f.ctx, fn), fault.Conflict, typ)
}

// wantProblems checks that the problems are exactly those that contain each of want, in order.
func wantProblems(t *testing.T, problems []string, want ...string) {
	t.Helper()
	ok := len(problems) == len(want)
	for i := 0; ok && i < len(want); i++ {
		ok = strings.Contains(problems[i], want[i])
	}
	if !ok {
		t.Errorf("problems:\n  %s\nwant, in order, ones that contain:\n  %s", strings.Join(problems, "\n  "), strings.Join(want, "\n  "))
	}
}

// testNewResources adds resources that refer to each other, one to a resource declared after
// it, and to the existing one: their tables, then their indexes, are created, the references
// hold and unique fields are unique. Opening again with the same spec changes nothing.
func testNewResources(t *testing.T, newDB func() *migrationDB) {
	db := newDB()
	a := newRecord("a", baseTime, row{"title": "first"})
	db.seed(a)
	grown := migrationSpec + `  parts:
    fields:
      thing: {type: ref, resource: things}
      maker: {type: ref, resource: makers}
  makers:
    fields:
      name: {type: string, unique: true}
`
	changes := db.open(grown, func(f *fixture) {
		parts, makers := f.res("parts"), f.res("makers")
		f.insert(makers, newRecord("m", baseTime, row{"name": "acme"}))
		f.insert(parts, newRecord("p", baseTime, row{"thing": "a", "maker": "m"}))
		f.conflicts("a part of a missing maker", "", func(tx store.Tx) error {
			return tx.Insert(f.ctx, parts, store.FromMap(newRecord("q", baseTime, row{"maker": "missing"})))
		})
		f.conflicts("delete of a maker with parts", "referenced", func(tx store.Tx) error { return tx.Delete(f.ctx, makers, "m") })
		f.conflicts("a second maker of the same name", "unique", func(tx store.Tx) error {
			return tx.Insert(f.ctx, makers, store.FromMap(newRecord("n", baseTime, row{"name": "acme"})))
		})
	})
	wantChanges(t, "new resources", changes,
		"created table resource=parts",
		"created table resource=makers",
		"created index resource=parts index=ix_parts_thing",
		"created index resource=parts index=ix_parts_maker",
		"created index resource=parts index=ix_parts_created_at",
		"created index resource=makers index=ux_makers_name",
		"created index resource=makers index=ix_makers_created_at")
	wantChanges(t, "the same spec again", db.open(grown, func(*fixture) {}))
}

// testNewOptionalField adds an optional field without a default to a table with records: it
// is null in each, and takes values from then on.
func testNewOptionalField(t *testing.T, newDB func() *migrationDB) {
	db := newDB()
	a := newRecord("a", baseTime, row{"title": "first", "count": int64(1)})
	db.seed(a)
	grown := migrationSpec + "      note: {type: string}\n"
	changes := db.open(grown, func(f *fixture) {
		things := f.res("things")
		checkRecord(t, "record a", expected(things, a, nil), f.get(things, "a"))
		b := newRecord("b", baseTime, row{"note": "noted"})
		f.insert(things, b)
		checkRecord(t, "record b", expected(things, b, nil), f.get(things, "b"))
	})
	wantChanges(t, "a new optional field", changes, "added column resource=things field=note")
}

// testNewLiteralDefaults adds fields of every type with literal defaults, required or not, to
// a table with records: the records read back with the defaults, as a write stores them, and
// filters and sorts see them. A new computed field is null until the record's next write.
func testNewLiteralDefaults(t *testing.T, newDB func() *migrationDB) {
	db := newDB()
	a := newRecord("a", baseTime, row{"title": "first"})
	b := newRecord("b", baseTime, nil)
	db.seed(a, b)
	grown := migrationSpec + `      i: {type: integer, default: 7}
      n: {type: number, default: 2.5}
      yes: {type: boolean, default: true}
      no: {type: boolean, default: false, required: true}
      e: {type: enum, values: [red, green], default: green}
      s: {type: string, default: "none", required: true}
      at: {type: timestamp, default: "2024-05-06T07:08:09.123456Z"}
      tags: {type: array, of: {type: string}, default: [x, y]}
      obj: {type: object, fields: {q: {type: integer}}, default: {q: 3}}
      j: {type: json, default: {k: [1, two]}}
      optional: {type: integer}
      size: {type: integer, computed: "title == null ? 0 : size(title)"}
`
	defaults := row{"i": int64(7), "n": 2.5, "yes": true, "no": false, "e": "green", "s": "none",
		"at": time.Date(2024, 5, 6, 7, 8, 9, 123456000, time.UTC), "tags": []any{"x", "y"},
		"obj": map[string]any{"q": int64(3)}, "j": map[string]any{"k": []any{int64(1), "two"}}}
	var want []string
	for _, f := range []string{"i", "n", "yes", "no", "e", "s", "at", "tags", "obj", "j", "optional", "size"} {
		want = append(want, "added column resource=things field="+f)
	}
	for _, f := range []string{"i", "n", "yes", "no", "e", "s", "at", "tags", "obj", "j"} {
		want = append(want, "filled null values with the default resource=things field="+f+" records=2")
	}
	// Twice: the second start finds the columns filled and changes nothing.
	for range 2 {
		changes := db.open(grown, func(f *fixture) {
			things := f.res("things")
			for _, rec := range []row{a, b} {
				checkRecord(t, "record "+rec["id"].(string), expected(things, rec, defaults), f.get(things, rec["id"].(string)))
			}
			for _, where := range []query.Expr{query.Truth{Field: "yes"}, query.Not{X: query.Truth{Field: "no"}},
				query.Compare{Field: "at", Op: query.Eq, Value: defaults["at"]}, query.Compare{Field: "n", Op: query.Gt, Value: 2.0}} {
				recs, err := f.store.List(f.ctx, things, query.Select{Where: where, Limit: 10})
				if err != nil {
					t.Fatalf("list %v: %v", where, err)
				}
				if got := ids(recs); !slices.Equal(got, []string{"a", "b"}) {
					t.Errorf("%v selects %v, want both records", where, got)
				}
			}
		})
		wantChanges(t, "new fields with literal defaults", changes, want...)
		want = nil
	}
}

// testNewFieldsWithoutValue adds required fields without a default, and fields whose default
// is an expression: refused on a table with records, which they can give no value, and taken
// on an empty one.
func testNewFieldsWithoutValue(t *testing.T, newDB func() *migrationDB) {
	db := newDB()
	a := newRecord("a", baseTime, row{"title": "first"})
	db.seed(a)
	grown := migrationSpec + `      owner: {type: string, default: auth.sub}
      must: {type: integer, required: true}
      seen: {type: timestamp, default: now, required: true}
`
	wantProblems(t, db.refused(grown),
		"things.must is new and required, but it has no value in the 1 existing record: give it a literal default, or add it as optional first",
		"things.owner is new and its default is an expression, which gives no value to the 1 existing record: give it a literal default, or add it as optional first",
		"things.seen is new and its default is an expression, which gives no value to the 1 existing record")
	db.unchanged(a)

	empty := newDB()
	empty.open(migrationSpec, func(*fixture) {})
	wantChanges(t, "the same fields on an empty table", empty.open(grown, func(*fixture) {}),
		"added column resource=things field=owner",
		"added column resource=things field=must",
		"added column resource=things field=seen")
}

// testBecomesRequired makes a field with null values required, without a default or with an
// expression default: refused, naming the field and how many records hold null in it.
func testBecomesRequired(t *testing.T, newDB func() *migrationDB) {
	db := newDB()
	recs := []row{newRecord("a", baseTime, row{"title": "first", "count": int64(1)}),
		newRecord("b", baseTime, nil), newRecord("c", baseTime, row{"count": int64(2)})}
	db.seed(recs...)
	required := strings.NewReplacer("title: {type: string}", "title: {type: string, default: auth.sub}",
		"count: {type: integer}", "count: {type: integer, required: true}").Replace(migrationSpec)
	wantProblems(t, db.refused(required),
		"things.count is now required, but it is null in 1 record: give it a literal default, or fill it in first",
		"things.title now defaults to an expression, which gives no value to the 2 records where it is null: give it a literal default, or fill it in first")
	db.unchanged(recs...)
}

// testGainsLiteralDefault gives a field with null values a literal default, and makes another
// required with one: their nulls are filled, other values kept.
func testGainsLiteralDefault(t *testing.T, newDB func() *migrationDB) {
	db := newDB()
	a := newRecord("a", baseTime, row{"title": "first", "count": int64(1)})
	b := newRecord("b", baseTime, nil)
	db.seed(a, b)
	defaulted := strings.NewReplacer("title: {type: string}", "title: {type: string, default: untitled}",
		"count: {type: integer}", "count: {type: integer, required: true, default: 0}").Replace(migrationSpec)
	changes := db.open(defaulted, func(f *fixture) {
		things := f.res("things")
		checkRecord(t, "record a", expected(things, a, nil), f.get(things, "a"))
		checkRecord(t, "record b", expected(things, b, row{"title": "untitled", "count": int64(0)}), f.get(things, "b"))
	})
	wantChanges(t, "literal defaults", changes,
		"filled null values with the default resource=things field=title records=1",
		"filled null values with the default resource=things field=count records=1")
}

// testNullableAgain checks that a field that was never null, then optional, is checked again
// when it must have a value again: the nulls written while it was optional refuse it.
func testNullableAgain(t *testing.T, newDB func() *migrationDB) {
	db := newDB()
	required := strings.Replace(migrationSpec, "title: {type: string}", "title: {type: string, required: true}", 1)
	db.open(required, func(f *fixture) {
		f.insert(f.res("things"), newRecord("a", baseTime, row{"title": "first"}))
	})
	b := newRecord("b", baseTime, nil)
	db.seed(b)
	wantProblems(t, db.refused(required), "things.title is now required, but it is null in 1 record")
}

// testKnownNoNulls checks that a field known to hold no null is not scanned again: a null
// written behind the engine's back (the store writes what it is given; the engine refuses a
// null in a required field) goes unseen while the spec is unchanged. A database from before
// that was remembered scans the field once.
func testKnownNoNulls(t *testing.T, newDB func() *migrationDB) {
	db := newDB()
	db.seed(newRecord("a", baseTime, row{"count": int64(1)}))
	required := strings.Replace(migrationSpec, "count: {type: integer}", "count: {type: integer, required: true}", 1)
	db.open(required, func(f *fixture) { f.insert(f.res("things"), newRecord("b", baseTime, nil)) })
	db.open(required, func(*fixture) {})
	db.exec(`ALTER TABLE "_plinth_fields" DROP COLUMN "no_nulls"`)
	wantProblems(t, db.refused(required), "things.count is now required, but it is null in 1 record")
}

// testTraceColumnAdded: a database from before events and deliveries kept the trace context
// of their write gains the column on start, null for the rows it had.
func testTraceColumnAdded(t *testing.T, newDB func() *migrationDB) {
	db := newDB()
	const traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	event := func(id, trace string) store.Event {
		return store.Event{ID: id, Type: "things.created", Resource: "things", RecordID: "a", Time: baseTime,
			Record: store.FromMap(newRecord("a", baseTime, nil)), Trace: trace}
	}
	db.open(migrationSpec, func(f *fixture) { f.appendEvents(f.res("things"), event("old", "")) })
	db.exec(`ALTER TABLE "_plinth_events" DROP COLUMN "trace"`)
	db.exec(`ALTER TABLE "_plinth_deliveries" DROP COLUMN "trace"`)
	db.open(migrationSpec, func(f *fixture) {
		f.appendEvents(f.res("things"), event("new", traceparent))
		evs := f.events(0, nil, 10)
		if len(evs) != 2 || evs[0].Trace != "" || evs[1].Trace != traceparent {
			t.Fatalf("events after the upgrade = %+v, want the old one without a trace and the new one with %s", evs, traceparent)
		}
		q := f.store.(store.Queue)
		d := store.Delivery{ID: "d1", Subscription: "s", EventID: "new", EventSeq: evs[1].Seq, EventType: "things.created",
			Resource: "things", RecordID: "a", Payload: []byte(`{}`), State: store.Pending, NextAt: baseTime,
			CreatedAt: baseTime, UpdatedAt: baseTime, Trace: traceparent}
		sub, err := q.Subscription(f.ctx, "s")
		if err != nil {
			t.Fatal(err)
		}
		if err := q.Enqueue(f.ctx, "s", sub.Cursor, sub.Cursor, []store.Delivery{d}); err != nil {
			t.Fatal(err)
		}
		ds, err := q.Deliveries(f.ctx, store.Pending, 10)
		if err != nil || len(ds) != 1 || ds[0].Trace != traceparent {
			t.Fatalf("deliveries after the upgrade = %+v, %v; want one with trace %s", ds, err, traceparent)
		}
	})
}

// testIndexes adds an index, an index on two fields and a unique field, then removes them:
// they are created and dropped under the same names on every driver, unique values are
// enforced only while the spec says so, and an unchanged spec changes nothing.
func testIndexes(t *testing.T, newDB func() *migrationDB) {
	db := newDB()
	a := newRecord("a", baseTime, row{"title": "first", "count": int64(1)})
	db.seed(a)
	indexed := strings.Replace(migrationSpec, "title: {type: string}", "title: {type: string, unique: true}", 1) +
		"    indexes: [[count], [title, count]]\n"
	twin := newRecord("b", baseTime, row{"title": "first"})
	changes := db.open(indexed, func(f *fixture) {
		f.conflicts("a second record of the same title", "unique", func(tx store.Tx) error { return tx.Insert(f.ctx, f.res("things"), store.FromMap(twin)) })
	})
	wantChanges(t, "indexes added", changes,
		"created index resource=things index=ux_things_title",
		"created index resource=things index=ix_things_count",
		"created index resource=things index=ix_things_title_count")
	wantChanges(t, "the same indexes again", db.open(indexed, func(*fixture) {}))
	changes = db.open(migrationSpec, func(f *fixture) { f.insert(f.res("things"), twin) })
	wantChanges(t, "indexes removed", changes,
		"dropped index resource=things index=ix_things_count",
		"dropped index resource=things index=ix_things_title_count",
		"dropped index resource=things index=ux_things_title")
	db.unchanged(a, twin)
}

// testUniqueOnDuplicates makes a field unique whose records share values: the migration fails,
// saying so, and changes nothing.
func testUniqueOnDuplicates(t *testing.T, newDB func() *migrationDB) {
	db := newDB()
	recs := []row{newRecord("a", baseTime, row{"title": "same"}), newRecord("b", baseTime, row{"title": "same"})}
	db.seed(recs...)
	err := db.failed(strings.Replace(migrationSpec, "title: {type: string}", "title: {type: string, unique: true}", 1) +
		"  more:\n    fields:\n      x: {type: string}\n")
	if !strings.Contains(err.Error(), "things: cannot make title unique, existing records share values") {
		t.Errorf("err = %v, want it to say that the records share titles", err)
	}
	db.unchanged(recs...)
}

// testRefAdded adds a ref field to a table with records, and a resource for it to refer to:
// the records refer to nothing, and the reference holds from then on. Changing on_delete
// changes no schema: the engine does what it says, and the store keeps refusing to delete a
// referenced record.
func testRefAdded(t *testing.T, newDB func() *migrationDB) {
	db := newDB()
	a := newRecord("a", baseTime, row{"title": "first"})
	db.seed(a)
	withRef := func(onDelete string) string {
		return migrationSpec + "      owner: {type: ref, resource: owners" + onDelete + "}\n  owners:\n    fields:\n      name: {type: string}\n"
	}
	changes := db.open(withRef(""), func(f *fixture) {
		things, owners := f.res("things"), f.res("owners")
		checkRecord(t, "record a", expected(things, a, nil), f.get(things, "a"))
		f.insert(owners, newRecord("o", baseTime, nil))
		f.insert(things, newRecord("b", baseTime, row{"owner": "o"}))
		f.conflicts("a thing of a missing owner", "", func(tx store.Tx) error {
			return tx.Insert(f.ctx, things, store.FromMap(newRecord("c", baseTime, row{"owner": "missing"})))
		})
	})
	wantChanges(t, "a ref added", changes,
		"added column resource=things field=owner",
		"created table resource=owners",
		"created index resource=things index=ix_things_owner",
		"created index resource=owners index=ix_owners_created_at")
	for _, onDelete := range []string{", on_delete: cascade", ", on_delete: set_null", ", on_delete: restrict", ""} {
		changes := db.open(withRef(onDelete), func(f *fixture) {
			f.conflicts("delete of a referenced owner"+onDelete, "referenced", func(tx store.Tx) error { return tx.Delete(f.ctx, f.res("owners"), "o") })
		})
		wantChanges(t, "on_delete changed to"+onDelete, changes)
	}
}

// testRetypeRefused changes the types of fields with data: refused with one problem a field,
// the same on every driver, whether the column type changes everywhere (integer to string) or
// only in some drivers (integer to boolean, string to timestamp), or only the field's
// signature does (a ref pointing elsewhere); and caught by the column type where no signature
// was stored.
func testRetypeRefused(t *testing.T, newDB func() *migrationDB) {
	db := newDB()
	a := newRecord("a", baseTime, row{"title": "first", "count": int64(3)})
	db.seed(a)
	// retyped replaces from with to in migrationSpec, and adds a resource, which a refused
	// migration must not create.
	retyped := func(from, to string) string {
		return strings.Replace(migrationSpec, from, to, 1) + "  more:\n    fields:\n      x: {type: string}\n"
	}
	wantProblems(t, db.refused(retyped("count: {type: integer", "count: {type: string")),
		"things.count holds integer values but the spec now says string (retyping a field is not automatic)")
	wantProblems(t, db.refused(retyped("count: {type: integer", "count: {type: boolean")),
		"things.count holds integer values but the spec now says boolean (retyping a field is not automatic)")
	wantProblems(t, db.refused(retyped("title: {type: string", "title: {type: timestamp")),
		"things.title holds string values but the spec now says timestamp (retyping a field is not automatic)")
	db.unchanged(a)
	db.exec(`DELETE FROM "_plinth_fields"`)
	wantProblems(t, db.refused(retyped("count: {type: integer", "count: {type: string")),
		"things.count is stored as ")
	db.unchanged(a)

	refs := newDB()
	pointing := func(to string) string {
		return migrationSpec + "      other: {type: ref, resource: " + to + "}\n  others:\n    fields:\n      x: {type: string}\n"
	}
	refs.open(pointing("things"), func(*fixture) {})
	wantProblems(t, refs.refused(pointing("others")),
		"things.other holds ref(things) values but the spec now says ref(others) (retyping a field is not automatic)")
}

// testDropRefused removes a field: refused, and nothing of the spec is applied, not even a new
// resource.
func testDropRefused(t *testing.T, newDB func() *migrationDB) {
	db := newDB()
	a := newRecord("a", baseTime, row{"title": "first", "count": int64(3)})
	db.seed(a)
	dropped := strings.Replace(migrationSpec, "      count: {type: integer}\n", "", 1) + "  more:\n    fields:\n      x: {type: string}\n"
	wantProblems(t, db.refused(dropped), "things.count has data but is no longer in the spec (dropping a field is not automatic)")
	db.unchanged(a)
}

// testResourceRemoved removes a resource from the spec: its table and records are kept, with
// a warning, and are there again when the resource comes back.
func testResourceRemoved(t *testing.T, newDB func() *migrationDB) {
	db := newDB()
	withExtras := migrationSpec + "  extras:\n    fields:\n      x: {type: string}\n"
	e := newRecord("e", baseTime, row{"x": "kept"})
	db.open(withExtras, func(f *fixture) { f.insert(f.res("extras"), e) })
	wantChanges(t, "a resource removed", db.open(migrationSpec, func(*fixture) {}),
		"table kept for a resource no longer in the spec table=extras")
	changes := db.open(withExtras, func(f *fixture) {
		extras := f.res("extras")
		checkRecord(t, "record e", expected(extras, e, nil), f.get(extras, "e"))
	})
	wantChanges(t, "the resource back", changes)
}

// testProblemsInOrder changes two resources, declared in reverse order, in every way that is
// refused: every problem is listed, sorted whatever the order of resources and fields in the
// spec, the same at every start and on every driver.
func testProblemsInOrder(t *testing.T, newDB func() *migrationDB) {
	db := newDB()
	src := `
plinth: 1
name: migrations
resources:
  zebras:
    fields:
      name: {type: string}
      age: {type: integer}
      legs: {type: integer}
  apes:
    fields:
      name: {type: string}
      age: {type: integer}
      legs: {type: integer}
`
	db.open(src, func(f *fixture) {
		f.insert(f.res("zebras"), newRecord("z", baseTime, row{"legs": int64(4)}))
		f.insert(f.res("apes"), newRecord("a", baseTime, row{"legs": int64(2)}))
	})
	grown := strings.NewReplacer(
		"      name: {type: string}\n", "      mane: {type: string, required: true}\n      name: {type: string, required: true}\n",
		"age: {type: integer}", "age: {type: string}",
		"      legs: {type: integer}\n", "",
	).Replace(src)
	want := []string{}
	for _, r := range []string{"apes", "zebras"} {
		want = append(want,
			r+".age holds integer values but the spec now says string",
			r+".legs has data but is no longer in the spec",
			r+".mane is new and required, but it has no value in the 1 existing record",
			r+".name is now required, but it is null in 1 record")
	}
	first := db.refused(grown)
	wantProblems(t, first, want...)
	if again := db.refused(grown); !slices.Equal(again, first) {
		t.Errorf("the problems changed from one start to the next:\n  %s\nthen\n  %s", strings.Join(first, "\n  "), strings.Join(again, "\n  "))
	}
}
