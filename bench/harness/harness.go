// Package harness measures Plinth against a minimal reference server doing the same SQL
// (bench/refserver), in one run on one machine, so that the ratio between the two holds on a
// shared, noisy machine where absolute numbers do not.
//
// Run builds both servers and measures them on each database in turn: SQLite, each server on
// a fresh database in a temporary folder, then PostgreSQL, each server in a fresh schema of
// its own. On each it seeds the same products into both servers through their APIs, and then
// runs every scenario against Plinth and the reference in alternation (Plinth, reference,
// Plinth, reference), so that drift of the machine falls on both alike. It reports, per
// database, throughput, latency percentiles, CPU per request, failures and peak memory of
// each server, the ratios, and Plinth's start-to-ready time.
package harness

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"time"
)

// Config sets up a run. The zero value is the full benchmark.
type Config struct {
	Dir       string        // a folder inside the Plinth module; default the working directory
	WorkDir   string        // where binaries, databases and logs go; default a new temporary folder, removed after
	Smoke     bool          // a quick check: 1 s per scenario, one round, a smaller seed
	Conns     int           // concurrent connections; default 32
	Warmup    time.Duration // per round, not measured; default 2s (smoke: 200ms)
	Duration  time.Duration // measured per round; default 5s (smoke: 1s)
	Rounds    int           // rounds per server and scenario; default 2 (smoke: 1)
	Products  int           // products to seed; default 10,000 on SQLite, 5,000 on PostgreSQL (smoke: 1,500)
	Restarts  int           // start-to-ready measurements on the existing database; default 5 (smoke: 1)
	Only      []string      // scenario names to run; default all
	Databases []string      // "sqlite", "postgres" or both, run in that order; default both
	// PostgresURL is the PostgreSQL server for the "postgres" pass, where the run creates two
	// schemas and drops them at the end; default $PLINTH_TEST_POSTGRES_URL, else DefaultPostgresURL.
	PostgresURL string
	Profile     string   // when set, serve Plinth from bench/profserver and write CPU profiles here
	Results     string   // when set, write the report as JSON here; relative to the module root
	ServeArgs   []string // extra flags for `plinth serve`, for experiments such as --log-level=warn
	NoCost      bool     // skip the cost pass (what metrics and traces cost a request, on SQLite)
	// Overload runs the overload pass alone (after the seed) on every database of the run;
	// without it a full run includes the pass on SQLite, unless NoOverload.
	Overload   bool
	NoOverload bool
	Log        io.Writer // progress lines; default discard
}

func (c Config) withDefaults() Config {
	if c.Smoke {
		c.Warmup = cmp.Or(c.Warmup, 200*time.Millisecond)
		c.Duration = cmp.Or(c.Duration, time.Second)
		c.Rounds = cmp.Or(c.Rounds, 1)
		c.Products = cmp.Or(c.Products, 1500)
		c.Restarts = cmp.Or(c.Restarts, 1)
	}
	c.Conns = cmp.Or(c.Conns, 32)
	c.Warmup = cmp.Or(c.Warmup, 2*time.Second)
	c.Duration = cmp.Or(c.Duration, 5*time.Second)
	c.Rounds = cmp.Or(c.Rounds, 2)
	c.Restarts = cmp.Or(c.Restarts, 5)
	c.Dir = cmp.Or(c.Dir, ".")
	if len(c.Databases) == 0 {
		c.Databases = []string{dbSQLite, dbPostgres}
	}
	c.PostgresURL = cmp.Or(c.PostgresURL, os.Getenv(postgresURLVar), DefaultPostgresURL)
	if c.Log == nil {
		c.Log = io.Discard
	}
	return c
}

// products is how many products to seed on db. PostgreSQL's default is half SQLite's: there
// every create commits alone, under the outbox's lock, so seeding goes at a few hundred
// products a second, and a list or read of a B-tree of 5,000 rows costs what one of 10,000
// does.
func (c Config) products(db string) int {
	if db == dbPostgres {
		return cmp.Or(c.Products, 5000)
	}
	return cmp.Or(c.Products, 10000)
}

// Targets, reported and never asserted, from issue 11; the req/s target of each scenario on
// SQLite is in its definition.
const (
	targetReadP99     = 1.5                    // SQLite reads: p99 at most this multiple of the reference's
	targetPostgresRPS = 0.7                    // PostgreSQL, every scenario: at least this fraction of the reference's req/s
	targetRSS         = 100 << 20              // peak RSS of the server, bytes
	targetStartReady  = 200 * time.Millisecond // start to ready on an existing database
)

