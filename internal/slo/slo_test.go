package slo

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/plinth-dev/plinth/internal/spec"
)

// clock is a fake clock the test moves.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// t0 starts a minute, an hour and a day.
var t0 = time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)

const route = "POST /v1/orders"

func target(name string, ratio float64, latency, window time.Duration) *spec.SLO {
	return &spec.SLO{Name: name, SelectorKey: "operation", Selector: "orders.create", Routes: []string{route},
		Objective: ratio, Latency: latency, Window: window}
}

// observe counts n requests at the clock's time, bad of them answered 500.
func observe(e *Evaluator, c *clock, n, bad int) {
	for i := range n {
		status := 201
		if i < bad {
			status = 500
		}
		e.Observe(route, status, c.Now())
	}
}

func near(t *testing.T, what string, got, want float64) {
	t.Helper()
	if math.Abs(got-want) > 1e-9*math.Max(1, math.Abs(want)) {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

// TestBurnRatesOfAKnownSeries feeds an hour of steady traffic whose last five minutes fail at
// 20%, and checks each window's burn rate and the budget against the arithmetic.
func TestBurnRatesOfAKnownSeries(t *testing.T) {
	c := &clock{t: t0}
	e := New(Config{SLOs: []*spec.SLO{target("create", 0.99, 0, 28*24*time.Hour)}, Now: c.Now})
	for m := range 60 {
		c.Set(t0.Add(time.Duration(m)*time.Minute + 30*time.Second))
		bad := 0
		if m >= 55 {
			bad = 20
		}
		observe(e, c, 100, bad)
	}
	// At 00:59:30 the 5m window holds minutes 55..59, the 30m window 30..59, and every longer
	// one the whole hour: 100 bad requests among 500, 3000 and 6000, against 1% allowed.
	rep := e.Reports()[0]
	want := map[string]float64{"5m": 100.0 / 500 / 0.01, "30m": 100.0 / 3000 / 0.01}
	for _, w := range []string{"1h", "2h", "6h", "1d", "3d"} {
		want[w] = 100.0 / 6000 / 0.01
	}
	for i, w := range Windows {
		near(t, "burn "+w.Name, rep.Burn[i], want[w.Name])
	}
	if rep.Good != 5900 || rep.Total != 6000 {
		t.Errorf("good/total = %d/%d, want 5900/6000", rep.Good, rep.Total)
	}
	near(t, "budget remaining", rep.BudgetRemaining, 1-100.0/6000/0.01)
	// 20 > 14.4 over 5m, but 1.67 over 1h: no page; 1.67 over 3d and 6h is above 1: a ticket.
	if rep.Page || !rep.Ticket || rep.Status() != Ticket {
		t.Errorf("page %v, ticket %v, status %s; want a ticket only", rep.Page, rep.Ticket, rep.Status())
	}

	// Overspent: ten more minutes failing at 50% take the budget below zero.
	for m := 60; m < 70; m++ {
		c.Set(t0.Add(time.Duration(m) * time.Minute))
		observe(e, c, 100, 50)
	}
	rep = e.Reports()[0]
	near(t, "budget remaining", rep.BudgetRemaining, 1-600.0/7000/0.01)
	if rep.BudgetRemaining >= 0 {
		t.Errorf("the budget is overspent, remaining %v", rep.BudgetRemaining)
	}
}

func TestWithoutRequestsNothingBurns(t *testing.T) {
	c := &clock{t: t0}
	e := New(Config{SLOs: []*spec.SLO{target("create", 0.999, 0, 28*24*time.Hour)}, Now: c.Now})
	e.Observe("GET /v1/orders", 500, c.Now()) // a route the objective does not cover
	rep := e.Reports()[0]
	if rep.Total != 0 || rep.BudgetRemaining != 1 || rep.Burn != [len(Windows)]float64{} || rep.Status() != OK {
		t.Errorf("an untouched objective reports %+v", rep)
	}
}

// TestLatencyObjectiveCountsDuration: a latency objective counts a request good when it was
// answered within the threshold, whatever its status; an availability one only looks at 5xx.
func TestLatencyObjectiveCountsDuration(t *testing.T) {
	c := &clock{t: t0}
	e := New(Config{SLOs: []*spec.SLO{
		target("fast", 0.99, 200*time.Millisecond, 24*time.Hour),
		target("up", 0.99, 0, 24*time.Hour),
	}, Now: c.Now})
	request := func(status int, took time.Duration) {
		began := e.Now()
		c.Set(began.Add(took))
		e.Observe(route, status, began)
	}
	request(201, 200*time.Millisecond) // at the threshold: good
	request(201, 201*time.Millisecond) // slow
	request(500, time.Millisecond)     // fast, but failed
	reps := e.Reports()
	if r := reps[0]; r.Good != 2 || r.Total != 3 {
		t.Errorf("latency objective good/total = %d/%d, want 2/3", r.Good, r.Total)
	}
	if r := reps[1]; r.Good != 2 || r.Total != 3 {
		t.Errorf("availability objective good/total = %d/%d, want 2/3", r.Good, r.Total)
	}
}

// TestPageFiresAndClearsLoggedOnce drives a burst of errors with no traffic before it: every
// window burns far above 14.4, so the objective pages, logged once when the next minute
// starts; steady good traffic after it clears the page once the burst leaves the 30m window
// (the 5m one has let go of it long before), leaving a ticket as the 2h and 1d windows still
// hold it.
func TestPageFiresAndClearsLoggedOnce(t *testing.T) {
	var logs bytes.Buffer
	c := &clock{t: t0}
	e := New(Config{SLOs: []*spec.SLO{target("create", 0.999, 0, 28*24*time.Hour)}, Now: c.Now,
		Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	observe(e, c, 100, 50)
	minute := func(m int) {
		c.Set(t0.Add(time.Duration(m) * time.Minute))
		observe(e, c, 10, 0)
	}
	minute(1)
	if got := warnings(t, &logs); len(got) != 1 || !strings.HasPrefix(got[0]["msg"].(string), "slo fast burn:") || got[0]["slo"] != "create" {
		t.Fatalf("after the burst, warnings %v, want one fast burn", got)
	}
	if st := e.Reports()[0].Status(); st != Page {
		t.Fatalf("status %s, want page", st)
	}
	for m := 2; m < 30; m++ {
		minute(m)
		if st := e.Reports()[0].Status(); st != Page {
			t.Fatalf("minute %d: status %s, want page while the burst is in the 30m window", m, st)
		}
	}
	if got := warnings(t, &logs); len(got) != 1 {
		t.Fatalf("while paging, warnings %v, want still the one", got)
	}
	minute(30)
	got := warnings(t, &logs)
	if len(got) != 2 || got[1]["msg"] != "slo fast burn over" {
		t.Fatalf("once the burst left the 30m window, warnings %v, want the page over", got)
	}
	if st := e.Reports()[0].Status(); st != Ticket {
		t.Errorf("status %s, want ticket while the 2h and 1d windows hold the burst", st)
	}
	if got := warnings(t, &logs); len(got) != 2 {
		t.Errorf("reading again logged more: %v", got)
	}
}

func warnings(t *testing.T, logs *bytes.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for line := range strings.Lines(logs.String()) {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatal(err)
		}
		if rec["level"] == "WARN" {
			out = append(out, rec)
		}
	}
	return out
}

// TestBucketsRollOver: a bucket taken over by a later span forgets the earlier one's counts,
// in the minute ring (six hours around) and in the hour ring (the window around), and a
// request from before what the ring holds is dropped.
func TestBucketsRollOver(t *testing.T) {
	c := &clock{t: t0}
	e := New(Config{SLOs: []*spec.SLO{target("create", 0.99, 0, 72*time.Hour)}, Now: c.Now})
	observe(e, c, 10, 10)
	c.Set(t0.Add(6 * time.Hour)) // the same minute bucket, and 6 hours on in the hour ring
	observe(e, c, 10, 0)
	rep := e.Reports()[0]
	if rep.Burn[w5m] != 0 {
		t.Errorf("5m burn %v: the minute bucket kept the requests of six hours before", rep.Burn[w5m])
	}
	if rep.Good != 10 || rep.Total != 20 {
		t.Errorf("window good/total = %d/%d, want 10/20", rep.Good, rep.Total)
	}
	c.Set(t0.Add(72 * time.Hour)) // the first hour bucket again
	observe(e, c, 10, 0)
	if rep := e.Reports()[0]; rep.Good != 20 || rep.Total != 20 {
		t.Errorf("after 72h, window good/total = %d/%d, want 20/20: the first hour has left the window", rep.Good, rep.Total)
	}
	e.Observe(route, 500, t0) // began long ago, but observed now: counts now
	stale := &clock{t: t0}
	e.now = stale.Now // a clock gone back to spans whose buckets later ones took over
	e.Observe(route, 500, stale.Now())
	e.now = c.Now
	if rep := e.Reports()[0]; rep.Good != 20 || rep.Total != 21 {
		t.Errorf("window good/total = %d/%d, want 20/21: the stale request is dropped", rep.Good, rep.Total)
	}
}

// TestMemoryIsBounded: the rings have a fixed size whatever the traffic and the time that
// passes, and an observation allocates nothing.
func TestMemoryIsBounded(t *testing.T) {
	c := &clock{t: t0}
	e := New(Config{SLOs: []*spec.SLO{target("long", 0.99, 0, 28*24*time.Hour), target("short", 0.99, 0, time.Hour)}, Now: c.Now})
	step := 0
	allocs := testing.AllocsPerRun(10000, func() {
		step++
		c.Set(t0.Add(time.Duration(step) * 37 * time.Second)) // about four days, across rollovers
		e.Observe(route, 500, c.Now())
	})
	if allocs != 0 {
		t.Errorf("an observation allocates %v times", allocs)
	}
	for _, o := range e.objectives {
		wantHours := max(72, int(o.slo.Window/time.Hour))
		if len(o.minutes.buckets) != 360 || len(o.hours.buckets) != wantHours {
			t.Errorf("%s: %d minute and %d hour buckets, want 360 and %d", o.slo.Name, len(o.minutes.buckets), len(o.hours.buckets), wantHours)
		}
	}
}

// TestConcurrentObservationsAllCount: observations racing across a minute boundary lose
// nothing (run with -race).
func TestConcurrentObservationsAllCount(t *testing.T) {
	c := &clock{t: t0.Add(59 * time.Second)}
	e := New(Config{SLOs: []*spec.SLO{target("create", 0.99, 0, 24*time.Hour)}, Now: c.Now})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 500 {
				if g == 0 && i == 250 {
					c.Set(t0.Add(time.Minute))
				}
				e.Observe(route, 201, c.Now())
			}
		})
	}
	wg.Wait()
	if rep := e.Reports()[0]; rep.Total != 4000 || rep.Good != 4000 {
		t.Errorf("good/total = %d/%d, want 4000/4000", rep.Good, rep.Total)
	}
}

