package httpapi_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/plinth-dev/plinth"
	"github.com/plinth-dev/plinth/internal/auth"
	"github.com/plinth-dev/plinth/internal/httpapi"
	"github.com/plinth-dev/plinth/internal/obs/obstest"
	"github.com/plinth-dev/plinth/internal/spec"
)

// metricsShop is the shop served on real HTTP with the options given.
type metricsShop struct {
	*problemServer // its admin, and member for a customer
	api            *httpapi.Server
	app            *plinth.App
}

func startMetricsShop(t *testing.T, opts plinth.Options) *metricsShop {
	t.Helper()
	opts.SpecFile = "../../examples/shop/plinth.yaml"
	p, app := serveApp(t, opts, "customer")
	return &metricsShop{problemServer: p, api: app.Handler().(*httpapi.Server), app: app}
}

// send sends a request and returns its status and body; headers come in name, value pairs.
func (s *metricsShop) send(method, path, token, body string, headers ...string) (int, string) {
	s.t.Helper()
	a := s.do(method, path, token, body, headers...)
	return a.status, string(a.raw)
}

func (s *metricsShop) scrape() obstest.Scrape {
	s.t.Helper()
	m, _ := obstest.Get(s.t, http.DefaultClient, s.url+"/metrics", s.admin, "")
	return m
}

