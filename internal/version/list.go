package version

import (
	"fmt"
	"math"
	"slices"
	"strings"

	celast "cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/common/operators"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/parser"

	"github.com/plinth-dev/plinth/internal/engine"
	"github.com/plinth-dev/plinth/internal/fault"
	"github.com/plinth-dev/plinth/internal/spec"
	"github.com/plinth-dev/plinth/internal/store/jsonval"
)

// List translates the parameters of a list of m's resource, which engine.Engine.CheckList
// has found valid in the version's names, into the current Model's. only is the set of
// members to render in the version's names (nil for all), as engine.Page.Fields is in the
// current names. A parameter that cannot be translated — a filter or an expand over a removed
// field, a filter that uses a mapped enum other than by ==, != or in — is an Invalid error of
// type invalid-query that says why. A sort key over a removed field orders nothing and is
// dropped, keeping its direction for the tie-breaker.
func (a *API) List(m *spec.ResourceMap, p engine.ListParams) (cur engine.ListParams, only map[string]bool, err error) {
	cur = engine.ListParams{Limit: p.Limit, Cursor: p.Cursor}
	var refused []fault.FieldError
	if p.Filter != "" {
		if cur.Filter, err = a.filter(m, p.Filter); err != nil {
			refused = append(refused, fault.FieldError{Field: "filter", Code: "invalid", Message: err.Error()})
		}
	}
	var sort []string
	lastDropped := "" // the tie-breaker a dropped last key leaves: id or -id
	for part := range strings.SplitSeq(p.Sort, ",") {
		if part == "" {
			continue
		}
		name := strings.TrimPrefix(part, "-")
		dir := strings.TrimSuffix(part, name) // "-" or ""
		fm, ok := m.Field(name)
		switch {
		case !ok: // a system field: CheckList refused anything else
			sort, lastDropped = append(sort, part), ""
		case fm.Current == nil:
			// Every record has the same value: the key orders nothing, but as the last key its
			// direction is the tie-breaker's, which must stay.
			lastDropped = dir + "id"
		default:
			sort, lastDropped = append(sort, dir+fm.Current.Name), ""
		}
	}
	if lastDropped != "" && !slices.ContainsFunc(sort, func(s string) bool { return strings.TrimPrefix(s, "-") == "id" }) {
		sort = append(sort, lastDropped)
	}
	cur.Sort = strings.Join(sort, ",")
	if len(p.Fields) > 0 {
		only = map[string]bool{"id": true}
		for _, name := range p.Fields {
			only[name] = true
			if fm, ok := m.Field(name); !ok {
				cur.Fields = append(cur.Fields, name)
			} else if fm.Current != nil {
				cur.Fields = append(cur.Fields, fm.Current.Name)
			}
		}
		if len(cur.Fields) == 0 {
			cur.Fields = []string{"id"} // only removed fields: none to read
		}
	}
	for _, name := range p.Expand {
		fm, _ := m.Field(name) // a ref of the version, as CheckList found
		if fm == nil || fm.Current == nil {
			refused = append(refused, fault.FieldError{Field: "expand", Code: "removed",
				Message: fmt.Sprintf("%s is no longer stored (v%d removed it), so it refers to nothing", name, a.model.Version)})
			continue
		}
		cur.Expand = append(cur.Expand, fm.Current.Name)
	}
	if len(refused) > 0 {
		return cur, nil, &fault.Error{Code: fault.Invalid, Type: fault.TypeInvalidQuery, Message: "the list parameters are invalid", Fields: refused}
	}
	return cur, only, nil
}

// filter rewrites a filter of the version's client into the current names and values: each
// field takes its current name, and a comparison of a mapped enum with values becomes a test
// of the current values that read as them (status == "open" becomes status in ["pending",
// "paid"] when both read as open). A removed field, or a mapped enum used otherwise, is an
// error that says so.
func (a *API) filter(m *spec.ResourceMap, src string) (string, error) {
	checked, err := m.Old.CheckFilter(src)
	if err != nil {
		return "", err
	}
	native := checked.NativeRep()
	rw := &rewriter{a: a, m: m, info: native.SourceInfo(), fac: celast.NewExprFactory(), nextID: math.MaxInt32}
	if err := rw.visit(native.Expr()); err != nil {
		return "", err
	}
	return parser.Unparse(native.Expr(), native.SourceInfo())
}

// rewriter walks a checked filter as parser.Unparse prints it — a macro (tags.exists(t, …))
// as its call, not its expansion — and rewrites it in place.
type rewriter struct {
	a      *API
	m      *spec.ResourceMap
	info   *celast.SourceInfo
	fac    celast.ExprFactory
	scope  []string // the variables of the macros around the expression being visited
	nextID int64    // ids for new expressions, above any the parser gave
}

// comprehensions are the macros whose first argument declares a variable.
var comprehensions = map[string]bool{"exists": true, "all": true, "exists_one": true, "map": true, "filter": true}

