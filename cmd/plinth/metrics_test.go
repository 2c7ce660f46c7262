package main

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/plinth-dev/plinth"

	"github.com/plinth-dev/plinth/internal/obs/obstest"
)

// TestMetricsOnTheirListener serves /metrics on --metrics-addr, to anyone, beside an API
// whose own /metrics is off, and reads what a user relies on after writes and a webhook
// delivery: engine outcomes, the delivery counted, the outbox head moving with the
// subscription caught up, and the database's own metrics (the SQLite writer, the PostgreSQL
// pool).
func TestMetricsOnTheirListener(t *testing.T) { eachDatabase(t, testMetricsOnTheirListener) }

func testMetricsOnTheirListener(t *testing.T, db database) {
	recv := newReceiver(t, func(int) int { return http.StatusNoContent })
	s := db.server(t, hooksSpec(t, recv, "tickets.created", ""))
	s.MetricsAddr, s.MetricsAccess = "127.0.0.1:0", plinth.MetricsOff
	srv := startServerWith(t, s)
	scrape := func() obstest.Scrape {
		m, _ := obstest.Get(t, srv.client, s.MetricsURL(), "", "")
		return m
	}
	before := scrape().Value("plinth_outbox_head_sequence")

	srv.do("POST", "/v1/tickets", "", map[string]any{"title": "printer"}).expect(t, 201)
	srv.do("POST", "/v1/tickets", "", map[string]any{"title": "printer"}).expect(t, 409)
	waitFor(t, "the delivery", func() bool { return len(recv.snapshot()) == 1 })
	var m obstest.Scrape
	waitFor(t, "the delivery counted", func() bool {
		m = scrape()
		return m.Value("plinth_webhook_deliveries_total", "webhook", "desk", "outcome", "delivered") == 1
	})
	if got := srv.do("GET", "/metrics", srv.token("root", "admin"), nil); got.status != 404 {
		t.Errorf("/metrics on the API's listener with access off: %d", got.status)
	}
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"plinth_engine_operations_total", []string{"resource", "tickets", "operation", "create", "outcome", "ok"}, 1},
		{"plinth_engine_operations_total", []string{"resource", "tickets", "operation", "create", "outcome", "conflict"}, 1},
		{"plinth_webhook_attempts_total", []string{"webhook", "desk"}, 1},
		{"plinth_outbox_head_sequence", nil, before + 1},
		{"plinth_subscription_lag_events", []string{"subscription", "desk"}, 0},
		{"plinth_webhook_dead_letters", []string{"webhook", "desk"}, 0},
		{"plinth_webhook_breaker_state", []string{"webhook", "desk"}, 0},
		{"plinth_ready", nil, 1},
	} {
		if got := m.Value(c.name, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	if m.Value("plinth_store_transaction_duration_seconds", "kind", "write") < 1 {
		t.Error("no write transaction observed")
	}
	if db.url == "" {
		if m.Value("plinth_sqlite_group_size") < 1 || m.Value("plinth_sqlite_writer_wait_seconds") < 1 {
			t.Error("the SQLite writer is not observed")
		}
		if len(m.Series("plinth_postgres_pool_connections")) != 0 {
			t.Error("pool metrics on SQLite")
		}
	} else if m.Value("plinth_postgres_pool_connections", "state", "max") < 1 {
		t.Errorf("the pool's bound: %v", m.Series("plinth_postgres_pool_connections"))
	}
}

// TestMetricsFlagsRefused: a --metrics-access that is not one of the three, and a metrics
// listener with metrics turned off, stop serve before it starts.
func TestMetricsFlagsRefused(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--metrics-access", "public"}, `--metrics-access: "public" is not admin, open or off`},
		{[]string{"--metrics=false", "--metrics-addr", "127.0.0.1:0"}, "--metrics-addr serves the metrics, which --metrics=false turns off"},
	} {
		var out, errOut bytes.Buffer
		args := append([]string{"serve", "--spec", shopSpec, "--data", t.TempDir(), "--addr", "127.0.0.1:0"}, c.args...)
		if code := Main(context.Background(), args, &out, &errOut); code == 0 || !strings.Contains(errOut.String(), c.want) {
			t.Errorf("%v: exit %d, stderr %q; want %q", c.args, code, errOut.String(), c.want)
		}
	}
}
