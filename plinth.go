// Package plinth embeds the Plinth engine in a Go program: give it a spec, get an
// http.Handler that serves the spec's REST API on embedded SQLite.
//
//	app, err := plinth.New(ctx, plinth.Options{SpecFile: "plinth.yaml", DataDir: "plinth_data"})
//	if err != nil { ... }
//	defer app.Close()
//	http.ListenAndServe("127.0.0.1:8080", app.Handler())
package plinth

import (
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"time"

	oteltrace "go.opentelemetry.io/otel/trace"

	"github.com/plinth-dev/plinth/internal/auth"
	"github.com/plinth-dev/plinth/internal/cache"
	"github.com/plinth-dev/plinth/internal/engine"
	"github.com/plinth-dev/plinth/internal/httpapi"
	"github.com/plinth-dev/plinth/internal/limit"
	"github.com/plinth-dev/plinth/internal/obs"
	"github.com/plinth-dev/plinth/internal/slo"
	"github.com/plinth-dev/plinth/internal/spec"
	"github.com/plinth-dev/plinth/internal/store"
	"github.com/plinth-dev/plinth/internal/store/open"
	"github.com/plinth-dev/plinth/internal/trace"
	"github.com/plinth-dev/plinth/internal/worker"
)

// DefaultDataDir is where data lives when Options.DataDir is empty.
const DefaultDataDir = "plinth_data"

// Options configure an App. Give the spec as SpecFile or as Spec (then SpecName names it in
// diagnostics).
type Options struct {
	SpecFile string
	Spec     []byte
	SpecName string
	DataDir  string
	// Database is where records live: empty for SQLite in DataDir, or a postgres:// URL for
	// PostgreSQL, which several processes can share. With PostgreSQL the JWT key must come from
	// the environment, so that every process accepts the same tokens.
	Database string
	// DatabaseSchema is the PostgreSQL schema that holds the tables; default "public".
	DatabaseSchema string
	// DatabasePool bounds PostgreSQL connections per process; default max(4, CPUs).
	DatabasePool int
	// StatementTimeout bounds every PostgreSQL statement; zero keeps the server's setting.
	StatementTimeout time.Duration
	// CacheSize bounds the memory of the read cache of records, in bytes; zero means
	// DefaultCacheSize, and a negative size turns the cache off (docs/load.md).
	CacheSize int64
	Logger    *slog.Logger // defaults to a logger that discards
	// AccessLog, when set, receives the access log's lines directly: JSON objects, one a
	// line, as Logger's slog.JSONHandler would write them, at a fifth of slog's cost; it must
	// take concurrent writes. Logger's level still decides. Nil logs them through Logger, which
	// suits any other handler.
	AccessLog io.Writer
	Now       func() time.Time // the clock; defaults to time.Now
	// IdempotencyTTL is how long Idempotency-Keys are remembered; default 24 hours.
	IdempotencyTTL time.Duration
	// EventRetention is how long events stay in the outbox; default 7 days.
	EventRetention time.Duration
	// Getenv resolves the spec's ${NAME} references (webhook URLs and secrets); default
	// os.Getenv.
	Getenv func(string) string
	// WebhookClient sends webhook deliveries; default a plain http.Client.
	WebhookClient *http.Client
	// Pprof serves Go's profiler at /debug/pprof/ to role admin.
	Pprof bool
	// Migrations is the folder of the spec's planned migrations (`plinth migrate plan`
	// writes them); default "migrations" beside SpecFile, and none for a Spec given as bytes.
	Migrations string
	// AutoMigrate says whether New makes the schema changes a start may make itself: new
	// tables, columns and indexes, and literal defaults filled in.
	AutoMigrate AutoMigrate
	// DisableMetrics turns the Prometheus metrics off entirely: nothing is counted, and
	// /metrics is not served.
	DisableMetrics bool
	// MetricsAccess says who may read GET /metrics on Handler; App.MetricsHandler serves
	// them to anyone, for a listener of their own.
	MetricsAccess MetricsAccess
	// TracerProvider makes the App's spans. When nil, the App makes its own, exporting over
	// OTLP when Getenv gives OTEL_EXPORTER_OTLP_TRACES_ENDPOINT or OTEL_EXPORTER_OTLP_ENDPOINT
	// (OTEL_EXPORTER_OTLP_PROTOCOL: http/protobuf, the default, or grpc; OTEL_SERVICE_NAME,
	// default the spec's name), and none at all otherwise. A provider given here is used as it
	// is, and Close leaves it running.
	TracerProvider oteltrace.TracerProvider
	// RedisURL shares the rate limits' buckets between the processes that name the same Redis
	// (redis:// or rediss://); it overrides the spec's `limits.redis`. Without either, each
	// process limits its own requests. A Redis that does not answer is no error: the limits
	// are kept per process until it answers again (docs/load.md).
	RedisURL string
	// RedisPrefix begins the rate limits' Redis keys; default "plinth:" and the spec's name.
	RedisPrefix string
	// DisableRateLimits turns the spec's rate limits, and the defaults, off.
	DisableRateLimits bool
	// EnableShedding puts the adaptive concurrency limit in front of the engine: requests it
	// cannot take are shed with 503 overloaded (docs/load.md). Off by default until it meets
	// its targets: measured, it cost closed-loop writes a third of their throughput on SQLite
	// and lowered goodput past capacity (docs/performance.md).
	EnableShedding bool
	// Shedding bounds the adaptive concurrency limit; zero fields take its defaults.
	Shedding Shedding
}

