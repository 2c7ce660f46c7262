package harness

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// Report is the outcome of a run; it is also what results/latest.json holds.
type Report struct {
	Date      time.Time        `json:"date"`
	Smoke     bool             `json:"smoke"`
	Commit    string           `json:"commit"` // git describe --always --dirty of the measured tree
	Machine   Machine          `json:"machine"`
	Settings  Settings         `json:"settings"`
	Databases []DatabaseReport `json:"databases"`
	Failures  []string         `json:"failures,omitempty"` // failed requests and unclean exits, on any database
	Seconds   float64          `json:"seconds"`            // how long the run took
}

// DatabaseReport is what a run measured on one database.
type DatabaseReport struct {
	Database     string           `json:"database"`          // sqlite or postgres
	Schemas      []string         `json:"schemas,omitempty"` // PostgreSQL: the two schemas the servers used, dropped at the end
	Seed         Seed             `json:"seed"`
	Scenarios    []ScenarioReport `json:"scenarios"`
	Cost         []CostReport     `json:"cost,omitempty"`     // what metrics and traces cost Plinth (SQLite)
	Overload     []OverloadReport `json:"overload,omitempty"` // Plinth past its capacity, shedding on and off
	StartToReady StartToReady     `json:"start_to_ready"`
	Targets      []Check          `json:"targets"`
	Failures     []string         `json:"failures,omitempty"`
}

// Machine describes where the run happened.
type Machine struct {
	NProc     int    `json:"nproc"`
	CPU       string `json:"cpu"`
	GoVersion string `json:"go"`
	OS        string `json:"os"`
	Arch      string `json:"arch"`
}

// Settings are the load's parameters.
type Settings struct {
	Conns          int     `json:"connections"`
	WarmupSeconds  float64 `json:"warmup_seconds_per_round"`
	MeasureSeconds float64 `json:"measured_seconds_per_round"`
	Rounds         int     `json:"rounds_per_server"`
}

// Seed tells how the products were created: through each server's API.
type Seed struct {
	Products  int                `json:"products"`
	Method    string             `json:"method"`
	Seconds   map[string]float64 `json:"seconds"`
	PerSecond map[string]float64 `json:"per_second"`
}

// ScenarioReport is one scenario's measurements on both servers.
type ScenarioReport struct {
	Name      string  `json:"name"`
	Kind      string  `json:"kind"`       // read or write
	TargetRPS float64 `json:"target_rps"` // the least plinth/reference req/s ratio held to on this database
	Request   string  `json:"request"`
	Plinth    Side    `json:"plinth"`
	Reference Side    `json:"reference"`
	Ratio     Ratio   `json:"ratio"` // Plinth / reference
}

// Side is one server's measurements in a scenario, all rounds together.
type Side struct {
	PerSecond float64          `json:"requests_per_second"`
	P50MS     float64          `json:"p50_ms"`
	P99MS     float64          `json:"p99_ms"`
	MaxMS     float64          `json:"max_ms"`
	Requests  int64            `json:"requests"`
	Errors    int64            `json:"errors"`
	Non2xx    int64            `json:"non_2xx"`
	Statuses  map[string]int64 `json:"statuses"`
	PeakRSSMB float64          `json:"peak_rss_mb"` // VmHWM during the scenario
	// CPUPerRequestUS is the server's CPU time (user and system, from /proc/PID/stat) per
	// request, warm-up included: less sensitive to a noisy machine than req/s.
	CPUPerRequestUS float64 `json:"cpu_us_per_request"`
	// DBCPUPerRequestUS is, on PostgreSQL, the CPU time of the database backends serving the
	// server's connections per request, warm-up included; 0 when the database server's
	// processes cannot be seen from the harness.
	DBCPUPerRequestUS float64 `json:"db_cpu_us_per_request,omitempty"`
	// DiskKBPerRequest is what the server sent to storage per request (write_bytes of
	// /proc/PID/io), warm-up included.
	DiskKBPerRequest float64  `json:"disk_kb_per_request"`
	Samples          []string `json:"failure_samples,omitempty"`
}

// Ratio compares Plinth with the reference: above 1 is more throughput or more latency.
type Ratio struct {
	PerSecond float64 `json:"requests_per_second"`
	P50       float64 `json:"p50"`
	P99       float64 `json:"p99"`
	CPU       float64 `json:"cpu_per_request"`
	DBCPU     float64 `json:"db_cpu_per_request,omitempty"`
}

