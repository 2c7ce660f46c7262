// Package pgtest gives a test a PostgreSQL schema of its own, on the server that
// PLINTH_TEST_POSTGRES_URL names, so that tests on one database share nothing and may run in
// parallel (as river's riverdbtest does). Only tests import it.
package pgtest

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// URLVar names the variable that holds the test database's URL.
const URLVar = "PLINTH_TEST_POSTGRES_URL"

// URL returns the test database's URL. Without it the test fails rather than skips: a test
// that skips silently proves nothing.
func URL(t testing.TB) string {
	t.Helper()
	url := os.Getenv(URLVar)
	if url == "" {
		t.Fatalf("%s is not set: the tests run against PostgreSQL too, e.g.\n"+
			"  %s='postgres://postgres@127.0.0.1:5432/test?sslmode=disable' go test ./...", URLVar, URLVar)
	}
	return url
}

// Schema names a new schema for the test on the database at url, and drops it with all it
// holds when the test ends: after the stores opened on it afterwards have closed, since
// cleanups run last in, first out.
func Schema(t testing.TB, url string) string {
	t.Helper()
	schema := "t_" + strings.ReplaceAll(uuid.NewString(), "-", "")[:16]
	t.Cleanup(func() {
		ctx := context.Background()
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, `DROP SCHEMA IF EXISTS "`+schema+`" CASCADE`); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	return schema
}
