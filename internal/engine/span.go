package engine

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	oteltrace "go.opentelemetry.io/otel/trace"

	"github.com/plinth-dev/plinth/internal/trace"
)

// startOp starts the span of one engine operation on a resource ("create orders"), a child of
// the request's span; it costs nothing when the request is not traced.
func startOp(ctx context.Context, op, resource string) (context.Context, oteltrace.Span) {
	if !trace.Recording(ctx) {
		return ctx, trace.None
	}
	return trace.Start(ctx, op+" "+resource, attribute.String("plinth.operation", op), attribute.String("plinth.resource", resource))
}

// startApply starts the span of an Apply: the operation's, or "batch" for several.
func startApply(ctx context.Context, ops []Op) (context.Context, oteltrace.Span) {
	if !trace.Recording(ctx) {
		return ctx, trace.None
	}
	if len(ops) != 1 {
		return trace.Start(ctx, "batch", attribute.String("plinth.operation", "batch"), attribute.Int("plinth.batch_size", len(ops)))
	}
	return startOp(ctx, ops[0].Kind.String(), ops[0].Resource)
}
