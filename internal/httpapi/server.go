// Package httpapi serves the engine over REST: routes derived from the model, JSON in and
// out, RFC 9457 problem documents for every error, ETags and keyset pagination, and the
// OpenAPI document of those routes (internal/openapi) at /openapi.json and /openapi.yaml.
package httpapi

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	oteltrace "go.opentelemetry.io/otel/trace"

	"github.com/plinth-dev/plinth/internal/auth"
	"github.com/plinth-dev/plinth/internal/engine"
	"github.com/plinth-dev/plinth/internal/fault"
	"github.com/plinth-dev/plinth/internal/limit"
	"github.com/plinth-dev/plinth/internal/obs"
	"github.com/plinth-dev/plinth/internal/openapi"
	"github.com/plinth-dev/plinth/internal/slo"
	"github.com/plinth-dev/plinth/internal/spec"
	"github.com/plinth-dev/plinth/internal/store"
	"github.com/plinth-dev/plinth/internal/trace"
	"github.com/plinth-dev/plinth/internal/version"
	"github.com/plinth-dev/plinth/internal/worker"
)

// DefaultMaxBody is the largest request body accepted unless configured otherwise.
const DefaultMaxBody = 1 << 20

// Verifier checks bearer tokens.
type Verifier interface {
	Verify(token string) (auth.Claims, error)
}

// Webhooks is the webhook administration the server exposes to admins.
type Webhooks interface {
	Status(ctx context.Context) ([]worker.Status, error)
	DeadLetters(ctx context.Context, limit int) ([]store.Delivery, error)
	Replay(ctx context.Context, ids []string) (int, error)
	Discard(ctx context.Context, ids []string) (int, error)
}

// Config holds what a Server needs. Engine and Verifier are required.
type Config struct {
	Engine   *engine.Engine
	Verifier Verifier
	Webhooks Webhooks // optional: without it, the /_webhooks routes are not served
	// Pprof serves Go's profiler under /debug/pprof/, to role admin only.
	Pprof   bool
	Logger  *slog.Logger
	MaxBody int64                           // default DefaultMaxBody
	Ready   func(ctx context.Context) error // backs /readyz; nil means always ready
	// AccessLog, when set, receives the access log's lines (one JSON object a line, as Logger's
	// JSON handler would write them, with "component":"http"), written by hand rather than
	// through Logger, whose level still decides; it must take concurrent writes. Nil sends
	// them through Logger.
	AccessLog io.Writer
	// Metrics receives the HTTP metrics of every request; nil for none. Unless MetricsAccess
	// is MetricsOff, GET /metrics serves them.
	Metrics       *obs.Metrics
	MetricsAccess MetricsAccess
	// SLOs is fed every request and shown to admins at /vN/_slo; optional: without it, the
	// route is not served.
	SLOs *slo.Evaluator
	// Tracing makes a server span per request; nil is tracing off.
	Tracing *trace.Tracing
	// Limits are the rate limits every route but /healthz, /readyz and /metrics is checked
	// against; nil for none.
	Limits *limit.Limiter
	// Shedding puts an adaptive concurrency limit in front of the engine; nil is none.
	Shedding *Shedding
}

// MetricsAccess says who may read GET /metrics on the API's own listener.
type MetricsAccess int

const (
	// MetricsAdmin serves /metrics to role admin only: metrics tell of traffic and of the
	// data's shape, which the API's callers need not know.
	MetricsAdmin MetricsAccess = iota
	// MetricsOpen serves /metrics to anyone, for a listener only a network-restricted
	// scraper reaches.
	MetricsOpen
	// MetricsOff does not serve /metrics on the API's listener (a separate one may).
	MetricsOff
)

// metricsPattern is the route of the metrics.
const metricsPattern = "GET /metrics"

