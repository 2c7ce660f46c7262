package httpapi

import (
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/plinth-dev/plinth/internal/engine"
	"github.com/plinth-dev/plinth/internal/fault"
	"github.com/plinth-dev/plinth/internal/limit"
)

// unlimited are the routes no rate limit applies to: probes and scrapes must see a server
// that is refusing its callers.
var unlimited = map[string]bool{"GET /healthz": true, "GET /readyz": true, metricsPattern: true}

// limited wraps the handler of a route with the rate limits that may apply to it. It runs
// after authentication, when the caller is known, and after routing, when the route is.
func (s *Server) limited(pattern string, h http.Handler) http.Handler {
	rt := s.limits.Route(pattern)
	if rt == nil || unlimited[pattern] {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := engine.PrincipalFrom(r.Context())
		c := limit.Caller{Anonymous: p.Subject == "", Role: p.Role, Subject: p.Subject, Address: r.RemoteAddr}
		if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
			c.Address = host
		}
		d := rt.Check(r.Context(), c)
		if len(d.States) > 0 {
			writeRateLimit(w.Header(), d.States)
		}
		if d.Refused == nil {
			h.ServeHTTP(w, r)
			return
		}
		s.metrics.RateLimited(pattern, d.Refused.Name)
		w.Header().Set("Retry-After", strconv.FormatInt(ceilSeconds(d.RetryAfter), 10))
		s.writeProblem(w, r, problem{Type: fault.TypeRateLimited,
			Detail: "too many requests under the rate limit " + strconv.Quote(d.Refused.Name) + " (" + d.Refused.RateText() + "); retry after the time Retry-After gives"})
	})
}

// writeRateLimit writes the RateLimit-Policy and RateLimit headers of the buckets
// (draft-ietf-httpapi-ratelimit-headers): each policy's quota q over its window w in seconds,
// and what remains of it, r, with t seconds until the bucket is full again.
func writeRateLimit(h http.Header, states []limit.State) {
	var policy, now strings.Builder
	for i, st := range states {
		if i > 0 {
			policy.WriteString(", ")
			now.WriteString(", ")
		}
		name := strconv.Quote(st.Limit.Name) // names are lowercase letters, digits and hyphens
		policy.WriteString(name + ";q=" + strconv.Itoa(st.Limit.Burst) + ";w=" + strconv.FormatInt(ceilSeconds(st.Limit.Window()), 10))
		now.WriteString(name + ";r=" + strconv.Itoa(st.Remaining) + ";t=" + strconv.FormatInt(ceilSeconds(st.Reset), 10))
	}
	h["Ratelimit-Policy"] = []string{policy.String()}
	h["Ratelimit"] = []string{now.String()}
}

// ceilSeconds rounds d up to whole seconds: a client that waits that long is not refused
// again for want of a fraction.
func ceilSeconds(d time.Duration) int64 { return int64(math.Ceil(d.Seconds())) }
