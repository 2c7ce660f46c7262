// Package sqlwhere renders the predicate IR of internal/query as a SQL boolean expression for
// a WHERE clause, with every value as a parameter. The structure and the meaning are shared by
// every driver; a Dialect supplies what differs: placeholders, boolean literals, how a boolean
// column is a condition, how values are encoded, and the string-matching SQL.
//
// The SQL has the meaning query.Expr documents, with CEL's error as SQL NULL: three-valued
// logic then combines terms exactly as CEL does, and WHERE keeps only rows that are TRUE. Each
// test is NULL exactly when CEL fails and never NULL otherwise: equality is guarded with IS NULL
// because CEL says null == "a" is false and null != "a" is true; orderings are left bare
// because null < 5 fails in CEL and is NULL in SQL.
//
// Timestamps are stored with microseconds. A value with a finer part cannot equal a stored
// time, and t < v is t <= v truncated, so such comparisons are adjusted rather than compared
// with a rounded value. A dialect whose text cannot hold U+0000 (PostgreSQL) treats text
// values with one the same way: they equal nothing, and order as their part before U+0000.
//
// Arrays are JSON columns. Their tests (InArray, Size, Exists) are NULL when the column is
// NULL, as CEL fails on a null array; Exists runs its condition in a subquery over the
// elements, each element standing for a column of the array's element kind, so that every
// test renders on elements exactly as on columns. Timestamps inside arrays are compared as
// the engine writes them: RFC 3339 text in UTC, with at most microseconds.
package sqlwhere

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/plinth-dev/plinth/internal/fault"
	"github.com/plinth-dev/plinth/internal/query"
)

// Bounds of a rendered WHERE clause. Filters are already bounded in size by query.Compile;
// these catch long value lists (field in [...]) and predicates built by code.
const (
	maxBytes  = 64 << 10
	maxParams = 1000
)

// ErrTooLarge is returned (wrapped) when a predicate exceeds the bounds: it is the caller's
// filter that is too large, not a fault of the database.
var ErrTooLarge = errors.New("filter too large")

// Dialect is what one database renders its own way.
type Dialect struct {
	// Placeholder is the text of the n-th parameter, from 1: "?" or "$n".
	Placeholder func(n int) string
	// True and False are the boolean literals; Null is NULL as a boolean.
	True, False, Null string
	// Truth is a boolean column as a condition; it must be NULL for a null column.
	Truth func(col string) string
	// Encode turns a value into the driver's parameter for a field of the kind.
	Encode func(kind query.Kind, v any) (any, error)
	// TextWithoutNUL says stored text never holds U+0000, and text values must be UTF-8.
	TextWithoutNUL bool
	// NextPrefix is the smallest text greater than every text that starts with p, in the
	// column's order; false when there is none. startsWith is the range between p and it,
	// which an index on the column serves.
	NextPrefix func(p string) (string, bool)
	// Match renders endsWith or contains of a non-empty text on a string column.
	Match func(w *Writer, col string, e query.Match) error
	// Elements is the FROM item of a subquery with one row per element of the JSON array in
	// col, under the name alias.
	Elements func(col, alias string) string
	// Element is the element of that row as a value of the kind, which compares as a column
	// of that kind does; NULL for a JSON null.
	Element func(alias string, kind query.Kind) string
	// ArrayLength is the number of elements of the JSON array in col; NULL for NULL.
	ArrayLength func(col string) string
	// InArray, when set, renders "the JSON array in col holds v" (nil for a JSON null) for
	// an array of the kind: NULL when col is NULL, TRUE or FALSE otherwise. When it is not
	// set, InArray is rendered with Elements.
	InArray func(w *Writer, col string, kind query.Kind, v any) error
	// Order renders one sort key of ORDER BY: ascending puts NULLs first, descending last.
	Order func(s query.Sort) string
	// Limit is the parameter value of a LIMIT of n.
	Limit func(n int) any
}

