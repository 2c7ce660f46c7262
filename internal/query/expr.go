package query

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Kind is the storage kind of a field as the filter language sees it.
type Kind int

// The kinds of field. Every spec type maps to one: string, enum and ref are KindString;
// arrays, objects and json are KindJSON.
const (
	KindString Kind = iota + 1
	KindInteger
	KindNumber
	KindBool
	KindTimestamp
	// KindJSON holds arrays, objects and json: such a field can be compared with null, and
	// an array of scalars can be searched (InArray, Exists) and measured (Size).
	KindJSON
)

// String returns the name of the kind as users read it in error messages.
func (k Kind) String() string {
	switch k {
	case KindString:
		return "string"
	case KindInteger:
		return "integer"
	case KindNumber:
		return "number"
	case KindBool:
		return "boolean"
	case KindTimestamp:
		return "timestamp"
	case KindJSON:
		return "json"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Field is a field that filters may mention: its name, as written in expressions and in
// Expr, and its kind.
type Field struct {
	Name string
	Kind Kind
	// Elem is the kind of the elements of an array field (whose Kind is KindJSON): an array of
	// strings, enums or refs has KindString elements, and so on; an array of objects, arrays
	// or json has KindJSON elements. It is zero for every field that is not an array.
	Elem Kind
}

// Op is a comparison operator.
type Op int

// The comparison operators.
const (
	Eq Op = iota + 1
	Ne
	Lt
	Le
	Gt
	Ge
)

// String returns the CEL spelling of the operator.
func (o Op) String() string {
	switch o {
	case Eq:
		return "=="
	case Ne:
		return "!="
	case Lt:
		return "<"
	case Le:
		return "<="
	case Gt:
		return ">"
	case Ge:
		return ">="
	}
	return fmt.Sprintf("Op(%d)", int(o))
}

// flip returns the operator that gives the same result with the operands swapped:
// 5 < x is x > 5.
func (o Op) flip() Op {
	switch o {
	case Lt:
		return Gt
	case Le:
		return Ge
	case Gt:
		return Lt
	case Ge:
		return Le
	}
	return o
}

// MatchKind says which string test a Match is.
type MatchKind int

// The string tests of CEL: startsWith, endsWith and contains.
const (
	MatchPrefix MatchKind = iota + 1
	MatchSuffix
	MatchContains
)

// String returns the CEL function name of the test.
func (k MatchKind) String() string {
	switch k {
	case MatchPrefix:
		return "startsWith"
	case MatchSuffix:
		return "endsWith"
	case MatchContains:
		return "contains"
	}
	return fmt.Sprintf("MatchKind(%d)", int(k))
}

// Expr is a predicate over one record. The types in this package are all there is: a driver
// renders each of them and nothing else.
//
// An Expr evaluates, for a record, to true, false or error, with the meaning CEL gives the
// expression it was compiled from, where a field the record does not set is null. A row is
// selected only when the whole Expr is true. Error is what CEL produces for, say, null < 5; it
// propagates through And, Or and Not the way CEL's commutative && and || do (false && error is
// false, true || error is true, !error is error), which is exactly SQL's three-valued logic
// with NULL in the place of error. A driver therefore renders error as SQL NULL, and each
// type below documents when it is one.
//
// String renders an Expr in CEL syntax, for logs and tests.
type Expr interface {
	String() string
	expr()
}

// And is true when every term is true, false when any term is false, and error otherwise.
// An And without terms is true.
type And struct{ Terms []Expr }

// Or is true when any term is true, false when every term is false, and error otherwise.
// An Or without terms is false.
type Or struct{ Terms []Expr }

// Not is the negation of X; the negation of error is error.
type Not struct{ X Expr }

// Const is true or false whatever the record holds.
type Const bool

// Compare compares a field with a value. When the field is null, Eq is false, Ne is true
// and the orderings (Lt, Le, Gt, Ge) are error, as in CEL. Value is never nil, and its Go type
// follows the field's kind: string for KindString, int64 for KindInteger, float64 for
// KindNumber, bool for KindBool (false orders before true) and time.Time for KindTimestamp.
// Strings compare byte by byte. KindJSON fields are never compared.
type Compare struct {
	Field string
	Op    Op
	Value any
}

// In is true when the field equals one of Values, and false otherwise, also when the field is
// null or Values is empty; it is never error. Values follow the rules of Compare.Value.
type In struct {
	Field  string
	Values []any
}

// IsNull is true when the field is null and false otherwise; it is never error. It is the
// only test that applies to KindJSON fields.
type IsNull struct{ Field string }

// Match tests a KindString field for a prefix, a suffix or a substring, byte by byte and case
// sensitively, as CEL's startsWith, endsWith and contains do. It is error when the field is
// null; an empty Text matches every other value.
type Match struct {
	Field string
	Kind  MatchKind
	Text  string
}

// Truth is a KindBool field used as a condition: true when the field is true, false when it
// is false and error when it is null (CEL cannot apply && or ! to null).
type Truth struct{ Field string }

// InArray is CEL's value in field for an array field: true when Value is an element of the
// array, false when it is not (also when the array is empty), and error when the field is
// null. Value follows the rules of Compare.Value for the kind of the elements (Field.Elem);
// nil tests for a null element.
type InArray struct {
	Field string
	Value any
}

// Size compares the number of elements of an array field with Value, as CEL's size(field)
// compared with an integer; it is error when the field is null.
type Size struct {
	Field string
	Op    Op
	Value int64
}

// Exists is CEL's field.exists(Var, Cond) for an array field: true when Cond is true for
// some element, otherwise error when it is error for some element, and false when it is
// false for every element (also when the array is empty); error when the field is null.
// Cond is a predicate over one element, which it names Var as if the element were a field
// of the array's element kind (null for a null element); it mentions no other field.
// CEL's field.all(v, p) is !field.exists(v, !p), which is exactly the same.
type Exists struct {
	Field string
	Var   string
	Cond  Expr
}

func (And) expr()     {}
func (Or) expr()      {}
func (Not) expr()     {}
func (Const) expr()   {}
func (Compare) expr() {}
func (In) expr()      {}
func (IsNull) expr()  {}
func (Match) expr()   {}
func (Truth) expr()   {}
func (InArray) expr() {}
func (Size) expr()    {}
func (Exists) expr()  {}

// String renders the conjunction in CEL syntax.
func (e And) String() string { return joinTerms(e.Terms, " && ", "true") }

// String renders the disjunction in CEL syntax.
func (e Or) String() string { return joinTerms(e.Terms, " || ", "false") }

// String renders the negation in CEL syntax.
func (e Not) String() string { return "!" + parenthesize(e.X) }

// String renders the constant in CEL syntax.
func (e Const) String() string { return strconv.FormatBool(bool(e)) }

// String renders the comparison in CEL syntax.
func (e Compare) String() string {
	return e.Field + " " + e.Op.String() + " " + formatValue(e.Value)
}

// String renders the membership test in CEL syntax.
func (e In) String() string {
	vals := make([]string, len(e.Values))
	for i, v := range e.Values {
		vals[i] = formatValue(v)
	}
	return e.Field + " in [" + strings.Join(vals, ", ") + "]"
}

// String renders the null test in CEL syntax.
func (e IsNull) String() string { return e.Field + " == null" }

// String renders the string test in CEL syntax.
func (e Match) String() string {
	return e.Field + "." + e.Kind.String() + "(" + strconv.Quote(e.Text) + ")"
}

// String renders the field in CEL syntax.
func (e Truth) String() string { return e.Field }

// String renders the membership test in CEL syntax.
func (e InArray) String() string { return formatValue(e.Value) + " in " + e.Field }

// String renders the size comparison in CEL syntax.
func (e Size) String() string {
	return "size(" + e.Field + ") " + e.Op.String() + " " + strconv.FormatInt(e.Value, 10)
}

// String renders the quantifier in CEL syntax.
func (e Exists) String() string {
	return e.Field + ".exists(" + e.Var + ", " + e.Cond.String() + ")"
}

func joinTerms(terms []Expr, sep, empty string) string {
	if len(terms) == 0 {
		return empty
	}
	parts := make([]string, len(terms))
	for i, t := range terms {
		parts[i] = parenthesize(t)
	}
	return "(" + strings.Join(parts, sep) + ")"
}

// parenthesize wraps operands whose CEL text would otherwise bind wrongly under ! or inside
// && and ||; And and Or already carry their parentheses.
func parenthesize(e Expr) string {
	switch e.(type) {
	case Compare, In, IsNull, InArray, Size:
		return "(" + e.String() + ")"
	}
	return e.String()
}

// formatValue renders a value as a CEL literal, keeping int64 and float64 apart (5 and 5.0).
func formatValue(v any) string {
	switch v := v.(type) {
	case string:
		return strconv.Quote(v)
	case int64:
		return strconv.FormatInt(v, 10)
	case float64:
		if math.IsInf(v, 0) || math.IsNaN(v) {
			return fmt.Sprintf("double(%q)", strconv.FormatFloat(v, 'g', -1, 64))
		}
		s := strconv.FormatFloat(v, 'g', -1, 64)
		if !strings.ContainsAny(s, ".eE") {
			s += ".0"
		}
		return s
	case bool:
		return strconv.FormatBool(v)
	case time.Time:
		return fmt.Sprintf("timestamp(%q)", v.UTC().Format(time.RFC3339Nano))
	case nil:
		return "null"
	}
	return fmt.Sprintf("%#v", v)
}
