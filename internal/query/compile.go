package query

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"unicode"

	"cel.dev/cel-go/cel"
	celast "cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/common/operators"
	"cel.dev/cel-go/common/overloads"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
)

// DefaultMaxNodes is the size limit of Options.MaxNodes when it is zero: enough for any filter
// a person writes, small enough that a hostile one cannot make the query planner's life hard.
const DefaultMaxNodes = 200

// lookupFunction reads another record; it cannot run inside a database query.
const lookupFunction = "lookup"

// Options says how Compile finds field references.
type Options struct {
	// RecordVar is the variable whose selections are fields: with "record", record.price_cents
	// and record["price_cents"] are the field price_cents. Empty means no such variable.
	RecordVar string
	// Bare makes identifiers that name a field refer to it (price_cents), as in the filter
	// query parameter, whose environment declares every field as a variable.
	Bare bool
	// MaxNodes bounds the size of the expression, counted in nodes after macro expansion;
	// zero means DefaultMaxNodes.
	MaxNodes int
	// Untrusted marks an expression written by a client rather than the spec's author: macros
	// (all, exists, map, filter), whose work grows with nesting, are refused, except exists()
	// and all() over an array field, which run in the database and cannot nest (their
	// condition may mention only the element).
	Untrusted bool
}

// MaxCost bounds the work of evaluating the parts of an expression that mention no field,
// in CEL's cost units, so that no expression can spend unbounded CPU or memory at Bind.
const MaxCost = 100_000

// Error is an expression that cannot be turned into a query: a construct the database cannot
// evaluate, an unknown field, or a value of the wrong type. Offset is the position in the
// expression's source (in characters, from 0) that the Message is about.
type Error struct {
	Offset  int
	Message string
}

// Error returns the message with its position.
func (e *Error) Error() string {
	return fmt.Sprintf("filter: %s (at offset %d)", e.Message, e.Offset)
}

// Plan is a compiled expression. The parts that mention no field (auth.role == "admin",
// now - duration("1h")) are kept as CEL programs and evaluated by Bind, once per request,
// so a plan is compiled once and shared by concurrent requests.
type Plan struct {
	root node
}

// Compile turns a type-checked CEL expression into a Plan. Field references are
// <RecordVar>.<name> and, with Options.Bare, identifiers that name a field; fields maps names
// to fields. env must be the environment that checked the expression: the parts that mention
// no field are planned as programs of it.
//
// Supported: &&, ||, !, the comparisons ==, !=, <, <=, >, >= between a field and a value on
// either side, field in [values], field == null and field != null, startsWith, endsWith and
// contains on string fields, a boolean field as a condition, and any expression without
// fields (auth.sub, now - duration("30m"), timestamp("2024-01-01T00:00:00Z")). On array
// fields of scalars (Field.Elem): value in field, field.exists(x, cond) and field.all(x,
// cond), where cond tests the element x with the forms above, and size(field) (or
// field.size(), on any array field) compared with a number.
//
// Compile returns *Error for what cannot be translated: two fields compared, arithmetic,
// other macros or functions applied to fields, comparisons of json fields or between a field
// and a value of a kind it can never equal, in, exists() and all() on arrays of objects,
// conditions inside exists() on anything but the element, unknown fields, lookup(), and
// expressions larger than Options.MaxNodes. Other errors mean the arguments are unusable (an
// unchecked expression).
func Compile(env *cel.Env, checked *cel.Ast, fields map[string]Field, opts Options) (*Plan, error) {
	if env == nil || checked == nil || !checked.IsChecked() {
		return nil, errors.New("compile filter: need a type-checked expression and its environment")
	}
	a := checked.NativeRep()
	maxNodes := cmp.Or(opts.MaxNodes, DefaultMaxNodes)
	if n := celast.NodeCount(a); n > maxNodes {
		return nil, &Error{Message: fmt.Sprintf("the expression is too large (%d nodes, at most %d)", n, maxNodes)}
	}
	c := &compiler{
		env:    env,
		ast:    a,
		info:   a.SourceInfo(),
		src:    sourceText(checked),
		fields: fields,
		opts:   opts,
		refs:   map[int64]bool{},
	}
	if opts.Untrusted {
		for _, m := range celast.MatchDescendants(celast.NavigateAST(a), celast.KindMatcher(celast.ComprehensionKind)) {
			if !c.overField(m) {
				return nil, c.errorf(m, "macros are not supported in filters, except exists() and all() over an array field, as tags.exists(t, t.startsWith(\"a\"))")
			}
		}
	}
	c.scan(a.Expr(), nil)
	if c.err != nil {
		return nil, c.err
	}
	if t := checked.OutputType(); t != nil && !condType(t) {
		return nil, &Error{Message: fmt.Sprintf("the expression must be a condition (true or false), not %s", describeType(t))}
	}
	root, err := c.cond(a.Expr())
	if err != nil {
		return nil, err
	}
	return &Plan{root: root}, nil
}

