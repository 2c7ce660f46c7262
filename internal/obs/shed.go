package obs

import "github.com/prometheus/client_golang/prometheus"

// Shed counts a request the concurrency limit refused, by the route it would have taken
// (obs.Unmatched for none).
func (m *Metrics) Shed(route string) {
	if m != nil {
		m.shed.WithLabelValues(route).Inc()
	}
}

// WatchLimiter exports the adaptive concurrency limit and the requests holding a place
// under it, read at scrape time.
func (m *Metrics) WatchLimiter(limit, inflight func() int) {
	if m == nil {
		return
	}
	m.reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "plinth_concurrency_limit",
			Help: "The adaptive limit on API requests served at once; those beyond it and its short queue are shed."},
			func() float64 { return float64(limit()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "plinth_inflight",
			Help: "API requests holding a place under the concurrency limit (health, readiness, metrics and admin routes take none)."},
			func() float64 { return float64(inflight()) }))
}
