package postgres

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/plinth-dev/plinth/internal/query"
)

// Bounds of a rendered WHERE clause, the SQLite driver's: filters are already bounded in size
// by query.Compile; these catch long value lists (field in [...]) and predicates built by code.
const (
	maxWhereBytes  = 64 << 10
	maxWhereParams = 1000
)

// errWhereTooLarge is returned (wrapped) when a predicate exceeds the bounds above; it is the
// caller's filter that is too large, not a fault of the database.
var errWhereTooLarge = errors.New("filter too large")

// renderWhere renders e as a PostgreSQL boolean expression for a WHERE clause, with every
// value as a $n parameter in args, numbered from 1. fields gives each field's kind, which
// decides how values are encoded (see encodeValue); col returns the quoted column of a field.
//
// It is the SQLite driver's renderer in PostgreSQL's dialect, and has the same meaning: the
// one query.Expr documents, with CEL's error as SQL NULL, so that three-valued logic combines
// terms exactly as CEL does and WHERE keeps only rows that are TRUE. Each test is NULL exactly
// when CEL fails and never NULL otherwise: equality is guarded with IS NULL because CEL says
// null == "a" is false and null != "a" is true; orderings are left bare because null < 5
// fails in CEL and is NULL in SQL.
//
// String tests are byte-wise and case-sensitive, as in CEL, and avoid LIKE, whose _ and %
// would need escaping. TEXT columns have the "C" collation, which compares bytes; for UTF-8
// that is code point order, the order CEL compares strings in. startsWith is the range
// prefix <= c < next(prefix), which is exact and can use an index; next is computed on code
// points so that it is valid UTF-8, as PostgreSQL requires of text. endsWith compares the
// column's last characters (right), contains uses strpos.
//
// No stored text holds U+0000 (PostgreSQL refuses it), so a value with one equals nothing,
// and orders as its part before the U+0000 does, with the comparison adjusted as for
// timestamps below. The SQLite driver, which can store U+0000, selects the same rows from the
// same data.
//
// Timestamps are stored with microseconds. A value with a finer part cannot equal a stored
// time, and t < v is t <= v truncated, so such comparisons are adjusted rather than compared
// with a rounded value.
//
// renderWhere fails for a field not in fields, a value that does not fit the field's kind, a
// comparison of a json field, a string value that is not UTF-8, and, wrapping
// errWhereTooLarge, SQL longer than 64 KiB or with more than 1000 parameters.
func renderWhere(e query.Expr, fields map[string]query.Field, col func(field string) string) (string, []any, error) {
	w := &whereWriter{fields: fields, col: col}
	err := w.expr(e)
	if err == nil {
		err = w.checkSize()
	}
	if err != nil {
		return "", nil, fmt.Errorf("render where: %w", err)
	}
	return w.b.String(), w.args, nil
}

// whereWriter accumulates the SQL and the parameters of one predicate.
type whereWriter struct {
	b      strings.Builder
	args   []any
	fields map[string]query.Field
	col    func(string) string
}

func (w *whereWriter) expr(e query.Expr) error {
	if err := w.checkSize(); err != nil {
		return err
	}
	switch e := e.(type) {
	case query.And:
		return w.join(e.Terms, " AND ", "TRUE")
	case query.Or:
		return w.join(e.Terms, " OR ", "FALSE")
	case query.Not:
		w.b.WriteString("(NOT ")
		if err := w.expr(e.X); err != nil {
			return err
		}
		w.b.WriteString(")")
	case query.Const:
		w.b.WriteString(constSQL(bool(e)))
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
		// NULL for a null field, as CEL fails on a null condition.
		w.b.WriteString(c)
	case nil:
		return errors.New("missing expression")
	default:
		return fmt.Errorf("unsupported expression %T", e)
	}
	return nil
}

// checkSize stops rendering as soon as the bounds are exceeded, rather than building a
// megabyte of SQL to reject it.
func (w *whereWriter) checkSize() error {
	if w.b.Len() > maxWhereBytes || len(w.args) > maxWhereParams {
		return fmt.Errorf("%w: more than %d bytes of SQL or %d parameters", errWhereTooLarge, maxWhereBytes, maxWhereParams)
	}
	return nil
}

func constSQL(b bool) string {
	if b {
		return "TRUE"
	}
	return "FALSE"
}