// compiler holds what one Compile call needs.
type compiler struct {
	env    *cel.Env
	ast    *celast.AST
	info   *celast.SourceInfo
	src    []rune // the source text, which offsets index by character
	fields map[string]Field
	opts   Options
	// refs holds the IDs of the nodes whose subtree mentions the record or a field: every
	// other subtree can be evaluated before the query runs.
	refs map[int64]bool
	// elem is the element variable of the exists() or all() being compiled, as a field of
	// the array's element kind; nil outside them.
	elem *Field
	err  error
}

// scoped is a comprehension variable in scope. It hides fields and the record variable of
// the same name; elem marks the variable of a comprehension over something that mentions a
// field, whose values therefore come from the record.
type scoped struct {
	name string
	elem bool
}

// scan fills c.refs for e and its subtree and reports whether e mentions a field. scope
// holds the comprehension variables in scope, innermost last.
func (c *compiler) scan(e celast.Expr, scope []scoped) bool {
	found := false
	switch e.Kind() {
	case celast.IdentKind:
		name := e.AsIdent()
		inScope := false
		for i := len(scope) - 1; i >= 0 && !inScope; i-- { // the innermost of that name decides
			if scope[i].name == name {
				found, inScope = scope[i].elem, true
			}
		}
		if !inScope {
			_, isField := c.fields[name]
			found = c.isRecordVar(name) || (c.opts.Bare && isField)
		}
	case celast.SelectKind:
		found = c.scan(e.AsSelect().Operand(), scope)
	case celast.CallKind:
		call := e.AsCall()
		if call.FunctionName() == lookupFunction && c.err == nil {
			c.err = c.errorf(e, "lookup() cannot be used here: list rules and filters run inside the database query")
		}
		if call.IsMemberFunction() {
			found = c.scan(call.Target(), scope)
		}
		for _, arg := range call.Args() {
			found = c.scan(arg, scope) || found
		}
	case celast.ListKind:
		for _, el := range e.AsList().Elements() {
			found = c.scan(el, scope) || found
		}
	case celast.MapKind:
		for _, entry := range e.AsMap().Entries() {
			m := entry.AsMapEntry()
			found = c.scan(m.Key(), scope) || found
			found = c.scan(m.Value(), scope) || found
		}
	case celast.StructKind:
		for _, f := range e.AsStruct().Fields() {
			found = c.scan(f.AsStructField().Value(), scope) || found
		}
	case celast.ComprehensionKind:
		comp := e.AsComprehension()
		overField := c.scan(comp.IterRange(), scope)
		found = c.scan(comp.AccuInit(), scope) || overField
		inner := append(slices.Clip(scope), scoped{comp.IterVar(), overField}, scoped{comp.AccuVar(), false})
		if comp.HasIterVar2() {
			inner = append(inner, scoped{comp.IterVar2(), overField})
		}
		found = c.scan(comp.LoopCondition(), inner) || found
		found = c.scan(comp.LoopStep(), inner) || found
		found = c.scan(comp.Result(), inner) || found
	}
	if found {
		c.refs[e.ID()] = true
	}
	return found
}

func (c *compiler) isRecordVar(name string) bool {
	return c.opts.RecordVar != "" && name == c.opts.RecordVar && !c.isElem(name)
}

// isElem reports whether name is the element variable of the exists() or all() being
// compiled, which hides fields and the record variable of the same name.
func (c *compiler) isElem(name string) bool {
	return c.elem != nil && name == c.elem.Name
}

