package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/plinth-dev/plinth/internal/obsgen"
	"github.com/plinth-dev/plinth/internal/testwait"
)

// TestDeployHoldsWhatObservabilityWrites: deploy/observability is what `plinth observability`
// writes for the shop now (regenerate it with the command in the failure message).
func TestDeployHoldsWhatObservabilityWrites(t *testing.T) {
	dir := t.TempDir()
	var out, errOut bytes.Buffer
	if code := Main(context.Background(), []string{"observability", "--spec", shopSpec, "--out", dir}, &out, &errOut); code != 0 {
		t.Fatalf("plinth observability exited %d: %s", code, errOut.String())
	}
	for _, name := range []string{obsgen.RulesFile, obsgen.RuleTestsFile, obsgen.DashboardFile} {
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		want, err := os.ReadFile(filepath.Join("../../deploy/observability", name))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("deploy/observability/%s is not what plinth observability writes (%v): "+
				"go run ./cmd/plinth observability --spec examples/shop/plinth.yaml --out deploy/observability", name, err)
		}
	}
}

// TestObservabilityRefusesABadSpec: a spec with errors gets its diagnostics and exit 1, and
// nothing is written.
func TestObservabilityRefusesABadSpec(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "out")
	var out, errOut bytes.Buffer
	code := Main(context.Background(), []string{"observability", "--spec", writeSpec(t, "plinth: 1\nresources: {}\nnope: 1\n"), "--out", dir}, &out, &errOut)
	if code != 1 || errOut.Len() == 0 {
		t.Fatalf("exit %d, stderr %q", code, errOut.String())
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("the output folder was made: %v", err)
	}
}

// promtoolPath is Debian's promtool, which scripts/test and .ci/run install.
func promtoolPath(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatalf("this test needs promtool (apt-get install prometheus; scripts/test installs it): %v", err)
	}
	return path
}

