package obsgen

import "slices"

// Kind is a metric family's type, which decides the series names it exposes.
type Kind int

// The metric kinds the contract uses.
const (
	Counter Kind = iota
	Gauge
	Histogram
	Summary
)

// Metric is one metric family the server exports.
type Metric struct {
	Name string
	Kind Kind
}

// Metrics are the families the generated rules and dashboard may select: the observability
// contract of issue 13 (internal/obs exports them; TestMetricsMatchALiveScrape in cmd/plinth
// compares this list with a live server's /metrics), and the Go runtime and process
// collectors' families the dashboard shows.
var Metrics = []Metric{
	{"plinth_http_requests_total", Counter},
	{"plinth_http_request_duration_seconds", Histogram},
	{"plinth_http_requests_in_flight", Gauge},
	{"plinth_http_request_size_bytes", Histogram},
	{"plinth_http_response_size_bytes", Histogram},
	{"plinth_engine_operations_total", Counter},
	{"plinth_engine_effect_conflicts_total", Counter},
	{"plinth_store_transaction_duration_seconds", Histogram},
	{"plinth_store_retries_total", Counter},
	{"plinth_sqlite_writer_wait_seconds", Histogram},
	{"plinth_sqlite_group_size", Histogram},
	{"plinth_postgres_pool_connections", Gauge},
	{"plinth_postgres_pool_acquire_wait_seconds_total", Counter},
	{"plinth_postgres_pool_empty_acquires_total", Counter},
	{"plinth_outbox_head_sequence", Gauge},
	{"plinth_subscription_lag_events", Gauge},
	{"plinth_subscription_lag_seconds", Gauge},
	{"plinth_webhook_deliveries_total", Counter},
	{"plinth_webhook_attempts_total", Counter},
	{"plinth_webhook_dead_letters", Gauge},
	{"plinth_webhook_breaker_open", Gauge},
	{"plinth_webhook_breaker_state", Gauge},
	{"plinth_schedule_runs_total", Counter},
	{"plinth_schedule_run_duration_seconds", Histogram},
	{"plinth_schedule_lease_takeovers_total", Counter},
	{"plinth_ready", Gauge},
	{"plinth_build_info", Gauge},
	{"plinth_slo_objective_ratio", Gauge},
	{"plinth_slo_burn_rate", Gauge},
	{"plinth_slo_error_budget_remaining_ratio", Gauge},
	{"plinth_slo_alert", Gauge},
	{"go_goroutines", Gauge},
	{"go_memstats_heap_inuse_bytes", Gauge},
	{"go_memstats_heap_alloc_bytes", Gauge},
	{"go_gc_duration_seconds", Summary},
	{"process_cpu_seconds_total", Counter},
	{"process_resident_memory_bytes", Gauge},
}

// SeriesNames returns the names of the series the families in metrics expose, sorted: a
// histogram's _bucket, _count and _sum besides its own name (which native histograms use), a
// summary's _count and _sum besides its quantiles.
func SeriesNames(metrics []Metric) []string {
	var names []string
	for _, m := range metrics {
		names = append(names, m.Name)
		switch m.Kind {
		case Histogram:
			names = append(names, m.Name+"_bucket", m.Name+"_count", m.Name+"_sum")
		case Summary:
			names = append(names, m.Name+"_count", m.Name+"_sum")
		}
	}
	slices.Sort(names)
	return names
}
