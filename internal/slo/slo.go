// Package slo evaluates the spec's service level objectives in-process: the HTTP server feeds
// it one observation per request, it counts good and total requests per objective in time
// buckets, and answers burn rates over the SRE workbook's windows, the remaining error budget
// and the alert state (see docs/decisions/0025-slos.md). It exports the same as Prometheus
// metrics on a registry it is given.
package slo

import (
	"cmp"
	"context"
	"log/slog"
	"math"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/plinth-dev/plinth/internal/spec"
)

// Window is one span burn rates are measured over.
type Window struct {
	Name string // as metrics label it: 5m, 1d
	Span time.Duration
}

// Windows are the burn-rate windows of multi-window alerting, shortest first.
var Windows = [...]Window{
	{"5m", 5 * time.Minute}, {"30m", 30 * time.Minute}, {"1h", time.Hour}, {"2h", 2 * time.Hour},
	{"6h", 6 * time.Hour}, {"1d", 24 * time.Hour}, {"3d", 72 * time.Hour},
}

// Indexes into Windows, for the alert conditions.
const (
	w5m = iota
	w30m
	w1h
	w2h
	w6h
	w1d
	w3d
)

// Bucket widths: minutes up to the 6h window, hours beyond (1d, 3d and the budget's window).
const (
	fine        = time.Minute
	coarse      = time.Hour
	fineBuckets = int(6 * time.Hour / fine)
	coarseFloor = int(72 * time.Hour / coarse)
)

// Status is an objective's alert state.
type Status string

// Statuses, from calm to urgent.
const (
	OK     Status = "ok"
	Ticket Status = "ticket"
	Page   Status = "page"
)

// Config holds what an Evaluator needs.
type Config struct {
	SLOs   []*spec.SLO
	Now    func() time.Time // defaults to time.Now
	Logger *slog.Logger     // defaults to a logger that discards
}

// Evaluator counts the requests of each objective and evaluates them. A nil *Evaluator
// observes nothing, so a server without one pays nothing. Its methods are safe for
// concurrent use.
type Evaluator struct {
	now        func() time.Time
	log        *slog.Logger
	objectives []*objective
	// byRoute holds the objectives of each route pattern, so that an observation costs a map
	// lookup and, for a covered route, a few atomic adds.
	byRoute map[string][]*objective
	mu      sync.Mutex // guards each objective's paging
}

type objective struct {
	slo     *spec.SLO
	minutes ring
	hours   ring
	paging  bool // whether the last evaluation paged, to log crossings once
}

// New returns an Evaluator of the objectives.
func New(cfg Config) *Evaluator {
	e := &Evaluator{now: cfg.Now, log: cmp.Or(cfg.Logger, slog.New(slog.DiscardHandler)), byRoute: map[string][]*objective{}}
	if e.now == nil {
		e.now = time.Now
	}
	for _, s := range cfg.SLOs {
		o := &objective{slo: s, minutes: newRing(fine, fineBuckets),
			hours: newRing(coarse, max(coarseFloor, int(s.Window/coarse)))}
		e.objectives = append(e.objectives, o)
		for _, r := range s.Routes {
			e.byRoute[r] = append(e.byRoute[r], o)
		}
	}
	return e
}

// Now is the evaluator's clock, read when a request starts, to give Observe; the zero time
// when there is nothing to observe.
func (e *Evaluator) Now() time.Time {
	if e == nil || len(e.byRoute) == 0 {
		return time.Time{}
	}
	return e.now()
}

// Observe counts one request: the ServeMux pattern it matched, its status and when it began
// (from Now). A request is bad for an availability objective when its status is 5xx, and
// for a latency objective when it took longer than the threshold.
func (e *Evaluator) Observe(route string, status int, began time.Time) {
	if e == nil {
		return
	}
	objs := e.byRoute[route]
	if len(objs) == 0 {
		return
	}
	now := e.now()
	took, sec := now.Sub(began), now.Unix()
	for _, o := range objs {
		good := status < 500
		if o.slo.Latency > 0 {
			good = took <= o.slo.Latency
		}
		o.hours.add(sec, good)
		if o.minutes.add(sec, good) {
			e.evaluate(o, now) // once a minute: when a new minute's first request comes
		}
	}
}

// Report is an objective's state at one moment.
type Report struct {
	SLO *spec.SLO
	// Burn is the burn rate over each of Windows: the share of bad requests over what the
	// objective allows, 1 spending the budget exactly over the window; 0 without requests.
	Burn [len(Windows)]float64
	// Good and Total count the requests over the objective's window.
	Good, Total int64
	// BudgetRemaining is the share of the window's error budget left: 1 untouched, 0 spent,
	// negative when overspent.
	BudgetRemaining float64
	Page, Ticket    bool
}

