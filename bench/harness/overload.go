package harness

import (
	"context"
	"fmt"
	"io"
	"slices"
	"text/tabwriter"
	"time"
)

// The overload pass drives Plinth past its capacity, open loop, with shedding on and off
// (issue 14): each mix's capacity is measured closed loop, and then it is sent at these
// multiples of it.
var (
	overloadMultiples = []float64{1, 2, 4}
	overloadMixes     = []string{"read", "order"}
)

// Targets of the overload pass at 4× capacity with shedding on, reported and never asserted.
const (
	targetOverloadGoodput = 0.9 // goodput at least this fraction of the capacity
	targetOverloadP99     = 3.0 // admitted p99 at most this multiple of the unloaded p99
)

// overloadTimes are the overload pass's phases: a warm-up before each, the capacity and
// unloaded measurements, and each open-loop run. With two mixes, two servers and three
// multiples, a full pass takes about a minute and a half.
func (c Config) overloadTimes() (warmup, measure, run time.Duration) {
	if c.Smoke {
		return 200 * time.Millisecond, 500 * time.Millisecond, time.Second
	}
	return time.Second, 2 * time.Second, 3 * time.Second
}

// OverloadReport is one mix of the overload pass.
type OverloadReport struct {
	Mix     string `json:"mix"`
	Request string `json:"request"`
	// CapacityRPS is the closed-loop peak with Config.Conns connections, shedding on.
	CapacityRPS float64 `json:"capacity_rps"`
	// UnloadedP99MS is the p99 of one connection in a closed loop.
	UnloadedP99MS float64       `json:"unloaded_p99_ms"`
	Runs          []OverloadRun `json:"runs"`
}

// OverloadRun is one open-loop run of a mix.
type OverloadRun struct {
	Shedding      bool    `json:"shedding"`
	Multiple      float64 `json:"multiple"` // of the capacity
	RatePerSecond float64 `json:"rate_per_second"`
	GoodputRPS    float64 `json:"goodput_rps"` // 2xx per second
	Shed          int64   `json:"shed"`        // 503 overloaded
	AdmittedP99MS float64 `json:"admitted_p99_ms"`
	Errors        int64   `json:"errors"`        // transport failures, timeouts included
	Non2xx        int64   `json:"other_non_2xx"` // neither 2xx nor shed
	Unsent        int64   `json:"unsent"`        // no connection left in the pool
	Conns         int     `json:"connections"`
}

// overloadPass says whether the run drives Plinth past its capacity on database name: always
// with Config.Overload; otherwise on SQLite in a full run, unless turned off or profiled.
func (b *bench) overloadPass(name string) bool {
	if b.cfg.NoOverload || b.cfg.Profile != "" {
		return false
	}
	return b.cfg.Overload || (name == dbSQLite && len(b.cfg.Only) == 0)
}

