package obsgen

import (
	"encoding/json"
	"fmt"

	"github.com/plinth-dev/plinth/internal/spec"
)

// dashboardSchemaVersion is the dashboard JSON schema Grafana 11 writes (it migrates older
// ones when it loads them).
const dashboardSchemaVersion = 39

// The dashboard's variables, as its queries use them.
const (
	rateInterval = "$__rate_interval"
	onInstance   = `instance=~"$instance"`
)

type dashboard struct {
	UID           string           `json:"uid"`
	Title         string           `json:"title"`
	Tags          []string         `json:"tags"`
	Editable      bool             `json:"editable"`
	GraphTooltip  int              `json:"graphTooltip"`
	Refresh       string           `json:"refresh"`
	SchemaVersion int              `json:"schemaVersion"`
	Version       int              `json:"version"`
	Time          map[string]any   `json:"time"`
	Timezone      string           `json:"timezone"`
	Annotations   map[string]any   `json:"annotations"`
	Templating    map[string]any   `json:"templating"`
	Panels        []dashboardPanel `json:"panels"`
}

type dashboardPanel struct {
	ID          int            `json:"id"`
	Type        string         `json:"type"`
	Title       string         `json:"title"`
	Description string         `json:"description,omitempty"`
	GridPos     gridPos        `json:"gridPos"`
	Datasource  map[string]any `json:"datasource,omitempty"`
	Targets     []target       `json:"targets,omitempty"`
	FieldConfig map[string]any `json:"fieldConfig,omitempty"`
	Collapsed   *bool          `json:"collapsed,omitempty"`
	Panels      []any          `json:"panels,omitempty"`
}

type gridPos struct {
	H int `json:"h"`
	W int `json:"w"`
	X int `json:"x"`
	Y int `json:"y"`
}

type target struct {
	RefID        string         `json:"refId"`
	Datasource   map[string]any `json:"datasource"`
	Expr         string         `json:"expr"`
	LegendFormat string         `json:"legendFormat"`
}

// graph is a time series panel of the dashboard before layout.
type graph struct {
	title, unit, description string
	queries                  []query
}

type query struct{ expr, legend string }

type section struct {
	title  string
	graphs []graph
}

func rate(selector string) string {
	return fmt.Sprintf("rate(%s[%s])", selector, rateInterval)
}

func quantile(q, metric, by string) string {
	return fmt.Sprintf("histogram_quantile(%s, sum by (%s) (%s))", q, by, rate(metric+"_bucket{"+onInstance+"}"))
}

// sections are the dashboard's rows: RED per route, objectives, events and webhooks, the
// database, and the Go runtime.
func sections() []section {
	requests := "plinth_http_requests_total{" + onInstance + "}"
	return []section{
		{"Requests", []graph{
			{"Requests per second by route", "reqps", "", []query{{"sum by (route) (" + rate(requests) + ")", "{{route}}"}}},
			{"5xx ratio by route", "percentunit", "Share of each route's answers that are 5xx.", []query{{
				fmt.Sprintf("sum by (route) (%s)\n/\nsum by (route) (%s)", rate(`plinth_http_requests_total{`+onInstance+`,status_class="5xx"}`), rate(requests)), "{{route}}"}}},
			{"p50 latency by route", "s", "", []query{{quantile("0.5", "plinth_http_request_duration_seconds", "route, le"), "{{route}}"}}},
			{"p99 latency by route", "s", "", []query{{quantile("0.99", "plinth_http_request_duration_seconds", "route, le"), "{{route}}"}}},
			{"Requests in flight", "short", "", []query{{"sum by (instance) (plinth_http_requests_in_flight{" + onInstance + "})", "{{instance}}"}}},
			{"Engine operations by outcome", "ops", "Operations per second by resource, operation and outcome (invalid, conflict, replayed, ...).", []query{{
				"sum by (resource, operation, outcome) (" + rate("plinth_engine_operations_total{"+onInstance+"}") + ")", "{{resource}}.{{operation}} {{outcome}}"}}},
		}},
		{"Objectives", []graph{
			{"Burn rate (Prometheus rules)", "short", "Each objective's error ratio over the window, in budgets: 1 spends the budget exactly over the objective's window; the fast-burn page fires above 14.4 (1h) and 6 (6h).", []query{
				{burnRate("1h"), "{{slo}} 1h"}, {burnRate("6h"), "{{slo}} 6h"}, {burnRate("3d"), "{{slo}} 3d"}}},
			{"Burn rate (in process)", "short", "The burn rates each server computes for itself (GET /vN/_slo).", []query{{
				"max by (slo, window) (plinth_slo_burn_rate{" + onInstance + `,window=~"1h|6h|3d"})`, "{{slo}} {{window}}"}}},
			{"Error budget remaining", "percentunit", "1 is untouched, 0 spent; below 0 the objective is missed over its window.", []query{{
				"min by (slo) (plinth_slo_error_budget_remaining_ratio{" + onInstance + "})", "{{slo}}"}}},
			{"Objective alerts", "short", "1 while a server's own evaluation alerts (page or ticket).", []query{{
				"max by (slo, severity) (plinth_slo_alert{" + onInstance + "})", "{{slo}} {{severity}}"}}},
		}},
		{"Events and webhooks", []graph{
			{"Outbox lag (age of the oldest event not taken)", "s", "", []query{{"max by (subscription) (plinth_subscription_lag_seconds{" + onInstance + "})", "{{subscription}}"}}},
			{"Outbox lag (events)", "short", "", []query{{"max by (subscription) (plinth_subscription_lag_events{" + onInstance + "})", "{{subscription}}"}}},
			{"Webhook deliveries by outcome", "ops", "", []query{{"sum by (webhook, outcome) (" + rate("plinth_webhook_deliveries_total{"+onInstance+"}") + ")", "{{webhook}} {{outcome}}"}}},
			{"Webhook dead letters", "short", "", []query{{"max by (webhook) (plinth_webhook_dead_letters{" + onInstance + "})", "{{webhook}}"}}},
			{"Webhook breaker state", "short", "0 closed, 1 half-open, 2 open.", []query{{"max by (webhook) (plinth_webhook_breaker_state{" + onInstance + "})", "{{webhook}}"}}},
			{"Schedule runs by outcome", "ops", "", []query{{"sum by (schedule, outcome) (" + rate("plinth_schedule_runs_total{"+onInstance+"}") + ")", "{{schedule}} {{outcome}}"}}},
		}},
		{"Database", []graph{
			{"Transaction duration p99", "s", "", []query{{quantile("0.99", "plinth_store_transaction_duration_seconds", "kind, le"), "{{kind}}"}}},
			{"SQLite writer queue wait p99", "s", "How long a write waits for the single writer before its group commits.", []query{{quantile("0.99", "plinth_sqlite_writer_wait_seconds", "le"), "wait"}}},
			{"PostgreSQL pool connections", "short", "", []query{{"sum by (state) (plinth_postgres_pool_connections{" + onInstance + "})", "{{state}}"}}},
			{"Busy and serialization retries", "ops", "", []query{{"sum by (database) (" + rate("plinth_store_retries_total{"+onInstance+"}") + ")", "{{database}}"}}},
		}},
		{"Go runtime", []graph{
			{"Goroutines", "short", "", []query{{"go_goroutines{" + onInstance + "}", "{{instance}}"}}},
			{"Heap in use", "bytes", "", []query{{"go_memstats_heap_inuse_bytes{" + onInstance + "}", "{{instance}}"}}},
			{"Garbage collections per second", "short", "", []query{{rate("go_gc_duration_seconds_count{" + onInstance + "}"), "{{instance}}"}}},
			{"CPU", "percentunit", "CPU seconds per second: 1 is one core.", []query{{rate("process_cpu_seconds_total{" + onInstance + "}"), "{{instance}}"}}},
		}},
	}
}

