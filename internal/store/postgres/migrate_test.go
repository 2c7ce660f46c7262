package postgres

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/plinth-dev/plinth/internal/spec"
	"github.com/plinth-dev/plinth/internal/store"
)

var update = flag.Bool("update", false, "rewrite golden files")

// TestSchemaGolden: spec in, SQL out, for the specs the SQLite driver's golden tests read.
func TestSchemaGolden(t *testing.T) {
	t.Parallel()
	specs, _ := filepath.Glob("../../spec/testdata/valid/*.yaml")
	specs = append(specs, "../../../examples/shop/plinth.yaml")
	for _, path := range specs {
		name := strings.TrimSuffix(filepath.Base(path), ".yaml")
		if name == "plinth" {
			name = "shop"
		}
		t.Run(name, func(t *testing.T) {
			src, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			m := mustCompile(t, string(src))
			var b strings.Builder
			for _, r := range m.Resources {
				b.WriteString(createTable("plinth", r) + ";\n")
			}
			for _, r := range m.Resources {
				for _, f := range r.Fields {
					if f.Type == spec.TypeRef {
						b.WriteString(foreignKeyDDL("plinth", r, f) + ";\n")
					}
				}
				for _, ix := range r.Indexes {
					b.WriteString(indexDDL("plinth", r, ix) + ";\n")
				}
			}
			golden := filepath.Join("testdata", name+".sql")
			if *update {
				os.MkdirAll("testdata", 0o755)
				os.WriteFile(golden, []byte(b.String()), 0o644)
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update)", err)
			}
			if string(want) != b.String() {
				t.Errorf("%s differs; run go test -update and review.\ngot:\n%s", golden, b.String())
			}
			// The SQL is valid: a fresh schema takes it, and an unchanged spec changes nothing.
			schema := newSchema(t)
			openTest(t, m, Options{Schema: schema})
			logs := &logCounter{}
			openTest(t, m, Options{Schema: schema, Logger: slog.New(logs)})
			if n := logs.count("created", "added", "dropped"); n != 0 {
				t.Errorf("reopening with the same spec changed the schema %d times: %v", n, logs.messages())
			}
		})
	}
}

const baseSpec = `
plinth: 1
name: mig
resources:
  things:
    fields:
      title: {type: string, max_length: 10}
      count: {type: integer}
`

func reopen(t *testing.T, schema, src string) error {
	t.Helper()
	db, err := Open(context.Background(), testURL(t), mustCompile(t, src), Options{Schema: schema})
	if err == nil {
		db.Close()
	}
	return err
}

// seeded opens baseSpec on a new schema with one row in things and returns the schema.
func seeded(t *testing.T) string {
	t.Helper()
	schema := newSchema(t)
	db := openTest(t, mustCompile(t, baseSpec), Options{Schema: schema})
	exec(t, db, `INSERT INTO `+quote(schema)+`."things" ("id","created_at","updated_at","version","title","count") VALUES ('a', now(), now(), 1, 'x', 3)`)
	db.Close()
	return schema
}