// Shedding bounds the adaptive concurrency limit in front of the engine: requests that find
// it and its short queue full are answered 503 overloaded at once (docs/load.md).
type Shedding = httpapi.Shedding

// MetricsAccess says who may read GET /metrics on the API's handler
// (docs/observability.md).
type MetricsAccess = httpapi.MetricsAccess

// Who may read /metrics on the API's handler; App.MetricsHandler serves them to anyone.
const (
	MetricsAdmin = httpapi.MetricsAdmin // bearer tokens of role admin only (the default)
	MetricsOpen  = httpapi.MetricsOpen  // anyone: for a listener only the scraper reaches
	MetricsOff   = httpapi.MetricsOff   // not served
)

// AutoMigrate says whether a start changes the schema itself (see Options.AutoMigrate). Any
// other change — a rename, a retype, a field dropped — needs a planned migration whatever
// it says, and New refuses to start until it is applied.
type AutoMigrate int

const (
	// AutoMigrateDefault is AutoMigrateOn until the migrations folder has a planned migration
	// for the kind of database, and AutoMigrateOff from then on: a team that plans its
	// migrations reviews every change, and no replica started without a flag makes one.
	AutoMigrateDefault AutoMigrate = iota
	// AutoMigrateOn makes the changes a start may make.
	AutoMigrateOn
	// AutoMigrateOff refuses to start while the spec asks any change of the schema.
	AutoMigrateOff
)

// DefaultCacheSize is the read cache's memory when Options.CacheSize is zero.
const DefaultCacheSize = cache.DefaultSize

// readyTimeout bounds the readiness check of a scrape (plinth_ready), and scrapeTimeout
// its reading of the outbox.
const (
	readyTimeout  = 2 * time.Second
	scrapeTimeout = 2 * time.Second
)

// sweepInterval is how often expired idempotency keys and events are deleted.
const sweepInterval = time.Minute

// App is a running engine: storage opened and migrated, routes derived from the spec.
type App struct {
	model   *spec.Model
	db      store.DB
	handler *httpapi.Server
	metrics *obs.Metrics       // nil when turned off
	stop    context.CancelFunc // stops the background work
	done    chan struct{}      // closed when the background work has stopped
	tracing *trace.Tracing
	limits  *limit.Limiter // nil when turned off
}

// SpecError is returned by New when the spec does not compile; it lists every diagnostic.
type SpecError struct {
	Diagnostics spec.Diagnostics
}

func (e *SpecError) Error() string { return "the spec has errors:\n" + e.Diagnostics.Error() }