// burnRate is the PromQL of every objective's burn rate over window w, from the recorded
// error ratio and objective.
func burnRate(w string) string {
	return fmt.Sprintf("%s%s\n/ on (slo) group_left ()\n(1 - %s)", errorRatioRecord, w, objectiveRecord)
}

// Dashboard returns the Grafana dashboard of m: a row per section, two graphs abreast, each
// query filtered by the instance variable and run on the datasource variable's Prometheus.
func Dashboard(m *spec.Model) ([]byte, error) {
	ds := map[string]any{"type": "prometheus", "uid": "${datasource}"}
	d := dashboard{
		UID: "plinth-" + m.Name, Title: "Plinth: " + m.Name, Tags: []string{"plinth"}, Editable: true,
		GraphTooltip: 1, Refresh: "30s", SchemaVersion: dashboardSchemaVersion, Version: 1,
		Time:        map[string]any{"from": "now-6h", "to": "now"},
		Annotations: map[string]any{"list": []any{}},
		Templating: map[string]any{"list": []any{
			map[string]any{"name": "datasource", "label": "Data source", "type": "datasource", "query": "prometheus",
				"current": map[string]any{}, "hide": 0, "refresh": 1, "regex": "", "options": []any{}},
			map[string]any{"name": "instance", "label": "Instance", "type": "query", "datasource": ds,
				"definition": instanceQuery, "query": map[string]any{"query": instanceQuery, "refId": "instance"},
				"includeAll": true, "multi": true, "allValue": ".*", "refresh": 2, "sort": 1,
				"current": map[string]any{}, "hide": 0, "options": []any{}},
		}},
	}
	id, y := 0, 0
	for _, s := range sections() {
		id++
		d.Panels = append(d.Panels, dashboardPanel{ID: id, Type: "row", Title: s.title, GridPos: gridPos{H: 1, W: 24, Y: y}, Collapsed: new(bool), Panels: []any{}})
		y++
		for i, g := range s.graphs {
			id++
			p := dashboardPanel{ID: id, Type: "timeseries", Title: g.title, Description: g.description, Datasource: ds,
				GridPos:     gridPos{H: 8, W: 12, X: 12 * (i % 2), Y: y + 8*(i/2)},
				FieldConfig: map[string]any{"defaults": map[string]any{"unit": g.unit}, "overrides": []any{}}}
			for j, q := range g.queries {
				p.Targets = append(p.Targets, target{RefID: string(rune('A' + j)), Datasource: ds, Expr: q.expr, LegendFormat: q.legend})
			}
			d.Panels = append(d.Panels, p)
		}
		y += 8 * ((len(s.graphs) + 1) / 2)
	}
	out, err := json.MarshalIndent(d, "", "  ")
	return append(out, '\n'), err
}

// instanceQuery lists the servers for the instance variable.
const instanceQuery = "label_values(plinth_build_info, instance)"
