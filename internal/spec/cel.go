package spec

import (
	"fmt"
	"math"
	"slices"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/common/types/traits"
	"cel.dev/cel-go/ext"
	"go.yaml.in/yaml/v3"
)

// LookupFunction is the name of the late-bound function lookup(resource, id) that reads a
// record inside the current transaction. The engine supplies its implementation per evaluation.
const LookupFunction = "lookup"

// exprVars are the variables every expression may mention.
var exprVars = []string{"record", "old", "auth", "now"}

// baseEnvOptions are shared by every environment the spec's author writes in: the standard
// library, string extensions, lookup() and list.sum().
func baseEnvOptions() []cel.EnvOption {
	return append(coreEnvOptions(), ext.Strings())
}

// coreEnvOptions are what client-written filters get: no string builders, whose output
// grows with their input.
func coreEnvOptions() []cel.EnvOption {
	dynMap := cel.MapType(cel.StringType, cel.DynType)
	return []cel.EnvOption{
		cel.Variable("auth", dynMap),
		cel.Variable("now", cel.TimestampType),
		cel.Function(LookupFunction,
			cel.Overload("lookup_string_string", []*cel.Type{cel.StringType, cel.StringType}, dynMap,
				cel.LateFunctionBinding())),
		cel.Function("sum",
			cel.MemberOverload("list_sum", []*cel.Type{cel.ListType(cel.TypeParamType("T"))}, cel.TypeParamType("T"),
				cel.UnaryBinding(sumList))),
	}
}

// sumList adds the numbers of a list: integers stay integers (with overflow checks), any
// double makes the result a double. The sum of an empty list is 0.
func sumList(v ref.Val) ref.Val {
	lister, ok := v.(traits.Lister)
	if !ok {
		return types.NewErr("sum() needs a list")
	}
	var isum int64
	var fsum float64
	isFloat := false
	it := lister.Iterator()
	for it.HasNext() == types.True {
		switch x := it.Next().(type) {
		case types.Int:
			if isFloat {
				fsum += float64(x)
				continue
			}
			if (x > 0 && isum > math.MaxInt64-int64(x)) || (x < 0 && isum < math.MinInt64-int64(x)) {
				return types.NewErr("sum() overflow")
			}
			isum += int64(x)
		case types.Double:
			if !isFloat {
				isFloat, fsum = true, float64(isum)
			}
			fsum += float64(x)
		default:
			return types.NewErr("sum() needs a list of numbers")
		}
	}
	if isFloat {
		return types.Double(fsum)
	}
	return types.Int(isum)
}

// ruleEnv is the environment of access rules and webhook conditions: record, old, auth, now.
func ruleEnv() (*cel.Env, error) {
	dynMap := cel.MapType(cel.StringType, cel.DynType)
	opts := append(baseEnvOptions(),
		cel.Variable("record", dynMap),
		cel.Variable("old", dynMap),
	)
	return cel.NewEnv(opts...)
}

// fieldEnv is the environment of defaults and computed fields at one nesting level: the
// level's fields as bare variables, plus record (the whole record), auth and now.
func fieldEnv(level []*Field) (*cel.Env, error) {
	opts := append(baseEnvOptions(), cel.Variable("record", cel.MapType(cel.StringType, cel.DynType)))
	for _, f := range level {
		if slices.Contains(exprVars, f.Name) {
			continue // the record-wide variable wins; the field stays reachable as record.<name>
		}
		opts = append(opts, cel.Variable(f.Name, f.celNullable()))
	}
	return cel.NewEnv(opts...)
}

// filterEnv is the environment of the list filter parameter: every column as a bare variable.
func filterEnv(r *Resource) (*cel.Env, error) {
	// Macro calls are kept, so that an older version's translated filter prints as written.
	opts := append(coreEnvOptions(), cel.EnableMacroCallTracking())
	for _, s := range SystemFields {
		opts = append(opts, cel.Variable(s.Name, (&Field{Type: s.Type}).celType()))
	}
	for _, f := range r.Fields {
		if slices.Contains(exprVars, f.Name) {
			continue
		}
		t := f.celNullable()
		if f.Type == TypeArray || f.Type == TypeObject {
			// Nullable too, so that a filter can say tags == null || !("a" in tags): CEL's
			// tests of a null array fail, as in rules.
			t = cel.NullableType(t)
		}
		opts = append(opts, cel.Variable(f.Name, t))
	}
	return cel.NewEnv(opts...)
}

// exprCostLimit bounds the work of one evaluation, so that no expression over a large record
// can hold a request (or a transaction) for long.
const exprCostLimit = 1_000_000

// compileExpr compiles src in env and reports errors at the position of node n.
// want, when not nil, is the type the result must have.
func (c *compiler) compileExpr(env *cel.Env, n *yaml.Node, src, what string, want *cel.Type) (*Expr, *cel.Ast) {
	checked, iss := env.Compile(src)
	if iss != nil && iss.Err() != nil {
		for _, e := range iss.Errors() {
			c.diags = append(c.diags, Diagnostic{Pos: exprPos(c.pos(n), n, e.Location.Line(), e.Location.Column()),
				Severity: Error, Message: fmt.Sprintf("%s: %s", what, e.Message)})
		}
		return nil, nil
	}
	if want != nil && !want.IsAssignableType(checked.OutputType()) && !checked.OutputType().IsExactType(cel.DynType) {
		c.errorf(n, "%s: the expression gives %s, not %s", what, checked.OutputType(), want)
		return nil, nil
	}
	if err := c.checkLookups(checked); err != "" {
		c.errorf(n, "%s: %s", what, err)
		return nil, nil
	}
	prg, err := env.Program(checked, cel.EvalOptions(cel.OptOptimize), cel.CostLimit(exprCostLimit))
	if err != nil {
		c.errorf(n, "%s: %v", what, err)
		return nil, nil
	}
	refs := map[string]bool{}
	for _, ri := range checked.NativeRep().ReferenceMap() {
		if ri.Name != "" {
			refs[ri.Name] = true
		}
	}
	for _, calls := range checked.NativeRep().ReferenceMap() {
		for _, id := range calls.OverloadIDs {
			if id == "lookup_string_string" {
				refs[LookupFunction] = true
			}
		}
	}
	return &Expr{Source: src, Pos: c.pos(n), Where: what, Program: prg, Refs: refs}, checked
}

// exprPos maps a position inside an expression to the spec file. Single-line plain scalars
// map exactly; quoted scalars shift by the quote; multi-line ones map to the right line.
func exprPos(base Pos, n *yaml.Node, line, col int) Pos {
	if n == nil || line < 1 {
		return base
	}
	if line > 1 {
		return Pos{File: base.File, Line: base.Line + line - 1, Col: 0}
	}
	shift := 0
	if n.Style&(yaml.SingleQuotedStyle|yaml.DoubleQuotedStyle) != 0 {
		shift = 1
	}
	return Pos{File: base.File, Line: base.Line, Col: base.Col + shift + col}
}
