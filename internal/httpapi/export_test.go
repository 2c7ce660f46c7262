package httpapi

import "net/http"

// ServeError answers GET path with err, so that a test can walk errors the engine and the
// drivers make only in rare states (a lost database, a bug) through the real server.
func (s *Server) ServeError(path string, err error) {
	s.mux.HandleFunc("GET "+path, func(w http.ResponseWriter, r *http.Request) { s.writeError(w, r, err) })
}