// cond compiles e in a position where CEL expects a boolean.
func (c *compiler) cond(e celast.Expr) (node, error) {
	if !c.refs[e.ID()] {
		if e.Kind() == celast.LiteralKind {
			if b, ok := e.AsLiteral().(types.Bool); ok {
				return constNode(b), nil
			}
		}
		opd, err := c.operand(e)
		if err != nil {
			return nil, err
		}
		return &dynNode{val: opd}, nil
	}
	if f, ok, err := c.fieldRef(e); err != nil {
		return nil, err
	} else if ok {
		if f.Kind != KindBool {
			return nil, c.errorf(e, "field %q is %s, not a condition; compare it with a value", f.Name, article(f.Kind))
		}
		return truthNode(f.Name), nil
	}
	if e.Kind() == celast.ComprehensionKind {
		return c.quantifier(e)
	}
	if e.Kind() != celast.CallKind {
		return nil, c.unsupported(e)
	}
	call := e.AsCall()
	switch fn := call.FunctionName(); fn {
	case operators.LogicalAnd, operators.LogicalOr:
		var terms []node
		for _, arg := range c.flatten(fn, e, nil) {
			t, err := c.cond(arg)
			if err != nil {
				return nil, err
			}
			terms = append(terms, t)
		}
		if fn == operators.LogicalAnd {
			return andNode(terms), nil
		}
		return orNode(terms), nil
	case operators.LogicalNot:
		x, err := c.cond(call.Args()[0])
		if err != nil {
			return nil, err
		}
		return notNode{x}, nil
	case operators.Equals, operators.NotEquals, operators.Less, operators.LessEquals,
		operators.Greater, operators.GreaterEquals:
		return c.compare(e)
	case operators.In:
		return c.in(e)
	case overloads.StartsWith, overloads.EndsWith, overloads.Contains:
		if call.IsMemberFunction() && len(call.Args()) == 1 {
			return c.match(e)
		}
	}
	return nil, c.unsupported(e)
}

// flatten collects the operands of a chain of the same logical operator, so that a && b && c
// becomes one And of three terms.
func (c *compiler) flatten(fn string, e celast.Expr, out []celast.Expr) []celast.Expr {
	if e.Kind() == celast.CallKind && e.AsCall().FunctionName() == fn && c.refs[e.ID()] {
		for _, arg := range e.AsCall().Args() {
			out = c.flatten(fn, arg, out)
		}
		return out
	}
	return append(out, e)
}

var compareOps = map[string]Op{
	operators.Equals:        Eq,
	operators.NotEquals:     Ne,
	operators.Less:          Lt,
	operators.LessEquals:    Le,
	operators.Greater:       Gt,
	operators.GreaterEquals: Ge,
}

// compare compiles a comparison between a field, or the size of an array field, and a value.
func (c *compiler) compare(e celast.Expr) (node, error) {
	call := e.AsCall()
	op := compareOps[call.FunctionName()]
	left, right := call.Args()[0], call.Args()[1]
	lf, lsize, lok, err := c.subject(left)
	if err != nil {
		return nil, err
	}
	rf, rsize, rok, err := c.subject(right)
	if err != nil {
		return nil, err
	}
	switch {
	case lok && rok:
		return nil, c.errorf(e, "comparing two fields is not supported")
	case !lok && !rok:
		if c.refs[left.ID()] {
			return nil, c.unsupported(left)
		}
		return nil, c.unsupported(right)
	case rok:
		lf, lsize, right, op = rf, rsize, left, op.flip()
	}
	f, size, val := lf, lsize, right
	if c.refs[val.ID()] {
		return nil, c.unsupported(val)
	}
	vt := c.ast.GetType(val.ID())
	if vt.Kind() == types.NullTypeKind {
		switch {
		case size && op == Eq:
			return constUnlessNull{field: f.Name, val: false}, nil
		case size && op == Ne:
			return constUnlessNull{field: f.Name, val: true}, nil
		case op == Eq:
			return isNullNode(f.Name), nil
		case op == Ne:
			return notNode{isNullNode(f.Name)}, nil
		}
		return nil, c.errorf(e, "null can only be compared with == or !=")
	}
	if f.Kind == KindJSON {
		return nil, c.errorf(e, "field %q holds arrays, objects or json and can only be compared with null", f.Name)
	}
	if !compatible(f.Kind, vt) {
		return nil, c.valueErrorf(val, "field %q is %s and cannot be compared with %s", f.Name, article(f.Kind), describeType(vt))
	}
	opd, err := c.operand(val)
	if err != nil {
		return nil, err
	}
	if opd.lit != nil {
		// A literal that can never be compared (1e300 with an integer field) is the user's
		// mistake, better reported now than at every request.
		if _, err := compareValue(f, op, opd.lit, opd); err != nil {
			return nil, err
		}
	}
	return &compareNode{field: f, op: op, val: opd, size: size}, nil
}

