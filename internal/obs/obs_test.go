package obs

import (
	"slices"
	"testing"
	"time"
)

// TestDurationBuckets: every objective's latency threshold is a bucket boundary, once.
func TestDurationBuckets(t *testing.T) {
	got := durationBuckets([]time.Duration{200 * time.Millisecond, 100 * time.Millisecond, 750 * time.Millisecond})
	for _, want := range []float64{0.2, 0.1, 0.75, 0.001, 10} {
		if !slices.Contains(got, want) {
			t.Errorf("%v lacks %v", got, want)
		}
	}
	if !slices.IsSorted(got) || len(got) != len(DurationBuckets)+2 {
		t.Errorf("buckets %v: not sorted, or with a repeat", got)
	}
	if b := durationBuckets(nil); !slices.Equal(b, DurationBuckets) {
		t.Errorf("without objectives: %v", b)
	}
}

// TestNilMetrics: a nil *Metrics (metrics turned off) may be called like any other.
func TestNilMetrics(t *testing.T) {
	var m *Metrics
	m.Begin()
	m.End()
	m.Route("GET /x").Observe("GET", 200, time.Millisecond, 1, 2)
	m.Operation("r", "get", OutcomeOK)
	m.EffectConflict("e")
	m.Transaction(true, time.Millisecond)
	m.Retry("sqlite")
	m.WriterWait(time.Millisecond)
	m.GroupSize(1)
	m.Delivery("w", DeliveryDelivered)
	m.Attempt("w")
	m.ScheduleRun("s", true, time.Millisecond)
	m.LeaseTakeover("s")
	m.WatchPool(nil)
	m.WatchOutbox(nil, time.Second)
	m.WatchReady(nil, time.Second)
	if m.Registry() != nil {
		t.Error("a nil Metrics has a registry")
	}
}

// BenchmarkObserve is what metrics add to one request: in flight, the route's series, and
// the engine's outcome (docs/performance.md).
func BenchmarkObserve(b *testing.B) {
	m := New(Options{})
	rt := m.Route("GET /v1/products/{id}")
	b.ReportAllocs()
	for b.Loop() {
		m.Begin()
		m.Operation("products", "get", OutcomeOK)
		rt.Observe("GET", 200, 3*time.Millisecond, 0, 512)
		m.End()
	}
}
