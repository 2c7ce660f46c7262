package plinth_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	oteltrace "go.opentelemetry.io/otel/trace"
	collector "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/plinth-dev/plinth"
	"github.com/plinth-dev/plinth/internal/auth"
	"github.com/plinth-dev/plinth/internal/store/pgtest"
)

const (
	shopSpec      = "examples/shop/plinth.yaml"
	jwtSecret     = "trace-test-secret-0123456789abcdef0123"
	webhookSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	// callerTrace is the trace context a caller sends with the order create.
	callerTraceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	callerSpanID  = "00f067aa0ba902b7"
)

// TestTraces runs the shop's order create and payment with tracing to an in-memory exporter,
// on each database: the span tree of the create, the caller's trace continued, the access
// log's trace ids, and the webhook delivery of the payment in a trace of its own, linked to
// the payment's, with the traceparent the receiver saw.
func TestTraces(t *testing.T) {
	t.Setenv("PLINTH_JWT_SECRET", jwtSecret)
	t.Run("sqlite", func(t *testing.T) {
		testTraces(t, plinth.Options{DataDir: t.TempDir()}, "sqlite")
	})
	t.Run("postgres", func(t *testing.T) {
		url := pgtest.URL(t)
		testTraces(t, plinth.Options{DataDir: t.TempDir(), Database: url, DatabaseSchema: pgtest.Schema(t, url)}, "postgresql")
	})
}

func testTraces(t *testing.T, opts plinth.Options, system string) {
	received := make(chan string, 10) // the traceparent of each delivery
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		received <- r.Header.Get("traceparent")
	}))
	defer receiver.Close()
	exporter := tracetest.NewInMemoryExporter()
	delivered := make(chan struct{}, 10)
	provider := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exporter), sdktrace.WithSpanProcessor(onEnd(func(s sdktrace.ReadOnlySpan) {
		if strings.HasPrefix(s.Name(), "webhook ") {
			delivered <- struct{}{}
		}
	})))
	defer provider.Shutdown(context.Background())
	logs := &syncBuffer{}
	env := map[string]string{"FULFILLMENT_URL": receiver.URL, "FULFILLMENT_SECRET": webhookSecret}
	opts.SpecFile, opts.TracerProvider = shopSpec, provider
	opts.Logger = slog.New(slog.NewJSONHandler(logs, nil))
	opts.Getenv = func(k string) string { return env[k] }
	app, err := plinth.New(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	h := app.Handler()
	admin, alice := token(t, "root", "admin"), token(t, "alice", "customer")

	var product struct{ ID string }
	decode(t, call(t, h, "POST", "/v1/products", admin, `{"sku":"MUG-01","name":"Mug","price_cents":1200,"stock":10}`, http.StatusCreated), &product)
	exporter.Reset()

	// The order create, continuing the caller's trace.
	res := call(t, h, "POST", "/v1/orders", alice, `{"items":[{"product_id":"`+product.ID+`","quantity":2}]}`, http.StatusCreated,
		"Idempotency-Key", "trace-create", "traceparent", "00-"+callerTraceID+"-"+callerSpanID+"-01")
	var order struct{ ID string }
	decode(t, res, &order)
	spans := spanSet(exporter.GetSpans())
	server := spans.one(t, "POST /v1/orders")
	if got := server.SpanContext.TraceID().String(); got != callerTraceID {
		t.Errorf("the create's trace is %s, want the caller's %s", got, callerTraceID)
	}
	if !server.Parent.IsRemote() || server.Parent.SpanID().String() != callerSpanID || server.SpanKind != oteltrace.SpanKindServer {
		t.Errorf("the server span's parent is %v (kind %v), want the caller's span %s", server.Parent, server.SpanKind, callerSpanID)
	}
	wantAttr(t, server, "http.route", "POST /v1/orders")
	wantAttr(t, server, "http.response.status_code", int64(http.StatusCreated))
	op := spans.one(t, "create orders")
	wantParent(t, op, server)
	write := spans.one(t, "store write")
	wantParent(t, write, op)
	wantAttr(t, write, "db.system.name", system)
	if system == "sqlite" {
		// The write's turn in the writer, and the group commit it was part of.
		for _, k := range []string{"plinth.sqlite.wait_ms", "plinth.sqlite.group", "plinth.sqlite.group_size", "plinth.sqlite.group_position"} {
			if _, ok := attr(write, k); !ok {
				t.Errorf("the SQLite write's span lacks %s: %v", k, write.Attributes)
			}
		}
		wantAttr(t, write, "plinth.sqlite.group_size", int64(1))
	} else {
		wantAttr(t, write, "plinth.store.attempts", int64(1))
	}
	for _, name := range []string{"effect require_on_sale", "effect reserve_stock"} {
		eff := spans.one(t, name)
		wantParent(t, eff, op)
		wantAttr(t, eff, "plinth.effect.items", int64(1))
	}
	if len(spans) != 5 {
		t.Errorf("the create made spans %v, want the server's, the operation's, the write's and two effects'", spans.names())
	}
	line := logLine(t, logs, res.Header().Get("X-Request-Id"))
	if line["trace_id"] != callerTraceID || line["span_id"] != server.SpanContext.SpanID().String() {
		t.Errorf("the access log line has trace_id %v and span_id %v, want %s and %s", line["trace_id"], line["span_id"],
			callerTraceID, server.SpanContext.SpanID())
	}

	// The payment starts a trace (no traceparent); its event's delivery links to it.
	exporter.Reset()
	call(t, h, "PATCH", "/v1/orders/"+order.ID, admin, `{"status":"paid"}`, http.StatusOK, "Idempotency-Key", "trace-pay")
	paid := spanSet(exporter.GetSpans())
	payServer, payOp := paid.one(t, "PATCH /v1/orders/{id}"), paid.one(t, "update orders")
	if payServer.Parent.IsValid() {
		t.Errorf("a request without traceparent continued %v", payServer.Parent)
	}
	wantParent(t, payOp, payServer)
	var sent string
	select {
	case sent = <-received:
	case <-time.After(10 * time.Second):
		t.Fatal("the payment's webhook was not delivered")
	}
	select {
	case <-delivered:
	case <-time.After(10 * time.Second):
		t.Fatal("the delivery's span did not end")
	}
	delivery := spanSet(exporter.GetSpans()).one(t, "webhook fulfillment")
	if delivery.Parent.IsValid() || delivery.SpanContext.TraceID() == payServer.SpanContext.TraceID() {
		t.Errorf("the delivery's span has parent %v in trace %s, want a new root", delivery.Parent, delivery.SpanContext.TraceID())
	}
	if len(delivery.Links) != 1 || delivery.Links[0].SpanContext.TraceID() != payServer.SpanContext.TraceID() ||
		delivery.Links[0].SpanContext.SpanID() != payOp.SpanContext.SpanID() {
		t.Errorf("the delivery's links are %+v, want one to the payment's operation %s in trace %s", delivery.Links,
			payOp.SpanContext.SpanID(), payServer.SpanContext.TraceID())
	}
	wantAttr(t, delivery, "http.response.status_code", int64(http.StatusOK))
	if want := "00-" + delivery.SpanContext.TraceID().String() + "-" + delivery.SpanContext.SpanID().String() + "-01"; sent != want {
		t.Errorf("the receiver saw traceparent %q, want the delivery span's %q", sent, want)
	}
}

