package query

import (
	"fmt"
	"math"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/common/types/traits"
	"cel.dev/cel-go/interpreter"
)

// maxExactInt is 2^53: integers up to it in magnitude convert to float64 and back unchanged.
const maxExactInt = 1 << 53

// Bind evaluates the parts of the plan that mention no field with vars (for example
// {"auth": map[string]any{...}, "now": time.Time}) and returns the predicate, simplified:
// an And with a false term is false, an Or with a true term is true, neutral terms are
// dropped and negated constants folded. Values are converted to the Go types Compare
// documents; a null value turns field == value into IsNull.
//
// The result selects exactly the records for which the CEL expression is true. Where a part
// without fields fails to evaluate (auth.role on a token without that claim), CEL would
// carry an error; Bind replaces it by the constant that never adds rows to the selection:
// false where the error is under an even number of negations, true under an odd number.
// This is exact for selection, because an error and false both leave a row out, but the
// result must not be negated as a whole.
//
// Bind returns *Error when a value has a type the field can never equal (a string compared
// with an integer field, a number too large to compare with an integer field exactly, NaN).
// It is safe for concurrent use.
func (p *Plan) Bind(vars map[string]any) (Expr, error) {
	if vars == nil {
		vars = map[string]any{}
	}
	act, err := interpreter.NewActivation(vars)
	if err != nil {
		return nil, fmt.Errorf("bind filter: %w", err)
	}
	return p.root.bind(act, true)
}

// node is a compiled expression awaiting its values. positive is false under an odd number
// of negations; it decides which constant replaces an evaluation error (see Bind).
type node interface {
	bind(act interpreter.Activation, positive bool) (Expr, error)
}

type (
	andNode     []node
	orNode      []node
	notNode     struct{ x node }
	constNode   bool
	isNullNode  string
	truthNode   string
	dynNode     struct{ val operand }
	compareNode struct {
		field Field
		op    Op
		val   operand
		size  bool // the field is size() of the array field of that name
	}
	inNode struct {
		field Field
		list  operand
	}
	// inArrayNode is val in an array field; field is named after the array and has the
	// kind of its elements.
	inArrayNode struct {
		field Field
		val   operand
	}
	existsNode struct {
		field string
		elem  string // the element variable, the only field cond mentions
		cond  node
	}
	// constUnlessNull is val for every record whose array field is set, and error (as all
	// of CEL's tests of an array are) for the others.
	constUnlessNull struct {
		field string
		val   bool
	}
	matchNode struct {
		field string
		kind  MatchKind
		val   operand
	}
)

// operand is a value without fields: a literal, or a program evaluated at Bind.
type operand struct {
	lit  ref.Val
	prog cel.Program
	text string // as written, for messages
	pos  int    // offset in the source, for messages
}

func (o operand) eval(act interpreter.Activation) ref.Val {
	if o.lit != nil {
		return o.lit
	}
	v, _, err := o.prog.Eval(act)
	if err != nil && v == nil {
		return types.WrapErr(err)
	}
	return v
}

// failed reports whether v is what CEL yields for an evaluation that did not produce a value.
func failed(v ref.Val) bool {
	return v == nil || types.IsUnknownOrError(v)
}

func (n andNode) bind(act interpreter.Activation, positive bool) (Expr, error) {
	terms := make([]Expr, 0, len(n))
	for _, t := range n {
		e, err := t.bind(act, positive)
		if err != nil {
			return nil, err
		}
		terms = append(terms, e)
	}
	return newAnd(terms), nil
}

func (n orNode) bind(act interpreter.Activation, positive bool) (Expr, error) {
	terms := make([]Expr, 0, len(n))
	for _, t := range n {
		e, err := t.bind(act, positive)
		if err != nil {
			return nil, err
		}
		terms = append(terms, e)
	}
	return newOr(terms), nil
}

func (n notNode) bind(act interpreter.Activation, positive bool) (Expr, error) {
	x, err := n.x.bind(act, !positive)
	if err != nil {
		return nil, err
	}
	return newNot(x), nil
}

func (n constNode) bind(interpreter.Activation, bool) (Expr, error) { return Const(n), nil }

func (n isNullNode) bind(interpreter.Activation, bool) (Expr, error) {
	return IsNull{Field: string(n)}, nil
}

func (n truthNode) bind(interpreter.Activation, bool) (Expr, error) {
	return Truth{Field: string(n)}, nil
}

func (n *dynNode) bind(act interpreter.Activation, positive bool) (Expr, error) {
	if b, ok := n.val.eval(act).(types.Bool); ok {
		return Const(b), nil
	}
	// An error, or a value that is not a boolean, which CEL's && and || reject.
	return Const(!positive), nil
}

