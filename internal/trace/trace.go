package trace

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"net/url"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	oteltrace "go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/plinth-dev/plinth/internal/fault"
)

// Name is the instrumentation scope of Plinth's spans.
const Name = "github.com/plinth-dev/plinth"

// The standard environment variables that choose the exporter.
const (
	EnvEndpoint       = "OTEL_EXPORTER_OTLP_ENDPOINT"
	EnvTracesEndpoint = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
	EnvProtocol       = "OTEL_EXPORTER_OTLP_PROTOCOL"
	EnvTracesProtocol = "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"
	EnvServiceName    = "OTEL_SERVICE_NAME"
)

// Config holds what New needs.
type Config struct {
	// Getenv reads the OTEL_* variables above; required.
	Getenv func(string) string
	// Service names the service in the resource when OTEL_SERVICE_NAME is unset.
	Service string
	// Provider, when set, is used as it is and the environment is not read: an embedding
	// program's own pipeline, or a test's in-memory exporter. Shutdown leaves it running.
	Provider oteltrace.TracerProvider
}

// Tracing is one App's tracer provider and propagator. A nil *Tracing is tracing off, and
// every method of it costs nothing.
type Tracing struct {
	tracer oteltrace.Tracer
	sdk    *sdktrace.TracerProvider // the provider New made, to flush and stop; nil when given
}

// propagator reads and writes W3C traceparent and tracestate.
var propagator propagation.TextMapPropagator = propagation.TraceContext{}

// New sets tracing up from cfg: the given Provider, or an OTLP exporter over HTTP or gRPC
// when OTEL_EXPORTER_OTLP_TRACES_ENDPOINT or OTEL_EXPORTER_OTLP_ENDPOINT is set, batching
// spans to it. With neither it returns nil, tracing off. It fails on an endpoint that is not
// an http(s) URL or a protocol other than http/protobuf and grpc.
func New(ctx context.Context, cfg Config) (*Tracing, error) {
	if cfg.Provider != nil {
		return &Tracing{tracer: cfg.Provider.Tracer(Name)}, nil
	}
	exp, err := exporter(ctx, cfg.Getenv)
	if exp == nil || err != nil {
		return nil, err
	}
	res, err := resource.Merge(resource.Default(),
		resource.NewSchemaless(attribute.String("service.name", cmp.Or(cfg.Getenv(EnvServiceName), cfg.Service))))
	if err != nil {
		return nil, fmt.Errorf("trace resource: %w", err)
	}
	sdk := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	return &Tracing{tracer: sdk.Tracer(Name), sdk: sdk}, nil
}

// exporter is the OTLP exporter the environment asks for, or nil when it asks for none.
func exporter(ctx context.Context, getenv func(string) string) (sdktrace.SpanExporter, error) {
	endpoint := getenv(EnvTracesEndpoint)
	base := endpoint == ""
	if base {
		endpoint = getenv(EnvEndpoint)
	}
	if endpoint == "" {
		return nil, nil
	}
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("the OTLP endpoint %q is not an http:// or https:// URL", endpoint)
	}
	switch protocol := cmp.Or(getenv(EnvTracesProtocol), getenv(EnvProtocol), "http/protobuf"); protocol {
	case "http/protobuf":
		if base {
			// The base endpoint names the collector; traces go to its /v1/traces.
			u = u.JoinPath("v1/traces")
		}
		return otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(u.String()))
	case "grpc":
		return otlptracegrpc.New(ctx, otlptracegrpc.WithEndpointURL(u.String()))
	default:
		return nil, fmt.Errorf("the OTLP protocol %q is not supported: use http/protobuf or grpc", protocol)
	}
}

// On says whether spans are made.
func (t *Tracing) On() bool { return t != nil }

// Tracer makes the spans that start a trace or continue one from outside: the server's
// and the webhook deliveries'. Spans inside a request come from Start.
func (t *Tracing) Tracer() oteltrace.Tracer {
	if t == nil {
		return noop.Tracer{}
	}
	return t.tracer
}

