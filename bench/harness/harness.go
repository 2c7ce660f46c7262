// Package harness measures Plinth against a minimal reference server doing the same SQL
// (bench/refserver), in one run on one machine, so that the ratio between the two holds on a
// shared, noisy machine where absolute numbers do not.
//
// Run builds both servers, starts each on a fresh SQLite database in a temporary folder,
// seeds the same products into both through their APIs, and then runs every scenario against
// Plinth and the reference in alternation (Plinth, reference, Plinth, reference), so that
// drift of the machine falls on both alike. It reports throughput, latency percentiles,
// failures and peak memory of each server, the ratios, and Plinth's start-to-ready time.
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
	Products  int           // products to seed; default 10,000 (smoke: 1,500)
	Restarts  int           // start-to-ready measurements on the existing database; default 5 (smoke: 1)
	Only      []string      // scenario names to run; default all
	Profile   string        // when set, serve Plinth from bench/profserver and write CPU profiles here
	Results   string        // when set, write the report as JSON here; relative to the module root
	ServeArgs []string      // extra flags for `plinth serve`, for experiments such as --log-level=warn
	Log       io.Writer     // progress lines; default discard
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
	c.Products = cmp.Or(c.Products, 10000)
	c.Restarts = cmp.Or(c.Restarts, 5)
	c.Dir = cmp.Or(c.Dir, ".")
	if c.Log == nil {
		c.Log = io.Discard
	}
	return c
}

// Targets from the issue that introduced the harness. They are reported, never asserted.
const (
	targetReadRPS    = 0.7                    // reads: at least this fraction of the reference's req/s
	targetReadP99    = 1.5                    // reads: p99 at most this multiple of the reference's
	targetWriteRPS   = 0.6                    // writes: at least this fraction of the reference's req/s
	targetRSS        = 100 << 20              // peak RSS of the server, bytes
	targetStartReady = 200 * time.Millisecond // start to ready on an existing database
)

