package engine

import (
	"context"
	"errors"
	"fmt"
	"time"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/common/types/traits"

	"github.com/plinth-dev/plinth/internal/fault"
	"github.com/plinth-dev/plinth/internal/spec"
	"github.com/plinth-dev/plinth/internal/store"
)

// lookupFunc reads a record for lookup() inside the current write transaction, as expressions
// see it (RecordValue).
type lookupFunc func(resource, id string) (ref.Val, error)

// evalExpr runs a compiled expression with vars. lookup may be nil where no transaction is
// open; an expression that calls lookup() then fails.
func evalExpr(e *spec.Expr, vars map[string]any, lookup lookupFunc) (ref.Val, error) {
	var act any = vars
	if e.Refs[spec.LookupFunction] {
		fa, err := cel.FunctionVars(vars, map[string]cel.LateBoundFunction{
			spec.LookupFunction: func(_ string, args ...ref.Val) ref.Val {
				if lookup == nil {
					return types.NewErr("lookup() is not available here")
				}
				res, _ := args[0].Value().(string)
				id, _ := args[1].Value().(string)
				rec, err := lookup(res, id)
				if err != nil {
					return types.NewErr("lookup(%q, %q): %v", res, id, err)
				}
				return rec
			},
		})
		if err != nil {
			return nil, err
		}
		act = fa
	}
	out, _, err := e.Program.Eval(act)
	if err != nil {
		return nil, err
	}
	return out, nil
}

// allowed evaluates an access rule. An evaluation error denies (rules fail closed), and is
// logged with its place in the spec: it is a gap in the spec, not the caller's doing.
func (e *Engine) allowed(ctx context.Context, rule *spec.Rule, vars map[string]any) bool {
	out, err := evalExpr(&rule.Expr, vars, nil)
	if err == nil {
		if b, ok := out.(types.Bool); ok {
			return bool(b)
		}
		err = fmt.Errorf("gave %s, not a boolean", out.Type())
	}
	e.log.WarnContext(ctx, "rule failed; denying", "expression", rule.Where, "request_id", RequestIDFrom(ctx), "err", err)
	return false
}

// ruleVars builds the variables of an access rule.
func ruleVars(ctx context.Context, now time.Time, record, old *store.Record) map[string]any {
	return map[string]any{"auth": authFrom(ctx), "now": now, "record": RecordValue(record), "old": RecordValue(old)}
}

// fromCEL converts an expression's result into a record value.
func fromCEL(v ref.Val) (any, error) {
	switch x := v.(type) {
	case types.Null:
		return nil, nil
	case types.String:
		return string(x), nil
	case types.Int:
		return int64(x), nil
	case types.Uint:
		return int64(x), nil
	case types.Double:
		return float64(x), nil
	case types.Bool:
		return bool(x), nil
	case types.Timestamp:
		return x.Time.UTC().Truncate(time.Microsecond), nil
	}
	if l, ok := v.(traits.Lister); ok {
		var out []any
		for it := l.Iterator(); it.HasNext() == types.True; {
			item, err := fromCEL(it.Next())
			if err != nil {
				return nil, err
			}
			out = append(out, item)
		}
		return out, nil
	}
	if m, ok := v.(traits.Mapper); ok {
		out := map[string]any{}
		for it := m.Iterator(); it.HasNext() == types.True; {
			k := it.Next()
			key, ok := k.(types.String)
			if !ok {
				return nil, fmt.Errorf("object keys must be strings, not %s", k.Type())
			}
			val, err := fromCEL(m.Get(k))
			if err != nil {
				return nil, err
			}
			out[string(key)] = val
		}
		return out, nil
	}
	return nil, fmt.Errorf("unsupported result type %s", v.Type())
}

// errDenied marks an access denial inside the engine before it becomes a fault.
var errDenied = errors.New("denied")

// denial turns a denied operation into the error the caller may see. hide says the denial
// depends on the record: then it is 404, exactly as for a missing record, whoever asks.
// A denial that does not depend on the record reveals nothing about it: 401 for anonymous
// callers, 403 otherwise.
func denial(ctx context.Context, hide bool, op spec.Operation, resource string) error {
	if hide {
		return &fault.Error{Code: fault.NotFound, Message: "no such record", Err: errDenied}
	}
	if PrincipalFrom(ctx).Anonymous() {
		return &fault.Error{Code: fault.Unauthorized, Message: "this request needs credentials", Err: errDenied}
	}
	return &fault.Error{Code: fault.Forbidden, Message: fmt.Sprintf("you may not %s %s", op, resource), Err: errDenied}
}

// exprFailed is an expression of the spec that could not be evaluated for a record at run
// time (a value the expression did not expect, a division by zero). It names the expression's
// place in the spec and the record, and is logged once, with the request id; the client gets
// a 422 rather than a 500, since no retry of the same request can succeed.
func (e *Engine) exprFailed(ctx context.Context, x *spec.Expr, resource, id string, cause error) error {
	e.log.WarnContext(ctx, "expression failed", "expression", x.Where, "resource", resource, "id", id,
		"request_id", RequestIDFrom(ctx), "err", cause)
	extra := map[string]any{"expression": x.Where, "resource": resource}
	if id != "" {
		extra["id"] = id
	}
	return &fault.Error{Code: fault.Invalid, Type: fault.TypeExpressionFailed,
		Message: fmt.Sprintf("the spec's expression %s could not be evaluated for this record", x.Where),
		Extra:   extra, Err: cause}
}
