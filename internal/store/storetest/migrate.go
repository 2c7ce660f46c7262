package storetest

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/plinth-dev/plinth/internal/query"
	"github.com/plinth-dev/plinth/internal/spec"
	"github.com/plinth-dev/plinth/internal/store"
)

// ClosingStore is a store the migration suite closes before it opens the database again.
type ClosingStore interface {
	store.Store
	Close() error
}

// Reopener opens one database, the same on every call, migrated to model. It returns the
// driver's refusal when the database cannot take the model.
type Reopener = func(model *spec.Model) (ClosingStore, error)

// NewDatabase returns a Reopener of a new, empty database of t's own.
type NewDatabase = func(t *testing.T) Reopener

// RunMigrations runs the checks of what a migration does to existing records: every driver
// must fill, and refuse, the same. Each subtest runs in parallel with a database of its own.
func RunMigrations(t *testing.T, newDB NewDatabase) {
	tests := []struct {
		name string
		fn   func(t *testing.T, newDB func() *migrationDB)
	}{
		{"NewFieldsWithLiteralDefaults", testNewLiteralDefaults},
		{"NewFieldWithExpressionDefault", testNewExpressionDefault},
		{"FieldBecomesRequired", testBecomesRequired},
		{"FieldGainsLiteralDefault", testGainsLiteralDefault},
		{"FieldNullableAgain", testNullableAgain},
		{"ProblemsSorted", testProblemsSorted},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.fn(t, func() *migrationDB { return &migrationDB{t: t, ctx: context.Background(), reopen: newDB(t)} })
		})
	}
}

// migrationSpec is the spec every migration check starts from: one resource, every field
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
	t      *testing.T
	ctx    context.Context
	reopen Reopener
}

func compileSpec(t *testing.T, src string) *spec.Model {
	t.Helper()
	m, diags := spec.Compile("migrations.yaml", []byte(src))
	if diags.HasErrors() {
		t.Fatalf("spec: %s", diags.Error())
	}
	return m
}

// open opens the database with src, which it must accept, and closes it when fn returns.
func (db *migrationDB) open(src string, fn func(f *fixture)) {
	db.t.Helper()
	m := compileSpec(db.t, src)
	s, err := db.reopen(m)
	if err != nil {
		db.t.Fatalf("open: %v", err)
	}
	defer s.Close()
	fn(&fixture{t: db.t, ctx: db.ctx, store: s, model: m})
}

// refused opens the database with src, which it must refuse, and returns the problems.
func (db *migrationDB) refused(src string) []string {
	db.t.Helper()
	s, err := db.reopen(compileSpec(db.t, src))
	if err == nil {
		s.Close()
		db.t.Fatal("the migration was applied, want it refused")
	}
	var me *store.MigrationError
	if !errors.As(err, &me) {
		db.t.Fatalf("err = %v, want a *store.MigrationError", err)
	}
	return me.Problems
}

// seed opens the database with migrationSpec and stores the records.
func (db *migrationDB) seed(recs ...row) {
	db.t.Helper()
	db.open(migrationSpec, func(f *fixture) { f.insert(f.res("things"), recs...) })
}

// unchanged checks that the database still takes migrationSpec, which it would not if a
// column had been added, and still holds want.
func (db *migrationDB) unchanged(want ...row) {
	db.t.Helper()
	db.open(migrationSpec, func(f *fixture) {
		things := f.res("things")
		for _, w := range want {
			checkRecord(db.t, "record "+w["id"].(string), expected(things, w, nil), f.get(things, w["id"].(string)))
		}
	})
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

// testNewLiteralDefaults adds fields of every type with literal defaults to a table with
// records: the records read back with the defaults, as a write stores them, and filters and
// sorts see them. A new computed field is null until the record's next write.
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
	// Twice: the second start finds the columns filled and changes nothing.
	for range 2 {
		db.open(grown, func(f *fixture) {
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
	}
}

// testNewExpressionDefault adds a field whose default is an expression: refused on a table
// with records, which it can give no value, and taken on an empty one.
func testNewExpressionDefault(t *testing.T, newDB func() *migrationDB) {
	db := newDB()
	a := newRecord("a", baseTime, row{"title": "first"})
	db.seed(a)
	grown := migrationSpec + `      owner: {type: string, default: auth.sub}
      seen: {type: timestamp, default: now, required: true}
`
	wantProblems(t, db.refused(grown),
		"things.owner is new and its default is an expression, which gives no value to the 1 existing record: give it a literal default, or add it as optional first",
		"things.seen is new and its default is an expression, which gives no value to the 1 existing record")
	db.unchanged(a)

	empty := newDB()
	empty.open(migrationSpec, func(*fixture) {})
	empty.open(grown, func(*fixture) {})
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
	db.open(defaulted, func(f *fixture) {
		things := f.res("things")
		checkRecord(t, "record a", expected(things, a, nil), f.get(things, "a"))
		checkRecord(t, "record b", expected(things, b, row{"title": "untitled", "count": int64(0)}), f.get(things, "b"))
	})
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

// testProblemsSorted checks that every problem of a refused migration is listed, sorted
// whatever the order of resources and fields in the spec.
func testProblemsSorted(t *testing.T, newDB func() *migrationDB) {
	db := newDB()
	src := `
plinth: 1
name: migrations
resources:
  zebras:
    fields:
      name: {type: string}
  apes:
    fields:
      name: {type: string}
`
	db.open(src, func(f *fixture) {
		f.insert(f.res("zebras"), newRecord("z", baseTime, nil))
		f.insert(f.res("apes"), newRecord("a", baseTime, nil))
	})
	grown := strings.ReplaceAll(src, "      name: {type: string}\n",
		"      name: {type: string, required: true}\n      mane: {type: string, required: true}\n")
	wantProblems(t, db.refused(grown), "apes.mane is new", "apes.name is now required", "zebras.mane is new", "zebras.name is now required")
}
