package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/plinth-dev/plinth/internal/spec"
)

// testURLVar names the database the tests use. Tests fail rather than skip without it: CI sets
// it, and a suite that skips silently proves nothing.
const testURLVar = "PLINTH_TEST_POSTGRES_URL"

func testURL(t testing.TB) string {
	t.Helper()
	url := os.Getenv(testURLVar)
	if url == "" {
		t.Fatalf("%s is not set: the PostgreSQL driver's tests need a database they may create schemas in, e.g.\n"+
			"  %s='postgres://postgres@127.0.0.1:5432/test?sslmode=disable' go test ./internal/store/postgres", testURLVar, testURLVar)
	}
	return url
}

// newSchema returns the name of a schema of the test's own, dropped when the test ends (after
// the stores opened on it are closed, since cleanups run last-in first-out).
func newSchema(t testing.TB) string {
	t.Helper()
	url := testURL(t)
	b := make([]byte, 8)
	rand.Read(b)
	schema := "t_" + hex.EncodeToString(b)
	t.Cleanup(func() {
		ctx := context.Background()
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+quote(schema)+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	return schema
}

// openTest opens a store on a fresh schema, closed when the test ends.
func openTest(t testing.TB, model *spec.Model, opts Options) *DB {
	t.Helper()
	if opts.Schema == "" {
		opts.Schema = newSchema(t)
	}
	db, err := Open(context.Background(), testURL(t), model, opts)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func mustCompile(t testing.TB, src string) *spec.Model {
	t.Helper()
	m, diags := spec.Compile("test.yaml", []byte(src))
	if diags.HasErrors() {
		t.Fatalf("spec: %s", diags.Error())
	}
	return m
}