func (n *compareNode) bind(act interpreter.Activation, positive bool) (Expr, error) {
	v := n.val.eval(act)
	if failed(v) {
		return Const(!positive), nil
	}
	if v == types.NullValue {
		switch {
		case n.size && (n.op == Eq || n.op == Ne):
			return arrayConst(n.field.Name, n.op == Ne), nil // a size is never null
		case n.op == Eq:
			return IsNull{Field: n.field.Name}, nil
		case n.op == Ne:
			return newNot(IsNull{Field: n.field.Name}), nil
		}
		return Const(!positive), nil // null has no order: CEL fails
	}
	x, err := compareValue(n.field, n.op, v, n.val)
	if err != nil || !n.size {
		return x, err
	}
	switch x := x.(type) {
	case Compare:
		return Size{Field: n.field.Name, Op: x.Op, Value: x.Value.(int64)}, nil
	case Const:
		return arrayConst(n.field.Name, bool(x)), nil
	}
	return nil, fmt.Errorf("bind filter: unexpected size comparison %s", x)
}

func (n *inArrayNode) bind(act interpreter.Activation, positive bool) (Expr, error) {
	v := n.val.eval(act)
	if failed(v) {
		return Const(!positive), nil
	}
	if v == types.NullValue {
		return InArray{Field: n.field.Name}, nil // true when an element is null
	}
	x, err := compareValue(n.field, Eq, v, n.val)
	if err != nil {
		return nil, err
	}
	switch x := x.(type) {
	case Compare:
		return InArray{Field: n.field.Name, Value: x.Value}, nil
	case Const:
		return arrayConst(n.field.Name, bool(x)), nil // an integer array never holds 2.5
	}
	return nil, fmt.Errorf("bind filter: unexpected membership test %s", x)
}

func (n *existsNode) bind(act interpreter.Activation, positive bool) (Expr, error) {
	// exists() is a disjunction over the elements, so the condition keeps the polarity.
	cond, err := n.cond.bind(act, positive)
	if err != nil {
		return nil, err
	}
	if c, ok := cond.(Const); ok {
		if c {
			return Size{Field: n.field, Op: Gt, Value: 0}, nil
		}
		return arrayConst(n.field, false), nil
	}
	return Exists{Field: n.field, Var: n.elem, Cond: cond}, nil
}

func (n constUnlessNull) bind(interpreter.Activation, bool) (Expr, error) {
	return arrayConst(n.field, n.val), nil
}

// arrayConst is b when the array field is set and error when it is null, as a size test
// that every array passes (b) or fails.
func arrayConst(field string, b bool) Expr {
	if b {
		return Size{Field: field, Op: Ge, Value: 0}
	}
	return Size{Field: field, Op: Lt, Value: 0}
}

func (n *inNode) bind(act interpreter.Activation, positive bool) (Expr, error) {
	v := n.list.eval(act)
	if failed(v) || v == types.NullValue {
		return Const(!positive), nil
	}
	list, ok := v.(traits.Lister)
	if !ok {
		return nil, &Error{Offset: n.list.pos, Message: fmt.Sprintf("in needs a list of values; %s is %s", n.list.text, describeValue(v))}
	}
	var values []any
	hasNull := false
	for it := list.Iterator(); it.HasNext() == types.True; {
		el := it.Next()
		if el == types.NullValue {
			hasNull = true
			continue
		}
		elem := operand{text: "an element of " + n.list.text, pos: n.list.pos}
		e, err := compareValue(n.field, Eq, el, elem)
		if err != nil {
			return nil, err
		}
		if c, ok := e.(Compare); ok {
			values = append(values, c.Value)
		}
		// Otherwise the element can never equal the field (2.5 for an integer field).
	}
	var terms []Expr
	if len(values) > 0 {
		terms = append(terms, In{Field: n.field.Name, Values: values})
	}
	if hasNull {
		terms = append(terms, IsNull{Field: n.field.Name}) // null in [null] is true in CEL
	}
	return newOr(terms), nil
}

func (n *matchNode) bind(act interpreter.Activation, positive bool) (Expr, error) {
	v := n.val.eval(act)
	if failed(v) || v == types.NullValue {
		return Const(!positive), nil
	}
	s, ok := v.(types.String)
	if !ok {
		return nil, &Error{Offset: n.val.pos, Message: fmt.Sprintf("%s() needs a string; %s is %s", n.kind, n.val.text, describeValue(v))}
	}
	return Match{Field: n.field, Kind: n.kind, Text: string(s)}, nil
}

