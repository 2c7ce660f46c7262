// Package obs holds a Plinth App's Prometheus metrics: one registry per App (never the
// process-wide default, since one process may run several Apps), every collector of the
// metrics Plinth exports, and the handler of GET /metrics. It is a leaf: it imports
// prometheus/client_golang and nothing of Plinth's. The engine, the drivers and the workers
// report through small typed methods whose receivers may be nil, so that a nil *Metrics
// (metrics turned off) costs a nil check and nothing else
// (docs/decisions/0023-metrics.md).
package obs

import (
	"cmp"
	"context"
	"log/slog"
	"net/http"
	"regexp"
	"runtime"
	"runtime/debug"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
)

// Options configure Metrics.
type Options struct {
	// Version is Plinth's version, for plinth_build_info; default the module's build
	// information.
	Version string
	// Spec names the served spec, for plinth_build_info.
	Spec string
	// LatencyThresholds are the latency thresholds of the spec's objectives: each becomes a
	// bucket boundary of plinth_http_request_duration_seconds, so that the share of requests
	// answered under it is exact rather than interpolated.
	LatencyThresholds []time.Duration
	// Logger receives errors met while gathering a scrape.
	Logger *slog.Logger
}

// Metrics is the registry of one App and the metrics Plinth reports into it. Every method
// may be called on a nil *Metrics, and then does nothing.
type Metrics struct {
	reg *prometheus.Registry
	log *slog.Logger

	httpRequests *prometheus.CounterVec
	httpDuration *prometheus.HistogramVec
	httpInFlight prometheus.Gauge
	httpReqSize  *prometheus.HistogramVec
	httpRespSize *prometheus.HistogramVec
	shed         *prometheus.CounterVec

	operations      *prometheus.CounterVec
	opCounters      sync.Map // opKey → the operations child, found once rather than per request
	effectConflicts *prometheus.CounterVec

	txRead, txWrite prometheus.Observer
	retries         *prometheus.CounterVec
	writerWait      prometheus.Histogram
	groupSize       prometheus.Histogram

	deliveries      *prometheus.CounterVec
	attempts        *prometheus.CounterVec
	scheduleRuns    *prometheus.CounterVec
	scheduleSeconds *prometheus.HistogramVec
	takeovers       *prometheus.CounterVec

	cacheHits, cacheMisses, cacheInvalidations prometheus.Counter
	rateLimited                                *prometheus.CounterVec
}

// DurationBuckets are the classic bucket boundaries of plinth_http_request_duration_seconds,
// before the objectives' thresholds are added.
var DurationBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// nativeFactor is the growth factor of native histogram buckets: at most 10% between
// neighbours, Prometheus's recommended resolution.
const nativeFactor = 1.1

// New returns Metrics with every collector registered on a registry of its own.
func New(o Options) *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{reg: reg, log: cmp.Or(o.Logger, slog.New(slog.DiscardHandler))}
	f := factory{reg}
	http := []string{"route", "method", "status_class"}
	m.httpRequests = f.counterVec("plinth_http_requests_total", "HTTP requests answered, by route template, method and status class.", http...)
	m.httpDuration = f.histogramVec(prometheus.HistogramOpts{Name: "plinth_http_request_duration_seconds",
		Help:    "Time from a request's arrival to its handler's return, by route template, method and status class.",
		Buckets: durationBuckets(o.LatencyThresholds), NativeHistogramBucketFactor: nativeFactor,
		NativeHistogramMaxBucketNumber: 160, NativeHistogramMinResetDuration: time.Hour}, http...)
	m.httpInFlight = f.gauge("plinth_http_requests_in_flight", "HTTP requests being served.")
	sizes := prometheus.ExponentialBuckets(64, 4, 9) // 64 B to 4 MiB
	m.httpReqSize = f.histogramVec(prometheus.HistogramOpts{Name: "plinth_http_request_size_bytes",
		Help: "Size of request bodies, by route template and method.", Buckets: sizes}, "route", "method")
	m.httpRespSize = f.histogramVec(prometheus.HistogramOpts{Name: "plinth_http_response_size_bytes",
		Help: "Size of response bodies, by route template and method.", Buckets: sizes}, "route", "method")
	m.shed = f.counterVec("plinth_shed_total",
		"Requests refused at once with 503 overloaded because the concurrency limit and its queue were full, by route template.", "route")

	m.operations = f.counterVec("plinth_engine_operations_total",
		"Engine operations of callers, by resource, operation and outcome.", "resource", "operation", "outcome")
	m.effectConflicts = f.counterVec("plinth_engine_effect_conflicts_total",
		"Writes refused by an effect's guard, by effect.", "effect")

	tx := f.histogramVec(prometheus.HistogramOpts{Name: "plinth_store_transaction_duration_seconds",
		Help:    "Duration of database reads and write transactions (a SQLite group commit is one).",
		Buckets: prometheus.ExponentialBuckets(0.0001, 4, 9)}, "kind")
	m.txRead, m.txWrite = tx.WithLabelValues("read"), tx.WithLabelValues("write")
	m.retries = f.counterVec("plinth_store_retries_total",
		"Write transactions run again after a busy database or a serialization failure.", "database")
	m.writerWait = f.histogram(prometheus.HistogramOpts{Name: "plinth_sqlite_writer_wait_seconds",
		Help:    "Time a SQLite write waited for the writer before its group ran.",
		Buckets: prometheus.ExponentialBuckets(0.0001, 4, 9)})
	m.groupSize = f.histogram(prometheus.HistogramOpts{Name: "plinth_sqlite_group_size",
		Help: "Writes committed together by one SQLite group commit.", Buckets: []float64{1, 2, 4, 8, 16, 32, 64}})

	m.deliveries = f.counterVec("plinth_webhook_deliveries_total",
		"Webhook deliveries that ended, by webhook and outcome (delivered, failed: to be retried, dead).", "webhook", "outcome")
	m.attempts = f.counterVec("plinth_webhook_attempts_total", "Webhook delivery attempts sent, by webhook.", "webhook")
	m.scheduleRuns = f.counterVec("plinth_schedule_runs_total", "Schedule runs, by schedule and outcome.", "schedule", "outcome")
	m.scheduleSeconds = f.histogramVec(prometheus.HistogramOpts{Name: "plinth_schedule_run_duration_seconds",
		Help: "Duration of schedule runs.", Buckets: prometheus.ExponentialBuckets(0.001, 4, 10)}, "schedule")
	m.takeovers = f.counterVec("plinth_schedule_lease_takeovers_total",
		"Schedule runs that outlived their lease, which another process may then have taken.", "schedule")

	m.cacheHits = f.counter("plinth_cache_hits_total", "Records read from the read cache.")
	m.cacheMisses = f.counter("plinth_cache_misses_total", "Records the read cache had to read from the database.")
	m.cacheInvalidations = f.counter("plinth_cache_invalidations_total", "Records dropped from the read cache because they changed.")
	m.rateLimited = f.counterVec("plinth_ratelimit_limited_total",
		"Requests refused with 429 by a rate limit, by route template and policy (the limit's name).", "route", "policy")

	reg.MustRegister(collectors.NewGoCollector(collectors.WithGoCollectorRuntimeMetrics(
		collectors.GoRuntimeMetricsRule{Matcher: regexp.MustCompile(`^/gc/heap/allocs:bytes$`)})),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	info := prometheus.NewGauge(prometheus.GaugeOpts{Name: "plinth_build_info", Help: "Always 1; its labels say what runs.",
		ConstLabels: prometheus.Labels{"version": cmp.Or(o.Version, moduleVersion()), "go_version": runtime.Version(), "spec": o.Spec}})
	info.Set(1)
	reg.MustRegister(info)
	return m
}