// subject reports whether e is what a comparison can test: a field, or size() of an array
// field, which is then returned as an integer field named after the array.
func (c *compiler) subject(e celast.Expr) (f Field, size, ok bool, err error) {
	if arg, isSize := sizeArg(e); isSize {
		arr, ok, err := c.fieldRef(arg)
		if err != nil || !ok {
			return Field{}, false, false, err
		}
		if arr.Kind != KindJSON || arr.Elem == 0 {
			return Field{}, false, false, c.errorf(e, "size() needs an array field; %q is %s", arr.Name, describeField(arr))
		}
		return Field{Name: arr.Name, Kind: KindInteger}, true, true, nil
	}
	f, ok, err = c.fieldRef(e)
	return f, false, ok, err
}

// sizeArg returns what e measures when e is size(x) or x.size().
func sizeArg(e celast.Expr) (celast.Expr, bool) {
	if e.Kind() != celast.CallKind || e.AsCall().FunctionName() != overloads.Size {
		return nil, false
	}
	call := e.AsCall()
	switch {
	case call.IsMemberFunction() && len(call.Args()) == 0:
		return call.Target(), true
	case !call.IsMemberFunction() && len(call.Args()) == 1:
		return call.Args()[0], true
	}
	return nil, false
}

// in compiles field in list.
func (c *compiler) in(e celast.Expr) (node, error) {
	call := e.AsCall()
	elem, list := call.Args()[0], call.Args()[1]
	if c.refs[list.ID()] {
		return c.inArray(e)
	}
	f, ok, err := c.fieldRef(elem)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, c.unsupported(elem)
	}
	if f.Kind == KindJSON {
		return nil, c.errorf(e, "field %q holds arrays, objects or json and can only be compared with null", f.Name)
	}
	switch lt := c.ast.GetType(list.ID()); lt.Kind() {
	case types.ListKind:
		if params := lt.Parameters(); len(params) == 1 && !compatible(f.Kind, params[0]) && params[0].Kind() != types.NullTypeKind {
			return nil, c.valueErrorf(list, "field %q is %s and cannot be compared with %s", f.Name, article(f.Kind), describeType(lt))
		}
	case types.DynKind, types.AnyKind, types.TypeParamKind:
	default:
		return nil, c.valueErrorf(list, "in needs a list of values, not %s", describeType(lt))
	}
	if list.Kind() == celast.ListKind {
		// A list literal of mixed types is list(dyn) to the checker: check each element.
		for _, el := range list.AsList().Elements() {
			t := c.ast.GetType(el.ID())
			if t.Kind() != types.NullTypeKind && !compatible(f.Kind, t) {
				return nil, c.valueErrorf(el, "field %q is %s and cannot be compared with %s", f.Name, article(f.Kind), describeType(t))
			}
			if el.Kind() == celast.LiteralKind && t.Kind() != types.NullTypeKind {
				if _, err := compareValue(f, Eq, el.AsLiteral(), operand{text: c.text(el), pos: c.start(el)}); err != nil {
					return nil, err
				}
			}
		}
	}
	opd, err := c.operand(list)
	if err != nil {
		return nil, err
	}
	return &inNode{field: f, list: opd}, nil
}