// TestHTTPMetrics drives requests through the real server and reads back what an operator
// relies on: series labelled by route template, never by path; statuses by class; engine
// outcomes of creates, replays and failures; sizes; and the process's own collectors.
func TestHTTPMetrics(t *testing.T) {
	// A thousand anonymous reads from one address in a moment are over the default limit.
	s := startMetricsShop(t, plinth.Options{DisableRateLimits: true})
	s.api.ServeError("/boom", errors.New("a bug"))

	product := `{"sku":"MUG-01","name":"Mug","price_cents":1200,"stock":10}`
	if st, body := s.send("POST", "/v1/products", s.admin, product); st != 201 {
		t.Fatalf("create product: %d %s", st, body)
	}
	_, body := s.send("GET", "/v1/products", "", "")
	pid := body[strings.Index(body, `"id":"`)+6:][:36]
	order := `{"items":[{"product_id":"` + pid + `","quantity":1}]}`
	for range 2 { // the second is a replay
		if st, body := s.send("POST", "/v1/orders", s.member, order, "Idempotency-Key", "order-1"); st != 201 {
			t.Fatalf("order: %d %s", st, body)
		}
	}
	if st, _ := s.send("POST", "/v1/orders", s.member, `{"items":[]}`, "Idempotency-Key", "order-2"); st != 422 && st != 400 {
		t.Fatalf("invalid order answered %d", st)
	}
	if st, _ := s.send("POST", "/v1/orders", s.member, `{"items":[{"product_id":"`+pid+`","quantity":50}]}`, "Idempotency-Key", "order-3"); st != 409 {
		t.Fatalf("an order beyond the stock answered %d", st)
	}
	if st, _ := s.send("GET", "/boom", "", ""); st != 500 {
		t.Fatalf("/boom answered %d", st)
	}
	const ids = 1000
	for i := range ids {
		if st, _ := s.send("GET", "/v1/products/"+strings.Repeat("0", 8)+"-0000-7000-8000-"+padded(i), "", ""); st != 404 {
			t.Fatalf("a missing product answered %d", st)
		}
	}
	s.send("GET", "/no/such/path/1", "", "")
	s.send("GET", "/no/such/path/2", "", "")
	s.send("GET", "/v1/products", "Bearer-less nonsense", "") // refused before routing

	m := s.scrape()
	const requests = "plinth_http_requests_total"
	byID := m.Series(requests, "route", "GET /v1/products/{id}")
	if len(byID) != 1 || obstest.Label(byID[0], "status_class") != "4xx" || byID[0].Counter.GetValue() != ids {
		t.Errorf("%d distinct ids: want one series of %d 4xx requests, got %v", ids, ids, byID)
	}
	for _, series := range m[requests].GetMetric() {
		if route := obstest.Label(series, "route"); strings.Contains(route, "0000") || strings.Contains(route, "/no/") {
			t.Errorf("a raw path as route label: %q", route)
		}
	}
	for _, c := range []struct {
		labels []string
		want   float64
	}{
		{[]string{"route", "POST /v1/orders", "method", "POST", "status_class", "2xx"}, 2},
		{[]string{"route", "POST /v1/orders", "status_class", "4xx"}, 2},
		{[]string{"route", "GET /boom", "status_class", "5xx"}, 1},
		{[]string{"route", "unmatched", "method", "GET", "status_class", "4xx"}, 2},
		{[]string{"route", "GET /v1/products", "status_class", "4xx"}, 1},
	} {
		if got := m.Value(requests, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", requests, c.labels, got, c.want)
		}
		if got := m.Value("plinth_http_request_duration_seconds", c.labels...); got != c.want {
			t.Errorf("plinth_http_request_duration_seconds%v counts %v, want %v", c.labels, got, c.want)
		}
	}
	const ops = "plinth_engine_operations_total"
	for _, c := range []struct {
		labels []string
		want   float64
	}{
		{[]string{"resource", "orders", "operation", "create", "outcome", "ok"}, 1},
		{[]string{"resource", "orders", "operation", "create", "outcome", "replayed"}, 1},
		{[]string{"resource", "orders", "operation", "create", "outcome", "invalid"}, 1},
		{[]string{"resource", "orders", "operation", "create", "outcome", "conflict"}, 1},
		{[]string{"resource", "products", "operation", "get", "outcome", "not_found"}, ids},
		{[]string{"resource", "products", "operation", "list", "outcome", "ok"}, 1},
	} {
		if got := m.Value(ops, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", ops, c.labels, got, c.want)
		}
	}
	if got := m.Value("plinth_engine_effect_conflicts_total", "effect", "reserve_stock"); got != 1 {
		t.Errorf("reserve_stock conflicts: %v, want 1", got)
	}
	sizes := m.Series("plinth_http_request_size_bytes", "route", "POST /v1/products")
	if len(sizes) != 1 || sizes[0].Histogram.GetSampleSum() != float64(len(product)) {
		t.Errorf("request size of the product's create: %v, want %d bytes", sizes, len(product))
	}
	if got := m.Value("plinth_http_requests_in_flight"); got != 1 {
		t.Errorf("in flight during a scrape: %v, want 1 (the scrape)", got)
	}
	for _, name := range []string{"plinth_build_info", "plinth_ready", "go_goroutines", "process_cpu_seconds_total",
		"plinth_store_transaction_duration_seconds", "plinth_sqlite_writer_wait_seconds", "plinth_sqlite_group_size"} {
		if len(m.Series(name)) == 0 {
			t.Errorf("%s is not exported", name)
		}
	}
	if got := m.Value("plinth_ready"); got != 1 {
		t.Errorf("plinth_ready = %v", got)
	}
	if info := m.Series("plinth_build_info", "spec", "shop"); len(info) != 1 || obstest.Label(info[0], "go_version") == "" {
		t.Errorf("plinth_build_info: %v", info)
	}
}

func padded(i int) string {
	s := strings.Repeat("0", 12) + itoa(i)
	return s[len(s)-12:]
}

func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	var b []byte
	for ; i > 0; i /= 10 {
		b = append([]byte{byte('0' + i%10)}, b...)
	}
	return string(b)
}

