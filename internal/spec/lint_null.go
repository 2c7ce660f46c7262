package spec

import (
	"fmt"
	"strings"

	"cel.dev/cel-go/cel"
	celast "cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/common/types"
	"go.yaml.in/yaml/v3"
)

// nullScope tells the null lint which fields an expression reads through which names.
type nullScope struct {
	// vars maps a variable holding a record (record, old, target, item) to its fields.
	vars map[string][]*Field
	// bare are the fields read by bare name: the level's fields, in defaults and computed fields.
	bare []*Field
	// guards are expressions whose null checks hold for this one too: an effect's when.
	guards []*cel.Ast
}

// nullLint is an expression waiting for the null lint, which needs every field's default and
// computed expression settled first.
type nullLint struct {
	ast   *cel.Ast
	n     *yaml.Node
	what  string
	scope nullScope
	// nullable says the expression's own value may be null (a default, an effect's set):
	// elsewhere a null result fails like any other (a rule, a guard, a computed field).
	nullable bool
}

// lintLater queues a compiled expression for the null lint.
func (c *compiler) lintLater(ast *cel.Ast, n *yaml.Node, what string, scope nullScope, nullable bool) {
	if ast != nil {
		c.lints = append(c.lints, nullLint{ast: ast, n: n, what: what, scope: scope, nullable: nullable})
	}
}

// nullUnchecked warns wherever an expression reads a field that may be null in a way that
// fails on null — arithmetic, ordering, a member, a function, a logical operator, a range to
// iterate — without a null check of the same field anywhere in the expression (`x != null`,
// `x == null`, `has(x)`). Comparing with == and != and testing membership with `in` are safe:
// null equals only null.
func nullUnchecked(v *review) {
	for _, l := range v.lints {
		v.lintNulls(l)
	}
}

func (v *review) lintNulls(l nullLint) {
	root := celast.NavigateAST(l.ast.NativeRep())
	// Iteration variables over arrays of objects read the element's fields (items.map(i, …)).
	iter := map[string][]*Field{}
	for _, e := range celast.MatchDescendants(root, celast.KindMatcher(celast.ComprehensionKind)) {
		cx := e.AsComprehension()
		if f := v.fieldOf(cx.IterRange(), l.scope, iter); f != nil && f.Type == TypeArray && f.Of != nil && f.Of.Type == TypeObject {
			iter[cx.IterVar()] = f.Of.Fields
		}
	}
	checked := nullChecks(root)
	for _, g := range l.scope.guards {
		for p := range nullChecks(celast.NavigateAST(g.NativeRep())) {
			checked[p] = true
		}
	}
	warned := map[string]bool{}
	for _, e := range celast.MatchDescendants(root, func(e celast.NavigableExpr) bool {
		return e.Kind() == celast.IdentKind || (e.Kind() == celast.SelectKind && !e.AsSelect().IsTestOnly())
	}) {
		p := path(e)
		if checked[p] || warned[p] || safeForNull(e, l.nullable) {
			continue
		}
		why := ""
		if p == "auth.sub" || p == "auth.role" {
			why = "it is null for anonymous callers"
		} else if f := v.fieldOf(e, l.scope, iter); f != nil && f.Nullable() {
			why = "it is neither required nor has a default"
		}
		if why == "" {
			continue
		}
		warned[p] = true
		v.warnAt(l, e, fmt.Sprintf("check it (`%s != null`), or make the field required or give it a default", p),
			"%s: reads %s, which may be null (%s), without a null check, so it fails for records where it is null", l.what, p, why)
	}
}

// anonymousEmptyString warns about auth.sub or auth.role compared with "": for an anonymous
// caller they are null, never "", so `auth.sub != ""` holds for anonymous callers too.
func anonymousEmptyString(v *review) {
	for _, l := range v.lints {
		for _, e := range celast.MatchDescendants(celast.NavigateAST(l.ast.NativeRep()), celast.KindMatcher(celast.CallKind)) {
			call := e.AsCall()
			if fn := call.FunctionName(); (fn != "_==_" && fn != "_!=_") || len(call.Args()) != 2 {
				continue
			}
			a, b := call.Args()[0], call.Args()[1]
			for _, pair := range [][2]celast.Expr{{a, b}, {b, a}} {
				if p := path(pair[0]); (p == "auth.sub" || p == "auth.role") && isLiteral(pair[1], types.String("")) {
					v.warnAt(l, e, fmt.Sprintf("compare it with null: `%s != null` means signed in", p),
						"%s: %s is null for anonymous callers, never \"\"", l.what, p)
				}
			}
		}
	}
}