// Select renders a whole list query: base (SELECT … FROM t), then WHERE, ORDER BY (by id when
// no order is given) and LIMIT, with its parameters. Errors are *fault.Error Invalid: a filter
// too large, or one that cannot be run.
func Select(d *Dialect, base string, q query.Select, fields map[string]query.Field, col func(field string) string) (string, []any, error) {
	w := &Writer{fields: fields, col: col, d: d}
	w.b.WriteString(base)
	w.b.WriteString(" WHERE ")
	err := w.expr(q.Where)
	if err == nil {
		err = w.checkSize()
	}
	if errors.Is(err, ErrTooLarge) {
		return "", nil, fault.Wrap(fault.Invalid, err, "the filter is too large")
	}
	if err != nil {
		return "", nil, fault.Wrap(fault.Invalid, err, "the filter cannot be run")
	}
	w.b.WriteString(" ORDER BY ")
	for i, s := range q.Order {
		if _, ok := fields[s.Field]; !ok {
			return "", nil, fmt.Errorf("list: unknown sort field %q", s.Field)
		}
		if i > 0 {
			w.b.WriteString(", ")
		}
		w.b.WriteString(d.Order(s))
	}
	if len(q.Order) == 0 {
		w.b.WriteString(d.Order(query.Sort{Field: "id"}))
	}
	w.b.WriteString(" LIMIT " + w.Arg(d.Limit(q.Limit)))
	return w.b.String(), w.args, nil
}

// Writer accumulates the SQL and the parameters of one predicate.
type Writer struct {
	b      strings.Builder
	args   []any
	fields map[string]query.Field
	col    func(string) string
	d      *Dialect
	// elem is the element that the condition of the Exists being rendered names; nil
	// elsewhere.
	elem *element
	// aliases counts the element subqueries, which each get a name of their own.
	aliases int
}

// element is the element of an array that an Exists condition tests.
type element struct {
	name, sql string
	kind      query.Kind
}

// Render renders e. fields gives each field's kind, which decides how values are encoded; col
// returns the quoted column of a field. It fails for a field not in fields, a value that does
// not fit the field's kind, a comparison of a json field, a test of the elements of a field
// that is not an array of scalars, a condition on elements that mentions another field, and,
// wrapping ErrTooLarge, SQL longer than 64 KiB or with more than 1000 parameters.
func Render(d *Dialect, e query.Expr, fields map[string]query.Field, col func(field string) string) (string, []any, error) {
	w := &Writer{fields: fields, col: col, d: d}
	err := w.expr(e)
	if err == nil {
		err = w.checkSize()
	}
	if err != nil {
		return "", nil, fmt.Errorf("render where: %w", err)
	}
	return w.b.String(), w.args, nil
}

// Quote quotes an identifier as both SQLite and PostgreSQL read it.
func Quote(name string) string { return `"` + strings.ReplaceAll(name, `"`, `""`) + `"` }

// Printf writes SQL.
func (w *Writer) Printf(format string, args ...any) { fmt.Fprintf(&w.b, format, args...) }

// Arg appends a parameter that needs no encoding and returns its placeholder.
func (w *Writer) Arg(x any) string {
	w.args = append(w.args, x)
	return w.d.Placeholder(len(w.args))
}

// param encodes v for a field of the given kind, appends it and returns its placeholder.
func (w *Writer) param(kind query.Kind, v any) (string, error) {
	if v == nil {
		return "", errors.New("missing comparison value")
	}
	x, err := w.d.Encode(kind, v)
	if err != nil {
		return "", err
	}
	return w.Arg(x), nil
}

func (w *Writer) expr(e query.Expr) error {
	if err := w.checkSize(); err != nil {
		return err
	}
	switch e := e.(type) {
	case query.And:
		return w.join(e.Terms, " AND ", w.d.True)
	case query.Or:
		return w.join(e.Terms, " OR ", w.d.False)
	case query.Not:
		w.b.WriteString("(NOT ")
		if err := w.expr(e.X); err != nil {
			return err
		}
		w.b.WriteString(")")
	case query.Const:
		w.b.WriteString(w.boolSQL(bool(e)))
	case query.Compare:
		return w.compare(e)
	case query.In:
		return w.in(e)
	case query.IsNull:
		c, _, err := w.column(e.Field)
		if err != nil {
			return err
		}
		w.b.WriteString(c + " IS NULL")
	case query.Match:
		return w.match(e)
	case query.Truth:
		c, kind, err := w.column(e.Field)
		if err != nil {
			return err
		}
		if kind != query.KindBool {
			return fmt.Errorf("field %q is not boolean", e.Field)
		}
		w.b.WriteString(w.d.Truth(c)) // NULL for a null field, as CEL fails on a null condition
	case query.InArray:
		return w.inArray(e)
	case query.Size:
		return w.size(e)
	case query.Exists:
		return w.exists(e)
	case nil:
		return errors.New("missing expression")
	default:
		return fmt.Errorf("unsupported expression %T", e)
	}
	return nil
}