// TestTracesOff: without a provider or an OTLP endpoint, the access log carries no trace id,
// and a delivery still sends a well-formed traceparent of its own.
func TestTracesOff(t *testing.T) {
	t.Setenv("PLINTH_JWT_SECRET", jwtSecret)
	logs := &syncBuffer{}
	app, err := plinth.New(context.Background(), plinth.Options{SpecFile: shopSpec, DataDir: t.TempDir(),
		Logger: slog.New(slog.NewJSONHandler(logs, nil)), Getenv: func(string) string { return "" }})
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	res := call(t, app.Handler(), "GET", "/v1/products", "", "", http.StatusOK, "traceparent", "00-"+callerTraceID+"-"+callerSpanID+"-01")
	line := logLine(t, logs, res.Header().Get("X-Request-Id"))
	if _, ok := line["trace_id"]; ok {
		t.Errorf("with tracing off the access log has trace_id %v", line["trace_id"])
	}
}

// TestOTLPExport: with OTEL_EXPORTER_OTLP_ENDPOINT set (through Options.Getenv), the spans of
// a request reach the collector's /v1/traces over OTLP/HTTP by the time the App is closed,
// under the service name OTEL_SERVICE_NAME gives.
func TestOTLPExport(t *testing.T) {
	t.Setenv("PLINTH_JWT_SECRET", jwtSecret)
	var mu sync.Mutex
	var got []*collector.ExportTraceServiceRequest
	collectorSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		req := &collector.ExportTraceServiceRequest{}
		if r.URL.Path != "/v1/traces" || proto.Unmarshal(body, req) != nil {
			http.Error(w, "not an OTLP trace export", http.StatusBadRequest)
			return
		}
		mu.Lock()
		got = append(got, req)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/x-protobuf")
	}))
	defer collectorSrv.Close()
	env := map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": collectorSrv.URL, "OTEL_SERVICE_NAME": "shop-under-test"}
	app, err := plinth.New(context.Background(), plinth.Options{SpecFile: shopSpec, DataDir: t.TempDir(),
		Getenv: func(k string) string { return env[k] }})
	if err != nil {
		t.Fatal(err)
	}
	call(t, app.Handler(), "GET", "/v1/products", "", "", http.StatusOK)
	if err := app.Close(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	var names []string
	for _, req := range got {
		for _, rs := range req.ResourceSpans {
			service := ""
			for _, kv := range rs.Resource.GetAttributes() {
				if kv.Key == "service.name" {
					service = kv.Value.GetStringValue()
				}
			}
			for _, ss := range rs.ScopeSpans {
				for _, s := range ss.Spans {
					names = append(names, service+": "+s.Name)
				}
			}
		}
	}
	want := []string{"shop-under-test: list products", "shop-under-test: GET /v1/products"}
	for _, w := range want {
		if !slices.Contains(names, w) {
			t.Errorf("the collector received spans %v, want %v among them", names, want)
		}
	}
}