// New compiles the spec, opens and migrates the database, and builds the HTTP handler. It
// fails with *SpecError for a bad spec, and with a message naming every problem for a
// database that cannot take the spec at a start: one that would lose data, that is behind
// or ahead of its planned migrations, or that needs a change a start does not make.
func New(ctx context.Context, opts Options) (*App, error) {
	log := cmp.Or(opts.Logger, slog.New(slog.DiscardHandler))
	src, name := opts.Spec, cmp.Or(opts.SpecName, "spec")
	if opts.SpecFile != "" {
		var err error
		if src, err = os.ReadFile(opts.SpecFile); err != nil {
			return nil, fmt.Errorf("read spec: %w", err)
		}
		name = opts.SpecFile
	}
	model, diags := spec.Compile(name, src)
	if diags.HasErrors() {
		return nil, &SpecError{Diagnostics: diags}
	}
	var metrics *obs.Metrics
	if !opts.DisableMetrics {
		var thresholds []time.Duration
		for _, o := range model.SLOs {
			if o.Latency > 0 {
				thresholds = append(thresholds, o.Latency)
			}
		}
		metrics = obs.New(obs.Options{Spec: model.Name, Logger: log.With("component", "metrics"), LatencyThresholds: thresholds})
	}
	dataDir := cmp.Or(opts.DataDir, DefaultDataDir)
	if opts.Database != "" && os.Getenv(auth.SecretEnv) == "" && (model.Auth.JWT == nil || model.Auth.JWT.SecretEnv == "") {
		return nil, fmt.Errorf("with a shared database every process must accept the same tokens: set %s (32 characters or more)", auth.SecretEnv)
	}
	tokens, key, err := auth.ForModel(model, dataDir, opts.Now)
	if err != nil {
		return nil, err
	}
	migrations := opts.Migrations
	if migrations == "" && opts.SpecFile != "" {
		migrations = filepath.Join(filepath.Dir(opts.SpecFile), "migrations")
	}
	var auto *bool
	if opts.AutoMigrate != AutoMigrateDefault {
		on := opts.AutoMigrate == AutoMigrateOn
		auto = &on
	}
	var observer store.Observer
	if metrics != nil {
		observer = metrics
	}
	getenv := opts.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	tracing, err := trace.New(ctx, trace.Config{Getenv: getenv, Service: model.Name, Provider: opts.TracerProvider})
	if err != nil {
		return nil, fmt.Errorf("tracing: %w", err)
	}
	db, err := open.Open(ctx, model, open.Options{Database: opts.Database, DataDir: dataDir, Schema: opts.DatabaseSchema,
		Pool: opts.DatabasePool, StatementTimeout: opts.StatementTimeout, Logger: log, Migrations: migrations, AutoMigrate: auto,
		Observer: observer})
	if err != nil {
		tracing.Shutdown(ctx)
		return nil, err
	}
	if p, ok := db.(store.Pooled); ok {
		metrics.WatchPool(func() obs.PoolStats { return obs.PoolStats(p.PoolStats()) })
	}
	// fail undoes what New made before err.
	fail := func(err error) (*App, error) {
		db.Close()
		tracing.Shutdown(ctx)
		return nil, err
	}
	hooks, err := worker.New(worker.Config{Model: model, Store: db, Now: opts.Now, Getenv: getenv,
		Logger: log.With("component", "webhooks"), Client: opts.WebhookClient, Tracing: tracing, Metrics: metrics})
	if err == nil {
		err = hooks.Subscribe(ctx)
	}
	if err != nil {
		return fail(err)
	}
	var records *cache.Cache
	engineStore := store.Store(db)
	if opts.CacheSize >= 0 {
		_, listens := db.(store.Listener)
		records, err = cache.New(cache.Config{Store: db, Size: opts.CacheSize, Listens: listens, Observer: metrics,
			Logger: log.With("component", "cache")})
		if err != nil {
			return fail(err)
		}
		metrics.WatchCache(records.Bytes, records.Lag)
		engineStore = records
	}
	eng, err := engine.New(engine.Config{Model: model, Store: engineStore, Now: opts.Now, IdempotencyTTL: opts.IdempotencyTTL,
		EventRetention: opts.EventRetention, Committed: hooks.Wake,
		Logger: log.With("component", "engine"), CursorKey: derive(key, "plinth list cursors"), Metrics: metrics})
	if err != nil {
		return fail(err)
	}
	metrics.WatchReady(db.Ping, readyTimeout)
	metrics.WatchOutbox(hooks.Outbox, scrapeTimeout)
	objectives := slo.New(slo.Config{SLOs: model.SLOs, Now: opts.Now, Logger: log.With("component", "slo")})
	if metrics != nil {
		if err := objectives.Register(metrics.Registry()); err != nil {
			return fail(err)
		}
	}
	limits, err := rateLimits(model, opts, getenv, log)
	if err != nil {
		return fail(err)
	}
	if limits.Shared() {
		metrics.WatchRateLimitRedis(limits.RedisUp)
	}
	var shedding *httpapi.Shedding
	if opts.EnableShedding {
		shedding = &opts.Shedding
	}
	api, err := httpapi.New(httpapi.Config{Engine: eng, Verifier: tokens, Webhooks: hooks, Pprof: opts.Pprof,
		Logger: log.With("component", "http"), Ready: db.Ping, Metrics: metrics, MetricsAccess: opts.MetricsAccess, SLOs: objectives,
		Tracing: tracing, Limits: limits, AccessLog: opts.AccessLog, Shedding: shedding})
	if err != nil {
		limits.Close()
		return fail(err)
	}
	bg, stop := context.WithCancel(context.Background())
	app := &App{model: model, db: db, handler: api, metrics: metrics, stop: stop, done: make(chan struct{}), tracing: tracing,
		limits: limits}
	var wg sync.WaitGroup
	wg.Go(func() { eng.RunSweeper(bg, sweepInterval) })
	wg.Go(func() { hooks.Run(bg) })
	wake, up := hooks.Wake, func(bool) {}
	if records != nil {
		wg.Go(func() { records.Run(bg) })
		wake = func() { hooks.Wake(); records.Wake() }
		up = records.Listening
	}
	if l, ok := db.(store.Listener); ok {
		wg.Go(func() { l.Listen(bg, wake, up) })
	}
	wg.Go(func() {
		worker.NewScheduler(model, eng, db, log.With("component", "schedules"), opts.Now, metrics).Run(bg)
	})
	go func() {
		wg.Wait()
		close(app.done)
	}()
	return app, nil
}