func (rw *rewriter) visit(e celast.Expr) error {
	if call, ok := rw.info.GetMacroCall(e.ID()); ok {
		e = call
	}
	switch e.Kind() {
	case celast.IdentKind:
		return rw.ident(e)
	case celast.SelectKind:
		return rw.visit(e.AsSelect().Operand())
	case celast.ListKind:
		for _, el := range e.AsList().Elements() {
			if err := rw.visit(el); err != nil {
				return err
			}
		}
	case celast.MapKind:
		for _, en := range e.AsMap().Entries() {
			if err := rw.visit(en.AsMapEntry().Key()); err != nil {
				return err
			}
			if err := rw.visit(en.AsMapEntry().Value()); err != nil {
				return err
			}
		}
	case celast.CallKind:
		return rw.call(e)
	}
	return nil
}

func (rw *rewriter) call(e celast.Expr) error {
	c := e.AsCall()
	if done, err := rw.enumTest(e); done || err != nil {
		return err
	}
	if c.IsMemberFunction() {
		if err := rw.visit(c.Target()); err != nil {
			return err
		}
	}
	args := c.Args()
	if comprehensions[c.FunctionName()] && c.IsMemberFunction() && len(args) > 0 && args[0].Kind() == celast.IdentKind {
		rw.scope = append(rw.scope, args[0].AsIdent())
		defer func() { rw.scope = rw.scope[:len(rw.scope)-1] }()
		args = args[1:]
	}
	for _, arg := range args {
		if err := rw.visit(arg); err != nil {
			return err
		}
	}
	return nil
}

// field is the map of the version's field an identifier names, unless a macro's variable
// hides it.
func (rw *rewriter) field(e celast.Expr) *spec.FieldMap {
	if e.Kind() != celast.IdentKind || slices.Contains(rw.scope, e.AsIdent()) {
		return nil
	}
	fm, _ := rw.m.Field(e.AsIdent())
	return fm
}

func (rw *rewriter) ident(e celast.Expr) error {
	fm := rw.field(e)
	switch {
	case fm == nil:
		return nil
	case fm.Current == nil:
		return fmt.Errorf("%s is no longer stored (v%d removed it), so a filter cannot test it: every record reads as %s",
			fm.Old.Name, rw.a.model.Version, jsonval.AppendValue(nil, fm.ReadsAs))
	case fm.ToCurrent != nil:
		return fmt.Errorf("%s has other values in v%d, so a filter may only compare it with values (==, != or in [...])",
			fm.Old.Name, rw.a.model.Version)
	}
	e.SetKindCase(rw.fac.NewIdent(e.ID(), fm.Current.Name))
	return nil
}

// enumTest rewrites a comparison of a mapped enum with values: status == "open", "open" !=
// status, status in ["open", "shipped"]. It reports whether e was one.
func (rw *rewriter) enumTest(e celast.Expr) (bool, error) {
	c := e.AsCall()
	args := c.Args()
	if len(args) != 2 {
		return false, nil
	}
	var fm *spec.FieldMap
	var values celast.Expr
	switch c.FunctionName() {
	case operators.Equals, operators.NotEquals:
		for i := range 2 {
			if f := rw.field(args[i]); f != nil && f.ToCurrent != nil {
				fm, values = f, args[1-i]
			}
		}
	case operators.In:
		if f := rw.field(args[0]); f != nil && f.ToCurrent != nil {
			fm, values = f, args[1]
		}
	}
	if fm == nil {
		return false, nil
	}
	if values.Kind() == celast.LiteralKind && values.AsLiteral() == types.NullValue {
		e.SetKindCase(rw.fac.NewCall(e.ID(), c.FunctionName(), rw.fac.NewIdent(rw.id(), fm.Current.Name), values))
		return true, nil
	}
	var old []string
	elems := []celast.Expr{values}
	if c.FunctionName() == operators.In {
		if values.Kind() != celast.ListKind {
			return true, fmt.Errorf("%s has other values in v%d: test it against a list of values", fm.Old.Name, rw.a.model.Version)
		}
		elems = values.AsList().Elements()
	}
	for _, el := range elems {
		s, ok := literalString(el)
		if !ok {
			return true, fmt.Errorf("%s has other values in v%d, so a filter may only compare it with values (==, != or in [...])",
				fm.Old.Name, rw.a.model.Version)
		}
		old = append(old, s)
	}
	var current []celast.Expr
	for _, v := range fm.Current.Values {
		if slices.Contains(old, fm.ToOld[v]) {
			current = append(current, rw.fac.NewLiteral(rw.id(), types.String(v)))
		}
	}
	test := rw.fac.NewCall(rw.id(), operators.In, rw.fac.NewIdent(rw.id(), fm.Current.Name), rw.fac.NewList(rw.id(), current, nil))
	if c.FunctionName() == operators.NotEquals {
		test = rw.fac.NewCall(rw.id(), operators.LogicalNot, test)
	}
	e.SetKindCase(test)
	return true, nil
}

func (rw *rewriter) id() int64 {
	rw.nextID++
	return rw.nextID
}

func literalString(e celast.Expr) (string, bool) {
	if e.Kind() != celast.LiteralKind {
		return "", false
	}
	s, ok := e.AsLiteral().(types.String)
	return string(s), ok
}
