// Package obstest scrapes a live server's /metrics for tests, and reads the series a user
// relies on out of the exposition as Prometheus parses it (prometheus/common/expfmt).
package obstest

import (
	"errors"
	"io"
	"net/http"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
)

// Scrape is one exposition, by metric family name.
type Scrape map[string]*dto.MetricFamily

// Get scrapes url with a bearer token (none when empty) and the Accept header given (the
// text format when empty). It fails the test unless the answer is 200 and parses.
func Get(t testing.TB, client *http.Client, url, token, accept string) (Scrape, *http.Response) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	res, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: status %d", url, res.StatusCode)
	}
	dec := expfmt.NewDecoder(res.Body, expfmt.ResponseFormat(res.Header))
	out := Scrape{}
	for {
		mf := &dto.MetricFamily{}
		if err := dec.Decode(mf); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			t.Fatalf("GET %s: the exposition does not parse: %v", url, err)
		}
		out[mf.GetName()] = mf
	}
	return out, res
}

// Series returns the series of a family that carry every label of want (name, value
// pairs).
func (s Scrape) Series(name string, want ...string) []*dto.Metric {
	var out []*dto.Metric
	mf := s[name]
	if mf == nil {
		return nil
	}
next:
	for _, m := range mf.GetMetric() {
		for i := 0; i+1 < len(want); i += 2 {
			if Label(m, want[i]) != want[i+1] {
				continue next
			}
		}
		out = append(out, m)
	}
	return out
}

// Value sums the series of a family that carry the labels of want: counters, gauges and
// untyped values, and the number of observations of histograms.
func (s Scrape) Value(name string, want ...string) float64 {
	var sum float64
	for _, m := range s.Series(name, want...) {
		switch {
		case m.Counter != nil:
			sum += m.Counter.GetValue()
		case m.Gauge != nil:
			sum += m.Gauge.GetValue()
		case m.Untyped != nil:
			sum += m.Untyped.GetValue()
		case m.Histogram != nil:
			sum += float64(m.Histogram.GetSampleCount())
		}
	}
	return sum
}

// Label is the value of a series' label; empty when it has none.
func Label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}
