package engine

import (
	"context"

	"github.com/plinth-dev/plinth/internal/fault"
	"github.com/plinth-dev/plinth/internal/obs"
)

// Operations are counted here, in the engine, rather than by a transport: every transport
// (REST today, GraphQL or realtime later) goes through these methods, and only here is the
// outcome of an idempotent write known whole (a replay, or a failure rendered into a stored
// response that the transport receives as bytes).

// The operation labels of reads; writes are named by their kind (OpKind.String), and a write of
// several operations is a batch.
const (
	opGet   = "get"
	opList  = "list"
	opBatch = "batch"
	// batchResource is the resource label of a batch, whose operations may span several.
	batchResource = "*"
)

// count counts a caller's operation on resource that ended with err. The system's own work
// (schedules) is counted by its own metrics.
func (e *Engine) count(ctx context.Context, resource, op string, err error) {
	if e.metrics != nil && !isSystem(ctx) {
		e.metrics.Operation(resource, op, outcome(err))
	}
}

// countWrite counts the write ops that ended with err.
func (e *Engine) countWrite(ctx context.Context, ops []Op, err error) {
	if e.metrics != nil {
		e.countOutcome(ctx, ops, outcome(err))
	}
}

// countOutcome counts the write ops with the outcome given.
func (e *Engine) countOutcome(ctx context.Context, ops []Op, result string) {
	if e.metrics == nil || isSystem(ctx) || len(ops) == 0 {
		return
	}
	if len(ops) > 1 {
		e.metrics.Operation(batchResource, opBatch, result)
		return
	}
	e.metrics.Operation(ops[0].Resource, ops[0].Kind.String(), result)
}

// outcome names what err says of an operation, as plinth_engine_operations_total counts it.
func outcome(err error) string {
	if err == nil {
		return obs.OutcomeOK
	}
	f := fault.As(err)
	if f == nil {
		return obs.OutcomeError
	}
	if f.Type == fault.TypeIdempotencyKeyInFlight {
		return obs.OutcomeInFlight
	}
	switch f.Code {
	case fault.Invalid:
		return obs.OutcomeInvalid
	case fault.Unauthorized, fault.Forbidden:
		return obs.OutcomeForbidden
	case fault.NotFound:
		return obs.OutcomeNotFound
	case fault.Conflict:
		return obs.OutcomeConflict
	case fault.PreconditionFailed, fault.PreconditionNeeded:
		return obs.OutcomePreconditionFailed
	case fault.Unavailable:
		return obs.OutcomeUnavailable
	}
	return obs.OutcomeError
}