// compareValue is field op v for a value v that is not null, with v converted to the Go type
// of the field's kind. Numbers are compared the way CEL does across int and double, which
// sometimes makes the comparison a constant (an integer never equals 2.5) or changes its
// operator (i < 2.5 is i <= 2).
func compareValue(f Field, op Op, v ref.Val, opd operand) (Expr, error) {
	mismatch := func() error {
		return &Error{Offset: opd.pos, Message: fmt.Sprintf("field %q is %s and cannot be compared with %s, which is %s",
			f.Name, article(f.Kind), opd.text, describeValue(v))}
	}
	cmp := func(x any) (Expr, error) { return Compare{Field: f.Name, Op: op, Value: x}, nil }
	switch f.Kind {
	case KindString:
		if s, ok := v.(types.String); ok {
			return cmp(string(s))
		}
	case KindBool:
		if b, ok := v.(types.Bool); ok {
			return cmp(bool(b))
		}
	case KindTimestamp:
		if t, ok := v.(types.Timestamp); ok {
			return cmp(t.Time.UTC())
		}
	case KindNumber:
		switch x := v.(type) {
		case types.Double:
			if math.IsNaN(float64(x)) {
				return nil, &Error{Offset: opd.pos, Message: fmt.Sprintf("%s is NaN, which cannot be compared", opd.text)}
			}
			return cmp(float64(x))
		case types.Int:
			// CEL compares a double with an int by converting the int to double.
			return cmp(float64(x))
		case types.Uint:
			return cmp(float64(x))
		}
	case KindInteger:
		switch x := v.(type) {
		case types.Int:
			return cmp(int64(x))
		case types.Uint:
			if uint64(x) > math.MaxInt64 {
				return nil, &Error{Offset: opd.pos, Message: fmt.Sprintf("%s is too large to compare with integer field %q", opd.text, f.Name)}
			}
			return cmp(int64(x))
		case types.Double:
			return compareIntWithDouble(f, op, float64(x), opd)
		}
	}
	return nil, mismatch()
}

// compareIntWithDouble is field op d for an integer field. CEL converts the integer to double,
// which is exact for every integer a double can tell apart from its neighbours; beyond 2^53
// the conversion rounds, and the database, comparing exactly, would disagree, so such values
// are refused rather than answered differently.
func compareIntWithDouble(f Field, op Op, d float64, opd operand) (Expr, error) {
	if math.IsNaN(d) || math.Abs(d) >= maxExactInt {
		return nil, &Error{Offset: opd.pos, Message: fmt.Sprintf(
			"%s cannot be compared exactly with integer field %q; use an integer between -2^53 and 2^53", opd.text, f.Name)}
	}
	if d == math.Trunc(d) {
		return Compare{Field: f.Name, Op: op, Value: int64(d)}, nil
	}
	// d lies strictly between two integers.
	lo, hi := int64(math.Floor(d)), int64(math.Ceil(d))
	switch op {
	case Eq:
		return Const(false), nil // a null field is not equal either
	case Ne:
		return Const(true), nil // a null field is not equal either
	case Lt, Le:
		return Compare{Field: f.Name, Op: Le, Value: lo}, nil
	default: // Gt, Ge
		return Compare{Field: f.Name, Op: Ge, Value: hi}, nil
	}
}

// newAnd builds the conjunction of terms, folding constants and nested conjunctions.
func newAnd(terms []Expr) Expr {
	out := make([]Expr, 0, len(terms))
	for _, t := range terms {
		switch t := t.(type) {
		case Const:
			if !t {
				return Const(false)
			}
		case And:
			out = append(out, t.Terms...)
		default:
			out = append(out, t)
		}
	}
	switch len(out) {
	case 0:
		return Const(true)
	case 1:
		return out[0]
	}
	return And{Terms: out}
}

// newOr builds the disjunction of terms, folding constants and nested disjunctions.
func newOr(terms []Expr) Expr {
	out := make([]Expr, 0, len(terms))
	for _, t := range terms {
		switch t := t.(type) {
		case Const:
			if t {
				return Const(true)
			}
		case Or:
			out = append(out, t.Terms...)
		default:
			out = append(out, t)
		}
	}
	switch len(out) {
	case 0:
		return Const(false)
	case 1:
		return out[0]
	}
	return Or{Terms: out}
}

// newNot negates x; a double negation cancels, also in three-valued logic.
func newNot(x Expr) Expr {
	switch x := x.(type) {
	case Const:
		return !x
	case Not:
		return x.X
	}
	return Not{X: x}
}