func TestNilEvaluatorObservesNothing(t *testing.T) {
	var e *Evaluator
	e.Observe(route, 500, e.Now())
	if e.Reports() != nil || !e.Now().IsZero() {
		t.Error("a nil evaluator reports")
	}
}

func TestMetrics(t *testing.T) {
	c := &clock{t: t0}
	e := New(Config{SLOs: []*spec.SLO{target("create", 0.75, 0, 28*24*time.Hour)}, Now: c.Now})
	observe(e, c, 100, 50) // burn 2 over every window: a ticket (3d and 6h above 1), no page
	reg := prometheus.NewRegistry()
	if err := e.Register(reg); err != nil {
		t.Fatal(err)
	}
	if err := e.Register(reg); err == nil {
		t.Error("registering twice succeeded")
	}
	want := `
# HELP plinth_slo_alert 1 when the multi-window burn-rate alert of the severity fires for the objective, 0 otherwise.
# TYPE plinth_slo_alert gauge
plinth_slo_alert{severity="page",slo="create"} 0
plinth_slo_alert{severity="ticket",slo="create"} 1
# HELP plinth_slo_error_budget_remaining_ratio The share of the error budget left over the objective's window: 1 untouched, 0 spent, negative when overspent.
# TYPE plinth_slo_error_budget_remaining_ratio gauge
plinth_slo_error_budget_remaining_ratio{slo="create"} -1
# HELP plinth_slo_objective_ratio The share of requests an objective of the spec wants good, e.g. 0.999.
# TYPE plinth_slo_objective_ratio gauge
plinth_slo_objective_ratio{slo="create"} 0.75
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "plinth_slo_alert",
		"plinth_slo_error_budget_remaining_ratio", "plinth_slo_objective_ratio"); err != nil {
		t.Error(err)
	}
	if n := testutil.CollectAndCount(collector{e}, "plinth_slo_burn_rate"); n != len(Windows) {
		t.Errorf("%d burn rate series, want one per window (%d)", n, len(Windows))
	}
	// 50 bad of 100 against 25% allowed, in every window.
	burns, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range burns {
		if mf.GetName() != "plinth_slo_burn_rate" {
			continue
		}
		for _, m := range mf.GetMetric() {
			near(t, "burn "+m.GetLabel()[1].GetValue(), m.GetGauge().GetValue(), 2)
		}
	}
}