// inArray compiles value in field, for an array field.
func (c *compiler) inArray(e celast.Expr) (node, error) {
	call := e.AsCall()
	val, list := call.Args()[0], call.Args()[1]
	f, ok, err := c.fieldRef(list)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, c.unsupported(list)
	}
	elem, err := c.arrayElem(f, e, "in")
	if err != nil {
		return nil, err
	}
	if c.refs[val.ID()] {
		if _, isField, _ := c.fieldRef(val); isField {
			return nil, c.errorf(e, "comparing two fields is not supported")
		}
		return nil, c.unsupported(val)
	}
	ef := Field{Name: f.Name, Kind: elem}
	vt := c.ast.GetType(val.ID())
	if vt.Kind() != types.NullTypeKind && !compatible(elem, vt) {
		return nil, c.valueErrorf(val, "field %q holds %s values and cannot hold %s", f.Name, elem, describeType(vt))
	}
	opd, err := c.operand(val)
	if err != nil {
		return nil, err
	}
	if opd.lit != nil && vt.Kind() != types.NullTypeKind {
		if _, err := compareValue(ef, Eq, opd.lit, opd); err != nil {
			return nil, err
		}
	}
	return &inArrayNode{field: ef, val: opd}, nil
}

// quantifier compiles field.exists(x, cond) and field.all(x, cond), for an array field.
func (c *compiler) quantifier(e celast.Expr) (node, error) {
	comp := e.AsComprehension()
	pred, all, ok := quantifierOf(comp)
	if !ok {
		return nil, c.unsupported(e)
	}
	name := "exists()"
	if all {
		name = "all()"
	}
	f, isField, err := c.fieldRef(comp.IterRange())
	if err != nil {
		return nil, err
	}
	if !isField {
		if c.refs[comp.IterRange().ID()] {
			return nil, c.unsupported(comp.IterRange())
		}
		return nil, c.errorf(e, "%s over a list of values cannot mention fields; apply it to an array field, as tags.exists(t, t == \"a\")", name)
	}
	elem, err := c.arrayElem(f, e, name)
	if err != nil {
		return nil, err
	}
	outer := c.elem
	c.elem = &Field{Name: comp.IterVar(), Kind: elem}
	body, err := c.cond(pred)
	c.elem = outer
	if err != nil {
		return nil, err
	}
	if all {
		return notNode{&existsNode{field: f.Name, elem: comp.IterVar(), cond: notNode{body}}}, nil
	}
	return &existsNode{field: f.Name, elem: comp.IterVar(), cond: body}, nil
}

// quantifierOf recognises the comprehensions that CEL's exists() and all() macros expand
// to, and returns their condition.
func quantifierOf(comp celast.ComprehensionExpr) (pred celast.Expr, all, ok bool) {
	if comp.HasIterVar2() || comp.AccuInit().Kind() != celast.LiteralKind ||
		!isIdent(comp.Result(), comp.AccuVar()) || comp.LoopCondition().Kind() != celast.CallKind ||
		comp.LoopStep().Kind() != celast.CallKind {
		return nil, false, false
	}
	init, isBool := comp.AccuInit().AsLiteral().(types.Bool)
	if !isBool {
		return nil, false, false
	}
	all = bool(init)
	cond, step := comp.LoopCondition().AsCall(), comp.LoopStep().AsCall()
	if cond.FunctionName() != operators.NotStrictlyFalse || len(cond.Args()) != 1 || len(step.Args()) != 2 ||
		!isIdent(step.Args()[0], comp.AccuVar()) {
		return nil, false, false
	}
	going := cond.Args()[0] // all() goes on while the result is true, exists() while it is not
	if all {
		ok = step.FunctionName() == operators.LogicalAnd && isIdent(going, comp.AccuVar())
	} else {
		ok = step.FunctionName() == operators.LogicalOr && going.Kind() == celast.CallKind &&
			going.AsCall().FunctionName() == operators.LogicalNot && len(going.AsCall().Args()) == 1 &&
			isIdent(going.AsCall().Args()[0], comp.AccuVar())
	}
	return step.Args()[1], all, ok
}

func isIdent(e celast.Expr, name string) bool {
	return e.Kind() == celast.IdentKind && e.AsIdent() == name
}

// overField reports whether e is an exists() or all() applied directly to a field.
func (c *compiler) overField(e celast.Expr) bool {
	comp := e.AsComprehension()
	if _, _, ok := quantifierOf(comp); !ok {
		return false
	}
	_, isField, err := c.fieldRef(comp.IterRange())
	return isField && err == nil
}