// Run performs the benchmark. It stops every process it started, by PID, and drops every
// PostgreSQL schema it created, before returning, whatever happens. The error is for a run
// that could not be completed; failed requests are counted in the report, and
// Report.Failures lists them.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	cfg = cfg.withDefaults()
	for _, db := range cfg.Databases {
		if db != dbSQLite && db != dbPostgres {
			return nil, fmt.Errorf("unknown database %q: sqlite or postgres", db)
		}
		if n := cfg.products(db); n < readIDs+cfg.Conns*ownedPerConn {
			return nil, fmt.Errorf("seed at least %d products for %d connections, not %d", readIDs+cfg.Conns*ownedPerConn, cfg.Conns, n)
		}
	}
	root, err := moduleRoot(cfg.Dir)
	if err != nil {
		return nil, err
	}
	work := cfg.WorkDir
	if work == "" {
		if work, err = os.MkdirTemp("", "plinth-bench-"); err != nil {
			return nil, err
		}
		defer os.RemoveAll(work)
	}
	b := &bench{cfg: cfg, root: root, work: work, log: cfg.Log}
	defer b.stopAll()
	rep, err := b.run(ctx)
	if err != nil {
		return rep, err
	}
	if err := b.stopAll(); err != nil {
		return rep, err
	}
	if cfg.Results != "" {
		path := cfg.Results
		if !filepath.IsAbs(path) {
			path = filepath.Join(root, path)
		}
		if err := rep.WriteJSON(path); err != nil {
			return rep, err
		}
		b.logf("wrote %s", path)
	}
	return rep, nil
}

// bench is the state of one run.
type bench struct {
	cfg   Config
	root  string
	work  string
	log   io.Writer
	procs []*process
	seq   atomic.Int64 // numbers unique skus, stock values and idempotency keys

	plinthBin, refBin, profBin string
}

func (b *bench) logf(format string, args ...any) {
	fmt.Fprintf(b.log, format+"\n", args...)
}

// stopAll stops every process still running, and reports those that did not exit cleanly.
func (b *bench) stopAll() error {
	var errs []error
	for _, p := range b.procs {
		errs = append(errs, p.stop())
	}
	b.procs = nil
	return errors.Join(errs...)
}

// start starts bin as server name on db, with env added to db's.
func (b *bench) start(ctx context.Context, db *backend, name, bin string, env []string, args ...string) (*process, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	args = append(args, "--addr", addr, "--data", filepath.Join(db.dir, name+"-data"))
	p, err := start(ctx, name, bin, addr, filepath.Join(db.dir, name+".log"), 30*time.Second, append(slices.Clip(db.env), env...), args...)
	if err != nil {
		return nil, err
	}
	b.procs = append(b.procs, p)
	return p, nil
}

func (b *bench) specFile() string { return filepath.Join(b.root, "examples", "shop", "plinth.yaml") }

// startPlinth starts Plinth on db serving the shop, with more flags and environment.
func (b *bench) startPlinth(ctx context.Context, db *backend, flags, env []string) (*process, error) {
	args := append(append([]string{"--spec", b.specFile()}, db.plinthArgs()...), flags...)
	if b.profBin != "" {
		pprofAddr, err := freeAddr()
		if err != nil {
			return nil, err
		}
		p, err := b.start(ctx, db, "plinth", b.profBin, env, append(args, "--pprof", pprofAddr)...)
		if p != nil {
			p.pprofAddr = pprofAddr
		}
		return p, err
	}
	// The harness drives a few subjects from one address far past any rate limit a spec
	// should set: it measures the engine, so the limits are off (docs/load.md).
	return b.start(ctx, db, "plinth", b.plinthBin, env, append(append([]string{"serve", "--rate-limits=false"}, args...), b.cfg.ServeArgs...)...)
}

