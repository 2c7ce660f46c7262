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
)

// lookupFunc reads a record for lookup() inside the current write transaction.
type lookupFunc func(resource, id string) (Record, error)

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
				return types.DefaultTypeAdapter.NativeToValue(rec)
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

// allowed evaluates an access rule. An evaluation error denies: rules fail closed.
func allowed(rule *spec.Rule, vars map[string]any) bool {
	out, err := evalExpr(&rule.Expr, vars, nil)
	if err != nil {
		return false
	}
	b, ok := out.(types.Bool)
	return ok && bool(b)
}

// ruleVars builds the variables of an access rule.
func ruleVars(ctx context.Context, now time.Time, record, old Record) map[string]any {
	vars := map[string]any{"auth": PrincipalFrom(ctx).authValue(), "now": now, "record": celRecord(record)}
	if old != nil {
		vars["old"] = celRecord(old)
	} else {
		vars["old"] = map[string]any{}
	}
	return vars
}

// celRecord is a record as CEL sees it. Records already hold CEL-compatible values.
func celRecord(r Record) map[string]any {
	if r == nil {
		return map[string]any{}
	}
	return r
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

// denial turns a denied operation into the error the caller may see: 401 for anonymous
// callers, 404 where the caller may not know the record exists, 403 otherwise.
func denial(ctx context.Context, hide bool, op spec.Operation, resource string) error {
	if PrincipalFrom(ctx).Anonymous() {
		return &fault.Error{Code: fault.Unauthorized, Message: "this request needs credentials", Err: errDenied}
	}
	if hide {
		return &fault.Error{Code: fault.NotFound, Message: "no such record", Err: errDenied}
	}
	return &fault.Error{Code: fault.Forbidden, Message: fmt.Sprintf("you may not %s %s", op, resource), Err: errDenied}
}