// arrayElem returns the element kind of f for the array operation what, or explains why f
// has none that filters can test.
func (c *compiler) arrayElem(f Field, at celast.Expr, what string) (Kind, error) {
	switch {
	case f.Kind != KindJSON || f.Elem == 0:
		return 0, c.errorf(at, "%s needs an array field; %q is %s", what, f.Name, describeField(f))
	case f.Elem == KindJSON:
		return 0, c.errorf(at, "%s cannot test the elements of %q, an array of objects, arrays or json: only arrays of strings, numbers, booleans and timestamps (size() works on every array)", what, f.Name)
	}
	return f.Elem, nil
}

var matchKinds = map[string]MatchKind{
	overloads.StartsWith: MatchPrefix,
	overloads.EndsWith:   MatchSuffix,
	overloads.Contains:   MatchContains,
}

// match compiles field.startsWith(v), field.endsWith(v) and field.contains(v).
func (c *compiler) match(e celast.Expr) (node, error) {
	call := e.AsCall()
	fn := call.FunctionName()
	target, arg := call.Target(), call.Args()[0]
	f, ok, err := c.fieldRef(target)
	if err != nil {
		return nil, err
	}
	if !ok {
		if c.refs[target.ID()] {
			return nil, c.unsupported(target)
		}
		return nil, c.errorf(e, "%s() needs the field before the dot, as field.%s(value)", fn, fn)
	}
	if f.Kind != KindString {
		return nil, c.errorf(e, "%s() needs a string field; %q is %s", fn, f.Name, article(f.Kind))
	}
	if c.refs[arg.ID()] {
		if _, isField, _ := c.fieldRef(arg); isField {
			return nil, c.errorf(e, "comparing two fields is not supported")
		}
		return nil, c.unsupported(arg)
	}
	if t := c.ast.GetType(arg.ID()); !compatible(KindString, t) {
		return nil, c.valueErrorf(arg, "%s() needs a string, not %s", fn, describeType(t))
	}
	opd, err := c.operand(arg)
	if err != nil {
		return nil, err
	}
	return &matchNode{field: f.Name, kind: matchKinds[fn], val: opd}, nil
}

// fieldRef reports whether e is exactly a field reference, and which field. It fails for a
// reference to a field that does not exist and for has(), whose meaning depends on how a
// record is represented rather than on the data.
func (c *compiler) fieldRef(e celast.Expr) (Field, bool, error) {
	switch e.Kind() {
	case celast.SelectKind:
		sel := e.AsSelect()
		op := sel.Operand()
		if op.Kind() != celast.IdentKind || !c.isRecordVar(op.AsIdent()) {
			break
		}
		if sel.IsTestOnly() {
			return Field{}, false, c.errorf(e, "has() is not supported; compare the field with null instead")
		}
		return c.lookupField(sel.FieldName(), e)
	case celast.CallKind:
		call := e.AsCall()
		if call.FunctionName() != operators.Index || call.IsMemberFunction() {
			break
		}
		op, key := call.Args()[0], call.Args()[1]
		if op.Kind() != celast.IdentKind || !c.isRecordVar(op.AsIdent()) || key.Kind() != celast.LiteralKind {
			break
		}
		if name, ok := key.AsLiteral().(types.String); ok {
			return c.lookupField(string(name), key)
		}
	case celast.IdentKind:
		if c.isElem(e.AsIdent()) {
			return *c.elem, true, nil
		}
		if _, ok := c.fields[e.AsIdent()]; ok && c.opts.Bare {
			return c.lookupField(e.AsIdent(), e)
		}
	}
	return Field{}, false, nil
}

func (c *compiler) lookupField(name string, at celast.Expr) (Field, bool, error) {
	if c.elem != nil {
		return Field{}, false, c.errorf(at, "the condition of exists() or all() can test only its element %s; conditions on %q belong outside", c.elem.Name, name)
	}
	f, ok := c.fields[name]
	if !ok {
		return Field{}, false, c.errorf(at, "unknown field %q", name)
	}
	if f.Name == "" {
		f.Name = name
	}
	return f, true, nil
}