func (b *bench) run(ctx context.Context) (*Report, error) {
	rep := newReport(b.cfg)
	if out, err := exec.Command("git", "-C", b.root, "describe", "--always", "--dirty").Output(); err == nil {
		rep.Commit = strings.TrimSpace(string(out))
	}
	t0 := time.Now()
	bin := filepath.Join(b.work, "bin")
	b.plinthBin, b.refBin = filepath.Join(bin, "plinth"), filepath.Join(bin, "refserver")
	builds := [][2]string{{"./cmd/plinth", b.plinthBin}, {"./bench/refserver", b.refBin}}
	if b.cfg.Profile != "" {
		b.profBin = filepath.Join(bin, "profserver")
		builds = append(builds, [2]string{"./bench/profserver", b.profBin})
	}
	for _, bd := range builds {
		if err := build(ctx, b.root, bd[0], bd[1]); err != nil {
			return nil, err
		}
	}
	b.logf("built %d binaries in %s", len(builds), time.Since(t0).Round(time.Millisecond))
	for _, name := range b.cfg.Databases {
		dr, err := b.database(ctx, name)
		if dr != nil {
			rep.Databases = append(rep.Databases, *dr)
		}
		if err != nil {
			return rep, fmt.Errorf("%s: %w", name, err)
		}
	}
	rep.finish()
	rep.Seconds = round(time.Since(t0).Seconds(), 1)
	return rep, nil
}

// database runs every scenario on one database, and stops both servers.
func (b *bench) database(ctx context.Context, name string) (_ *DatabaseReport, err error) {
	db, err := openBackend(ctx, name, filepath.Join(b.work, name), b.cfg.PostgresURL)
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, b.stopAll(), db.close()) }()
	b.logf("%s: %s", name, db.where())
	rep := &DatabaseReport{Database: name, Seed: Seed{Products: b.cfg.products(name),
		Method:  fmt.Sprintf("POST /v1/products through each server's API, %d connections", b.cfg.Conns),
		Seconds: map[string]float64{}, PerSecond: map[string]float64{}}}
	if db.conn != nil {
		rep.Schemas = []string{db.schema, db.schema + "_ref"}
	}
	pl, err := b.startPlinth(ctx, db, nil, nil)
	if err != nil {
		return nil, err
	}
	rep.StartToReady.FreshMS = ms(pl.ready)
	ref, err := b.start(ctx, db, "reference", b.refBin, nil, db.refArgs()...)
	if err != nil {
		return nil, err
	}
	plinth := &target{name: "plinth", proc: pl, app: db.plinthApp}
	reference := &target{name: "reference", proc: ref, app: db.refApp}
	if plinth.customer, err = b.token(db, "alice", "customer"); err != nil {
		return nil, err
	}
	if plinth.admin, err = b.token(db, "root", "admin"); err != nil {
		return nil, err
	}
	reference.customer, reference.admin = plinth.customer, plinth.admin
	for _, t := range []*target{plinth, reference} {
		s, err := b.seed(ctx, t, rep.Seed.Products)
		if err != nil {
			return nil, err
		}
		rep.Seed.Seconds[t.name] = round(s.Elapsed.Seconds(), 2)
		rep.Seed.PerSecond[t.name] = round(s.PerSecond(), 0)
	}
	b.logf("%s: seeded %d products into each server (%.0f/s into plinth, %.0f/s into the reference)",
		name, rep.Seed.Products, rep.Seed.PerSecond["plinth"], rep.Seed.PerSecond["reference"])
	if err := parity(ctx, plinth, reference); err != nil {
		return nil, err
	}

	for _, sc := range scenarios(&b.seq) {
		if b.cfg.Overload || (len(b.cfg.Only) > 0 && !slices.Contains(b.cfg.Only, sc.name)) {
			continue
		}
		sr, err := b.scenario(ctx, db, sc, plinth, reference)
		if err != nil {
			return rep, err
		}
		rep.Scenarios = append(rep.Scenarios, sr)
		b.logf("%s: %-7s plinth %8.0f req/s p99 %7.2f ms | reference %8.0f req/s p99 %7.2f ms | ratio %.2f×",
			name, sc.name, sr.Plinth.PerSecond, sr.Plinth.P99MS, sr.Reference.PerSecond, sr.Reference.P99MS, sr.Ratio.PerSecond)
	}

	// Start to ready on the database the scenarios left behind.
	if err := pl.stop(); err != nil {
		rep.Failures = append(rep.Failures, "plinth did not stop cleanly on SIGTERM: "+err.Error())
	}
	if b.costPass(name) {
		if rep.Cost, err = b.cost(ctx, db, plinth); err != nil {
			return rep, fmt.Errorf("cost pass: %w", err)
		}
	}
	if b.overloadPass(name) {
		if rep.Overload, err = b.overload(ctx, db, plinth); err != nil {
			return rep, fmt.Errorf("overload pass: %w", err)
		}
	}
	if b.cfg.Overload {
		return rep, nil
	}
	for range b.cfg.Restarts {
		p, err := b.startPlinth(ctx, db, nil, nil)
		if err != nil {
			return rep, fmt.Errorf("restart plinth: %w", err)
		}
		rep.StartToReady.ExistingMS = append(rep.StartToReady.ExistingMS, ms(p.ready))
		if err := p.stop(); err != nil {
			rep.Failures = append(rep.Failures, "plinth did not stop cleanly on SIGTERM: "+err.Error())
		}
	}
	return rep, nil
}

