package sqlite

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/plinth-dev/plinth/internal/query"
)

// Bounds of a rendered WHERE clause. Filters are already bounded in size by query.Compile;
// these catch long value lists (field in [...]) and predicates built by code.
const (
	maxWhereBytes  = 64 << 10
	maxWhereParams = 1000
)

// errWhereTooLarge is returned (wrapped) when a predicate exceeds the bounds above; it is the
// caller's filter that is too large, not a fault of the database.
var errWhereTooLarge = errors.New("filter too large")

// renderWhere renders e as an SQLite boolean expression for a WHERE clause, with every value
// as a ? parameter in args. fields gives each field's kind, which decides how values are
// encoded (see encodeValue); col returns the quoted column of a field.
//
// The SQL has the meaning query.Expr documents, with CEL's error as SQL NULL: three-valued
// logic then combines terms exactly as CEL does, and WHERE keeps only rows that are TRUE.
// Each test is written so that it is NULL exactly when CEL fails and never NULL otherwise:
// equality is guarded with IS NULL because CEL says null == "a" is false and null != "a" is
// true; orderings are left bare because null < 5 fails in CEL and is NULL in SQL.
//
// String tests are byte-wise and case-sensitive, as in CEL. LIKE is avoided: it ignores ASCII
// case in SQLite, and PRAGMA case_sensitive_like is deprecated. startsWith is the range
// prefix <= c < next(prefix) under the BINARY collation (memcmp order), which is exact and
// can use an index; endsWith and contains compare the column's bytes (CAST AS BLOB) with
// substr and instr, which nothing would index anyway. Columns must keep the default BINARY
// collation.
//
// Timestamps are stored with microseconds (TimeLayout). A value with a finer part cannot
// equal a stored time, and t < v is t <= v truncated, so such comparisons are adjusted
// rather than compared with a rounded value.
//
// renderWhere fails for a field not in fields, a value that does not fit the field's kind,
// a comparison of a json field, and, wrapping errWhereTooLarge, SQL longer than 64 KiB or
// with more than 1000 parameters.
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
		return w.join(e.Terms, " AND ", "1=1")
	case query.Or:
		return w.join(e.Terms, " OR ", "1=0")
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
		w.b.WriteString(c + " = 1")
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
		return "1=1"
	}
	return "1=0"
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

// param encodes v for a field of the given kind and appends it to the arguments.
func (w *whereWriter) param(kind query.Kind, v any) error {
	if v == nil {
		return errors.New("missing comparison value")
	}
	x, err := encodeValue(kind, v)
	if err != nil {
		return err
	}
	w.args = append(w.args, x)
	return nil
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
	if t, ok := v.(time.Time); ok && kind == query.KindTimestamp {
		var constant, isConst bool
		op, v, constant, isConst = storedTimeCompare(op, t)
		if isConst {
			w.b.WriteString(constSQL(constant))
			return nil
		}
	}
	var format string
	switch op {
	case query.Eq:
		format = "(%[1]s IS NOT NULL AND %[1]s = ?)"
	case query.Ne:
		format = "(%[1]s IS NULL OR %[1]s <> ?)"
	case query.Lt:
		format = "%s < ?"
	case query.Le:
		format = "%s <= ?"
	case query.Gt:
		format = "%s > ?"
	case query.Ge:
		format = "%s >= ?"
	default:
		return fmt.Errorf("unknown operator %d", int(op))
	}
	if err := w.param(kind, v); err != nil {
		return fmt.Errorf("field %q: %w", e.Field, err)
	}
	fmt.Fprintf(&w.b, format, c)
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
	switch op {
	case query.Eq:
		return op, t, false, true // also false for a null field, as in CEL
	case query.Ne:
		return op, t, true, true // also true for a null field, as in CEL
	case query.Lt, query.Le:
		return query.Le, tr, false, false
	default: // Gt, Ge
		return query.Gt, tr, false, false
	}
}

func (w *whereWriter) in(e query.In) error {
	c, kind, err := w.column(e.Field)
	if err != nil {
		return err
	}
	if kind == query.KindJSON {
		return fmt.Errorf("field %q holds json and cannot be compared", e.Field)
	}
	n := 0
	for _, v := range e.Values {
		if t, ok := v.(time.Time); ok && kind == query.KindTimestamp && !t.Truncate(time.Microsecond).Equal(t) {
			continue // equals no stored time
		}
		if err := w.param(kind, v); err != nil {
			return fmt.Errorf("field %q: %w", e.Field, err)
		}
		n++
		if err := w.checkSize(); err != nil {
			return err
		}
	}
	if n == 0 {
		w.b.WriteString(constSQL(false)) // false also for a null field, as in CEL
		return nil
	}
	// IS NOT NULL makes a null field false rather than NULL: CEL says null in [...] is false.
	fmt.Fprintf(&w.b, "(%[1]s IS NOT NULL AND %[1]s IN (?%[2]s))", c, strings.Repeat(", ?", n-1))
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
	if e.Text == "" {
		// Every string starts with, ends with and contains "", but null fails in CEL.
		fmt.Fprintf(&w.b, "(%s IS NOT NULL OR NULL)", c)
		return nil
	}
	switch e.Kind {
	case query.MatchPrefix:
		if next, ok := nextPrefix(e.Text); ok {
			fmt.Fprintf(&w.b, "(%[1]s >= ? AND %[1]s < ?)", c)
			w.args = append(w.args, e.Text, next)
		} else {
			// Only strings with the prefix sort at or after a run of 0xFF bytes.
			fmt.Fprintf(&w.b, "%s >= ?", c)
			w.args = append(w.args, e.Text)
		}
	case query.MatchSuffix:
		// substr of an empty blob is NULL rather than empty, hence the first test, which
		// is false for "" and NULL for null.
		fmt.Fprintf(&w.b, "(%[1]s <> '' AND substr(CAST(%[1]s AS BLOB), ?) = ?)", c)
		w.args = append(w.args, -int64(len(e.Text)), []byte(e.Text))
	case query.MatchContains:
		fmt.Fprintf(&w.b, "instr(CAST(%s AS BLOB), ?) > 0", c)
		w.args = append(w.args, []byte(e.Text))
	default:
		return fmt.Errorf("unknown match kind %d", int(e.Kind))
	}
	return nil
}

// nextPrefix returns the smallest string greater than every string that starts with p, in
// byte order: p without its trailing 0xFF bytes, with its last byte incremented. It is a
// byte string, not necessarily UTF-8, and is bound as TEXT so that SQLite compares bytes.
func nextPrefix(p string) (string, bool) {
	b := []byte(p)
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] < 0xff {
			b[i]++
			return string(b[:i+1]), true
		}
	}
	return "", false
}