// TestDeployFiles checks what can be checked of deploy/ without a container engine: the
// compose file names its services, Prometheus's configuration and the rules it loads pass
// promtool, and the rules' unit tests pass.
func TestDeployFiles(t *testing.T) {
	data, err := os.ReadFile("../../deploy/compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var compose struct {
		Services map[string]struct {
			Image   string
			Build   any
			Volumes []string
		}
	}
	if err := yaml.Unmarshal(data, &compose); err != nil {
		t.Fatalf("deploy/compose.yaml: %v", err)
	}
	for _, name := range []string{"postgres", "plinth-1", "plinth-2", "prometheus", "grafana"} {
		if _, ok := compose.Services[name]; !ok {
			t.Errorf("deploy/compose.yaml has no service %s", name)
		}
	}
	for _, name := range []string{"plinth-1", "plinth-2"} {
		if compose.Services[name].Build == nil {
			t.Errorf("service %s is not built from deploy/Dockerfile", name)
		}
	}
	for _, s := range compose.Services {
		for _, v := range s.Volumes {
			if src, _, ok := strings.Cut(v, ":"); ok && strings.HasPrefix(src, "./") {
				if _, err := os.Stat(filepath.Join("../../deploy", src)); err != nil {
					t.Errorf("volume %s: %v", v, err)
				}
			}
		}
	}
	for _, args := range [][]string{{"check", "config", "prometheus.yml"}, {"test", "rules", "observability/" + obsgen.RuleTestsFile}} {
		cmd := exec.Command(promtoolPath(t), args...)
		cmd.Dir = "../../deploy"
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

// TestHealthcheck: `plinth healthcheck` exits 0 on a ready server and 1 when nothing answers.
func TestHealthcheck(t *testing.T) {
	r := startServer(t, shopSpec, t.TempDir())
	var out, errOut bytes.Buffer
	if code := Main(context.Background(), []string{"healthcheck", "--url", r.url + "/readyz"}, &out, &errOut); code != 0 {
		t.Fatalf("ready server: exit %d: %s", code, errOut.String())
	}
	r.stop()
	if code := Main(context.Background(), []string{"healthcheck", "--url", r.url + "/readyz", "--timeout", "2s"}, &out, &errOut); code != 1 {
		t.Fatalf("stopped server: exit %d", code)
	}
}

// scrapeFamilies returns the metric families of a server's /metrics, by name, with their type.
func scrapeFamilies(t *testing.T, r *running) map[string]string {
	t.Helper()
	res := r.do("GET", "/metrics", r.token("prometheus", "admin"), nil)
	if res.status != http.StatusOK {
		t.Fatalf("GET /metrics as an admin: %d: %s", res.status, res.raw)
	}
	families := map[string]string{}
	for line := range strings.Lines(string(res.raw)) {
		if f := strings.Fields(line); len(f) == 4 && f[0] == "#" && f[1] == "TYPE" {
			families[f[2]] = f[3]
		}
	}
	return families
}

// notYetSeen are the families a server shows only once what they count has happened: the
// live scrape below does not cause it, so it checks their type only when they are there.
var notYetSeen = []string{
	"plinth_engine_effect_conflicts_total", "plinth_store_retries_total",
	"plinth_webhook_deliveries_total", "plinth_webhook_attempts_total", "plinth_webhook_dead_letters",
	"plinth_webhook_breaker_open", "plinth_webhook_breaker_state", "plinth_subscription_lag_events", "plinth_subscription_lag_seconds",
	"plinth_schedule_runs_total", "plinth_schedule_run_duration_seconds", "plinth_schedule_lease_takeovers_total",
	"plinth_slo_objective_ratio", "plinth_slo_burn_rate", "plinth_slo_error_budget_remaining_ratio", "plinth_slo_alert",
}

// TestMetricsMatchALiveScrape compares obsgen.Metrics, the names every generated query
// selects (TestEveryQuerySelectsAContractMetric), with the /metrics of a live shop after a
// few requests: each family is there with its type, but for those of the other database and
// those notYetSeen.
func TestMetricsMatchALiveScrape(t *testing.T) { eachDatabase(t, testMetricsMatchALiveScrape) }

func testMetricsMatchALiveScrape(t *testing.T, db database) {
	r := db.start(t, shopSpec)
	admin := r.token("root", "admin")
	r.do("POST", "/v1/products", admin, map[string]any{"sku": "MUG-01", "name": "Mug", "price_cents": 1200})
	r.do("GET", "/v1/products", "", nil)
	r.do("GET", "/v1/products/missing", "", nil)
	families := scrapeFamilies(t, r)
	other := map[string]string{"sqlite": "plinth_postgres_", "postgres": "plinth_sqlite_"}[db.name]
	kinds := map[obsgen.Kind]string{obsgen.Counter: "counter", obsgen.Gauge: "gauge", obsgen.Histogram: "histogram", obsgen.Summary: "summary"}
	for _, m := range obsgen.Metrics {
		got, ok := families[m.Name]
		if !ok && strings.HasSuffix(m.Name, "_total") {
			got, ok = families[strings.TrimSuffix(m.Name, "_total")] // OpenMetrics names a counter without _total
		}
		switch {
		case !ok && (strings.HasPrefix(m.Name, other) || slices.Contains(notYetSeen, m.Name)):
		case !ok:
			t.Errorf("%s is not in /metrics", m.Name)
		case got != kinds[m.Kind]:
			t.Errorf("%s is a %s, not a %s", m.Name, got, kinds[m.Kind])
		}
	}
}

// prometheus is Debian's Prometheus server, started by a test on a free port of 127.0.0.1
// with its data in a temporary folder, and stopped by its PID when the test ends.
type prometheus struct {
	url string
}

func startPrometheus(t *testing.T, config string) *prometheus {
	t.Helper()
	bin, err := exec.LookPath("prometheus")
	if err != nil {
		t.Fatalf("this test needs Prometheus (apt-get install prometheus; scripts/test installs it): %v", err)
	}
	dir := t.TempDir()
	configFile := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(configFile, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	var logs bytes.Buffer
	cmd := exec.Command(bin, "--config.file="+configFile, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr, "--log.level=warn")
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
		if t.Failed() {
			t.Logf("prometheus log:\n%s", logs.String())
		}
	})
	return &prometheus{url: "http://" + addr}
}

// query runs an instant PromQL query and returns its vector's samples as label sets with
// their value; an error says why Prometheus did not answer one.
func (p *prometheus) query(q string) ([]map[string]string, error) {
	res, err := http.Get(p.url + "/api/v1/query?query=" + url.QueryEscape(q))
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, err
	}
	var answer struct {
		Status string
		Data   struct {
			Result []struct {
				Metric map[string]string
				Value  [2]any
			}
		}
	}
	if err := json.Unmarshal(body, &answer); err != nil || answer.Status != "success" {
		return nil, fmt.Errorf("%s: %s", res.Status, body)
	}
	var samples []map[string]string
	for _, s := range answer.Data.Result {
		s.Metric["value"] = fmt.Sprint(s.Value[1])
		samples = append(samples, s.Metric)
	}
	return samples, nil
}

// TestPrometheusScrapesAndRecords starts Prometheus against a live shop, scraping its
// /metrics with an admin's token, with the rules plinth observability writes for the shop's
// objectives, and waits until it answers the product list objective's recorded error ratio:
// 0, since every list succeeds.
func TestPrometheusScrapesAndRecords(t *testing.T) {
	r := startServer(t, shopSpec, t.TempDir())
	rulesDir := t.TempDir()
	m, err := compileSpec(shopSpec, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if err := obsgen.Write(rulesDir, m, obsgen.Objectives(m), obsgen.Options{}); err != nil {
		t.Fatal(err)
	}
	target := strings.TrimPrefix(r.url, "http://")
	p := startPrometheus(t, fmt.Sprintf(`global: {scrape_interval: 1s, evaluation_interval: 1s}
rule_files: [%q]
scrape_configs:
  - job_name: plinth
    authorization: {credentials: %q}
    static_configs: [{targets: [%q]}]
`, filepath.Join(rulesDir, obsgen.RulesFile), r.token("prometheus", "admin"), target))

	q := `plinth:slo_error_ratio:rate5m{slo="catalogue-availability"}`
	var last string
	t.Cleanup(func() {
		if t.Failed() {
			up, _ := p.query("up")
			t.Logf("Prometheus's last answer to %s: %s; up: %v", q, last, up)
		}
	})
	// Prometheus announces nothing: its API is asked until the recorded series is there.
	testwait.Within(t, time.Minute, "Prometheus to answer "+q+" with 0", func() bool {
		r.do("GET", "/v1/products", "", nil)
		samples, err := p.query(q)
		last = fmt.Sprint(samples, err)
		return err == nil && len(samples) == 1 && samples[0]["value"] == "0" && samples[0]["job"] == "plinth"
	})
}