// Server is the REST transport. It holds no business rules: it parses, calls the engine,
// and writes what the engine answers.
type Server struct {
	engine   *engine.Engine
	verifier Verifier
	log      *slog.Logger
	// accessLog is Config.AccessLog.
	accessLog io.Writer
	maxBody   int64
	ready     func(ctx context.Context) error
	tracing   *trace.Tracing
	mux       *router
	prefix    string
	metrics   *obs.Metrics
	webhooks  Webhooks
	slo       *slo.Evaluator
	limits    *limit.Limiter
	shedder   *shedder // nil when shedding is off
	draining  atomic.Bool
	// apis are the versions served: the current one, then the older ones, newest first.
	apis []*api
	// deprecating holds the resources, of every version served, with fields marked
	// deprecated, found once when their routes are registered.
	deprecating map[*spec.Resource]bool
}

// New returns a Server with every route of the engine's model registered.
func New(cfg Config) (*Server, error) {
	if cfg.Engine == nil || cfg.Verifier == nil {
		return nil, errors.New("httpapi: Engine and Verifier are required")
	}
	s := &Server{
		engine:    cfg.Engine,
		verifier:  cfg.Verifier,
		log:       cmp.Or(cfg.Logger, slog.New(slog.DiscardHandler)),
		accessLog: cfg.AccessLog,
		maxBody:   cmp.Or(cfg.MaxBody, DefaultMaxBody),
		ready:     cfg.Ready,
		tracing:   cfg.Tracing,
		mux:       &router{ServeMux: http.NewServeMux(), metrics: cfg.Metrics},
		prefix:    fmt.Sprintf("/v%d", cfg.Engine.Model().Version),
		webhooks:  cfg.Webhooks,
		metrics:   cfg.Metrics,
		slo:       cfg.SLOs,
		limits:    cfg.Limits,
	}
	if cfg.Limits != nil {
		s.mux.wrap = s.limited
	}
	s.shedder = newShedder(cfg.Shedding, cfg.Metrics, s.log)
	s.apis = []*api{{s: s, prefix: s.prefix}}
	for _, v := range cfg.Engine.Model().Versions {
		old := version.New(cfg.Engine.Model(), v)
		s.apis = append(s.apis, &api{s: s, prefix: old.Prefix(), v: old})
	}
	if cfg.Pprof {
		s.profiler()
	}
	if err := s.document(cfg); err != nil {
		return nil, err
	}
	s.routes()
	if cfg.Metrics != nil && cfg.MetricsAccess != MetricsOff {
		s.mux.Handle(metricsPattern, s.serveMetrics(cfg.MetricsAccess))
	}
	return s, nil
}

// api is one version of the API as served: the current one, or an older one (v) whose
// requests and answers internal/version translates.
type api struct {
	s      *Server
	prefix string
	v      *version.API // nil for the current version
	// contractJSON and contractYAML render the version's OpenAPI document, which New builds;
	// each is rendered once, when it is first asked for, as rendering costs more than
	// building (tens of milliseconds against a few).
	contractJSON, contractYAML func() ([]byte, error)
	// reference renders the document as the HTML page served at /docs (an older version's at
	// its prefix), likewise once.
	reference func() ([]byte, error)
}

// document builds the OpenAPI document of each version's routes, from the same model: the
// current version's, and each older one's from its view.
func (s *Server) document(cfg Config) error {
	for _, a := range s.apis {
		var doc *openapi3.T
		var err error
		if a.v == nil {
			doc, err = openapi.Document(s.engine.Model(), openapi.Options{Webhooks: cfg.Webhooks != nil, SLOs: cfg.SLOs != nil, Pprof: cfg.Pprof, MaxBody: s.maxBody})
		} else {
			doc, err = a.v.Document(s.maxBody)
		}
		if err != nil {
			return fmt.Errorf("httpapi: the OpenAPI document of %s: %w", a.prefix, err)
		}
		a.contractJSON = sync.OnceValues(func() ([]byte, error) { return openapi.JSON(doc) })
		a.contractYAML = sync.OnceValues(func() ([]byte, error) { return openapi.YAML(doc) })
		a.reference = sync.OnceValues(func() ([]byte, error) { return openapi.Reference(doc) })
	}
	return nil
}

