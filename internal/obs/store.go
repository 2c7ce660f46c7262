package obs

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Transaction observes a database read (write false) or write transaction that took d.
func (m *Metrics) Transaction(write bool, d time.Duration) {
	switch {
	case m == nil:
	case write:
		m.txWrite.Observe(d.Seconds())
	default:
		m.txRead.Observe(d.Seconds())
	}
}

// Retry counts a write transaction of database ("sqlite" or "postgres") run again.
func (m *Metrics) Retry(database string) {
	if m != nil {
		m.retries.WithLabelValues(database).Inc()
	}
}

// WriterWait observes how long a SQLite write waited for the writer.
func (m *Metrics) WriterWait(d time.Duration) {
	if m != nil {
		m.writerWait.Observe(d.Seconds())
	}
}

// GroupSize observes how many writes one SQLite group commit carried.
func (m *Metrics) GroupSize(n int) {
	if m != nil {
		m.groupSize.Observe(float64(n))
	}
}

// PoolStats is the use of a connection pool, as pgxpool.Stat reports it.
type PoolStats struct {
	Acquired, Idle, Constructing, Max int32
	AcquireWait                       time.Duration // total time spent waiting for a connection
	EmptyAcquires                     int64         // acquisitions that had to wait for one
}

// WatchPool exports the plinth_postgres_pool_* metrics, reading them with read at each
// scrape (it must be cheap: pgxpool.Pool.Stat is).
func (m *Metrics) WatchPool(read func() PoolStats) {
	if m != nil {
		m.reg.MustRegister(poolCollector{read})
	}
}

var (
	poolConns = prometheus.NewDesc("plinth_postgres_pool_connections",
		"PostgreSQL pool connections, by state (max is the pool's bound).", []string{"state"}, nil)
	poolWait = prometheus.NewDesc("plinth_postgres_pool_acquire_wait_seconds_total",
		"Total time spent waiting for a PostgreSQL connection from the pool.", nil, nil)
	poolEmpty = prometheus.NewDesc("plinth_postgres_pool_empty_acquires_total",
		"Acquisitions of a PostgreSQL connection that had to wait, the pool having none idle.", nil, nil)
)

type poolCollector struct{ read func() PoolStats }

func (c poolCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- poolConns
	ch <- poolWait
	ch <- poolEmpty
}

func (c poolCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.read()
	for _, st := range []struct {
		state string
		n     int32
	}{{"acquired", s.Acquired}, {"idle", s.Idle}, {"constructing", s.Constructing}, {"max", s.Max}} {
		ch <- prometheus.MustNewConstMetric(poolConns, prometheus.GaugeValue, float64(st.n), st.state)
	}
	ch <- prometheus.MustNewConstMetric(poolWait, prometheus.CounterValue, s.AcquireWait.Seconds())
	ch <- prometheus.MustNewConstMetric(poolEmpty, prometheus.CounterValue, float64(s.EmptyAcquires))
}
