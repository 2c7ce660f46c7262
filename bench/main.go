// Command bench measures Plinth against a minimal reference server doing the same SQL, and
// writes the results to bench/results/latest.json. Run it from the repository:
//
//	go run ./bench          # the full run on SQLite and PostgreSQL, about 6 minutes
//	go run ./bench -smoke   # 1 s per scenario: does everything answer 2xx?
//	go run ./bench -overload -db sqlite   # only Plinth past its capacity, shedding on and off
//
// See docs/performance.md for what it measures and the latest results.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/plinth-dev/plinth/bench/harness"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:]))
}

func run(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	var cfg harness.Config
	var only, serveFlags, dbs string
	fs.BoolVar(&cfg.Smoke, "smoke", false, "a quick check: 1 s per scenario, one round, 1,500 products")
	fs.IntVar(&cfg.Conns, "conns", 0, "concurrent keep-alive connections (default 32)")
	fs.DurationVar(&cfg.Warmup, "warmup", 0, "warm-up per round, not measured (default 2s)")
	fs.DurationVar(&cfg.Duration, "duration", 0, "measured time per round (default 5s)")
	fs.IntVar(&cfg.Rounds, "rounds", 0, "rounds per server and scenario, alternating Plinth and the reference (default 2)")
	fs.IntVar(&cfg.Products, "products", 0, "products to seed (default 10000 on SQLite, 5000 on PostgreSQL)")
	fs.IntVar(&cfg.Restarts, "restarts", 0, "start-to-ready measurements on the existing database (default 5)")
	fs.StringVar(&only, "only", "", "comma-separated scenarios to run: read, list, create, order, update (default all)")
	fs.StringVar(&dbs, "db", "sqlite,postgres", "comma-separated databases to run on, in order: sqlite, postgres")
	fs.StringVar(&cfg.PostgresURL, "postgres", "", "the PostgreSQL server to run on, where the run creates two schemas and drops them\n"+
		"(default $PLINTH_TEST_POSTGRES_URL, else "+harness.DefaultPostgresURL+")")
	fs.StringVar(&cfg.Profile, "profile", "", "serve Plinth from bench/profserver and write a CPU profile per scenario to this folder")
	fs.StringVar(&cfg.Results, "out", "", `the JSON report, relative to the repository (default bench/results/latest.json, or smoke.json with -smoke; "-" for none)`)
	fs.StringVar(&cfg.WorkDir, "work", "", "keep binaries, databases and server logs in this folder (default a temporary one, removed)")
	fs.StringVar(&serveFlags, "serve-flags", "", `extra flags for "plinth serve", space-separated, e.g. "--log-level=warn"`)
	fs.BoolVar(&cfg.Overload, "overload", false, "run only the overload pass (open loop at 1x, 2x and 4x the capacity, shedding on and off), on every database of -db")
	fs.BoolVar(&cfg.NoOverload, "no-overload", false, "skip the overload pass that a full run makes on SQLite")
	fs.BoolVar(&cfg.NoCost, "no-cost", false, "skip the cost pass: Plinth with metrics and traces off, metrics on, and both on, on SQLite")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg.ServeArgs = strings.Fields(serveFlags)
	if only != "" {
		cfg.Only = strings.Split(only, ",")
	}
	for _, db := range strings.Split(dbs, ",") {
		cfg.Databases = append(cfg.Databases, strings.TrimSpace(db))
	}
	switch {
	case cfg.Results == "-":
		cfg.Results = ""
	case cfg.Results == "" && cfg.Smoke:
		cfg.Results = "bench/results/smoke.json"
	case cfg.Results == "":
		cfg.Results = "bench/results/latest.json"
	}
	cfg.Log = os.Stderr
	rep, err := harness.Run(ctx, cfg)
	if rep != nil && len(rep.Databases) > 0 {
		rep.WriteText(os.Stdout)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 1
	}
	if len(rep.Failures) > 0 {
		return 1
	}
	return 0
}
