package obs

import (
	"net/http"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Unmatched is the route label of requests no route matched (the 404 catch-all), so that
// probes of random paths add no series.
const Unmatched = "unmatched"

// methods are the method labels; any other method is counted as "OTHER", so that a client
// inventing methods adds no series.
var methods = [...]string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
	http.MethodDelete, http.MethodOptions, "OTHER"}

var statusClasses = [...]string{"1xx", "2xx", "3xx", "4xx", "5xx"}

// Route is the HTTP metrics of one route template. A transport finds it once, when it
// registers the route, so that a request costs no label lookup: the series of each method
// and status class are made at their first request and kept here.
type Route struct {
	m        *Metrics
	template string
	series   [len(methods)]methodSeries
}

type methodSeries struct {
	classes [len(statusClasses)]atomic.Pointer[classSeries]
	sizes   atomic.Pointer[sizeSeries]
}

type classSeries struct {
	requests prometheus.Counter
	duration prometheus.Observer
}

type sizeSeries struct {
	request, response prometheus.Observer
}

// Route returns the metrics of a route template, such as "GET /v1/orders/{id}" (a
// ServeMux pattern) or Unmatched. Nil for a nil *Metrics.
func (m *Metrics) Route(template string) *Route {
	if m == nil {
		return nil
	}
	return &Route{m: m, template: template}
}

// Begin counts a request in flight; End counts it out.
func (m *Metrics) Begin() {
	if m != nil {
		m.httpInFlight.Inc()
	}
}

// End counts a request out of flight (see Begin).
func (m *Metrics) End() {
	if m != nil {
		m.httpInFlight.Dec()
	}
}

// Observe counts one request answered with status after d; reqBytes and respBytes are the
// sizes of its body and of the response's.
func (rt *Route) Observe(method string, status int, d time.Duration, reqBytes, respBytes int64) {
	if rt == nil {
		return
	}
	mi := methodIndex(method)
	ms := &rt.series[mi]
	ci := min(max(status/100, 1), 5) - 1
	cs := ms.classes[ci].Load()
	if cs == nil {
		labels := []string{rt.template, methods[mi], statusClasses[ci]}
		cs = &classSeries{requests: rt.m.httpRequests.WithLabelValues(labels...), duration: rt.m.httpDuration.WithLabelValues(labels...)}
		ms.classes[ci].Store(cs) // a racing request stores the same series
	}
	cs.requests.Inc()
	cs.duration.Observe(d.Seconds())
	ss := ms.sizes.Load()
	if ss == nil {
		ss = &sizeSeries{request: rt.m.httpReqSize.WithLabelValues(rt.template, methods[mi]),
			response: rt.m.httpRespSize.WithLabelValues(rt.template, methods[mi])}
		ms.sizes.Store(ss)
	}
	ss.request.Observe(float64(reqBytes))
	ss.response.Observe(float64(respBytes))
}

func methodIndex(method string) int {
	for i, m := range methods[:len(methods)-1] {
		if m == method {
			return i
		}
	}
	return len(methods) - 1
}
