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
	// KindJSON holds arrays, objects and json: such a field can only be compared with null.
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

func (And) expr()     {}
func (Or) expr()      {}
func (Not) expr()     {}
func (Const) expr()   {}
func (Compare) expr() {}
func (In) expr()      {}
func (IsNull) expr()  {}
func (Match) expr()   {}
func (Truth) expr()   {}

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
	case Compare, In, IsNull:
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
