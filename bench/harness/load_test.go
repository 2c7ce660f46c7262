package harness

import (
	"context"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestHistogramQuantiles(t *testing.T) {
	var h Histogram
	var values []time.Duration
	rng := rand.New(rand.NewPCG(1, 2))
	for range 100_000 {
		d := time.Duration(rng.ExpFloat64() * float64(3*time.Millisecond))
		values = append(values, d)
		h.Record(d)
	}
	slices.Sort(values)
	for _, q := range []float64{0.5, 0.9, 0.99, 0.999} {
		exact := values[int(q*float64(len(values)))-1]
		got := h.Quantile(q)
		if diff := math.Abs(float64(got-exact)) / float64(exact); diff > 0.01 {
			t.Errorf("q%.3f = %v, exact %v: off by %.2f%%", q, got, exact, 100*diff)
		}
	}
	if h.Max() != values[len(values)-1] {
		t.Errorf("max %v, want %v", h.Max(), values[len(values)-1])
	}
	var merged Histogram
	merged.Merge(&h)
	merged.Merge(&h)
	if merged.Count() != 2*h.Count() || merged.Quantile(0.5) != h.Quantile(0.5) {
		t.Errorf("merging a histogram with itself changed its median or lost values")
	}
}

// TestLoadCountsAndParses drives the raw client against every response shape the servers
// produce: sized and chunked bodies, errors with bodies, no body, and a closed connection.
func TestLoadCountsAndParses(t *testing.T) {
	big := strings.Repeat("x", 100_000)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/small":
			w.Header().Set("ETag", `"7"`)
			w.Write([]byte(`{"ok":true}`))
		case "/chunked":
			w.(http.Flusher).Flush() // forces chunked encoding
			w.Write([]byte(big))
		case "/none":
			w.WriteHeader(http.StatusNoContent)
		case "/close":
			w.Header().Set("Connection", "close")
			w.Write([]byte("bye"))
		default:
			http.Error(w, "no such thing", http.StatusNotFound)
		}
	}))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	paths := []string{"/small", "/chunked", "/none", "/close", "/missing"}
	var etags []string
	res, err := Load{Addr: addr, Conns: 1, MaxRequests: 50, NewWorker: func(int) Worker {
		return &scriptWorker{addr: addr, paths: paths, etags: &etags}
	}}.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests != 50 || res.Errors != 0 || res.Non2xx != 10 {
		t.Fatalf("requests %d, errors %d, non-2xx %d; want 50, 0, 10; samples %v", res.Requests, res.Errors, res.Non2xx, res.Samples)
	}
	want := map[int]int64{200: 30, 204: 10, 404: 10}
	for code, n := range want {
		if res.Statuses[code] != n {
			t.Errorf("status %d seen %d times, want %d (all: %v)", code, res.Statuses[code], n, res.Statuses)
		}
	}
	if len(res.Samples) == 0 || !strings.Contains(res.Samples[0], "404: no such thing") {
		t.Errorf("failure samples %q lack the 404's body", res.Samples)
	}
	if len(etags) != 10 || etags[0] != `"7"` {
		t.Errorf("ETags seen: %q", etags)
	}
}

func TestLoadTimedRunAndDeadServer(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("{}")) }))
	addr := strings.TrimPrefix(srv.URL, "http://")
	worker := func(int) Worker { return &scriptWorker{addr: addr, paths: []string{"/"}} }
	res, err := Load{Addr: addr, Conns: 4, Warmup: 50 * time.Millisecond, Duration: 200 * time.Millisecond, NewWorker: worker}.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests == 0 || res.Errors != 0 || res.Elapsed != 200*time.Millisecond || res.Latency.Count() != res.Requests {
		t.Fatalf("requests %d, errors %d, elapsed %v, recorded %d", res.Requests, res.Errors, res.Elapsed, res.Latency.Count())
	}
	srv.Close()
	res, err = Load{Addr: addr, Conns: 2, Duration: 100 * time.Millisecond, Timeout: time.Second, NewWorker: worker}.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if res.Errors == 0 || res.Errors != res.Requests {
		t.Fatalf("against a closed server: %d requests, %d errors; every request should fail", res.Requests, res.Errors)
	}
}

// scriptWorker requests paths in turn and remembers the ETags it saw.
type scriptWorker struct {
	addr  string
	paths []string
	i     int
	etags *[]string
}

func (w *scriptWorker) Request(dst []byte) []byte {
	p := w.paths[w.i%len(w.paths)]
	w.i++
	return appendRequest(dst, "GET", p, w.addr, "", nil, nil)
}

func (w *scriptWorker) Response(r *Response) {
	if r.ETag != "" && w.etags != nil {
		*w.etags = append(*w.etags, r.ETag)
	}
}