// nullChecks returns the paths an expression compares with null or tests with has().
func nullChecks(root celast.NavigableExpr) map[string]bool {
	checked := map[string]bool{}
	for _, e := range celast.MatchDescendants(root, celast.KindMatcher(celast.CallKind)) {
		call := e.AsCall()
		if fn := call.FunctionName(); (fn == "_==_" || fn == "_!=_") && len(call.Args()) == 2 {
			a, b := call.Args()[0], call.Args()[1]
			if isLiteral(b, types.NullValue) {
				checked[path(a)] = true
			} else if isLiteral(a, types.NullValue) {
				checked[path(b)] = true
			}
		}
	}
	for _, e := range celast.MatchDescendants(root, celast.KindMatcher(celast.SelectKind)) {
		if sel := e.AsSelect(); sel.IsTestOnly() {
			checked[path(sel.Operand())+"."+sel.FieldName()] = true
		}
	}
	return checked
}

// safeForNull reports whether e's value may be null without failing the expression: it is
// compared with == or !=, the value tested by `in`, a branch of ?:, an element of a list or
// map literal, or the whole expression when that may be null.
func safeForNull(e celast.NavigableExpr, nullResult bool) bool {
	parent, ok := e.Parent()
	if !ok {
		return nullResult
	}
	switch parent.Kind() {
	case celast.ListKind, celast.MapKind:
		return true
	case celast.CallKind:
		call := parent.AsCall()
		args := call.Args()
		switch call.FunctionName() {
		case "_==_", "_!=_":
			return true
		case "@in":
			return len(args) == 2 && args[0].ID() == e.ID()
		case "_?_:_":
			return len(args) == 3 && args[0].ID() != e.ID()
		}
	}
	return false
}

// fieldOf resolves what e reads to the field it holds, or nil when it is not a field the
// spec declares (a system field, a claim, a computed value).
func (v *review) fieldOf(e celast.Expr, scope nullScope, iter map[string][]*Field) *Field {
	switch e.Kind() {
	case celast.IdentKind:
		return find(scope.bare, e.AsIdent())
	case celast.SelectKind:
		sel := e.AsSelect()
		op := sel.Operand()
		switch op.Kind() {
		case celast.IdentKind:
			if fields, ok := scope.vars[op.AsIdent()]; ok {
				return find(fields, sel.FieldName())
			}
			return find(iter[op.AsIdent()], sel.FieldName())
		case celast.CallKind:
			call := op.AsCall()
			if call.FunctionName() != LookupFunction || len(call.Args()) != 2 || call.Args()[0].Kind() != celast.LiteralKind {
				return nil
			}
			name, _ := call.Args()[0].AsLiteral().Value().(string)
			if r, ok := v.model.Resource(name); ok {
				return find(r.Fields, sel.FieldName())
			}
		case celast.SelectKind:
			if f := v.fieldOf(op, scope, iter); f != nil && f.Type == TypeObject {
				return find(f.Fields, sel.FieldName())
			}
		}
	}
	return nil
}

func find(fields []*Field, name string) *Field {
	for _, f := range fields {
		if f.Name == name {
			return f
		}
	}
	return nil
}

// path renders what e reads, as in record.items or lookup("products").price_cents; "" for
// anything else.
func path(e celast.Expr) string {
	switch e.Kind() {
	case celast.IdentKind:
		return e.AsIdent()
	case celast.SelectKind:
		sel := e.AsSelect()
		if p := path(sel.Operand()); p != "" {
			return p + "." + sel.FieldName()
		}
	case celast.CallKind:
		if call := e.AsCall(); call.FunctionName() == LookupFunction && len(call.Args()) == 2 && call.Args()[0].Kind() == celast.LiteralKind {
			return fmt.Sprintf("lookup(%q, …)", call.Args()[0].AsLiteral().Value())
		}
	}
	return ""
}

func isLiteral(e celast.Expr, v any) bool {
	return e.Kind() == celast.LiteralKind && e.AsLiteral().Equal(types.DefaultTypeAdapter.NativeToValue(v)) == types.True
}

// warnAt warns at e's position inside the expression: where the path it reads begins.
func (v *review) warnAt(l nullLint, e celast.Expr, fix, format string, args ...any) {
	for e.Kind() == celast.SelectKind {
		e = e.AsSelect().Operand()
	}
	v.warn(v.inExpr(site{ast: l.ast, n: l.n}, e), fix, format, args...)
}

// anonymousDefault warns about `default: auth.sub` (or any default that reads auth.sub) on a
// resource whose create rule admits anonymous callers: for them the default gives null, and
// the create is refused with a field error where a 401 would say what is wrong.
func anonymousDefault(v *review) {
	anonymous := v.callers()[0].auth
	for _, r := range v.model.Resources {
		rule := r.Access[OpCreate]
		if rule == nil || judge(rule, anonymous) == never {
			continue
		}
		for _, f := range r.Fields {
			if f.Default == nil || f.Default.Expr == nil || !strings.Contains(f.Default.Expr.Source, "auth.sub") {
				continue
			}
			v.warn(f.decl.at("default"), "begin the create rule with `auth.sub != null && …`, so that anonymous callers get a 401",
				"%s.%s.default: %s is null for anonymous callers, whom the create rule admits", r.Name, f.Name, f.Default.Expr.Source)
		}
	}
}
