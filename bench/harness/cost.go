package harness

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"sync/atomic"
	"text/tabwriter"
)

// A variant is Plinth served with some of its observability turned on or off, so that the
// run can measure what each part costs a request.
type variant struct {
	name   string
	flags  []string
	traces bool // export traces over OTLP/HTTP to the harness's sink
}

// variants are measured against each other in the cost pass: the first is the baseline.
var variants = []variant{
	{name: "off", flags: []string{"--metrics=false"}},
	{name: "metrics", flags: nil},
	{name: "metrics+traces", flags: nil, traces: true},
}

// costScenarios are the scenarios of the cost pass: the cheapest request, where a fixed cost
// per request weighs most, and a write, which has the most spans.
var costScenarios = []string{"read", "create"}

// targetMetricsCPU is the most CPU per request that metrics may add, as a multiple of the
// baseline's (issue 13).
const targetMetricsCPU = 1.03

// CostReport is what metrics and traces cost Plinth in one scenario.
type CostReport struct {
	Scenario string     `json:"scenario"`
	Variants []CostSide `json:"variants"`
}

// CostSide is one variant's measurements in a scenario of the cost pass.
type CostSide struct {
	Variant string `json:"variant"`
	Side
	// CPURatio is its CPU per request over the baseline's (the first variant).
	CPURatio float64 `json:"cpu_ratio"`
}

// cost runs the cost pass on db: for each round, each variant is started on the database the
// scenarios left behind, measured on costScenarios, and stopped, so that drift of the machine
// falls on every variant alike. base lends its tokens and seeded ids.
func (b *bench) cost(ctx context.Context, db *backend, base *target) ([]CostReport, error) {
	sink, err := newTraceSink()
	if err != nil {
		return nil, err
	}
	defer sink.close()
	var scs []scenario
	for _, sc := range scenarios(&b.seq) {
		if slices.Contains(costScenarios, sc.name) && (len(b.cfg.Only) == 0 || slices.Contains(b.cfg.Only, sc.name)) {
			scs = append(scs, sc)
		}
	}
	tallies := make([][]*tally, len(scs))
	for i := range scs {
		tallies[i] = make([]*tally, len(variants))
		for j := range variants {
			tallies[i][j] = newTally()
		}
	}
	for round := range b.cfg.Rounds {
		// Each round starts with another variant, so that drift within a round falls on each.
		for k := range variants {
			j := (k + round) % len(variants)
			v := variants[j]
			var env []string
			if v.traces {
				env = []string{"OTEL_EXPORTER_OTLP_ENDPOINT=http://" + sink.addr, "OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf"}
			}
			p, err := b.startPlinth(ctx, db, v.flags, env)
			if err != nil {
				return nil, fmt.Errorf("start plinth with %s: %w", v.name, err)
			}
			t := &target{name: "plinth (" + v.name + ")", proc: p, customer: base.customer, admin: base.admin, ids: base.ids, app: base.app}
			for i, sc := range scs {
				if err := b.measure(ctx, db, sc, t, tallies[i][j], false); err != nil {
					return nil, err
				}
			}
			if err := p.stop(); err != nil {
				return nil, fmt.Errorf("plinth with %s did not stop cleanly: %w", v.name, err)
			}
		}
	}
	if sink.exports.Load() == 0 {
		return nil, fmt.Errorf("plinth with traces exported nothing to %s", sink.addr)
	}
	reports := make([]CostReport, len(scs))
	for i, sc := range scs {
		reports[i].Scenario = sc.name
		for j, v := range variants {
			reports[i].Variants = append(reports[i].Variants, CostSide{Variant: v.name, Side: tallies[i][j].side()})
		}
		for j := range reports[i].Variants {
			vs := &reports[i].Variants[j]
			vs.CPURatio = ratio(vs.CPUPerRequestUS, reports[i].Variants[0].CPUPerRequestUS)
		}
	}
	return reports, nil
}

// traceSink is an OTLP/HTTP receiver on loopback that counts the export requests it is sent
// and discards them.
type traceSink struct {
	addr    string
	srv     *http.Server
	exports atomic.Int64 // export requests received
}

func newTraceSink() (*traceSink, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &traceSink{addr: ln.Addr().String()}
	s.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		s.exports.Add(1)
		// An empty ExportTraceServiceResponse: everything accepted.
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.WriteHeader(http.StatusOK)
	})}
	go s.srv.Serve(ln)
	return s, nil
}

func (s *traceSink) close() { s.srv.Close() }

// costPass says whether the run measures the cost of observability on database name: on
// SQLite, where Plinth's own share of a request is largest, unless turned off, profiled (the
// profiling server takes other flags) or left without its scenarios by Config.Only.
func (b *bench) costPass(name string) bool {
	if name != dbSQLite || b.cfg.NoCost || b.cfg.Overload || b.cfg.Profile != "" {
		return false
	}
	return len(b.cfg.Only) == 0 || slices.ContainsFunc(costScenarios, func(s string) bool { return slices.Contains(b.cfg.Only, s) })
}

// writeCost prints the cost pass as a table.
func (d *DatabaseReport) writeCost(w io.Writer) {
	fmt.Fprintln(w, "\nwhat observability costs plinth:")
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "scenario\tplinth with\treq/s\tp50 ms\tp99 ms\tCPU µs/req\tCPU vs off\terrors\tnon-2xx\t")
	for _, c := range d.Cost {
		for i, v := range c.Variants {
			name := c.Scenario
			if i > 0 {
				name = ""
			}
			fmt.Fprintf(tw, "%s\t%s\t%.0f\t%.2f\t%.2f\t%.0f\t%.3f×\t%d\t%d\t\n", name, v.Variant, v.PerSecond, v.P50MS, v.P99MS, v.CPUPerRequestUS, v.CPURatio, v.Errors, v.Non2xx)
		}
	}
	tw.Flush()
}
