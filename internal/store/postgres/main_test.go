package postgres

import (
	"context"
	"testing"

	"github.com/plinth-dev/plinth/internal/spec"
	"github.com/plinth-dev/plinth/internal/store/pgtest"
)

// testURL is the database the tests use (pgtest.URL).
func testURL(t testing.TB) string {
	t.Helper()
	return pgtest.URL(t)
}

// newSchema returns the name of a schema of the test's own, dropped when the test ends (after
// the stores opened on it are closed, since cleanups run last-in first-out).
func newSchema(t testing.TB) string {
	t.Helper()
	return pgtest.Schema(t, testURL(t))
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