// Run performs the benchmark. It stops every process it started, by PID, before returning,
// whatever happens. The error is for a run that could not be completed; failed requests are
// counted in the report, and Report.Failures lists them.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	cfg = cfg.withDefaults()
	if cfg.Products < readIDs+cfg.Conns*ownedPerConn {
		return nil, fmt.Errorf("seed at least %d products for %d connections", readIDs+cfg.Conns*ownedPerConn, cfg.Conns)
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

func (b *bench) start(ctx context.Context, name, bin, data string, args ...string) (*process, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	args = append(args, "--addr", addr, "--data", data)
	p, err := start(ctx, name, bin, addr, filepath.Join(b.work, name+".log"), 30*time.Second, args...)
	if err != nil {
		return nil, err
	}
	b.procs = append(b.procs, p)
	return p, nil
}

func (b *bench) specFile() string { return filepath.Join(b.root, "examples", "shop", "plinth.yaml") }

func (b *bench) startPlinth(ctx context.Context) (*process, error) {
	data := filepath.Join(b.work, "plinth-data")
	if b.profBin != "" {
		pprofAddr, err := freeAddr()
		if err != nil {
			return nil, err
		}
		p, err := b.start(ctx, "plinth", b.profBin, data, "--spec", b.specFile(), "--pprof", pprofAddr)
		if p != nil {
			p.pprofAddr = pprofAddr
		}
		return p, err
	}
	return b.start(ctx, "plinth", b.plinthBin, data, append([]string{"serve", "--spec", b.specFile()}, b.cfg.ServeArgs...)...)
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

	pl, err := b.startPlinth(ctx)
	if err != nil {
		return nil, err
	}
	rep.StartToReady.FreshMS = ms(pl.ready)
	ref, err := b.start(ctx, "reference", b.refBin, filepath.Join(b.work, "ref-data"))
	if err != nil {
		return nil, err
	}
	plinth := &target{name: "plinth", proc: pl}
	reference := &target{name: "reference", proc: ref}
	if plinth.customer, err = b.token("alice", "customer"); err != nil {
		return nil, err
	}
	if plinth.admin, err = b.token("root", "admin"); err != nil {
		return nil, err
	}
	reference.customer, reference.admin = plinth.customer, plinth.admin
	for _, t := range []*target{plinth, reference} {
		s, err := b.seed(ctx, t)
		if err != nil {
			return nil, err
		}
		rep.Seed.Seconds[t.name] = round(s.Elapsed.Seconds(), 2)
		rep.Seed.PerSecond[t.name] = round(s.PerSecond(), 0)
	}
	b.logf("seeded %d products into each server (%.0f/s into plinth, %.0f/s into the reference)",
		b.cfg.Products, rep.Seed.PerSecond["plinth"], rep.Seed.PerSecond["reference"])
	if err := parity(ctx, plinth, reference); err != nil {
		return nil, err
	}

	for _, sc := range scenarios(&b.seq) {
		if len(b.cfg.Only) > 0 && !slices.Contains(b.cfg.Only, sc.name) {
			continue
		}
		sr, err := b.scenario(ctx, sc, plinth, reference)
		if err != nil {
			return nil, err
		}
		rep.Scenarios = append(rep.Scenarios, sr)
		b.logf("%-7s plinth %8.0f req/s p99 %7.2f ms | reference %8.0f req/s p99 %7.2f ms | ratio %.2f×",
			sc.name, sr.Plinth.PerSecond, sr.Plinth.P99MS, sr.Reference.PerSecond, sr.Reference.P99MS, sr.Ratio.PerSecond)
	}

	// Start to ready on the database the scenarios left behind.
	if err := pl.stop(); err != nil {
		rep.Failures = append(rep.Failures, "plinth did not stop cleanly on SIGTERM: "+err.Error())
	}
	for range b.cfg.Restarts {
		p, err := b.startPlinth(ctx)
		if err != nil {
			return nil, fmt.Errorf("restart plinth: %w", err)
		}
		rep.StartToReady.ExistingMS = append(rep.StartToReady.ExistingMS, ms(p.ready))
		if err := p.stop(); err != nil {
			rep.Failures = append(rep.Failures, "plinth did not stop cleanly on SIGTERM: "+err.Error())
		}
	}
	rep.finish()
	rep.Seconds = round(time.Since(t0).Seconds(), 1)
	return rep, nil
}

// token mints a token with the real `plinth token` command, for the server's data folder.
func (b *bench) token(sub, role string) (string, error) {
	out, err := exec.Command(b.plinthBin, "token", "--sub", sub, "--role", role, "--data", filepath.Join(b.work, "plinth-data")).Output()
	if err != nil {
		return "", fmt.Errorf("plinth token: %w", err)
	}
	return strings.TrimSpace(string(out)), nil
}

// seed creates the products through the target's API.
func (b *bench) seed(ctx context.Context, t *target) (*Result, error) {
	t.ids = make([]string, b.cfg.Products)
	var n atomic.Int64
	res, err := Load{Addr: t.proc.addr, Conns: b.cfg.Conns, MaxRequests: int64(b.cfg.Products),
		NewWorker: func(int) Worker { return &seedWorker{t: t, n: &n, ids: t.ids} }}.Run(ctx)
	if err != nil {
		return nil, err
	}
	if res.Errors > 0 || res.Non2xx > 0 || slices.Contains(t.ids, "") {
		return nil, fmt.Errorf("seed %s: %d errors, %d non-2xx: %s", t.name, res.Errors, res.Non2xx, strings.Join(res.Samples, "; "))
	}
	return res, nil
}

func (b *bench) scenario(ctx context.Context, sc scenario, targets ...*target) (ScenarioReport, error) {
	sr := ScenarioReport{Name: sc.name, Kind: sc.kind, Request: sc.request}
	results := make([]*Result, len(targets))
	cpu := make([]time.Duration, len(targets))
	disk := make([]int64, len(targets))
	for i, t := range targets {
		results[i] = &Result{Statuses: map[int]int64{}}
		t.proc.resetPeakRSS()
	}
	for round := range b.cfg.Rounds {
		for i, t := range targets {
			if !t.proc.alive() {
				return sr, fmt.Errorf("%s has exited (%v); its log:\n%s", t.name, t.proc.err, tail(t.proc.logPath))
			}
			newWorker, err := sc.workers(ctx, t, b.cfg.Conns)
			if err != nil {
				return sr, err
			}
			load := Load{Addr: t.proc.addr, Conns: b.cfg.Conns, Warmup: b.cfg.Warmup, Duration: b.cfg.Duration,
				MaxRequests: 50_000_000, NewWorker: newWorker}
			var prof chan error
			if t.proc.pprofAddr != "" && round == 0 {
				prof = make(chan error, 1)
				go func() { prof <- b.profile(ctx, t.proc, sc.name) }()
			}
			cpu0, cpuErr0 := t.proc.cpuTime()
			disk0, diskErr0 := t.proc.diskWrites()
			res, err := load.Run(ctx)
			if err != nil {
				return sr, err
			}
			cpu1, cpuErr1 := t.proc.cpuTime()
			disk1, diskErr1 := t.proc.diskWrites()
			if cpuErr0 == nil && cpuErr1 == nil {
				cpu[i] += cpu1 - cpu0
			}
			if diskErr0 == nil && diskErr1 == nil {
				disk[i] += disk1 - disk0
			}
			if prof != nil {
				if err := <-prof; err != nil {
					return sr, err
				}
			}
			results[i].Merge(res)
		}
	}
	sides := make([]Side, len(targets))
	for i, t := range targets {
		sides[i] = side(results[i])
		if results[i].Sent > 0 {
			sides[i].CPUPerRequestUS = round(float64(cpu[i].Microseconds())/float64(results[i].Sent), 1)
			sides[i].DiskKBPerRequest = round(float64(disk[i])/1024/float64(results[i].Sent), 1)
		}
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
	}
	return sr, nil
}

// profile records a CPU profile of Plinth during the measured part of a round.
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
	if err := os.MkdirAll(b.cfg.Profile, 0o755); err != nil {
		return err
	}
	f, err := os.Create(filepath.Join(b.cfg.Profile, name+".pprof"))
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