// factory registers what it makes.
type factory struct{ reg prometheus.Registerer }

func (f factory) counterVec(name, help string, labels ...string) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
	f.reg.MustRegister(c)
	return c
}

func (f factory) counter(name, help string) prometheus.Counter {
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help})
	f.reg.MustRegister(c)
	return c
}

func (f factory) gauge(name, help string) prometheus.Gauge {
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: help})
	f.reg.MustRegister(g)
	return g
}

func (f factory) histogram(o prometheus.HistogramOpts) prometheus.Histogram {
	h := prometheus.NewHistogram(o)
	f.reg.MustRegister(h)
	return h
}

func (f factory) histogramVec(o prometheus.HistogramOpts, labels ...string) *prometheus.HistogramVec {
	h := prometheus.NewHistogramVec(o, labels)
	f.reg.MustRegister(h)
	return h
}

// durationBuckets are DurationBuckets with every threshold added, sorted, without repeats.
func durationBuckets(thresholds []time.Duration) []float64 {
	b := slices.Clone(DurationBuckets)
	for _, t := range thresholds {
		b = append(b, t.Seconds())
	}
	slices.Sort(b)
	return slices.Compact(b)
}

// moduleVersion is the main module's version from the build information, "(devel)" for a
// build from a working tree.
func moduleVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}

// Registry is where the metrics are registered; other packages (the SLO evaluator) register
// theirs on it. Nil for a nil *Metrics.
func (m *Metrics) Registry() *prometheus.Registry {
	if m == nil {
		return nil
	}
	return m.reg
}

// Handler serves the registry in the Prometheus text format, or in OpenMetrics to a scraper
// that asks for it (which also carries native histograms as classic ones; a scraper that
// negotiates the protobuf format receives them native). Errors met while gathering are
// logged, and what could be gathered is served.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(prometheus.GathererFunc(m.gather), promhttp.HandlerOpts{
		EnableOpenMetrics: true,
		ErrorLog:          slog.NewLogLogger(m.log.Handler(), slog.LevelWarn),
		ErrorHandling:     promhttp.ContinueOnError,
		Timeout:           10 * time.Second,
	})
}

// gather is the registry's exposition without go_memstats_alloc_bytes_total: in
// OpenMetrics a counter's family is named without _total, which makes it a second family
// go_memstats_alloc_bytes beside the gauge of that name, and strict parsers refuse the
// scrape. go_gc_heap_allocs_bytes_total counts the same bytes.
func (m *Metrics) gather() ([]*dto.MetricFamily, error) {
	mfs, err := m.reg.Gather()
	return slices.DeleteFunc(mfs, func(mf *dto.MetricFamily) bool { return mf.GetName() == "go_memstats_alloc_bytes_total" }), err
}

// WatchReady exports plinth_ready: 1 when ready answers nil within timeout at scrape time,
// 0 otherwise. It is the same check as /readyz.
func (m *Metrics) WatchReady(ready func(context.Context) error, timeout time.Duration) {
	if m == nil {
		return
	}
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "plinth_ready",
		Help: "1 when the server is ready to serve (the check of /readyz), 0 when it is not."}, func() float64 {
		if ready == nil {
			return 1
		}
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		if ready(ctx) != nil {
			return 0
		}
		return 1
	}))
}
