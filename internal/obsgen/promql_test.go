package obsgen_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/VictoriaMetrics/metricsql"
	"go.yaml.in/yaml/v3"

	"github.com/plinth-dev/plinth/internal/obsgen"
)

// generated holds what obsgen writes for the shop with shopObjectives, read back.
type generated struct {
	rules struct {
		Groups []struct {
			Rules []struct {
				Record, Alert, Expr string
				Annotations         map[string]string
			}
		}
	}
	dashboard struct {
		Templating struct {
			List []struct{ Name, Definition string }
		}
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
}

func generate(t *testing.T) (string, generated) {
	t.Helper()
	dir := t.TempDir()
	if err := obsgen.Write(dir, compileShop(t), shopObjectives(t), obsgen.Options{}); err != nil {
		t.Fatal(err)
	}
	var g generated
	read := func(name string, decode func([]byte, any) error, into any) {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := decode(data, into); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	read(obsgen.RulesFile, yaml.Unmarshal, &g.rules)
	read(obsgen.DashboardFile, json.Unmarshal, &g.dashboard)
	return dir, g
}

// dashboardVariables replaces the dashboard's variables by what Grafana would put there.
var dashboardVariables = strings.NewReplacer("$__rate_interval", "1m", "$instance", ".*")

// metricNames returns the names of the series expr selects.
func metricNames(t *testing.T, expr string) []string {
	t.Helper()
	e, err := metricsql.Parse(expr)
	if err != nil {
		t.Fatalf("%v in\n%s", err, expr)
	}
	var names []string
	metricsql.VisitAll(e, func(e metricsql.Expr) {
		me, ok := e.(*metricsql.MetricExpr)
		if !ok {
			return
		}
		for _, filters := range me.LabelFilterss {
			for _, f := range filters {
				if f.Label == "__name__" {
					names = append(names, f.Value)
				}
			}
		}
	})
	return names
}

// TestEveryQuerySelectsAContractMetric parses every PromQL expression of the rules and the
// dashboard and checks that each series it selects is one the server exports (obsgen.Metrics,
// which TestMetricsMatchALiveScrape in cmd/plinth compares with a live /metrics), one the rules
// record, or Prometheus's own up. It has promtool check the dashboard's queries too, by
// loading them as recording rules, so that PromQL only Grafana's parser accepts fails here.
func TestEveryQuerySelectsAContractMetric(t *testing.T) {
	_, g := generate(t)
	known := obsgen.SeriesNames(obsgen.Metrics)
	known = append(known, "up")
	var exprs []string
	for _, group := range g.rules.Groups {
		for _, r := range group.Rules {
			if r.Record != "" {
				known = append(known, r.Record)
			}
			exprs = append(exprs, r.Expr)
		}
	}
	var dashboardExprs []string
	for _, p := range g.dashboard.Panels {
		for _, target := range p.Targets {
			dashboardExprs = append(dashboardExprs, dashboardVariables.Replace(target.Expr))
		}
	}
	if len(dashboardExprs) < 20 {
		t.Fatalf("the dashboard has %d queries", len(dashboardExprs))
	}
	for _, v := range g.dashboard.Templating.List {
		if v.Name == "instance" {
			metric, ok := strings.CutPrefix(v.Definition, "label_values(")
			metric, _, _ = strings.Cut(metric, ",")
			if !ok || !slices.Contains(known, metric) {
				t.Errorf("the instance variable lists %q, not a label of an exported metric", v.Definition)
			}
		}
	}
	used := map[string]bool{}
	for _, expr := range append(exprs, dashboardExprs...) {
		names := metricNames(t, expr)
		if names == nil && slices.Contains(dashboardExprs, expr) {
			t.Errorf("the dashboard query selects no metric:\n%s", expr)
		}
		for _, name := range names {
			used[name] = true
			if !slices.Contains(known, name) {
				t.Errorf("%s is neither exported nor recorded; selected by\n%s", name, expr)
			}
		}
	}
	for _, name := range []string{"plinth_http_requests_total", "plinth_http_request_duration_seconds_bucket", "plinth_subscription_lag_seconds",
		"plinth_webhook_dead_letters", "plinth_webhook_breaker_open", "plinth_ready", "plinth_slo_burn_rate", "go_goroutines"} {
		if !used[name] {
			t.Errorf("no query selects %s", name)
		}
	}

	var rules strings.Builder
	rules.WriteString("groups:\n  - name: dashboard\n    rules:\n")
	for i, expr := range dashboardExprs {
		quoted, err := json.Marshal(expr)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&rules, "      - record: dashboard:query_%d\n        expr: %s\n", i, quoted)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "dashboard_rules.yml"), []byte(rules.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	runPromtool(t, dir, "check", "rules", "dashboard_rules.yml")
}

// TestMetricNamesFindsEverySelector guards the test above: a name hidden in a binary
// expression, a function or a label matcher is still found.
func TestMetricNamesFindsEverySelector(t *testing.T) {
	got := metricNames(t, `histogram_quantile(0.9, sum by (le) (rate(a_bucket{x="1"}[5m]))) / on (y) group_left () (1 - b) or {__name__="c"}`)
	slices.Sort(got)
	if want := []string{"a_bucket", "b", "c"}; !slices.Equal(got, want) {
		t.Fatalf("names %v, want %v", got, want)
	}
}