// unsupported explains why e, which mentions a field, cannot be translated where it stands.
func (c *compiler) unsupported(e celast.Expr) error {
	switch e.Kind() {
	case celast.ComprehensionKind:
		return c.errorf(e, "of the macros, only exists() and all() can be applied to fields, as a condition on an array field: tags.exists(t, t == \"a\")")
	case celast.ListKind, celast.MapKind, celast.StructKind:
		return c.errorf(e, "lists and maps that contain fields are not supported")
	case celast.IdentKind:
		if c.isRecordVar(e.AsIdent()) {
			return c.errorf(e, "%s can only be used to name a field, as %s.<field>", c.opts.RecordVar, c.opts.RecordVar)
		}
		return c.errorf(e, "field %q cannot be used here", e.AsIdent())
	case celast.SelectKind:
		sel := e.AsSelect()
		if sel.IsTestOnly() {
			return c.errorf(e, "has() is not supported; compare the field with null instead")
		}
		f, ok, err := c.fieldRef(sel.Operand())
		if err != nil {
			return err
		}
		if ok {
			return c.errorf(e, "field %q cannot be looked into: filters compare whole fields", f.Name)
		}
		return c.unsupported(sel.Operand())
	case celast.CallKind:
		switch fn := e.AsCall().FunctionName(); fn {
		case operators.Add, operators.Subtract, operators.Multiply, operators.Divide,
			operators.Modulo, operators.Negate:
			return c.errorf(e, "arithmetic on fields is not supported; compare the field itself with a value")
		case operators.Conditional:
			return c.errorf(e, "the conditional operator ?: is not supported on fields")
		case operators.Index, operators.OptIndex:
			if f, ok, _ := c.fieldRef(e.AsCall().Args()[0]); ok {
				return c.errorf(e, "field %q cannot be indexed: filters compare whole fields", f.Name)
			}
			return c.errorf(e, "indexing is not supported on fields; name the field as %s.<field>", cmp.Or(c.opts.RecordVar, "record"))
		case operators.OptSelect:
			return c.errorf(e, "optional selection (.?) is not supported; compare the field with null instead")
		case overloads.Size:
			if arg, ok := sizeArg(e); ok && c.refs[arg.ID()] {
				if _, isField, _ := c.fieldRef(arg); !isField {
					return c.unsupported(arg)
				}
			}
			return c.errorf(e, "size() of an array field can only be compared with a number, as size(tags) > 0")
		case operators.LogicalAnd, operators.LogicalOr, operators.LogicalNot, operators.Equals,
			operators.NotEquals, operators.Less, operators.LessEquals, operators.Greater,
			operators.GreaterEquals, operators.In, overloads.StartsWith, overloads.EndsWith,
			overloads.Contains:
			return c.errorf(e, "the result of a condition cannot be compared; write the condition itself")
		default:
			return c.errorf(e, "function %s() is not supported on fields; filters support comparisons, in, startsWith(), endsWith(), contains(), and on arrays exists(), all() and size()", fn)
		}
	}
	return c.errorf(e, "this expression is not supported in filters")
}

// operand prepares a subexpression without fields for evaluation at Bind: a literal is kept
// as is, anything else becomes a program of the environment. The subtree is planned with
// the checker's types and references, so it means exactly what it meant in the whole
// expression, without parsing and checking it again.
func (c *compiler) operand(e celast.Expr) (operand, error) {
	opd := operand{text: c.text(e), pos: c.start(e)}
	if e.Kind() == celast.LiteralKind {
		opd.lit = e.AsLiteral()
		return opd, nil
	}
	sub := celast.NewCheckedAST(celast.NewAST(e, c.info), c.ast.TypeMap(), c.ast.ReferenceMap())
	prg, err := c.env.PlanProgram(sub, cel.CostLimit(MaxCost))
	if err != nil {
		return operand{}, fmt.Errorf("compile filter: plan %s: %w", opd.text, err)
	}
	opd.prog = prg
	return opd, nil
}

// text renders e as CEL for messages.
func (c *compiler) text(e celast.Expr) string {
	s, err := cel.ExprToString(e, c.info)
	if err != nil {
		return "the value"
	}
	return s
}

// errorf reports a problem with the construct e, at its operator or name.
func (c *compiler) errorf(e celast.Expr, format string, args ...any) *Error {
	return &Error{Offset: c.pos(e), Message: fmt.Sprintf(format, args...)}
}

