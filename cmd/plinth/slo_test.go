package main

import (
	"encoding/json"
	"log/slog"
	"math"
	"strings"
	"sync"
	"testing"
	"time"
)

// sloClock is the server's clock in the SLO test: it stands still, or, while slow, moves on
// by step at every reading, so that every request that reads it takes at least step.
type sloClock struct {
	mu   sync.Mutex
	t    time.Time
	step time.Duration
}

func (c *sloClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(c.step)
	return c.t
}

func (c *sloClock) set(t time.Time, step time.Duration) {
	c.mu.Lock()
	c.t, c.step = t, step
	c.mu.Unlock()
}

const sloSpec = `plinth: 1
name: objectives
resources:
  items:
    idempotency: off
    fields:
      name: {type: string, required: true, max_length: 20}
    access: {create: "true", list: "true"}
slos:
  - name: items-up
    operation: items.create
    objective: 99
    window: 1h
  - name: items-fast
    operation: items.create
    objective: 99
    latency: 100ms
    window: 1h
`

// TestSLOBurnAtTheStatusRoute drives good, slow and failed creates (the database cut off,
// which answers 503) through a live server whose clock the test holds, and watches each
// objective's burn rates, counts, budget and status move at /v1/_slo; each objective's page
// is logged once, and once more when an hour later it is over.
func TestSLOBurnAtTheStatusRoute(t *testing.T) {
	// A minute ahead of the wall clock, so that the tokens `plinth token` mints are valid.
	start := time.Now().Truncate(time.Minute).Add(time.Minute)
	clock := &sloClock{t: start}
	logs := &lockedWriter{}
	cfg := &server{SpecFile: writeSpec(t, sloSpec), Now: clock.Now, Logger: slog.New(slog.NewJSONHandler(logs, nil))}
	px := behindProxy(t, cfg)
	srv := startServerWith(t, cfg)
	admin := srv.token("root", "admin")

	srv.do("GET", "/v1/_slo", "", nil).expect(t, 401)
	srv.do("GET", "/v1/_slo", srv.token("alice", "customer"), nil).expect(t, 403)

	create := func(n, status int) {
		t.Helper()
		for range n {
			srv.do("POST", "/v1/items", "", map[string]any{"name": "x"}).expect(t, status)
		}
	}
	type objective struct {
		Name      string             `json:"name"`
		Status    string             `json:"status"`
		BurnRates map[string]float64 `json:"burn_rates"`
		Good      int64              `json:"good"`
		Total     int64              `json:"total"`
		Budget    float64            `json:"error_budget_remaining"`
		Routes    []string           `json:"routes"`
		Objective float64            `json:"objective"`
		Window    string             `json:"window"`
		Latency   *string            `json:"latency"`
	}
	status := func() map[string]objective {
		t.Helper()
		res := srv.do("GET", "/v1/_slo", admin, nil).expect(t, 200)
		var body struct{ Items []objective }
		if err := json.Unmarshal(res.raw, &body); err != nil {
			t.Fatal(err)
		}
		out := map[string]objective{}
		for _, o := range body.Items {
			out[o.Name] = o
		}
		return out
	}
	// expect checks an objective: good and total over its window, and every burn rate the
	// share of bad requests over the 1% the objective allows (all requests are within 5m).
	expect := func(when string, got objective, good, total int64, state string) {
		t.Helper()
		burn := 0.0
		if total > 0 {
			burn = float64(total-good) / float64(total) / (1 - 0.99)
		}
		if got.Good != good || got.Total != total || got.Status != state {
			t.Errorf("%s: good/total %d/%d, status %s; want %d/%d, %s", when, got.Good, got.Total, got.Status, good, total, state)
		}
		for w, b := range got.BurnRates {
			if math.Abs(b-burn) > 1e-9 {
				t.Errorf("%s: burn rate over %s %v, want %v", when, w, b, burn)
			}
		}
		if math.Abs(got.Budget-(1-burn)) > 1e-9 {
			t.Errorf("%s: budget remaining %v, want %v", when, got.Budget, 1-burn)
		}
	}
	fastBurns := func(name, msg string) int {
		n := 0
		for line := range strings.Lines(logs.String()) {
			var rec map[string]any
			if json.Unmarshal([]byte(line), &rec) == nil && rec["level"] == "WARN" && rec["slo"] == name && strings.HasPrefix(rec["msg"].(string), msg) {
				n++
			}
		}
		return n
	}

	create(10, 201)
	s := status()
	if up := s["items-up"]; len(s) != 2 || up.Objective != 0.99 || up.Window != "1h" || up.Latency != nil ||
		len(up.Routes) != 1 || up.Routes[0] != "POST /v1/items" || len(up.BurnRates) != 7 {
		t.Fatalf("the objectives: %+v", s)
	}
	expect("good creates", s["items-up"], 10, 10, "ok")
	expect("good creates", s["items-fast"], 10, 10, "ok")

	clock.set(start.Add(10*time.Second), 150*time.Millisecond)
	create(10, 201)
	clock.set(start.Add(time.Minute), 0)
	s = status()
	expect("slow creates", s["items-up"], 20, 20, "ok")
	expect("slow creates", s["items-fast"], 10, 20, "page") // 50% slow: a burn of 50

	px.Cut()
	create(5, 503)
	px.Restore()
	s = status()
	expect("failed creates", s["items-up"], 20, 25, "page") // 20% failed: a burn of 20
	expect("failed creates", s["items-fast"], 15, 25, "page")
	status()
	for _, name := range []string{"items-up", "items-fast"} {
		if n := fastBurns(name, "slo fast burn:"); n != 1 {
			t.Errorf("%s: the page was logged %d times, want once\n%s", name, n, logs.String())
		}
	}

	// Two hours on, the burst is out of every window but the day's: good requests bring the
	// budget back whole, the page ends (logged once) and a ticket remains.
	clock.set(start.Add(2*time.Hour), 0)
	waitFor(t, "the database to come back", func() bool { return srv.do("GET", "/readyz", "", nil).status == 200 })
	create(1, 201)
	s = status()
	for _, name := range []string{"items-up", "items-fast"} {
		got := s[name]
		if got.Good != 1 || got.Total != 1 || got.Budget != 1 || got.BurnRates["5m"] != 0 || got.BurnRates["1d"] < 3 || got.Status != "ticket" {
			t.Errorf("%s two hours on: %+v", name, got)
		}
		if n := fastBurns(name, "slo fast burn over"); n != 1 {
			t.Errorf("%s: the end of the page was logged %d times, want once", name, n)
		}
	}
}
