package obs

import "github.com/prometheus/client_golang/prometheus"

// RateLimited counts a request of route (a ServeMux pattern; "/" counts as Unmatched) refused
// by the rate limit named policy.
func (m *Metrics) RateLimited(route, policy string) {
	if m == nil {
		return
	}
	if route == "/" {
		route = Unmatched
	}
	m.rateLimited.WithLabelValues(route, policy).Inc()
}

// WatchRateLimitRedis exports plinth_ratelimit_redis_up: 1 while the Redis the rate limits
// are shared through answers (up reports it), 0 while they are kept per process instead.
func (m *Metrics) WatchRateLimitRedis(up func() bool) {
	if m == nil {
		return
	}
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "plinth_ratelimit_redis_up",
		Help: "1 while the Redis the rate limits are shared through answers, 0 while they are kept per process."}, func() float64 {
		if up() {
			return 1
		}
		return 0
	}))
}