// Shutdown flushes the spans not yet exported and stops the exporter; a provider given in
// Config is left to its owner.
func (t *Tracing) Shutdown(ctx context.Context) error {
	if t == nil || t.sdk == nil {
		return nil
	}
	return t.sdk.Shutdown(ctx)
}

// Extract continues the trace of an incoming request's traceparent and tracestate, if any.
func Extract(ctx context.Context, h http.Header) context.Context {
	return propagator.Extract(ctx, propagation.HeaderCarrier(h))
}

// Inject writes the traceparent (and tracestate) of ctx's span into h.
func Inject(ctx context.Context, h http.Header) {
	propagator.Inject(ctx, propagation.HeaderCarrier(h))
}

// Recording says whether ctx's span records: only then does a layer below the server start
// a span of its own (Start), so that the name and attributes of a span that would not be
// made cost nothing, not even an allocation, when the request is not traced.
func Recording(ctx context.Context) bool { return oteltrace.SpanFromContext(ctx).IsRecording() }

// None is the span of an operation that is not traced: every method of it does nothing.
var None oteltrace.Span = noop.Span{}

// Start starts a span named name as a child of ctx's span, on the same provider; the caller
// checks Recording first.
func Start(ctx context.Context, name string, attrs ...attribute.KeyValue) (context.Context, oteltrace.Span) {
	return oteltrace.SpanFromContext(ctx).TracerProvider().Tracer(Name).Start(ctx, name, oteltrace.WithAttributes(attrs...))
}

// End ends span, marking it failed when err is not nil (see Fail).
func End(span oteltrace.Span, err error) {
	if err != nil {
		Fail(span, err)
	}
	span.End()
}

// Fail marks span failed by err: its status is Error when the failure is the server's
// (Internal or Unavailable), and the error's code is the attribute plinth.error. The status
// description is the message a client sees, never the cause: a cause may hold SQL or values.
func Fail(span oteltrace.Span, err error) {
	if !span.IsRecording() {
		return
	}
	code := fault.CodeOf(err)
	span.SetAttributes(attribute.String("plinth.error", string(code)))
	if code == fault.Internal || code == fault.Unavailable {
		span.SetStatus(codes.Error, publicMessage(err))
	}
}

func publicMessage(err error) string {
	if f := fault.As(err); f != nil && f.Code != fault.Internal {
		return f.Message
	}
	return "internal error"
}

// Parent is the W3C traceparent of ctx's span, to store with what the span caused (an
// outbox event), or "" when the span is not recording.
func Parent(ctx context.Context) string {
	sc := oteltrace.SpanContextFromContext(ctx)
	if !sc.IsValid() || !sc.IsSampled() {
		return ""
	}
	return "00-" + sc.TraceID().String() + "-" + sc.SpanID().String() + "-" + sc.TraceFlags().String()
}

// Link is a link to the span whose traceparent Parent gave; ok is false for "" or a value
// that is not a traceparent.
func Link(traceparent string) (oteltrace.Link, bool) {
	if traceparent == "" {
		return oteltrace.Link{}, false
	}
	ctx := propagator.Extract(context.Background(), propagation.MapCarrier{"traceparent": traceparent})
	sc := oteltrace.SpanContextFromContext(ctx)
	if !sc.IsValid() {
		return oteltrace.Link{}, false
	}
	return oteltrace.Link{SpanContext: sc}, true
}

// IDs are the trace and span ids of ctx's span, for a log line, or "" when it is not
// recording.
func IDs(ctx context.Context) (traceID, spanID string) {
	span := oteltrace.SpanFromContext(ctx)
	if !span.IsRecording() {
		return "", ""
	}
	sc := span.SpanContext()
	return sc.TraceID().String(), sc.SpanID().String()
}
