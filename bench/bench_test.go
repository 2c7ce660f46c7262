package main

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/plinth-dev/plinth/bench/harness"
)

// TestSmoke runs the whole harness briefly, on SQLite and on PostgreSQL: both servers built
// and started on each, seeded, every scenario sent for a second to each, and on SQLite the
// overload pass. Every request
// must succeed; no timing is asserted. Without PLINTH_TEST_POSTGRES_URL it fails rather than
// skips, as the other PostgreSQL tests do.
func TestSmoke(t *testing.T) {
	pgURL := os.Getenv("PLINTH_TEST_POSTGRES_URL")
	if pgURL == "" {
		t.Fatal("PLINTH_TEST_POSTGRES_URL is not set: the smoke run measures PostgreSQL too, e.g.\n" +
			"  PLINTH_TEST_POSTGRES_URL='postgres://postgres@127.0.0.1:5432/test?sslmode=disable' go test ./bench")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	var progress strings.Builder
	rep, err := harness.Run(ctx, harness.Config{Smoke: true, WorkDir: t.TempDir(), PostgresURL: pgURL, Log: &progress})
	if err != nil {
		t.Fatalf("run: %v\nprogress:\n%s", err, progress.String())
	}
	if len(rep.Databases) != 2 || rep.Databases[0].Database != "sqlite" || rep.Databases[1].Database != "postgres" {
		t.Fatalf("databases %+v, want sqlite then postgres", rep.Databases)
	}
	for _, d := range rep.Databases {
		if len(d.Scenarios) != 5 {
			t.Errorf("%s: %d scenarios ran, want 5", d.Database, len(d.Scenarios))
		}
		for _, s := range d.Scenarios {
			for name, side := range map[string]harness.Side{"plinth": s.Plinth, "reference": s.Reference} {
				if side.Requests == 0 || side.Errors > 0 || side.Non2xx > 0 {
					t.Errorf("%s: %s on %s: %d requests, %d errors, %d non-2xx: %v", d.Database, s.Name, name, side.Requests, side.Errors, side.Non2xx, side.Samples)
				}
			}
		}
		if len(d.StartToReady.ExistingMS) != 1 || d.StartToReady.ExistingMS[0] <= 0 {
			t.Errorf("%s: start to ready on the existing database was not measured: %v", d.Database, d.StartToReady.ExistingMS)
		}
	}
	// The overload pass runs on SQLite only: each mix at every multiple, shedding on and off.
	if sq, pg := rep.Databases[0], rep.Databases[1]; len(sq.Overload) != 2 || len(pg.Overload) != 0 {
		t.Errorf("overload mixes: %d on sqlite, %d on postgres; want 2 and 0", len(sq.Overload), len(pg.Overload))
	}
	for _, o := range rep.Databases[0].Overload {
		if o.CapacityRPS <= 0 || o.UnloadedP99MS <= 0 || len(o.Runs) != 6 {
			t.Errorf("overload %s: capacity %v, unloaded p99 %v, %d runs; want both measured and 6 runs", o.Mix, o.CapacityRPS, o.UnloadedP99MS, len(o.Runs))
		}
		for _, r := range o.Runs {
			if r.GoodputRPS <= 0 || (!r.Shedding && r.Shed > 0) {
				t.Errorf("overload %s at %gx, shedding %v: goodput %v/s, shed %d", o.Mix, r.Multiple, r.Shedding, r.GoodputRPS, r.Shed)
			}
		}
	}
	if len(rep.Failures) > 0 {
		t.Errorf("failures: %v", rep.Failures)
	}

	// The PostgreSQL servers' schemas are dropped at the end.
	pg := rep.Databases[1]
	if len(pg.Schemas) != 2 {
		t.Fatalf("postgres schemas %v, want Plinth's and the reference's", pg.Schemas)
	}
	conn, err := pgx.Connect(ctx, pgURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var left []string
	if err := conn.QueryRow(ctx, "SELECT array_agg(nspname) FROM pg_namespace WHERE nspname = ANY($1)", pg.Schemas).Scan(&left); err != nil {
		t.Fatal(err)
	}
	if len(left) > 0 {
		t.Errorf("schemas %v were left behind", left)
	}
}

// TestRunRejectsUnknownFlags keeps the command's flag handling honest without a full run.
func TestRunRejectsUnknownFlags(t *testing.T) {
	if code := run(context.Background(), []string{"-no-such-flag"}); code != 2 {
		t.Errorf("exit code %d for an unknown flag, want 2", code)
	}
}