// checkSize stops rendering as soon as the bounds are exceeded, rather than building a
// megabyte of SQL to reject it.
func (w *Writer) checkSize() error {
	if w.b.Len() > maxBytes || len(w.args) > maxParams {
		return fmt.Errorf("%w: more than %d bytes of SQL or %d parameters", ErrTooLarge, maxBytes, maxParams)
	}
	return nil
}

func (w *Writer) boolSQL(b bool) string {
	if b {
		return w.d.True
	}
	return w.d.False
}

func (w *Writer) join(terms []query.Expr, sep, empty string) error {
	if len(terms) == 0 {
		w.b.WriteString(empty)
		return nil
	}
	w.b.WriteString("(")
	for i, t := range terms {
		if i > 0 {
			w.b.WriteString(sep)
		}
		if err := w.expr(t); err != nil {
			return err
		}
	}
	w.b.WriteString(")")
	return nil
}

func (w *Writer) column(field string) (string, query.Kind, error) {
	if w.elem != nil {
		if field != w.elem.name {
			return "", 0, fmt.Errorf("the condition on the elements mentions %q", field)
		}
		return w.elem.sql, w.elem.kind, nil
	}
	f, ok := w.fields[field]
	if !ok {
		return "", 0, fmt.Errorf("unknown field %q", field)
	}
	return w.col(field), f.Kind, nil
}

// array returns the column of an array field and the kind of its elements, which must be
// scalars unless objects is set.
func (w *Writer) array(field string, objects bool) (string, query.Kind, error) {
	if w.elem != nil {
		return "", 0, fmt.Errorf("the condition on the elements mentions %q", field)
	}
	f, ok := w.fields[field]
	switch {
	case !ok:
		return "", 0, fmt.Errorf("unknown field %q", field)
	case f.Kind != query.KindJSON || f.Elem == 0:
		return "", 0, fmt.Errorf("field %q is not an array", field)
	case f.Elem == query.KindJSON && !objects:
		return "", 0, fmt.Errorf("field %q holds no scalars", field)
	}
	return w.col(field), f.Elem, nil
}

func (w *Writer) compare(e query.Compare) error {
	c, kind, err := w.column(e.Field)
	if err != nil {
		return err
	}
	if kind == query.KindJSON {
		return fmt.Errorf("field %q holds json and cannot be compared", e.Field)
	}
	op, v := e.Op, e.Value
	var constant, isConst bool
	switch x := v.(type) {
	case time.Time:
		if kind == query.KindTimestamp {
			op, v, constant, isConst = storedTimeCompare(op, x)
		}
	case string:
		if kind == query.KindString && w.d.TextWithoutNUL {
			if !utf8.ValidString(x) {
				return fmt.Errorf("field %q: the value is not UTF-8", e.Field)
			}
			op, v, constant, isConst = storedTextCompare(op, x)
		}
	}
	if isConst {
		w.b.WriteString(w.boolSQL(constant))
		return nil
	}
	p, err := w.param(kind, v)
	if err != nil {
		return fmt.Errorf("field %q: %w", e.Field, err)
	}
	switch op {
	case query.Eq:
		w.Printf("(%[1]s IS NOT NULL AND %[1]s = %[2]s)", c, p)
	case query.Ne:
		w.Printf("(%[1]s IS NULL OR %[1]s <> %[2]s)", c, p)
	case query.Lt:
		w.Printf("%s < %s", c, p)
	case query.Le:
		w.Printf("%s <= %s", c, p)
	case query.Gt:
		w.Printf("%s > %s", c, p)
	case query.Ge:
		w.Printf("%s >= %s", c, p)
	default:
		return fmt.Errorf("unknown operator %d", int(op))
	}
	return nil
}

// storedTimeCompare adapts a comparison with t to stored times, which have microseconds.
// When t has a finer part no stored time equals it, and the orderings compare with t
// truncated instead; isConst reports a comparison whose answer is constant.
func storedTimeCompare(op query.Op, t time.Time) (_ query.Op, _ time.Time, constant, isConst bool) {
	tr := t.Truncate(time.Microsecond)
	if tr.Equal(t) {
		return op, t, false, false
	}
	return truncatedCompare(op, t, tr)
}

// storedTextCompare adapts a comparison with s to stored text that never holds U+0000. When
// s has one, no stored text equals it, and a stored text orders before s exactly when it is
// at most s's part before the U+0000 (which is a proper prefix of s, and which every longer
// stored text with that prefix follows, its next byte being above 0).
func storedTextCompare(op query.Op, s string) (_ query.Op, _ string, constant, isConst bool) {
	i := strings.IndexByte(s, 0)
	if i < 0 {
		return op, s, false, false
	}
	return truncatedCompare(op, s, s[:i])
}

