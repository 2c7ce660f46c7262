package sqlite

import (
	"context"
	"database/sql"
	"flag"
	"path/filepath"
	"testing"

	"github.com/plinth-dev/plinth/internal/spec"
	"github.com/plinth-dev/plinth/internal/store/sqlstore"
	"github.com/plinth-dev/plinth/internal/store/storetest"
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

// newDatabase is a database in a folder of t's own, for the migration suites.
func newDatabase(t *testing.T) storetest.Database {
	dir := t.TempDir()
	return storetest.Database{
		Open: func(model *spec.Model, o storetest.OpenOptions) (storetest.ClosingStore, error) {
			db, err := Open(context.Background(), dir, model, Options{Logger: o.Log, Planned: o.Planned, PlannedOnly: o.PlannedOnly})
			if err != nil {
				return nil, err
			}
			return db, nil
		},
		Migrator: func(batch int) (*sqlstore.Migrator, func() error, error) {
			return OpenMigrator(context.Background(), dir, MigratorOptions{BatchSize: batch})
		},
		Exec: func(stmt string) error {
			db, err := sql.Open("sqlite", filepath.Join(dir, FileName))
			if err != nil {
				return err
			}
			defer db.Close()
			_, err = db.Exec(stmt)
			return err
		},
	}
}

// TestMigrationSuite runs the migration checks every driver passes.
func TestMigrationSuite(t *testing.T) {
	storetest.RunMigrations(t, newDatabase)
}

// TestSchemaGolden: spec in, SQLite's DDL out, for the specs the spec package's golden tests
// read.
func TestSchemaGolden(t *testing.T) {
	storetest.RunSchemaGolden(t, &ddl, *update, newDatabase)
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

// TestPlannedSuite runs the planned-migration checks every driver passes.
func TestPlannedSuite(t *testing.T) {
	storetest.RunPlanned(t, newDatabase)
}