func exec(t *testing.T, db *DB, sql string, args ...any) {
	t.Helper()
	if _, err := db.pool.Exec(context.Background(), sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// catalog lists names from a query over the catalog ($1 is the schema), sorted.
func catalog(t *testing.T, schema, sql string) []string {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, testURL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, sql, schema)
	if err != nil {
		t.Fatal(err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

const columnsQuery = `SELECT table_name || '.' || column_name || ' ' || data_type FROM information_schema.columns
	WHERE table_schema = $1 AND table_name = 'things'`

func TestMigrations(t *testing.T) {
	t.Parallel()
	t.Run("adding fields, resources and indexes applies at start", func(t *testing.T) {
		t.Parallel()
		schema := seeded(t)
		grown := baseSpec + `      note: {type: string, max_length: 5}
      done: {type: boolean, default: false, required: true}
      other: {type: ref, resource: others}
    indexes: [[count]]
  others:
    fields:
      thing: {type: ref, resource: things}
`
		if err := reopen(t, schema, grown); err != nil {
			t.Fatal(err)
		}
		got := catalog(t, schema, `SELECT indexname FROM pg_indexes WHERE schemaname = $1
			UNION ALL SELECT conname FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace WHERE n.nspname = $1 AND contype = 'f'`)
		for _, want := range []string{"ix_things_count", "ix_others_thing", "ix_things_other", "fk_things_other", "fk_others_thing"} {
			if !slices.Contains(got, want) {
				t.Errorf("%s missing from %v", want, got)
			}
		}
		db := openTest(t, mustCompile(t, grown), Options{Schema: schema})
		var title string
		if err := db.pool.QueryRow(context.Background(), `SELECT "title" FROM `+quote(schema)+`."things" WHERE "note" IS NULL`).Scan(&title); err != nil || title != "x" {
			t.Errorf("existing row: %q, %v", title, err)
		}
	})
	t.Run("dropping an index is applied", func(t *testing.T) {
		t.Parallel()
		schema := newSchema(t)
		if err := reopen(t, schema, baseSpec+"    indexes: [[count]]\n"); err != nil {
			t.Fatal(err)
		}
		if err := reopen(t, schema, baseSpec); err != nil {
			t.Fatal(err)
		}
		if got := catalog(t, schema, `SELECT indexname FROM pg_indexes WHERE schemaname = $1`); slices.Contains(got, "ix_things_count") {
			t.Errorf("index kept after it left the spec: %v", got)
		}
	})
	refusals := []struct {
		name, spec, want string
	}{
		{"dropping a field", strings.Replace(baseSpec, "      count: {type: integer}\n", "", 1), "things.count has data but is no longer in the spec"},
		{"retyping a field", strings.Replace(baseSpec, "count: {type: integer}", "count: {type: string, max_length: 3}", 1), "things.count is stored as BIGINT but the spec now needs TEXT"},
		{"a new required field without default", baseSpec + "      must: {type: integer, required: true}\n", "things.must is new and required"},
		{"retyping within one column type", strings.Replace(baseSpec, "title: {type: string, max_length: 10}", "title: {type: timestamp}", 1), "things.title holds string values but the spec now says timestamp"},
	}
	for _, tc := range refusals {
		t.Run("refuses "+tc.name, func(t *testing.T) {
			t.Parallel()
			schema := seeded(t)
			before := catalog(t, schema, columnsQuery)
			err := reopen(t, schema, tc.spec+"  more:\n    fields:\n      x: {type: string}\n")
			var me *store.MigrationError
			if !errors.As(err, &me) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want a MigrationError mentioning %q", err, tc.want)
			}
			if after := catalog(t, schema, columnsQuery); !slices.Equal(before, after) {
				t.Errorf("columns changed from %v to %v", before, after)
			}
			if tables := catalog(t, schema, `SELECT tablename FROM pg_tables WHERE schemaname = $1 AND tablename = 'more'`); len(tables) > 0 {
				t.Error("a refused migration created a table")
			}
		})
	}
	t.Run("refuses pointing a ref elsewhere", func(t *testing.T) {
		t.Parallel()
		schema := newSchema(t)
		others := "  others:\n    fields:\n      x: {type: string}\n"
		if err := reopen(t, schema, baseSpec+"      other: {type: ref, resource: things}\n"+others); err != nil {
			t.Fatal(err)
		}
		err := reopen(t, schema, baseSpec+"      other: {type: ref, resource: others}\n"+others)
		var me *store.MigrationError
		if !errors.As(err, &me) || !strings.Contains(err.Error(), "things.other holds ref(things) values but the spec now says ref(others)") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("every problem is listed", func(t *testing.T) {
		t.Parallel()
		schema := seeded(t)
		err := reopen(t, schema, strings.Replace(baseSpec, "      count: {type: integer}\n", "      title2: {type: string}\n      must: {type: integer, required: true}\n", 1))
		var me *store.MigrationError
		if !errors.As(err, &me) || len(me.Problems) != 2 {
			t.Fatalf("err = %v, want two problems", err)
		}
	})
	t.Run("a new required field on an empty table is fine", func(t *testing.T) {
		t.Parallel()
		schema := newSchema(t)
		if err := reopen(t, schema, baseSpec); err != nil {
			t.Fatal(err)
		}
		if err := reopen(t, schema, baseSpec+"      must: {type: integer, required: true}\n"); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("a field known to hold no null is scanned only in a database from before that was known", func(t *testing.T) {
		t.Parallel()
		schema := seeded(t)
		required := strings.Replace(baseSpec, "count: {type: integer}", "count: {type: integer, required: true}", 1)
		db := openTest(t, mustCompile(t, required), Options{Schema: schema})
		// A null the engine refuses, as a version of Plinth from before the rule could write.
		exec(t, db, `INSERT INTO `+quote(schema)+`."things" ("id","created_at","updated_at","version","title") VALUES ('b', now(), now(), 1, 'y')`)
		if err := reopen(t, schema, required); err != nil {
			t.Fatalf("an unchanged spec scanned the table: %v", err)
		}
		exec(t, db, `ALTER TABLE `+quote(schema)+`."_plinth_fields" DROP COLUMN "no_nulls"`)
		err := reopen(t, schema, required)
		if !strings.Contains(fmt.Sprint(err), "things.count is now required, but it is null in 1 record") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("unique on duplicated data refuses with a clear message", func(t *testing.T) {
		t.Parallel()
		schema := seeded(t)
		db := openTest(t, mustCompile(t, baseSpec), Options{Schema: schema})
		exec(t, db, `INSERT INTO `+quote(schema)+`."things" ("id","created_at","updated_at","version","title","count") VALUES ('b', now(), now(), 1, 'x', 3)`)
		err := reopen(t, schema, strings.Replace(baseSpec, "max_length: 10}", "max_length: 10, unique: true}", 1))
		if err == nil || !strings.Contains(err.Error(), "cannot make title unique") {
			t.Fatalf("err = %v", err)
		}
	})
}

// TestTextColumnsCompareBytes checks that every text column has the "C" collation, whatever
// the database's default: sorting and startsWith ranges depend on it.
func TestTextColumnsCompareBytes(t *testing.T) {
	t.Parallel()
	src, err := os.ReadFile("../../spec/testdata/valid/kitchen.yaml")
	if err != nil {
		t.Fatal(err)
	}
	schema := newSchema(t)
	openTest(t, mustCompile(t, string(src)), Options{Schema: schema})
	bad := catalog(t, schema, `SELECT table_name || '.' || column_name || ' ' || coalesce(collation_name, 'default')
		FROM information_schema.columns WHERE table_schema = $1 AND data_type = 'text' AND coalesce(collation_name, '') <> 'C'`)
	if len(bad) > 0 {
		t.Errorf("text columns without COLLATE \"C\": %v", bad)
	}
}

// TestConcurrentOpen starts several processes' worth of stores at once on a new schema: the
// advisory lock makes one of them migrate, and the others find nothing to do.
func TestConcurrentOpen(t *testing.T) {
	t.Parallel()
	schema := newSchema(t)
	src := baseSpec + "    indexes: [[count]]\n  others:\n    fields:\n      thing: {type: ref, resource: things}\n"
	m := mustCompile(t, src)
	logs := &logCounter{}
	var wg sync.WaitGroup
	errs := make([]error, 6)
	for i := range errs {
		wg.Go(func() {
			db, err := Open(context.Background(), testURL(t), m, Options{Schema: schema, Logger: slog.New(logs), MaxConns: 2})
			if err == nil {
				db.Close()
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("open %d: %v", i, err)
		}
	}
	if n := logs.count("created schema"); n != 1 {
		t.Errorf("the schema was created %d times", n)
	}
	if n := logs.count("created table"); n != 2 {
		t.Errorf("%d tables were created, want 2: %v", n, logs.messages())
	}
}

// logCounter is a slog.Handler that keeps messages.
type logCounter struct {
	mu   sync.Mutex
	msgs []string
}

func (l *logCounter) Enabled(context.Context, slog.Level) bool { return true }
func (l *logCounter) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *logCounter) WithGroup(string) slog.Handler            { return l }
func (l *logCounter) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.msgs = append(l.msgs, r.Message)
	return nil
}

func (l *logCounter) messages() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.msgs)
}

// count returns how many messages start with one of the prefixes.
func (l *logCounter) count(prefixes ...string) int {
	n := 0
	for _, m := range l.messages() {
		for _, p := range prefixes {
			if strings.HasPrefix(m, p) {
				n++
				break
			}
		}
	}
	return n
}

// TestOnDeleteChangesNoSchema: the engine does what on_delete says and the foreign key stays
// ON DELETE RESTRICT, so adding, changing or removing on_delete migrates nothing, with data.
func TestOnDeleteChangesNoSchema(t *testing.T) {
	t.Parallel()
	schema := seeded(t)
	refSpec := func(onDelete string) string {
		opt := ""
		if onDelete != "" {
			opt = ", on_delete: " + onDelete
		}
		return baseSpec + "  others:\n    fields:\n      thing: {type: ref, resource: things" + opt + "}\n"
	}
	shape := func(onDelete string) []string {
		t.Helper()
		if err := reopen(t, schema, refSpec(onDelete)); err != nil {
			t.Fatalf("on_delete %q: %v", onDelete, err)
		}
		return catalog(t, schema, `SELECT conname || ' ' || pg_get_constraintdef(c.oid) FROM pg_constraint c
				JOIN pg_namespace n ON n.oid = c.connamespace WHERE n.nspname = $1
			UNION ALL SELECT indexname || ' ' || indexdef FROM pg_indexes WHERE schemaname = $1
			UNION ALL SELECT table_name || '.' || column_name || ' ' || data_type FROM information_schema.columns WHERE table_schema = $1`)
	}
	before := shape("")
	db := openTest(t, mustCompile(t, refSpec("")), Options{Schema: schema})
	exec(t, db, `INSERT INTO `+quote(schema)+`."others" ("id","created_at","updated_at","version","thing") VALUES ('o', now(), now(), 1, 'a')`)
	db.Close()
	if !slices.Contains(before, `fk_others_thing FOREIGN KEY (thing) REFERENCES `+schema+`.things(id) ON DELETE RESTRICT`) {
		t.Fatalf("the ref has no RESTRICT foreign key: %v", before)
	}
	for _, onDelete := range []string{"cascade", "set_null", "restrict", ""} {
		if after := shape(onDelete); !slices.Equal(after, before) {
			t.Errorf("on_delete %q changed the schema:\nbefore %v\nafter  %v", onDelete, before, after)
		}
	}
}