// StartToReady is the time from starting the plinth process until GET /readyz answers 200.
type StartToReady struct {
	FreshMS    float64   `json:"fresh_database_ms"`
	ExistingMS []float64 `json:"existing_database_ms"`
	MedianMS   float64   `json:"existing_database_median_ms"`
}

// Check is one target and whether this run met it.
type Check struct {
	Name string  `json:"name"`
	Want string  `json:"want"`
	Got  float64 `json:"got"`
	Met  bool    `json:"met"`
}

func newReport(cfg Config) *Report {
	return &Report{
		Date:    time.Now().UTC().Truncate(time.Second),
		Smoke:   cfg.Smoke,
		Machine: machine(),
		Settings: Settings{Conns: cfg.Conns, WarmupSeconds: cfg.Warmup.Seconds(), MeasureSeconds: cfg.Duration.Seconds(),
			Rounds: cfg.Rounds},
	}
}

func side(r *Result) Side {
	s := Side{
		PerSecond: round(r.PerSecond(), 1),
		P50MS:     ms(r.Latency.Quantile(0.50)),
		P99MS:     ms(r.Latency.Quantile(0.99)),
		MaxMS:     ms(r.Latency.Max()),
		Requests:  r.Requests,
		Errors:    r.Errors,
		Non2xx:    r.Non2xx,
		Statuses:  map[string]int64{},
		Samples:   r.Samples,
	}
	for code, n := range r.Statuses {
		s.Statuses[fmt.Sprint(code)] = n
	}
	return s
}

// finish evaluates the targets and collects the failures of every database.
func (r *Report) finish() {
	for i := range r.Databases {
		d := &r.Databases[i]
		d.finish()
		for _, f := range d.Failures {
			r.Failures = append(r.Failures, d.Database+": "+f)
		}
	}
}

// finish evaluates the database's targets and collects its failures.
func (d *DatabaseReport) finish() {
	if n := len(d.StartToReady.ExistingMS); n > 0 {
		sorted := slices.Sorted(slices.Values(d.StartToReady.ExistingMS))
		d.StartToReady.MedianMS = sorted[n/2]
	}
	var peak float64
	for _, s := range d.Scenarios {
		d.Targets = append(d.Targets, Check{Name: s.Name + " req/s vs reference", Want: fmt.Sprintf(">= %.2fx", s.TargetRPS),
			Got: s.Ratio.PerSecond, Met: s.Ratio.PerSecond >= s.TargetRPS})
		if d.Database == dbSQLite && s.Kind == kindRead {
			d.Targets = append(d.Targets, Check{Name: s.Name + " p99 vs reference",
				Want: fmt.Sprintf("<= %.1fx", targetReadP99), Got: s.Ratio.P99, Met: s.Ratio.P99 <= targetReadP99})
		}
		peak = max(peak, s.Plinth.PeakRSSMB)
		for _, sd := range []struct {
			name string
			s    Side
		}{{"plinth", s.Plinth}, {"reference", s.Reference}} {
			if sd.s.Errors > 0 || sd.s.Non2xx > 0 {
				d.Failures = append(d.Failures, fmt.Sprintf("%s on %s: %d errors, %d non-2xx: %s",
					s.Name, sd.name, sd.s.Errors, sd.s.Non2xx, strings.Join(sd.s.Samples, "; ")))
			}
		}
	}
	for _, c := range d.Cost {
		for _, v := range c.Variants {
			if v.Variant == "metrics" {
				d.Targets = append(d.Targets, Check{Name: c.Scenario + " CPU/req, metrics on vs off", Want: fmt.Sprintf("<= %.2fx", targetMetricsCPU),
					Got: v.CPURatio, Met: v.CPURatio <= targetMetricsCPU})
			}
			if v.Errors > 0 || v.Non2xx > 0 {
				d.Failures = append(d.Failures, fmt.Sprintf("%s on plinth with %s: %d errors, %d non-2xx: %s",
					c.Scenario, v.Variant, v.Errors, v.Non2xx, strings.Join(v.Samples, "; ")))
			}
		}
	}
	d.overloadTargets()
	if len(d.Scenarios) > 0 {
		d.Targets = append(d.Targets, Check{Name: "plinth peak RSS (MB)", Want: fmt.Sprintf("<= %d", targetRSS>>20), Got: peak, Met: peak <= targetRSS>>20})
	}
	if len(d.StartToReady.ExistingMS) > 0 {
		d.Targets = append(d.Targets, Check{Name: "plinth start to ready, existing database (ms, median)",
			Want: fmt.Sprintf("< %d", targetStartReady.Milliseconds()), Got: d.StartToReady.MedianMS,
			Met: d.StartToReady.MedianMS < float64(targetStartReady.Milliseconds())})
	}
}