// truncatedCompare compares with v, which no stored value equals, through tr, the greatest
// storable value below v, above which every stored value is above v.
func truncatedCompare[T any](op query.Op, v, tr T) (_ query.Op, _ T, constant, isConst bool) {
	switch op {
	case query.Eq:
		return op, v, false, true // also false for a null field, as in CEL
	case query.Ne:
		return op, v, true, true // also true for a null field, as in CEL
	case query.Lt, query.Le:
		return query.Le, tr, false, false
	default: // Gt, Ge
		return query.Gt, tr, false, false
	}
}

// unmatchable reports whether v, a value for a field of the given kind, equals no stored
// value: a time finer than microseconds, or (where text cannot hold it) text with U+0000.
func (w *Writer) unmatchable(kind query.Kind, v any) bool {
	switch x := v.(type) {
	case time.Time:
		return kind == query.KindTimestamp && !x.Truncate(time.Microsecond).Equal(x)
	case string:
		return kind == query.KindString && w.d.TextWithoutNUL && strings.IndexByte(x, 0) >= 0
	}
	return false
}

func (w *Writer) in(e query.In) error {
	c, kind, err := w.column(e.Field)
	if err != nil {
		return err
	}
	if kind == query.KindJSON {
		return fmt.Errorf("field %q holds json and cannot be compared", e.Field)
	}
	var ps []string
	for _, v := range e.Values {
		if w.unmatchable(kind, v) {
			continue
		}
		p, err := w.param(kind, v)
		if err != nil {
			return fmt.Errorf("field %q: %w", e.Field, err)
		}
		ps = append(ps, p)
		if err := w.checkSize(); err != nil {
			return err
		}
	}
	if len(ps) == 0 {
		w.b.WriteString(w.d.False) // false also for a null field, as in CEL
		return nil
	}
	// IS NOT NULL makes a null field false rather than NULL: CEL says null in [...] is false.
	w.Printf("(%[1]s IS NOT NULL AND %[1]s IN (%[2]s))", c, strings.Join(ps, ", "))
	return nil
}

func (w *Writer) match(e query.Match) error {
	c, kind, err := w.column(e.Field)
	if err != nil {
		return err
	}
	if kind != query.KindString {
		return fmt.Errorf("field %q is not a string", e.Field)
	}
	if w.d.TextWithoutNUL && !utf8.ValidString(e.Text) {
		return fmt.Errorf("field %q: the text is not UTF-8", e.Field)
	}
	switch {
	case e.Text == "":
		// Every string starts with, ends with and contains "", but null fails in CEL.
		w.Printf("(%s IS NOT NULL OR %s)", c, w.d.Null)
		return nil
	case w.d.TextWithoutNUL && strings.IndexByte(e.Text, 0) >= 0:
		// No stored string has U+0000 in it, but null fails in CEL.
		w.Printf("(%s IS NULL AND %s)", c, w.d.Null)
		return nil
	}
	switch e.Kind {
	case query.MatchPrefix:
		if next, ok := w.d.NextPrefix(e.Text); ok {
			w.Printf("(%[1]s >= %[2]s AND %[1]s < %[3]s)", c, w.Arg(e.Text), w.Arg(next))
		} else {
			// Only texts with the prefix sort at or after a run of the greatest character.
			w.Printf("%s >= %s", c, w.Arg(e.Text))
		}
		return nil
	case query.MatchSuffix, query.MatchContains:
		return w.d.Match(w, c, e)
	}
	return fmt.Errorf("unknown match kind %d", int(e.Kind))
}

// unmatchableElement reports whether v equals no element that an array of the kind can
// hold: what no column holds either, and infinities, which JSON cannot hold.
func (w *Writer) unmatchableElement(kind query.Kind, v any) bool {
	f, ok := v.(float64)
	return w.unmatchable(kind, v) || kind == query.KindNumber && ok && math.IsInf(f, 0)
}