func (s *Server) routes() {
	for _, a := range s.apis {
		if a.v == nil {
			for _, r := range s.engine.Model().Resources {
				a.resource(resourceHandler{api: *a, r: r, cur: r})
			}
		} else {
			for _, m := range a.v.Maps() {
				a.resource(resourceHandler{api: *a, r: m.Old, cur: m.Current, m: m})
			}
		}
		a.collections()
	}
	if s.webhooks != nil {
		s.mux.HandleFunc("GET "+s.prefix+"/_webhooks", s.webhookStatus)
		s.mux.HandleFunc("GET "+s.prefix+"/_webhooks/dead", s.deadLetters)
		s.mux.HandleFunc("POST "+s.prefix+"/_webhooks/replay", s.replay)
		s.mux.HandleFunc("POST "+s.prefix+"/_webhooks/discard", s.discard)
	}
	if s.slo != nil {
		s.mux.HandleFunc("GET "+s.prefix+"/_slo", s.objectives)
	}
	s.mux.HandleFunc("GET /healthz", s.healthz)
	s.mux.HandleFunc("GET /readyz", s.readyz)
	s.mux.HandleFunc("/", s.notFound)
}

// resource registers the routes of one resource.
func (a api) resource(h resourceHandler) {
	if hasDeprecated(h.r.Fields) {
		if a.s.deprecating == nil {
			a.s.deprecating = map[*spec.Resource]bool{}
		}
		a.s.deprecating[h.r] = true
	}
	base := a.prefix + "/" + h.r.Name
	read, write := h.cur.Timeouts.Read, h.cur.Timeouts.Write
	a.s.mux.HandleFunc("GET "+base, within(read, h.list))
	a.s.mux.HandleFunc("POST "+base, within(write, h.create))
	a.s.mux.HandleFunc("GET "+base+"/{id}", within(read, h.get))
	a.s.mux.HandleFunc("PATCH "+base+"/{id}", within(write, h.patch))
	a.s.mux.HandleFunc("PUT "+base+"/{id}", within(write, h.put))
	a.s.mux.HandleFunc("DELETE "+base+"/{id}", within(write, h.delete))
}

// collections registers the routes over every resource: the batch, the change feed, and the
// version's OpenAPI document and reference page (the current one's at the root,
// /openapi.json and /docs).
func (a api) collections() {
	a.s.mux.HandleFunc("POST "+a.prefix+"/batch", within(a.s.engine.Model().Timeouts.Write, a.batch))
	a.s.mux.HandleFunc("GET "+a.prefix+"/events", a.events)
	base := ""
	if a.v != nil {
		base = a.prefix
	}
	a.s.mux.HandleFunc("GET "+base+"/openapi.json", a.s.serveContract("application/json", a.contractJSON))
	a.s.mux.HandleFunc("GET "+base+"/openapi.yaml", a.s.serveContract("application/yaml", a.contractYAML))
	a.s.mux.HandleFunc("GET "+base+"/docs", a.s.serveContract("text/html; charset=utf-8", a.reference))
}

