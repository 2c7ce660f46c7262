package obs

import "github.com/prometheus/client_golang/prometheus"

// CacheHit counts a record read from the read cache.
func (m *Metrics) CacheHit() {
	if m != nil {
		m.cacheHits.Inc()
	}
}

// CacheMiss counts a record the read cache had to read from the database.
func (m *Metrics) CacheMiss() {
	if m != nil {
		m.cacheMisses.Inc()
	}
}

// CacheInvalidation counts a record dropped from the read cache because it changed.
func (m *Metrics) CacheInvalidation() {
	if m != nil {
		m.cacheInvalidations.Inc()
	}
}

// WatchCache exports plinth_cache_bytes and plinth_cache_feed_lag_events, reading them with
// bytes and lag at each scrape (both must be cheap).
func (m *Metrics) WatchCache(bytes func() uint64, lag func() int64) {
	if m != nil {
		m.reg.MustRegister(
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "plinth_cache_bytes",
				Help: "Estimated memory the read cache's records take."}, func() float64 { return float64(bytes()) }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "plinth_cache_feed_lag_events",
				Help: "Events the read cache's feed found waiting at its last read of the outbox; 0 when it is at the head."},
				func() float64 { return float64(lag()) }))
	}
}