// Status is the most urgent alert of the report.
func (r Report) Status() Status {
	switch {
	case r.Page:
		return Page
	case r.Ticket:
		return Ticket
	}
	return OK
}

// Reports evaluates every objective now, in the spec's order, and logs a change of paging.
func (e *Evaluator) Reports() []Report {
	if e == nil {
		return nil
	}
	now := e.now()
	out := make([]Report, len(e.objectives))
	for i, o := range e.objectives {
		out[i] = e.evaluate(o, now)
	}
	return out
}

// evaluate reports on o at now, and logs a warning when it starts or stops paging.
func (e *Evaluator) evaluate(o *objective, now time.Time) Report {
	rep := o.report(now)
	e.mu.Lock()
	changed := rep.Page != o.paging
	o.paging = rep.Page
	e.mu.Unlock()
	if changed {
		msg := "slo fast burn: the error budget is being spent fast enough to page"
		if !rep.Page {
			msg = "slo fast burn over"
		}
		e.log.LogAttrs(context.Background(), slog.LevelWarn, msg, slog.String("slo", o.slo.Name),
			slog.Float64("burn_1h", rep.Burn[w1h]), slog.Float64("burn_5m", rep.Burn[w5m]),
			slog.Float64("burn_6h", rep.Burn[w6h]), slog.Float64("burn_30m", rep.Burn[w30m]),
			slog.Float64("error_budget_remaining", rep.BudgetRemaining))
	}
	return rep
}

func (o *objective) report(now time.Time) Report {
	rep := Report{SLO: o.slo}
	sec := now.Unix()
	allowed := 1 - o.slo.Objective
	for i, w := range Windows {
		good, total := o.sum(sec, w.Span)
		rep.Burn[i] = burn(good, total, allowed)
	}
	rep.Good, rep.Total = o.sum(sec, o.slo.Window)
	rep.BudgetRemaining = 1 - burn(rep.Good, rep.Total, allowed)
	b := rep.Burn
	rep.Page = (b[w1h] > 14.4 && b[w5m] > 14.4) || (b[w6h] > 6 && b[w30m] > 6)
	rep.Ticket = (b[w1d] > 3 && b[w2h] > 3) || (b[w3d] > 1 && b[w6h] > 1)
	return rep
}

// sum counts the requests of the last span up to sec: by the minute up to 6 hours, by the
// hour beyond, the current minute or hour included however far it has gone.
func (o *objective) sum(sec int64, span time.Duration) (good, total int64) {
	if span <= fine*time.Duration(fineBuckets) {
		return o.minutes.sum(sec, int(span/fine))
	}
	return o.hours.sum(sec, int(span/coarse))
}

func burn(good, total int64, allowed float64) float64 {
	if total == 0 {
		return 0
	}
	return float64(total-good) / float64(total) / allowed
}

// ring counts good and total requests per span of width, the last len(buckets) spans.
// Observations add atomically; the first one of a new span resets the bucket the span
// takes over, while the others wait the few instructions that takes.
type ring struct {
	width   int64 // seconds
	buckets []bucket
}

type bucket struct {
	span        atomic.Int64 // the span counted: seconds since the epoch / width
	good, total atomic.Int64
}

// Sentinels of bucket.span: a bucket never used, and one being reset.
const (
	unused    = math.MinInt64 + 1
	resetting = math.MinInt64
)

func newRing(width time.Duration, n int) ring {
	r := ring{width: int64(width / time.Second), buckets: make([]bucket, n)}
	for i := range r.buckets {
		r.buckets[i].span.Store(unused)
	}
	return r
}

func (r *ring) slot(span int64) *bucket {
	n := int64(len(r.buckets))
	return &r.buckets[((span%n)+n)%n]
}

// add counts one request at sec; it reports whether it started the bucket of a new span.
// A request older than what the ring holds (the clock went back) is dropped.
func (r *ring) add(sec int64, good bool) (started bool) {
	span := floorDiv(sec, r.width)
	b := r.slot(span)
	for {
		switch s := b.span.Load(); {
		case s == span:
			b.total.Add(1)
			if good {
				b.good.Add(1)
			}
			return started
		case s == resetting:
			runtime.Gosched()
		case s > span:
			return false
		case b.span.CompareAndSwap(s, resetting):
			b.good.Store(0)
			b.total.Store(0)
			b.span.Store(span)
			started = true
		}
	}
}

// sum adds up the last n spans up to and including the one of sec.
func (r *ring) sum(sec int64, n int) (good, total int64) {
	last := floorDiv(sec, r.width)
	for span := last - int64(min(n, len(r.buckets))) + 1; span <= last; span++ {
		b := r.slot(span)
		if b.span.Load() == span {
			good += b.good.Load()
			total += b.total.Load()
		}
	}
	return good, total
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}