// TestMetricsAccess: on the API's listener /metrics is for role admin unless opened or
// turned off; MetricsHandler serves them to anyone; OpenMetrics is served to a scraper that
// asks for it.
func TestMetricsAccess(t *testing.T) {
	s := startMetricsShop(t, plinth.Options{})
	if st, _ := s.send("GET", "/metrics", "", ""); st != 401 {
		t.Errorf("anonymous: %d, want 401", st)
	}
	if st, _ := s.send("GET", "/metrics", s.member, ""); st != 403 {
		t.Errorf("a customer: %d, want 403", st)
	}
	_, res := obstest.Get(t, http.DefaultClient, s.url+"/metrics", s.admin, "application/openmetrics-text; version=1.0.0")
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/openmetrics-text") {
		t.Errorf("OpenMetrics asked, %q served", ct)
	}
	_, res = obstest.Get(t, http.DefaultClient, s.url+"/metrics", s.admin, "")
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("the text format by default, %q served", ct)
	}
	rec := httptest.NewRecorder()
	s.app.MetricsHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), "plinth_build_info") {
		t.Errorf("MetricsHandler answered %d", rec.Code)
	}

	open := startMetricsShop(t, plinth.Options{MetricsAccess: plinth.MetricsOpen})
	obstest.Get(t, http.DefaultClient, open.url+"/metrics", "", "")

	off := startMetricsShop(t, plinth.Options{MetricsAccess: plinth.MetricsOff})
	if st, _ := off.send("GET", "/metrics", off.admin, ""); st != 404 {
		t.Errorf("with access off: %d, want 404", st)
	}
	if off.app.MetricsHandler() == nil {
		t.Error("with access off on the API's listener, MetricsHandler is still wanted for a listener of its own")
	}

	none := startMetricsShop(t, plinth.Options{DisableMetrics: true})
	if st, _ := none.send("GET", "/metrics", none.admin, ""); st != 404 {
		t.Errorf("with metrics disabled: %d, want 404", st)
	}
	if none.app.MetricsHandler() != nil {
		t.Error("with metrics disabled, MetricsHandler is not nil")
	}
	if st, _ := none.send("GET", "/v1/products", "", ""); st != 200 {
		t.Errorf("with metrics disabled, the API answers %d", st)
	}
}

// BenchmarkRequest measures a read of one product through the whole handler, with metrics
// on and off (docs/performance.md).
func BenchmarkRequest(b *testing.B) {
	for _, c := range []struct {
		name string
		opts plinth.Options
	}{
		{"metrics=on", plinth.Options{DisableRateLimits: true}},
		{"metrics=off", plinth.Options{DisableMetrics: true, DisableRateLimits: true}},
		// The access line costs only when the logger takes info lines.
		{"log=slog", plinth.Options{Logger: slog.New(slog.NewJSONHandler(io.Discard, nil)), DisableRateLimits: true}},
		{"log=hand", plinth.Options{Logger: slog.New(slog.NewJSONHandler(io.Discard, nil)), AccessLog: io.Discard, DisableRateLimits: true}},
	} {
		b.Run(c.name, func(b *testing.B) {
			dir := b.TempDir()
			c.opts.SpecFile, c.opts.DataDir = "../../examples/shop/plinth.yaml", dir
			app, err := plinth.New(context.Background(), c.opts)
			if err != nil {
				b.Fatal(err)
			}
			defer app.Close()
			signer, _, _ := auth.ForModel(&spec.Model{}, dir, nil)
			admin, _ := signer.Sign("root", "admin", 3600e9)
			req := httptest.NewRequest("POST", "/v1/products", strings.NewReader(`{"sku":"MUG-01","name":"Mug","price_cents":1200}`))
			req.Header.Set("Authorization", "Bearer "+admin)
			req.Header.Set("Content-Type", "application/json")
			rec := httptest.NewRecorder()
			app.Handler().ServeHTTP(rec, req)
			body := rec.Body.String()
			if rec.Code != 201 {
				b.Fatalf("create: %d %s", rec.Code, body)
			}
			path := "/v1/products/" + body[strings.Index(body, `"id":"`)+6:][:36]
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				rec := httptest.NewRecorder()
				app.Handler().ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
				if rec.Code != 200 {
					b.Fatalf("status %d", rec.Code)
				}
			}
		})
	}
}