// valueErrorf reports a problem with the value e, at its start.
func (c *compiler) valueErrorf(e celast.Expr, format string, args ...any) *Error {
	return &Error{Offset: c.start(e), Message: fmt.Sprintf(format, args...)}
}

// pos is the offset a message about e points at. The parser records a call or a macro at
// the parenthesis after its name, so pos moves back to the start of the name, where a reader
// looks; a selection is recorded at its dot, so pos moves to the field name.
func (c *compiler) pos(e celast.Expr) int {
	r, ok := c.info.GetOffsetRange(e.ID())
	if !ok {
		return 0
	}
	off := int(r.Start)
	if off < 0 || off >= len(c.src) {
		return max(0, min(off, len(c.src)))
	}
	switch {
	case c.src[off] == '(':
		i := off
		for i > 0 && unicode.IsSpace(c.src[i-1]) {
			i--
		}
		j := i
		for j > 0 && isIdentRune(c.src[j-1]) {
			j--
		}
		if j < i {
			off = j
		}
	case c.src[off] == '.' && e.Kind() == celast.SelectKind:
		off++
		for off < len(c.src) && unicode.IsSpace(c.src[off]) {
			off++
		}
	}
	return off
}

func sourceText(a *cel.Ast) []rune {
	if a.Source() == nil {
		return nil
	}
	return []rune(a.Source().Content())
}

// start is the offset where the source of e begins: the smallest position in its subtree.
func (c *compiler) start(e celast.Expr) int {
	first := c.pos(e)
	celast.PostOrderVisit(e, celast.NewExprVisitor(func(sub celast.Expr) {
		if _, ok := c.info.GetOffsetRange(sub.ID()); ok {
			first = min(first, c.pos(sub))
		}
	}))
	return first
}

func isIdentRune(r rune) bool {
	return r == '_' || ('a' <= r && r <= 'z') || ('A' <= r && r <= 'Z') || ('0' <= r && r <= '9')
}

// condType reports whether an expression of type t may be used as a condition.
func condType(t *types.Type) bool {
	switch t.Kind() {
	case types.BoolKind, types.DynKind, types.AnyKind, types.TypeParamKind:
		return true
	}
	return false
}

// compatible reports whether a value of checked type t can ever equal a field of kind k.
// Dynamic types pass: their values are checked by Bind. Null is handled by the callers.
func compatible(k Kind, t *types.Type) bool {
	switch t.Kind() {
	case types.DynKind, types.AnyKind, types.TypeParamKind:
		return true
	case types.StringKind:
		return k == KindString
	case types.IntKind, types.UintKind, types.DoubleKind:
		return k == KindInteger || k == KindNumber
	case types.BoolKind:
		return k == KindBool
	case types.TimestampKind:
		return k == KindTimestamp
	}
	return false
}

// describeType names a checked type for messages: "a string", "a list(int)".
func describeType(t *types.Type) string {
	switch t.Kind() {
	case types.StringKind:
		return "a string"
	case types.IntKind, types.UintKind:
		return "an integer"
	case types.DoubleKind:
		return "a number"
	case types.BoolKind:
		return "a boolean"
	case types.TimestampKind:
		return "a timestamp"
	case types.DurationKind:
		return "a duration"
	case types.BytesKind:
		return "bytes"
	case types.NullTypeKind:
		return "null"
	}
	return "a " + t.String()
}

// describeValue names the type of a runtime value for messages.
func describeValue(v ref.Val) string {
	switch v.(type) {
	case types.String:
		return "a string"
	case types.Int, types.Uint:
		return "an integer"
	case types.Double:
		return "a number"
	case types.Bool:
		return "a boolean"
	case types.Timestamp:
		return "a timestamp"
	case types.Duration:
		return "a duration"
	case types.Bytes:
		return "bytes"
	}
	return "a " + v.Type().TypeName()
}

// describeField names what a field holds for messages: "a string", "an object or json".
func describeField(f Field) string {
	if f.Kind == KindJSON {
		return "an object or json"
	}
	return article(f.Kind)
}

// article names a field kind with its article: "an integer", "a string".
func article(k Kind) string {
	if k == KindInteger {
		return "an integer"
	}
	if k == KindJSON {
		return "json"
	}
	return "a " + k.String()
}