func TestOTLPBadEnvironment(t *testing.T) {
	for _, env := range []map[string]string{
		{"OTEL_EXPORTER_OTLP_ENDPOINT": "collector:4318"},
		{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"},
	} {
		_, err := plinth.New(context.Background(), plinth.Options{SpecFile: shopSpec, DataDir: t.TempDir(),
			Getenv: func(k string) string { return env[k] }})
		if err == nil || !strings.Contains(err.Error(), "OTLP") {
			t.Errorf("%v: New gave %v, want an error about the OTLP setting", env, err)
		}
	}
}

// onEnd is a span processor that calls fn with each span that ends.
type onEnd func(sdktrace.ReadOnlySpan)

func (f onEnd) OnStart(context.Context, sdktrace.ReadWriteSpan) {}
func (f onEnd) OnEnd(s sdktrace.ReadOnlySpan)                   { f(s) }
func (f onEnd) Shutdown(context.Context) error                  { return nil }
func (f onEnd) ForceFlush(context.Context) error                { return nil }

// spanSet is the spans the exporter holds.
type spanSet []tracetest.SpanStub

// one is the only span named name.
func (s spanSet) one(t *testing.T, name string) tracetest.SpanStub {
	t.Helper()
	var found []tracetest.SpanStub
	for _, span := range s {
		if span.Name == name {
			found = append(found, span)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d spans named %q among %v, want one", len(found), name, s.names())
	}
	return found[0]
}

func (s spanSet) names() []string {
	var out []string
	for _, span := range s {
		out = append(out, span.Name)
	}
	return out
}

func wantParent(t *testing.T, child, parent tracetest.SpanStub) {
	t.Helper()
	if child.Parent.SpanID() != parent.SpanContext.SpanID() || child.Parent.TraceID() != parent.SpanContext.TraceID() {
		t.Errorf("span %q has parent %s, want %q (%s)", child.Name, child.Parent.SpanID(), parent.Name, parent.SpanContext.SpanID())
	}
}

func attr(s tracetest.SpanStub, key string) (any, bool) {
	for _, kv := range s.Attributes {
		if string(kv.Key) == key {
			return kv.Value.AsInterface(), true
		}
	}
	return nil, false
}

func wantAttr(t *testing.T, s tracetest.SpanStub, key string, want any) {
	t.Helper()
	if got, ok := attr(s, key); !ok || got != want {
		t.Errorf("span %q has %s = %v, want %v", s.Name, key, got, want)
	}
}

// syncBuffer is a log destination several goroutines write to.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// logLine is the access log line of the request with the given id.
func logLine(t *testing.T, logs *syncBuffer, requestID string) map[string]any {
	t.Helper()
	logs.mu.Lock()
	defer logs.mu.Unlock()
	for _, raw := range strings.Split(logs.buf.String(), "\n") {
		var line map[string]any
		if json.Unmarshal([]byte(raw), &line) == nil && line["msg"] == "request" && line["request_id"] == requestID {
			return line
		}
	}
	t.Fatalf("no access log line for request %s", requestID)
	return nil
}

// call serves one request and checks its status; headers are name, value pairs.
func call(t *testing.T, h http.Handler, method, path, tok, body string, want int, headers ...string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != want {
		t.Fatalf("%s %s: status %d, want %d: %s", method, path, rec.Code, want, rec.Body)
	}
	return rec
}

func decode(t *testing.T, rec *httptest.ResponseRecorder, v any) {
	t.Helper()
	if err := json.Unmarshal(rec.Body.Bytes(), v); err != nil {
		t.Fatal(err)
	}
}

// token signs a token as `plinth token` does, with the key the App reads from
// PLINTH_JWT_SECRET.
func token(t *testing.T, sub, role string) string {
	t.Helper()
	signer, err := auth.NewHS256(auth.Config{Key: []byte(jwtSecret)})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := signer.Sign(sub, role, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}