// token mints a token with the real `plinth token` command, for the server's data folder
// (SQLite) or the shared key (PostgreSQL).
func (b *bench) token(db *backend, sub, role string) (string, error) {
	cmd := exec.Command(b.plinthBin, "token", "--sub", sub, "--role", role, "--data", filepath.Join(db.dir, "plinth-data"))
	cmd.Env = append(os.Environ(), db.env...)
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("plinth token: %w", err)
	}
	return strings.TrimSpace(string(out)), nil
}

// seed creates the products through the target's API.
func (b *bench) seed(ctx context.Context, t *target, products int) (*Result, error) {
	t.ids = make([]string, products)
	var n atomic.Int64
	res, err := Load{Addr: t.proc.addr, Conns: b.cfg.Conns, MaxRequests: int64(products),
		NewWorker: func(int) Worker { return &seedWorker{t: t, n: &n, ids: t.ids} }}.Run(ctx)
	if err != nil {
		return nil, err
	}
	if res.Errors > 0 || res.Non2xx > 0 || slices.Contains(t.ids, "") {
		return nil, fmt.Errorf("seed %s: %d errors, %d non-2xx: %s", t.name, res.Errors, res.Non2xx, strings.Join(res.Samples, "; "))
	}
	return res, nil
}

func (b *bench) scenario(ctx context.Context, db *backend, sc scenario, targets ...*target) (ScenarioReport, error) {
	sr := ScenarioReport{Name: sc.name, Kind: sc.kind, TargetRPS: sc.sqliteRPS, Request: sc.request}
	if db.name == dbPostgres {
		sr.TargetRPS = targetPostgresRPS
	}
	tallies := make([]*tally, len(targets))
	for i, t := range targets {
		tallies[i] = newTally()
		t.proc.resetPeakRSS()
	}
	for round := range b.cfg.Rounds {
		for i, t := range targets {
			if err := b.measure(ctx, db, sc, t, tallies[i], round == 0); err != nil {
				return sr, err
			}
		}
	}
	sides := make([]Side, len(targets))
	for i, t := range targets {
		sides[i] = tallies[i].side()
		if rss, err := t.proc.peakRSS(); err == nil {
			sides[i].PeakRSSMB = round(float64(rss)/(1<<20), 1)
		}
	}
	sr.Plinth, sr.Reference = sides[0], sides[1]
	sr.Ratio = Ratio{
		PerSecond: ratio(sr.Plinth.PerSecond, sr.Reference.PerSecond),
		P50:       ratio(sr.Plinth.P50MS, sr.Reference.P50MS),
		P99:       ratio(sr.Plinth.P99MS, sr.Reference.P99MS),
		CPU:       ratio(sr.Plinth.CPUPerRequestUS, sr.Reference.CPUPerRequestUS),
		DBCPU:     ratio(sr.Plinth.DBCPUPerRequestUS, sr.Reference.DBCPUPerRequestUS),
	}
	return sr, nil
}

// tally is one server's measurements in a scenario, summed over rounds.
type tally struct {
	res        *Result
	cpu, dbCPU time.Duration
	disk       int64
}

func newTally() *tally { return &tally{res: &Result{Statuses: map[int]int64{}}} }

