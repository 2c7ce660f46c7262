package httpapi

import (
	"net/http"
	"net/http/pprof"

	"github.com/plinth-dev/plinth/internal/engine"
)

// profiler serves Go's pprof endpoints to role admin, for finding hot spots in production.
func (s *Server) profiler() {
	s.mux.Handle("GET /debug/pprof/", s.adminOnly(http.HandlerFunc(pprof.Index)))
	s.mux.Handle("GET /debug/pprof/cmdline", s.adminOnly(http.HandlerFunc(pprof.Cmdline)))
	s.mux.Handle("GET /debug/pprof/profile", s.adminOnly(http.HandlerFunc(pprof.Profile)))
	s.mux.Handle("GET /debug/pprof/symbol", s.adminOnly(http.HandlerFunc(pprof.Symbol)))
	s.mux.Handle("GET /debug/pprof/trace", s.adminOnly(http.HandlerFunc(pprof.Trace)))
}

// adminOnly lets role admin through and answers everyone else with a problem document.
func (s *Server) adminOnly(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := engine.RequireAdmin(r.Context(), "profile the server"); err != nil {
			s.writeError(w, r, err)
			return
		}
		next.ServeHTTP(w, r)
	})
}