func (w *whereWriter) join(terms []query.Expr, sep, empty string) error {
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

func (w *whereWriter) column(field string) (string, query.Kind, error) {
	f, ok := w.fields[field]
	if !ok {
		return "", 0, fmt.Errorf("unknown field %q", field)
	}
	return w.col(field), f.Kind, nil
}

// param encodes v for a field of the given kind, appends it to the arguments and returns its
// placeholder.
func (w *whereWriter) param(kind query.Kind, v any) (string, error) {
	if v == nil {
		return "", errors.New("missing comparison value")
	}
	x, err := encodeValue(kind, v)
	if err != nil {
		return "", err
	}
	return w.arg(x), nil
}

// arg appends a parameter that needs no encoding and returns its placeholder.
func (w *whereWriter) arg(x any) string {
	w.args = append(w.args, x)
	return "$" + strconv.Itoa(len(w.args))
}

func (w *whereWriter) compare(e query.Compare) error {
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
		if kind == query.KindString {
			if !utf8.ValidString(x) {
				return fmt.Errorf("field %q: the value is not UTF-8", e.Field)
			}
			op, v, constant, isConst = storedTextCompare(op, x)
		}
	}
	if isConst {
		w.b.WriteString(constSQL(constant))
		return nil
	}
	p, err := w.param(kind, v)
	if err != nil {
		return fmt.Errorf("field %q: %w", e.Field, err)
	}
	switch op {
	case query.Eq:
		fmt.Fprintf(&w.b, "(%[1]s IS NOT NULL AND %[1]s = %[2]s)", c, p)
	case query.Ne:
		fmt.Fprintf(&w.b, "(%[1]s IS NULL OR %[1]s <> %[2]s)", c, p)
	case query.Lt:
		fmt.Fprintf(&w.b, "%s < %s", c, p)
	case query.Le:
		fmt.Fprintf(&w.b, "%s <= %s", c, p)
	case query.Gt:
		fmt.Fprintf(&w.b, "%s > %s", c, p)
	case query.Ge:
		fmt.Fprintf(&w.b, "%s >= %s", c, p)
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

// storedTextCompare adapts a comparison with s to stored text, which never holds U+0000. When
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
// value: a time finer than microseconds, or text with U+0000.
func unmatchable(kind query.Kind, v any) bool {
	switch x := v.(type) {
	case time.Time:
		return kind == query.KindTimestamp && !x.Truncate(time.Microsecond).Equal(x)
	case string:
		return kind == query.KindString && strings.IndexByte(x, 0) >= 0
	}
	return false
}

func (w *whereWriter) in(e query.In) error {
	c, kind, err := w.column(e.Field)
	if err != nil {
		return err
	}
	if kind == query.KindJSON {
		return fmt.Errorf("field %q holds json and cannot be compared", e.Field)
	}
	var ps []string
	for _, v := range e.Values {
		if unmatchable(kind, v) {
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
		w.b.WriteString(constSQL(false)) // false also for a null field, as in CEL
		return nil
	}
	// IS NOT NULL makes a null field false rather than NULL: CEL says null in [...] is false.
	fmt.Fprintf(&w.b, "(%[1]s IS NOT NULL AND %[1]s IN (%[2]s))", c, strings.Join(ps, ", "))
	return nil
}

func (w *whereWriter) match(e query.Match) error {
	c, kind, err := w.column(e.Field)
	if err != nil {
		return err
	}
	if kind != query.KindString {
		return fmt.Errorf("field %q is not a string", e.Field)
	}
	if !utf8.ValidString(e.Text) {
		return fmt.Errorf("field %q: the text is not UTF-8", e.Field)
	}
	switch {
	case e.Text == "":
		// Every string starts with, ends with and contains "", but null fails in CEL.
		fmt.Fprintf(&w.b, "(%s IS NOT NULL OR NULL::boolean)", c)
		return nil
	case strings.IndexByte(e.Text, 0) >= 0:
		// No stored string has U+0000 in it, but null fails in CEL.
		fmt.Fprintf(&w.b, "(%s IS NULL AND NULL::boolean)", c)
		return nil
	}
	switch e.Kind {
	case query.MatchPrefix:
		if next, ok := nextPrefix(e.Text); ok {
			fmt.Fprintf(&w.b, "(%[1]s >= %[2]s AND %[1]s < %[3]s)", c, w.arg(e.Text), w.arg(next))
		} else {
			// Only strings with the prefix sort at or after a run of U+10FFFF.
			fmt.Fprintf(&w.b, "%s >= %s", c, w.arg(e.Text))
		}
	case query.MatchSuffix:
		fmt.Fprintf(&w.b, "right(%s, %s::integer) = %s::text", c, w.arg(int64(utf8.RuneCountInString(e.Text))), w.arg(e.Text))
	case query.MatchContains:
		fmt.Fprintf(&w.b, "strpos(%s, %s::text) > 0", c, w.arg(e.Text))
	default:
		return fmt.Errorf("unknown match kind %d", int(e.Kind))
	}
	return nil
}

// nextPrefix returns the smallest string greater than every string that starts with p, in
// code point order (the byte order of UTF-8): p without its trailing U+10FFFF, with its last
// code point incremented, skipping the surrogates, which UTF-8 cannot hold.
func nextPrefix(p string) (string, bool) {
	rs := []rune(p)
	for i := len(rs) - 1; i >= 0; i-- {
		if rs[i] < utf8.MaxRune {
			rs[i]++
			if rs[i] == 0xD800 {
				rs[i] = 0xE000
			}
			return string(rs[:i+1]), true
		}
	}
	return "", false
}