// measure runs one round of sc against t and adds it to acc; with profile, and a server
// that serves profiles, it records a CPU profile of the round too.
func (b *bench) measure(ctx context.Context, db *backend, sc scenario, t *target, acc *tally, profile bool) error {
	if !t.proc.alive() {
		return fmt.Errorf("%s has exited (%v); its log:\n%s", t.name, t.proc.err, tail(t.proc.logPath))
	}
	newWorker, err := sc.workers(ctx, t, b.cfg.Conns)
	if err != nil {
		return err
	}
	load := Load{Addr: t.proc.addr, Conns: b.cfg.Conns, Warmup: b.cfg.Warmup, Duration: b.cfg.Duration,
		MaxRequests: 50_000_000, NewWorker: newWorker}
	var prof chan error
	if t.proc.pprofAddr != "" && profile {
		prof = make(chan error, 1)
		go func() { prof <- b.profile(ctx, t.proc, filepath.Join(db.name, sc.name)) }()
	}
	cpu0, cpuErr0 := t.proc.cpuTime()
	disk0, diskErr0 := t.proc.diskWrites()
	backends0 := db.backendCPU(ctx, t.app)
	res, err := load.Run(ctx)
	if err != nil {
		return err
	}
	cpu1, cpuErr1 := t.proc.cpuTime()
	disk1, diskErr1 := t.proc.diskWrites()
	acc.dbCPU += db.backendCPU(ctx, t.app).since(backends0)
	if cpuErr0 == nil && cpuErr1 == nil {
		acc.cpu += cpu1 - cpu0
	}
	if diskErr0 == nil && diskErr1 == nil {
		acc.disk += disk1 - disk0
	}
	if prof != nil {
		if err := <-prof; err != nil {
			return err
		}
	}
	acc.res.Merge(res)
	return nil
}

// side is what acc holds, per request.
func (acc *tally) side() Side {
	s := side(acc.res)
	if n := acc.res.Sent; n > 0 {
		s.CPUPerRequestUS = round(float64(acc.cpu.Microseconds())/float64(n), 1)
		s.DBCPUPerRequestUS = round(float64(acc.dbCPU.Microseconds())/float64(n), 1)
		s.DiskKBPerRequest = round(float64(acc.disk)/1024/float64(n), 1)
	}
	return s
}

// profile records a CPU profile of Plinth during the measured part of a round, into
// Config.Profile/name.pprof.
func (b *bench) profile(ctx context.Context, p *process, name string) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(b.cfg.Warmup):
	}
	url := fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", p.pprofAddr, max(1, int(b.cfg.Duration.Seconds())))
	res, err := http.Get(url)
	if err != nil {
		return fmt.Errorf("profile %s: %w", name, err)
	}
	defer res.Body.Close()
	path := filepath.Join(b.cfg.Profile, name+".pprof")
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, res.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// parity checks that the reference answers what Plinth answers, so that the two do the same
// work: the same product, member for member, and the same list page.
func parity(ctx context.Context, a, b *target) error {
	get := func(t *target, path string) (map[string]any, error) {
		req, err := http.NewRequestWithContext(ctx, "GET", "http://"+t.proc.addr+path, nil)
		if err != nil {
			return nil, err
		}
		req.Header.Set("Authorization", "Bearer "+t.customer)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, err
		}
		defer res.Body.Close()
		var m map[string]any
		if res.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("%s GET %s: status %d", t.name, path, res.StatusCode)
		}
		return m, json.NewDecoder(res.Body).Decode(&m)
	}
	strip := func(m map[string]any) map[string]any {
		for _, k := range []string{"id", "created_at", "updated_at", "next_cursor"} {
			delete(m, k)
		}
		if items, ok := m["items"].([]any); ok {
			for _, it := range items {
				if im, ok := it.(map[string]any); ok {
					delete(im, "id")
					delete(im, "created_at")
					delete(im, "updated_at")
				}
			}
		}
		return m
	}
	for _, paths := range [][2]string{{"/v1/products/" + a.ids[0], "/v1/products/" + b.ids[0]}, {"/v1/products?" + listQuery, "/v1/products?" + listQuery}} {
		ma, err := get(a, paths[0])
		if err != nil {
			return err
		}
		mb, err := get(b, paths[1])
		if err != nil {
			return err
		}
		if !reflect.DeepEqual(strip(ma), strip(mb)) {
			return fmt.Errorf("the reference answers differently from plinth to GET %s:\nplinth:    %v\nreference: %v", paths[0], ma, mb)
		}
	}
	return nil
}

func ms(d time.Duration) float64 { return round(float64(d)/float64(time.Millisecond), 2) }

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return round(a/b, 2)
}

func machine() Machine {
	m := Machine{NProc: runtime.NumCPU(), GoVersion: runtime.Version(), OS: runtime.GOOS, Arch: runtime.GOARCH}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	if out, err := exec.Command("go", "version").Output(); err == nil {
		m.GoVersion = strings.TrimSpace(strings.TrimPrefix(string(out), "go version "))
	}
	return m
}