// ServeHTTP runs the middleware chain around the router.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start, began := time.Now(), s.slo.Now()
	id := r.Header.Get("X-Request-Id")
	if !requestIDPattern.MatchString(id) {
		id = newRequestID()
	}
	ctx := engine.WithRequestID(r.Context(), id)
	var span oteltrace.Span
	if s.tracing.On() {
		ctx, span = s.tracing.Tracer().Start(trace.Extract(ctx, r.Header), r.Method, oteltrace.WithSpanKind(oteltrace.SpanKindServer),
			oteltrace.WithAttributes(attribute.String("http.request.method", r.Method), attribute.String("url.path", r.URL.Path),
				attribute.String("plinth.request_id", id)))
	}
	r = r.WithContext(ctx)
	rec := &statusRecorder{ResponseWriter: w}
	var body *countingBody // the request's body when its length is not known beforehand
	if s.metrics != nil {
		s.metrics.Begin()
		defer s.metrics.End()
		if r.ContentLength < 0 && r.Body != nil && r.Body != http.NoBody {
			body = &countingBody{ReadCloser: r.Body}
			r.Body = body
		}
	}
	h := rec.Header()
	h["X-Request-Id"] = []string{id}
	h["X-Content-Type-Options"] = nosniff
	served := r // the router records the matched route on the request it serves
	shed := false
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			s.log.ErrorContext(r.Context(), "panic", append(logAttrs(r), "panic", fmt.Sprint(v), "stack", string(debug.Stack()))...)
			if !rec.wrote {
				s.writeError(rec, r, errors.New("panic"))
			}
		}
		if s.metrics != nil {
			s.observe(r, served.Pattern, rec, body, time.Since(start))
		}
		// A scrape every few seconds would drown the requests in the access log, and a line
		// per shed request would spend on logging what shedding saves (plinth_shed_total
		// counts them).
		level := slog.LevelInfo
		if served.Pattern == metricsPattern || shed {
			level = slog.LevelDebug
		}
		if s.log.Enabled(r.Context(), level) {
			a := access{level: level, requestID: id, method: r.Method, path: r.URL.Path, route: served.Pattern,
				status: rec.status, duration: time.Since(start), sub: engine.PrincipalFrom(served.Context()).Subject}
			a.traceID, a.spanID = trace.IDs(r.Context())
			s.logAccess(r.Context(), &a)
		}
		if span != nil {
			endServerSpan(span, served.Pattern, rec.status)
		}
		s.slo.Observe(served.Pattern, rec.status, began)
	}()
	if !ownLane(r.URL.Path) {
		permit, ok := s.shedder.admit(r)
		if !ok {
			shed = true
			s.shed(rec, r)
			return
		}
		if permit != nil {
			defer permit.Record()
		}
	}
	if v := s.olderVersion(r.URL.Path); v != nil && !s.deprecated(rec, r, v) {
		return
	}
	if r2, ok := s.authenticate(rec, r); ok {
		served = r2
		s.mux.ServeHTTP(rec, r2)
	}
}

// endServerSpan names the request's span after the route that matched ("GET /v1/orders/{id}"),
// or after its method alone when none did, so that span names stay few; a 5xx fails it.
func endServerSpan(span oteltrace.Span, route string, status int) {
	if route != "" && route != "/" {
		span.SetName(route)
		span.SetAttributes(attribute.String("http.route", route))
	}
	span.SetAttributes(attribute.Int("http.response.status_code", status))
	if status >= 500 {
		span.SetStatus(codes.Error, http.StatusText(status))
	}
	span.End()
}

// Header values every response shares. Header values are only ever replaced or appended to,
// and a slice at capacity is copied on append, so sharing them is safe.
var (
	nosniff     = []string{"nosniff"}
	contentJSON = []string{"application/json"}
)

var requestIDPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

func newRequestID() string {
	b := make([]byte, 12)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// authenticate reads a bearer token into the request's principal. No header means an
// anonymous caller; a bad token is a 401 at once rather than a silent downgrade.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request) (*http.Request, bool) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return r, true
	}
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		w.Header().Set("WWW-Authenticate", `Bearer realm="plinth"`)
		s.simpleProblem(w, r, fault.TypeUnauthorized, "the Authorization header must be `Bearer <token>`")
		return nil, false
	}
	claims, err := s.verifier.Verify(strings.TrimSpace(token))
	if err != nil {
		s.log.InfoContext(r.Context(), "token rejected", append(logAttrs(r), "reason", err.Error())...)
		w.Header().Set("WWW-Authenticate", `Bearer realm="plinth", error="invalid_token"`)
		s.simpleProblem(w, r, fault.TypeUnauthorized, "the bearer token is invalid or has expired")
		return nil, false
	}
	p := engine.Principal{Subject: claims.Subject, Role: claims.Role, Claims: claims.All}
	return r.WithContext(engine.WithPrincipal(r.Context(), p)), true
}

