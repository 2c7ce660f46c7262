package harness

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestOpenLoadKeepsItsSchedule: against a server that answers nothing until every request of
// the run has arrived, the open loop still sends them all on schedule, each on a connection
// of its own, and charges the first with the whole stall, from when it was due.
func TestOpenLoadKeepsItsSchedule(t *testing.T) {
	const rate, n = 200, 50
	gate := make(chan struct{})
	var arrived atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if arrived.Add(1) == n {
			close(gate)
		}
		<-gate
		w.Write([]byte("{}"))
	}))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	res, err := OpenLoad{Addr: addr, Rate: rate, Duration: n * time.Second / rate,
		NewWorker: func(int) Worker { return &scriptWorker{addr: addr, paths: []string{"/"}} }}.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests != n || res.Conns != n || res.Errors != 0 || res.Statuses[200] != n {
		t.Fatalf("requests %d on %d connections, %d errors, statuses %v; want %d each on its own, all 200", res.Requests, res.Conns, res.Errors, res.Statuses, n)
	}
	// The first was due at 0 and answered after the last was sent, (n-1)/rate later.
	if stall := time.Duration(n-1) * time.Second / rate; res.Latency.Max() < stall {
		t.Errorf("the longest latency is %v; the first request waited at least %v", res.Latency.Max(), stall)
	}
}

// TestOpenLoadCountsSheds: 503 overloaded answers are counted as shed and kept out of the
// admitted latency; 2xx answers are goodput.
func TestOpenLoadCountsSheds(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/shed" {
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte(`{"type":"urn:plinth:problem:overloaded"}`))
			return
		}
		w.Write([]byte("{}"))
	}))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	res, err := OpenLoad{Addr: addr, Rate: 100, Duration: 200 * time.Millisecond,
		NewWorker: func(int) Worker { return &scriptWorker{addr: addr, paths: []string{"/", "/shed"}} }}.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests != 20 || res.Shed+res.Admitted.Count() != 20 || res.Statuses[503] != res.Shed || res.Statuses[200] != res.Admitted.Count() {
		t.Fatalf("requests %d, shed %d, admitted %d, statuses %v", res.Requests, res.Shed, res.Admitted.Count(), res.Statuses)
	}
	if res.Shed == 0 || res.Goodput == 0 || res.Goodput > res.Admitted.Count() || res.Non2xx != 0 {
		t.Fatalf("shed %d, goodput %d of %d admitted, non-2xx %d", res.Shed, res.Goodput, res.Admitted.Count(), res.Non2xx)
	}
}
