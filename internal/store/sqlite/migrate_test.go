package sqlite

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/plinth-dev/plinth/internal/spec"
	"github.com/plinth-dev/plinth/internal/store"
)

var update = flag.Bool("update", false, "rewrite golden files")

func mustCompile(t *testing.T, src string) *spec.Model {
	t.Helper()
	m, diags := spec.Compile("test.yaml", []byte(src))
	if diags.HasErrors() {
		t.Fatalf("spec: %s", diags.Error())
	}
	return m
}

// TestSchemaGolden: spec in, SQL out, for the same specs the spec package's golden tests read.
func TestSchemaGolden(t *testing.T) {
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
			t.Setenv("KITCHEN_JWT", "unused")
			m := mustCompile(t, string(src))
			var b strings.Builder
			for _, r := range m.Resources {
				b.WriteString(createTable(r))
				b.WriteString(";\n")
				for _, ix := range r.Indexes {
					b.WriteString(createIndex(r.Name, ix) + ";\n")
				}
				b.WriteString("\n")
			}
			golden := filepath.Join("testdata", name+".sql")
			if *update {
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
			// The SQL is valid: a fresh database takes it.
			db, err := Open(context.Background(), t.TempDir(), m, Options{})
			if err != nil {
				t.Fatal(err)
			}
			db.Close()
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

// reopen opens dir with a new spec and returns the error, closing the store on success.
func reopen(t *testing.T, dir, src string) error {
	t.Helper()
	db, err := Open(context.Background(), dir, mustCompile(t, src), Options{})
	if err == nil {
		db.Close()
	}
	return err
}

func insertThing(t *testing.T, dir string) {
	t.Helper()
	execSQL(t, dir, baseSpec, `INSERT INTO "things" ("id","created_at","updated_at","version","title","count") VALUES ('a','t','t',1,'x',3)`)
}

// execSQL opens dir with the spec src and runs a statement on the writer.
func execSQL(t *testing.T, dir, src, stmt string) {
	t.Helper()
	db, err := Open(context.Background(), dir, mustCompile(t, src), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.write.Exec(stmt); err != nil {
		t.Fatalf("%s: %v", stmt, err)
	}
}

func columnsOf(t *testing.T, dir string) string {
	t.Helper()
	m := mustCompile(t, baseSpec)
	db, err := Open(context.Background(), dir, m, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	tx, _ := db.write.Begin()
	defer tx.Rollback()
	cols, err := tableColumns(context.Background(), tx, "things")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for n := range cols {
		names = append(names, n)
	}
	sort.Strings(names)
	return strings.Join(names, ",")
}

func TestMigrations(t *testing.T) {
	t.Run("adding fields, resources and indexes applies at start", func(t *testing.T) {
		dir := t.TempDir()
		insertThing(t, dir)
		grown := baseSpec + `      note: {type: string, max_length: 5}
      done: {type: boolean, default: false, required: true}
    indexes: [[count]]
  others:
    fields:
      thing: {type: ref, resource: things}
`
		if err := reopen(t, dir, grown); err != nil {
			t.Fatal(err)
		}
		db, err := Open(context.Background(), dir, mustCompile(t, grown), Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		var n int
		db.read.QueryRow(`SELECT count(*) FROM sqlite_master WHERE name IN ('ix_things_count', 'ix_others_thing', 'others')`).Scan(&n)
		if n != 3 {
			t.Errorf("found %d of the index, ref index and table", n)
		}
		var title string
		db.read.QueryRow(`SELECT "title" FROM "things" WHERE "note" IS NULL`).Scan(&title)
		if title != "x" {
			t.Errorf("existing row lost: %q", title)
		}
	})
	t.Run("dropping an index is applied", func(t *testing.T) {
		dir := t.TempDir()
		if err := reopen(t, dir, baseSpec+"    indexes: [[count]]\n"); err != nil {
			t.Fatal(err)
		}
		if err := reopen(t, dir, baseSpec); err != nil {
			t.Fatal(err)
		}
		db, _ := Open(context.Background(), dir, mustCompile(t, baseSpec), Options{})
		defer db.Close()
		var n int
		db.read.QueryRow(`SELECT count(*) FROM sqlite_master WHERE name = 'ix_things_count'`).Scan(&n)
		if n != 0 {
			t.Error("index kept after it left the spec")
		}
	})
	refusals := []struct {
		name, spec, want string
	}{
		{"dropping a field", strings.Replace(baseSpec, "      count: {type: integer}\n", "", 1), "things.count has data but is no longer in the spec"},
		{"retyping a field", strings.Replace(baseSpec, "count: {type: integer}", "count: {type: string, max_length: 3}", 1), "things.count is stored as INTEGER but the spec now needs TEXT"},
		{"a new required field without default", baseSpec + "      must: {type: integer, required: true}\n", "things.must is new and required"},
		{"retyping within one column type", strings.Replace(baseSpec, "title: {type: string, max_length: 10}", "title: {type: timestamp}", 1), "things.title holds string values but the spec now says timestamp"},
	}
	for _, tc := range refusals {
		t.Run("refuses "+tc.name, func(t *testing.T) {
			dir := t.TempDir()
			insertThing(t, dir)
			before := columnsOf(t, dir)
			err := reopen(t, dir, tc.spec)
			var me *store.MigrationError
			if !errors.As(err, &me) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want a MigrationError mentioning %q", err, tc.want)
			}
			if after := columnsOf(t, dir); after != before {
				t.Errorf("columns changed from %s to %s", before, after)
			}
		})
	}
	t.Run("a new required field on an empty table is fine", func(t *testing.T) {
		dir := t.TempDir()
		if err := reopen(t, dir, baseSpec); err != nil {
			t.Fatal(err)
		}
		if err := reopen(t, dir, baseSpec+"      must: {type: integer, required: true}\n"); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("a field known to hold no null is scanned only in a database from before that was known", func(t *testing.T) {
		dir := t.TempDir()
		insertThing(t, dir)
		required := strings.Replace(baseSpec, "count: {type: integer}", "count: {type: integer, required: true}", 1)
		if err := reopen(t, dir, required); err != nil {
			t.Fatal(err)
		}
		// A null the engine refuses, as a version of Plinth from before the rule could write.
		execSQL(t, dir, required, `INSERT INTO "things" ("id","created_at","updated_at","version","title") VALUES ('b','t','t',1,'y')`)
		if err := reopen(t, dir, required); err != nil {
			t.Fatalf("an unchanged spec scanned the table: %v", err)
		}
		execSQL(t, dir, required, `ALTER TABLE "_plinth_fields" DROP COLUMN "no_nulls"`)
		err := reopen(t, dir, required)
		if !strings.Contains(fmt.Sprint(err), "things.count is now required, but it is null in 1 record") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("unique on duplicated data refuses with a clear message", func(t *testing.T) {
		dir := t.TempDir()
		insertThing(t, dir)
		db, _ := Open(context.Background(), dir, mustCompile(t, baseSpec), Options{})
		db.write.Exec(`INSERT INTO "things" ("id","created_at","updated_at","version","title","count") VALUES ('b','t','t',1,'x',3)`)
		db.Close()
		err := reopen(t, dir, strings.Replace(baseSpec, "max_length: 10}", "max_length: 10, unique: true}", 1))
		if err == nil || !strings.Contains(err.Error(), "cannot make title unique") {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestWALAndPragmas(t *testing.T) {
	db, err := Open(context.Background(), t.TempDir(), mustCompile(t, baseSpec), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var mode string
	var fk int
	db.write.QueryRow("PRAGMA journal_mode").Scan(&mode)
	db.write.QueryRow("PRAGMA foreign_keys").Scan(&fk)
	if mode != "wal" || fk != 1 {
		t.Errorf("journal_mode=%s foreign_keys=%d", mode, fk)
	}
	if _, err := db.read.Exec(`INSERT INTO "things" ("id","created_at","updated_at","version") VALUES ('r','t','t',1)`); err == nil {
		t.Error("a reader connection could write")
	}
}

// refSpec is a ref with the on_delete policy given, or none.
func refSpec(onDelete string) string {
	opt := ""
	if onDelete != "" {
		opt = ", on_delete: " + onDelete
	}
	return baseSpec + "  others:\n    fields:\n      thing: {type: ref, resource: things" + opt + "}\n"
}

// TestOnDeleteChangesNoSchema: the engine does what on_delete says and the foreign key stays
// ON DELETE RESTRICT, so adding, changing or removing on_delete migrates nothing, with data.
func TestOnDeleteChangesNoSchema(t *testing.T) {
	dir := t.TempDir()
	insertThing(t, dir)
	schema := func(onDelete string) string {
		t.Helper()
		db, err := Open(context.Background(), dir, mustCompile(t, refSpec(onDelete)), Options{})
		if err != nil {
			t.Fatalf("on_delete %q: %v", onDelete, err)
		}
		defer db.Close()
		if _, err := db.write.Exec(`INSERT OR IGNORE INTO "others" ("id","created_at","updated_at","version","thing") VALUES ('o','t','t',1,'a')`); err != nil {
			t.Fatal(err)
		}
		rows, err := db.read.Query(`SELECT name || ': ' || coalesce(sql, '') FROM sqlite_master ORDER BY name`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var out []string
		for rows.Next() {
			var s string
			rows.Scan(&s)
			out = append(out, s)
		}
		return strings.Join(out, "\n")
	}
	before := schema("")
	if !strings.Contains(before, `REFERENCES "things" ("id") ON DELETE RESTRICT`) {
		t.Fatalf("the ref has no RESTRICT foreign key:\n%s", before)
	}
	for _, onDelete := range []string{"cascade", "set_null", "restrict", ""} {
		if after := schema(onDelete); after != before {
			t.Errorf("on_delete %q changed the schema:\nbefore %s\nafter  %s", onDelete, before, after)
		}
	}
}
