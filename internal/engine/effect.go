package engine

import (
	"context"
	"fmt"

	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/common/types/traits"
	"go.opentelemetry.io/otel/attribute"
	oteltrace "go.opentelemetry.io/otel/trace"

	"github.com/plinth-dev/plinth/internal/fault"
	"github.com/plinth-dev/plinth/internal/spec"
	"github.com/plinth-dev/plinth/internal/store"
	"github.com/plinth-dev/plinth/internal/trace"
)

// maxEffectDepth bounds effects that trigger effects, so that a cycle in a spec cannot loop.
const maxEffectDepth = 4

type effectDepthKey struct{}

// systemKey marks a context in which access rules do not apply: effects are the spec
// author's own logic, so an order may reserve stock on a product its customer cannot edit.
type systemKey struct{}

func isSystem(ctx context.Context) bool { return ctx.Value(systemKey{}) != nil }

// runEffects applies r's effects for op after the write itself, in the same transaction.
// record is the record as written (as it was, for a delete); old is nil for a create.
func (e *Engine) runEffects(ctx context.Context, tx store.Tx, r *spec.Resource, op spec.Operation, record, old *store.Record) error {
	if len(r.Effects) == 0 {
		return nil
	}
	depth, _ := ctx.Value(effectDepthKey{}).(int)
	if depth >= maxEffectDepth {
		return fault.New(fault.Conflict, "effects nest deeper than %d levels", maxEffectDepth)
	}
	sysCtx := context.WithValue(context.WithValue(ctx, effectDepthKey{}, depth+1), systemKey{}, true)
	vars := ruleVars(ctx, e.clock(), record, old)
	recordID := record.ID
	failed := func(x *spec.Expr, err error) error { return e.exprFailed(ctx, x, r.Name, recordID, err) }
	// Effects change records as they go, so their lookups read the transaction afresh
	// rather than through a write's cache.
	lookup := func(resource, id string) (ref.Val, error) {
		r, ok := e.model.Resource(resource)
		if !ok {
			return nil, fault.New(fault.NotFound, "no such resource")
		}
		rec, err := tx.Get(ctx, r, id)
		if err != nil {
			return nil, err
		}
		return RecordValue(rec), nil
	}
	for _, eff := range r.Effects {
		if !eff.Runs(op) {
			continue
		}
		if eff.When != nil {
			ok, err := evalBool(eff.When, vars, lookup)
			if err != nil {
				return failed(eff.When, err)
			}
			if !ok {
				continue
			}
		}
		items := []any{nil}
		if eff.ForEach != nil {
			out, err := evalExpr(eff.ForEach, vars, lookup)
			if err != nil {
				return failed(eff.ForEach, err)
			}
			list, ok := out.(traits.Lister)
			if !ok {
				return failed(eff.ForEach, fmt.Errorf("gave %s, not a list", out.Type()))
			}
			items = items[:0]
			for it := list.Iterator(); it.HasNext() == types.True; {
				v, err := fromCEL(it.Next())
				if err != nil {
					return failed(eff.ForEach, err)
				}
				items = append(items, v)
			}
		}
		if err := e.effect(ctx, sysCtx, tx, eff, vars, items, lookup, failed); err != nil {
			return err
		}
	}
	return nil
}

// effect applies eff for each of its items, under a span of its own ("effect reserve_stock").
func (e *Engine) effect(ctx, sysCtx context.Context, tx store.Tx, eff *spec.Effect, vars map[string]any, items []any,
	lookup lookupFunc, failed func(*spec.Expr, error) error) (err error) {
	span := trace.None
	if trace.Recording(ctx) {
		ctx, span = trace.Start(ctx, "effect "+eff.Name, attribute.String("plinth.effect", eff.Name),
			attribute.String("plinth.resource", eff.Target), attribute.Int("plinth.effect.items", len(items)))
		// The effect's own writes (and their events) belong to its span.
		sysCtx = oteltrace.ContextWithSpan(sysCtx, span)
	}
	defer func() { trace.End(span, err) }()
	for _, item := range items {
		if err := e.applyEffect(ctx, sysCtx, tx, eff, vars, item, lookup, failed); err != nil {
			return err
		}
	}
	return nil
}

// applyEffect applies eff for one item; failed reports an expression that could not be
// evaluated.
func (e *Engine) applyEffect(ctx, sysCtx context.Context, tx store.Tx, eff *spec.Effect, vars map[string]any, item any,
	lookup lookupFunc, failed func(*spec.Expr, error) error) error {
	vars["item"] = item
	out, err := evalExpr(eff.ID, vars, lookup)
	if err != nil {
		return failed(eff.ID, err)
	}
	id, ok := out.Value().(string)
	if !ok {
		return failed(eff.ID, fmt.Errorf("gave %s, not a string", out.Type()))
	}
	target, _ := e.model.Resource(eff.Target)
	current, err := tx.Get(ctx, target, id)
	if fault.CodeOf(err) == fault.NotFound && eff.SkipMissing {
		return nil
	}
	if fault.CodeOf(err) == fault.NotFound {
		return &fault.Error{Code: fault.Conflict, Type: eff.Conflict,
			Message: fmt.Sprintf("%s: there is no %s with id %s", eff.Name, target.Name, id),
			Extra:   map[string]any{"effect": eff.Name, "resource": target.Name, "id": id}}
	}
	if err != nil {
		return err
	}
	vars["target"] = RecordValue(current)
	if eff.Guard != nil {
		ok, err := evalBool(eff.Guard, vars, lookup)
		if err != nil {
			return failed(eff.Guard, err)
		}
		if !ok {
			msg := eff.Message
			if msg == "" {
				msg = fmt.Sprintf("%s %s does not allow this: %s", target.Name, id, eff.Guard.Source)
			}
			return &fault.Error{Code: fault.Conflict, Type: eff.Conflict, Message: msg,
				Extra: map[string]any{"effect": eff.Name, "resource": target.Name, "id": id}}
		}
	}
	if len(eff.Set) == 0 {
		return nil
	}
	patch := make(map[string]any, len(eff.Set))
	for _, a := range eff.Set {
		out, err := evalExpr(a.Expr, vars, lookup)
		if err != nil {
			return failed(a.Expr, err)
		}
		if patch[a.Field], err = fromCEL(out); err != nil {
			return failed(a.Expr, err)
		}
	}
	p, err := e.prepare(sysCtx, Op{Kind: OpUpdate, Resource: target.Name, ID: id, Body: patch})
	if err == nil {
		p.old = current
		_, err = e.update(sysCtx, tx, p)
	}
	if f := fault.As(err); f != nil && f.Code == fault.Invalid {
		// The target would become invalid (stock below its minimum, say): a conflict with
		// the current state, not a mistake in the client's request.
		return &fault.Error{Code: fault.Conflict, Type: eff.Conflict,
			Message: fmt.Sprintf("%s: %s %s cannot take this change", eff.Name, target.Name, id),
			Fields:  f.Fields, Extra: map[string]any{"effect": eff.Name, "resource": target.Name, "id": id}, Err: err}
	}
	return err
}

func evalBool(x *spec.Expr, vars map[string]any, lookup lookupFunc) (bool, error) {
	out, err := evalExpr(x, vars, lookup)
	if err != nil {
		return false, err
	}
	b, ok := out.(types.Bool)
	if !ok {
		return false, fmt.Errorf("gave %s, not a boolean", out.Type())
	}
	return bool(b), nil
}