func (w *Writer) inArray(e query.InArray) error {
	c, kind, err := w.array(e.Field, false)
	if err != nil {
		return err
	}
	if e.Value != nil {
		if s, ok := e.Value.(string); ok && w.d.TextWithoutNUL && !utf8.ValidString(s) {
			return fmt.Errorf("field %q: the value is not UTF-8", e.Field)
		}
		if w.unmatchableElement(kind, e.Value) {
			w.Printf("(%s IS NULL AND %s)", c, w.d.Null) // false, or NULL for a null array
			return nil
		}
		if _, err := w.d.Encode(kind, e.Value); err != nil { // not a value of the elements' kind
			return fmt.Errorf("field %q: %w", e.Field, err)
		}
	}
	if w.d.InArray != nil {
		if err := w.d.InArray(w, c, kind, e.Value); err != nil {
			return fmt.Errorf("field %q: %w", e.Field, err)
		}
		return nil
	}
	alias := w.alias()
	el := w.d.Element(alias, kind)
	w.Printf("CASE WHEN %s IS NULL THEN %s ELSE EXISTS (SELECT 1 FROM %s WHERE ", c, w.d.Null, w.d.Elements(c, alias))
	if e.Value == nil {
		w.Printf("%s IS NULL", el)
	} else {
		p, err := w.param(kind, e.Value)
		if err != nil {
			return fmt.Errorf("field %q: %w", e.Field, err)
		}
		w.Printf("%s = %s", el, p)
	}
	w.b.WriteString(") END")
	return nil
}

func (w *Writer) size(e query.Size) error {
	c, _, err := w.array(e.Field, true)
	if err != nil {
		return err
	}
	op, ok := sqlOps[e.Op]
	if !ok {
		return fmt.Errorf("unknown operator %d", int(e.Op))
	}
	// NULL for a null array, as CEL's size() fails on null.
	w.Printf("%s %s %s", w.d.ArrayLength(c), op, w.Arg(e.Value))
	return nil
}

var sqlOps = map[query.Op]string{query.Eq: "=", query.Ne: "<>", query.Lt: "<", query.Le: "<=", query.Gt: ">", query.Ge: ">="}

// exists renders CEL's disjunction over the elements: TRUE when the condition is TRUE for an
// element; otherwise NULL when it is NULL for one, which can only be a null element (every
// test of a value is TRUE or FALSE) and only when the condition fails on null; else FALSE.
func (w *Writer) exists(e query.Exists) error {
	c, kind, err := w.array(e.Field, false)
	if err != nil {
		return err
	}
	if e.Var == "" || e.Cond == nil {
		return errors.New("exists without a variable or a condition")
	}
	alias := w.alias()
	el := w.d.Element(alias, kind)
	from := w.d.Elements(c, alias)
	w.Printf("CASE WHEN %s IS NULL THEN %s WHEN EXISTS (SELECT 1 FROM %s WHERE ", c, w.d.Null, from)
	w.elem = &element{name: e.Var, sql: el, kind: kind}
	err = w.expr(e.Cond)
	w.elem = nil
	if err != nil {
		return err
	}
	w.Printf(") THEN %s ", w.d.True)
	if failsOnNull(e.Cond) {
		w.Printf("WHEN EXISTS (SELECT 1 FROM %s WHERE %s IS NULL) THEN %s ", from, el, w.d.Null)
	}
	w.Printf("ELSE %s END", w.d.False)
	return nil
}

// alias returns a new name for an element subquery.
func (w *Writer) alias() string {
	w.aliases++
	return fmt.Sprintf("plinth_e%d", w.aliases)
}

// failsOnNull reports whether cond, a condition on an element, is error (NULL) for a null
// element, with the meaning query.Expr documents.
func failsOnNull(cond query.Expr) bool {
	return onNull(cond) == unknown
}

// truth is a value of three-valued logic.
type truth int8

const (
	no truth = iota
	yes
	unknown
)

// onNull evaluates e for a null element.
func onNull(e query.Expr) truth {
	switch e := e.(type) {
	case query.And:
		return onNullAll(e.Terms, no)
	case query.Or:
		return onNullAll(e.Terms, yes)
	case query.Not:
		switch onNull(e.X) {
		case yes:
			return no
		case no:
			return yes
		}
		return unknown
	case query.Const:
		if e {
			return yes
		}
		return no
	case query.Compare:
		switch e.Op {
		case query.Eq:
			return no
		case query.Ne:
			return yes
		}
		return unknown
	case query.In:
		return no
	case query.IsNull:
		return yes
	}
	return unknown // Match and Truth fail on null
}

// onNullAll evaluates a conjunction (decided by a term that is no) or a disjunction (decided
// by one that is yes) of terms for a null element.
func onNullAll(terms []query.Expr, decides truth) truth {
	out := yes // the value of no terms: true for a conjunction, false for a disjunction
	if decides == yes {
		out = no
	}
	for _, t := range terms {
		switch onNull(t) {
		case decides:
			return decides
		case unknown:
			out = unknown
		}
	}
	return out
}