// overload runs the overload pass on db, on servers started for it on the database the
// scenarios left behind; base lends its tokens and seeded ids.
func (b *bench) overload(ctx context.Context, db *backend, base *target) ([]OverloadReport, error) {
	warmup, measure, run := b.cfg.overloadTimes()
	var reports []OverloadReport
	for _, sc := range scenarios(&b.seq) {
		if !slices.Contains(overloadMixes, sc.name) {
			continue
		}
		rep := OverloadReport{Mix: sc.name, Request: sc.request}
		for _, shedding := range []bool{true, false} {
			flags := []string{"--shedding=false"}
			if shedding {
				flags = []string{"--shedding"}
			}
			p, err := b.startPlinth(ctx, db, flags, nil)
			if err != nil {
				return reports, err
			}
			t := &target{name: "plinth", proc: p, customer: base.customer, admin: base.admin, ids: base.ids, app: base.app}
			newWorker, err := sc.workers(ctx, t, b.cfg.Conns)
			if err != nil {
				return reports, err
			}
			if shedding {
				peak, err := Load{Addr: p.addr, Conns: b.cfg.Conns, Warmup: warmup, Duration: measure, MaxRequests: 50_000_000, NewWorker: newWorker}.Run(ctx)
				if err != nil {
					return reports, err
				}
				alone, err := Load{Addr: p.addr, Conns: 1, Warmup: warmup, Duration: measure, MaxRequests: 50_000_000, NewWorker: newWorker}.Run(ctx)
				if err != nil {
					return reports, err
				}
				rep.CapacityRPS, rep.UnloadedP99MS = round(peak.PerSecond(), 0), ms(alone.Latency.Quantile(0.99))
				if rep.CapacityRPS == 0 {
					return reports, fmt.Errorf("overload %s: no request completed while measuring the capacity", sc.name)
				}
			}
			for _, m := range overloadMultiples {
				rate := m * rep.CapacityRPS
				res, err := OpenLoad{Addr: p.addr, Rate: rate, Warmup: warmup, Duration: run, NewWorker: newWorker}.Run(ctx)
				if err != nil {
					return reports, err
				}
				rep.Runs = append(rep.Runs, OverloadRun{Shedding: shedding, Multiple: m, RatePerSecond: round(rate, 0),
					GoodputRPS: round(res.GoodputPerSecond(), 0), Shed: res.Shed, AdmittedP99MS: ms(res.Admitted.Quantile(0.99)),
					Errors: res.Errors, Non2xx: res.Non2xx, Unsent: res.Unsent, Conns: res.Conns})
				b.logf("%s: overload %-5s %g× (%.0f/s), shedding %-5v: goodput %.0f/s, shed %d, admitted p99 %.2f ms, errors %d",
					db.name, sc.name, m, rate, shedding, res.GoodputPerSecond(), res.Shed, ms(res.Admitted.Quantile(0.99)), res.Errors)
			}
			if err := p.stop(); err != nil {
				return reports, fmt.Errorf("plinth did not stop cleanly after the overload pass: %w", err)
			}
		}
		reports = append(reports, rep)
	}
	return reports, nil
}

// overloadTargets are the targets of the overload pass: at 4× with shedding on.
func (d *DatabaseReport) overloadTargets() {
	for _, o := range d.Overload {
		for _, r := range o.Runs {
			if !r.Shedding || r.Multiple != overloadMultiples[len(overloadMultiples)-1] {
				continue
			}
			goodput, p99 := ratio(r.GoodputRPS, o.CapacityRPS), ratio(r.AdmittedP99MS, o.UnloadedP99MS)
			d.Targets = append(d.Targets,
				Check{Name: fmt.Sprintf("overload %s at %g×: goodput vs capacity", o.Mix, r.Multiple),
					Want: fmt.Sprintf(">= %.2fx", targetOverloadGoodput), Got: goodput, Met: goodput >= targetOverloadGoodput},
				Check{Name: fmt.Sprintf("overload %s at %g×: admitted p99 vs unloaded", o.Mix, r.Multiple),
					Want: fmt.Sprintf("<= %.1fx", targetOverloadP99), Got: p99, Met: p99 <= targetOverloadP99})
		}
	}
}

// writeOverload prints the overload pass as a table.
func (d *DatabaseReport) writeOverload(w io.Writer) {
	fmt.Fprintln(w, "\nplinth past its capacity (open loop):")
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "mix\tcapacity req/s\tunloaded p99 ms\tshedding\tload\tsent/s\tgoodput 2xx/s\tshed\tadmitted p99 ms\terrors\tother non-2xx\tunsent\t")
	for _, o := range d.Overload {
		for i, r := range o.Runs {
			mix, capacity, p99 := "", "", ""
			if i == 0 {
				mix, capacity, p99 = o.Mix, fmt.Sprintf("%.0f", o.CapacityRPS), fmt.Sprintf("%.2f", o.UnloadedP99MS)
			}
			shedding := "off"
			if r.Shedding {
				shedding = "on"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%g×\t%.0f\t%.0f\t%d\t%.2f\t%d\t%d\t%d\t\n", mix, capacity, p99, shedding, r.Multiple,
				r.RatePerSecond, r.GoodputRPS, r.Shed, r.AdmittedP99MS, r.Errors, r.Non2xx, r.Unsent)
		}
	}
	tw.Flush()
}
