package httpapi

import (
	"cmp"
	"context"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/failsafe-go/failsafe-go/adaptivelimiter"

	"github.com/plinth-dev/plinth/internal/fault"
	"github.com/plinth-dev/plinth/internal/obs"
)

// Shedding configures the adaptive concurrency limit in front of the engine
// (docs/load.md, docs/decisions/0028-load-shedding.md). Zero fields take the defaults.
type Shedding struct {
	// MinLimit, MaxLimit and InitialLimit bound the limit on API requests served at once,
	// which moves between them as their latency trends up or down; defaults 4, 512 and 64.
	MinLimit, MaxLimit, InitialLimit uint
	// MaxWait is the longest a request waits in the queue for a place before it is shed;
	// default 1s. The queue's size bounds the wait first: it holds at most the limit again
	// (twice, refusing a growing share), so a queued request waits about one or two
	// requests' time; MaxWait bounds it when those in flight stall.
	MaxWait time.Duration
}

// Defaults of Shedding.
const (
	DefaultMinLimit     = 4
	DefaultMaxLimit     = 512
	DefaultInitialLimit = 64
	DefaultMaxWait      = time.Second
)

// shedder admits API requests under the adaptive limit, and refuses at once what neither
// fits under it nor in its queue.
type shedder struct {
	limiter adaptivelimiter.AdaptiveLimiter[any]
	maxWait time.Duration
}

func newShedder(c *Shedding, m *obs.Metrics, log *slog.Logger) *shedder {
	if c == nil {
		return nil
	}
	minLimit, maxLimit := cmp.Or(c.MinLimit, DefaultMinLimit), cmp.Or(c.MaxLimit, DefaultMaxLimit)
	initial := min(max(cmp.Or(c.InitialLimit, DefaultInitialLimit), minLimit), maxLimit)
	minLimit = min(minLimit, maxLimit)
	// The queue starts refusing some requests once it holds as many as the limit, and
	// refuses all at twice that: a short queue absorbs a burst, not an overload. The limit
	// may grow to five times the requests in flight, and never has less room than the
	// initial limit, so that an idle server takes a burst whole. The limit moves every 100 ms
	// (failsafe's default is every second, too slow to follow a spike: it moves by one or
	// two at a time), against a baseline that remembers 100 of those, the default's ten
	// seconds.
	l := adaptivelimiter.NewBuilder[any]().WithLimits(minLimit, maxLimit, initial).WithQueueing(1, 2).
		WithMaxLimitFunc(func(inflight int) float64 { return float64(max(initial, 5*uint(inflight))) }).
		WithRecentWindow(100*time.Millisecond, time.Second, 20).WithBaselineWindow(100).
		WithLogger(log).Build() // each change of the limit, and why, at debug level
	m.WatchLimiter(l.Limit, l.Inflight)
	return &shedder{limiter: l, maxWait: cmp.Or(c.MaxWait, DefaultMaxWait)}
}

// admit returns the permit of an admitted request, to be released when it has been
// answered, or false when the request is to be shed. A nil shedder admits everything.
func (sh *shedder) admit(r *http.Request) (adaptivelimiter.Permit, bool) {
	if sh == nil {
		return nil, true
	}
	p, err := sh.limiter.AcquirePermitWithMaxWait(r.Context(), sh.maxWait)
	return p, err == nil
}

// ownLane reports the routes that take no place under the limit, so that API traffic never
// sheds them: health, readiness, metrics, the profiler and the admin routes (/vN/_webhooks,
// /vN/_slo).
func ownLane(path string) bool {
	switch path {
	case "/healthz", "/readyz", "/metrics":
		return true
	}
	if strings.HasPrefix(path, "/debug/pprof/") {
		return true
	}
	if rest, ok := strings.CutPrefix(path, "/v"); ok {
		_, sub, _ := strings.Cut(rest, "/")
		return strings.HasPrefix(sub, "_")
	}
	return false
}

// shed answers a request the limit refused: 503 overloaded with Retry-After, before its body
// is read or its token checked.
func (s *Server) shed(w http.ResponseWriter, r *http.Request) {
	_, pattern := s.mux.Handler(r)
	if pattern == "/" || pattern == "" {
		pattern = obs.Unmatched
	}
	s.metrics.Shed(pattern)
	s.simpleProblem(w, r, fault.TypeOverloaded, "the server is at capacity; try again shortly")
}

// within runs h with a deadline d on its request's context, which the engine and the
// database statements it runs inherit (docs/load.md). A request past its deadline is
// answered 503 timeout (problemFor), and changes nothing: a write's commit, once begun, is
// the one thing a deadline does not cut short.
func within(d time.Duration, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), d)
		defer cancel()
		h(w, r.WithContext(ctx))
	}
}