// statusRecorder remembers the status for the access log, and the size of the body for the
// metrics.
type statusRecorder struct {
	http.ResponseWriter
	status int
	wrote  bool
	size   int64
}

func (r *statusRecorder) WriteHeader(code int) {
	if !r.wrote {
		r.status, r.wrote = code, true
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if !r.wrote {
		r.status, r.wrote = http.StatusOK, true
	}
	n, err := r.ResponseWriter.Write(b)
	r.size += int64(n)
	return n, err
}

func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

var probeMethods = []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete}

// notFound answers every request no route matched: 405 with Allow when the path exists
// under other methods, 404 otherwise.
func (s *Server) notFound(w http.ResponseWriter, r *http.Request) {
	var allow []string
	for _, m := range probeMethods {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pattern := s.mux.Handler(probe); pattern != "" && pattern != "/" {
			allow = append(allow, m)
		}
	}
	if len(allow) > 0 {
		w.Header().Set("Allow", strings.Join(allow, ", "))
		s.simpleProblem(w, r, fault.TypeMethodNotAllowed,
			fmt.Sprintf("%s is not supported here; use %s", r.Method, strings.Join(allow, ", ")))
		return
	}
	s.simpleProblem(w, r, fault.TypeNotFound, "there is nothing at this path")
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, marshal(map[string]string{"status": "ok"}))
}

// Drain makes /readyz answer 503 from now on, so that load balancers stop sending requests
// to a server about to shut down; the server goes on serving what still arrives.
func (s *Server) Drain() { s.draining.Store(true) }

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	if s.draining.Load() {
		w.Header().Set("Retry-After", "1")
		s.simpleProblem(w, r, fault.TypeUnavailable, "the server is shutting down")
		return
	}
	if s.ready != nil {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := s.ready(ctx); err != nil {
			s.log.WarnContext(ctx, "not ready", "err", err)
			w.Header().Set("Retry-After", "1")
			s.simpleProblem(w, r, fault.TypeUnavailable, "the database is not reachable")
			return
		}
	}
	body := map[string]any{"status": "ready"}
	if s.limits.Shared() {
		// A Redis that does not answer leaves the limits per process: worth knowing, not a
		// reason to take the server out of service.
		redis := "up"
		if !s.limits.RedisUp() {
			redis = "down: limiting per process"
		}
		body["details"] = map[string]any{"rate_limits": map[string]string{"redis": redis}}
	}
	writeJSON(w, http.StatusOK, marshal(body))
}

// serveContract answers with the OpenAPI document as render gives it in mediaType (or its
// reference page, which needs nothing but itself: the policy says so to the browser). It changes
// only when the server restarts with another spec, so clients revalidate rather than trust a
// copy.
func (s *Server) serveContract(mediaType string, render func() ([]byte, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, err := render()
		if err != nil {
			s.writeError(w, r, fmt.Errorf("render the OpenAPI document: %w", err))
			return
		}
		w.Header().Set("Content-Type", mediaType)
		w.Header().Set("Cache-Control", "no-cache")
		// The reference page is self-contained: the browser may load nothing from elsewhere,
		// which also keeps it working with no network at all.
		w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; base-uri 'none'; form-action 'none'")
		w.Write(body)
	}
}

func writeJSON(w http.ResponseWriter, status int, body []byte) {
	w.Header()["Content-Type"] = contentJSON
	w.WriteHeader(status)
	w.Write(body)
}

// resource returns the model's resource by name, or nil.
func (s *Server) resource(name string) *spec.Resource {
	r, _ := s.engine.Model().Resource(name)
	return r
}