// Handler serves the API.
func (a *App) Handler() http.Handler { return a.handler }

// Drain marks the App as shutting down: /readyz answers 503 from now on, so that load
// balancers stop sending it requests, while it goes on serving those that still arrive. Call
// it before http.Server.Shutdown, then Close.
func (a *App) Drain() { a.handler.Drain() }

// MetricsHandler serves the Prometheus metrics to anyone, in the text format or in
// OpenMetrics: for a listener of its own, which only the scraper reaches. Nil when metrics
// are turned off.
func (a *App) MetricsHandler() http.Handler {
	if a.metrics == nil {
		return nil
	}
	return a.metrics.Handler()
}

// Name is the served spec's name.
func (a *App) Name() string { return a.model.Name }

// Close stops the background work (webhook deliveries in flight finish, within their
// timeout), closes the database, and flushes the spans not yet exported (within 5 seconds).
// Stop serving requests first.
func (a *App) Close() error {
	a.stop()
	<-a.done
	err := errors.Join(a.db.Close(), a.limits.Close())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return errors.Join(err, a.tracing.Shutdown(ctx))
}

// rateLimits is the limiter of the spec's rate limits; nil when they are turned off.
func rateLimits(model *spec.Model, opts Options, getenv func(string) string, log *slog.Logger) (*limit.Limiter, error) {
	if opts.DisableRateLimits || len(model.Limits) == 0 {
		return nil, nil
	}
	url := opts.RedisURL
	if url == "" && model.LimitsRedis != "" {
		url = model.LimitsRedis
		if m := envRef.FindStringSubmatch(url); m != nil {
			if url = getenv(m[1]); url == "" {
				return nil, fmt.Errorf("limits.redis names ${%s}, which is not set", m[1])
			}
		}
	}
	return limit.New(limit.Config{Limits: model.Limits, RedisURL: url, Prefix: cmp.Or(opts.RedisPrefix, limit.DefaultPrefix+model.Name+":"),
		Now: opts.Now, Logger: log.With("component", "limits")})
}

// envRef is a ${NAME} reference to the environment.
var envRef = regexp.MustCompile(`^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$`)

// derive makes a purpose-specific key, so that one secret never serves two purposes.
func derive(key []byte, purpose string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(purpose))
	return m.Sum(nil)
}
