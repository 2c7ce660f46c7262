package httpapi

import (
	"io"
	"net/http"
	"time"

	"github.com/plinth-dev/plinth/internal/engine"
	"github.com/plinth-dev/plinth/internal/obs"
)

// router is the ServeMux that finds the metrics of each route as it is registered, so that
// a request costs no label lookup.
type router struct {
	*http.ServeMux
	metrics *obs.Metrics
	routes  map[string]*obs.Route // by pattern; the catch-all "/" is obs.Unmatched
	// wrap, when set, wraps the handler of each route as it is registered (the rate limits).
	wrap func(pattern string, h http.Handler) http.Handler
}

func (m *router) Handle(pattern string, h http.Handler) {
	if m.wrap != nil {
		h = m.wrap(pattern, h)
	}
	m.ServeMux.Handle(pattern, h)
	if m.metrics == nil {
		return
	}
	if m.routes == nil {
		m.routes = map[string]*obs.Route{}
	}
	template := pattern
	if pattern == "/" {
		template = obs.Unmatched
	}
	m.routes[pattern] = m.metrics.Route(template)
}

func (m *router) HandleFunc(pattern string, h func(http.ResponseWriter, *http.Request)) {
	m.Handle(pattern, http.HandlerFunc(h))
}

// observe counts a request served in d. A request answered before routing (a bad token, a
// retired version) has no pattern yet: it is counted under the route it asked for.
func (s *Server) observe(r *http.Request, pattern string, rec *statusRecorder, body *countingBody, d time.Duration) {
	if pattern == "" {
		_, pattern = s.mux.Handler(r)
	}
	rt := s.mux.routes[pattern]
	if rt == nil {
		rt = s.mux.routes["/"]
	}
	status := rec.status
	if status == 0 {
		status = http.StatusOK
	}
	size := r.ContentLength
	if body != nil {
		size = body.n
	}
	rt.Observe(r.Method, status, d, max(size, 0), rec.size)
}

// countingBody counts the bytes read of a request body whose length was not announced.
type countingBody struct {
	io.ReadCloser
	n int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n += int64(n)
	return n, err
}

// serveMetrics serves the metrics to whom access admits.
func (s *Server) serveMetrics(access MetricsAccess) http.Handler {
	h := s.metrics.Handler()
	if access == MetricsOpen {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := engine.RequireAdmin(r.Context(), "read the metrics"); err != nil {
			s.writeError(w, r, err)
			return
		}
		h.ServeHTTP(w, r)
	})
}