// WriteText prints the report as tables, one per database.
func (r *Report) WriteText(w io.Writer) {
	fmt.Fprintf(w, "Plinth (%s) vs reference, %s — %d× %s, %s, %d connections, %d round(s) of %gs (+%gs warm-up) per server\n",
		r.Commit, r.Date.Format("2006-01-02 15:04 UTC"), r.Machine.NProc, r.Machine.CPU, r.Machine.GoVersion,
		r.Settings.Conns, r.Settings.Rounds, r.Settings.MeasureSeconds, r.Settings.WarmupSeconds)
	for _, d := range r.Databases {
		d.writeText(w)
	}
	if len(r.Failures) > 0 {
		fmt.Fprintln(w, "\nfailures:")
		for _, f := range r.Failures {
			fmt.Fprintln(w, "  "+f)
		}
	}
	fmt.Fprintf(w, "\nthe run took %.0f s\n", r.Seconds)
}

func (d *DatabaseReport) writeText(w io.Writer) {
	fmt.Fprintf(w, "\n%s\n\n", map[string]string{dbSQLite: "SQLite", dbPostgres: "PostgreSQL"}[d.Database])
	// The database's CPU is shown where the harness could read it.
	var dbCPU bool
	for _, s := range d.Scenarios {
		dbCPU = dbCPU || s.Plinth.DBCPUPerRequestUS > 0
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	head := "scenario\tserver\treq/s\tp50 ms\tp99 ms\tmax ms\tCPU µs/req\t"
	if dbCPU {
		head += "db CPU µs/req\t"
	}
	fmt.Fprintln(tw, head+"disk KB/req\terrors\tnon-2xx\tpeak RSS MB\t")
	for _, s := range d.Scenarios {
		for i, sd := range []Side{s.Plinth, s.Reference} {
			name, srv := s.Name, "plinth"
			if i == 1 {
				name, srv = "", "reference"
			}
			fmt.Fprintf(tw, "%s\t%s\t%.0f\t%.2f\t%.2f\t%.1f\t%.0f\t", name, srv, sd.PerSecond, sd.P50MS, sd.P99MS, sd.MaxMS, sd.CPUPerRequestUS)
			if dbCPU {
				fmt.Fprintf(tw, "%.0f\t", sd.DBCPUPerRequestUS)
			}
			fmt.Fprintf(tw, "%.1f\t%d\t%d\t%.1f\t\n", sd.DiskKBPerRequest, sd.Errors, sd.Non2xx, sd.PeakRSSMB)
		}
		fmt.Fprintf(tw, "\tplinth/ref\t%.2f×\t%.2f×\t%.2f×\t\t%.2f×\t", s.Ratio.PerSecond, s.Ratio.P50, s.Ratio.P99, s.Ratio.CPU)
		if dbCPU {
			fmt.Fprintf(tw, "%.2f×\t", s.Ratio.DBCPU)
		}
		fmt.Fprintln(tw, "\t\t\t\t")
	}
	tw.Flush()
	if len(d.Cost) > 0 {
		d.writeCost(w)
	}
	if len(d.Overload) > 0 {
		d.writeOverload(w)
	}
	fmt.Fprintf(w, "\nseed: %d products, %s — plinth %.0f/s, reference %.0f/s\n", d.Seed.Products, d.Seed.Method, d.Seed.PerSecond["plinth"], d.Seed.PerSecond["reference"])
	fmt.Fprintf(w, "plinth start to ready: %.1f ms on a fresh database; %v ms on the existing one (median %.1f ms)\n\n",
		d.StartToReady.FreshMS, d.StartToReady.ExistingMS, d.StartToReady.MedianMS)
	fmt.Fprintln(w, "targets:")
	for _, c := range d.Targets {
		verdict := "met"
		if !c.Met {
			verdict = "MISSED"
		}
		fmt.Fprintf(w, "  %-55s want %-8s got %-8g %s\n", c.Name, c.Want, c.Got, verdict)
	}
}

// WriteJSON writes the report to path, creating its folder.
func (r *Report) WriteJSON(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

func round(x float64, digits int) float64 {
	p := math.Pow(10, float64(digits))
	return math.Round(x*p) / p
}
