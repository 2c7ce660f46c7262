// Package trace is Plinth's OpenTelemetry tracing: a tracer provider per App (never the
// global one, since one process may run several Apps), exporting over OTLP when the standard
// OTEL_EXPORTER_OTLP_* environment asks for it and off otherwise; W3C trace context read
// from requests and sent with webhook deliveries; and the helpers the layers below a request
// use to add their spans. Spans below the server's are started from the provider of the span
// in the context (Start), so that the engine and the drivers need no tracer of their own and
// cost nothing when the request is not traced (docs/decisions/0024-traces.md).
package trace
