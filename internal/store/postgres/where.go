package postgres

import (
	"strconv"
	"unicode/utf8"

	"github.com/plinth-dev/plinth/internal/query"
	"github.com/plinth-dev/plinth/internal/store/sqlwhere"
)

// quote quotes an identifier.
var quote = sqlwhere.Quote

// dialect is PostgreSQL's share of rendering predicates (see internal/store/sqlwhere): the
// same meaning as the SQLite driver's, with $n parameters.
//
// String tests are byte-wise and case-sensitive, as in CEL, and avoid LIKE, whose _ and %
// would need escaping. TEXT columns have the "C" collation, which compares bytes; for UTF-8
// that is code point order, the order CEL compares strings in. startsWith is the range
// prefix <= c < next(prefix), which is exact and can use an index; next is computed on code
// points so that it is valid UTF-8, as PostgreSQL requires of text. endsWith compares the
// column's last characters (right), contains uses strpos. No stored text holds U+0000
// (PostgreSQL refuses it); the renderer accounts for that (TextWithoutNUL), so the SQLite
// driver, which can store U+0000, selects the same rows from the same data.
//
// Arrays are JSONB. value in array is containment (array @> '[value]'), which a GIN index on
// the column serves; exists() reads the elements as text (jsonb_array_elements_text) and
// casts them to the column type of their kind; size() is jsonb_array_length.
var dialect = sqlwhere.Dialect{
	Placeholder:    func(n int) string { return "$" + strconv.Itoa(n) },
	True:           "TRUE",
	False:          "FALSE",
	Null:           "NULL::boolean",
	Truth:          func(c string) string { return c },
	Encode:         encodeValue,
	TextWithoutNUL: true,
	NextPrefix:     nextPrefix,
	Match:          match,
	Elements:       func(c, alias string) string { return "jsonb_array_elements_text(" + c + ") AS " + alias + "(v)" },
	Element:        element,
	ArrayLength:    func(c string) string { return "jsonb_array_length(" + c + ")::bigint" },
	InArray:        inArray,
	Order:          orderSQL,
	Limit:          sqlLimit,
}

// element is an element read as text, in the column type of its kind. Text takes the "C"
// collation of the TEXT columns, since text from JSONB has the database's. Numbers are
// written as the shortest text that reads back as the same double, which ::double precision
// does (and NUMERIC does not do: it keeps the decimal).
func element(alias string, kind query.Kind) string {
	v := alias + ".v"
	switch kind {
	case query.KindString:
		return "(" + v + ` COLLATE "C")`
	case query.KindInteger:
		return "(" + v + ")::bigint"
	case query.KindNumber:
		return "(" + v + ")::double precision"
	case query.KindBool:
		return "(" + v + ")::boolean"
	}
	return "(" + v + ")::timestamptz"
}

// inArray is containment of the one-element array [v], NULL for a NULL column. JSONB compares
// strings by their bytes and numbers by their decimal value, which for numbers written as
// shortest text is the double's identity; timestamps compare as the text the engine writes
// (RFC 3339 in UTC), which is what encoding v gives.
func inArray(w *sqlwhere.Writer, c string, _ query.Kind, v any) error {
	arr, err := encodeValue(query.KindJSON, []any{v})
	if err != nil {
		return err
	}
	w.Printf("%s @> %s::jsonb", c, w.Arg(arr))
	return nil
}

func match(w *sqlwhere.Writer, c string, e query.Match) error {
	switch e.Kind {
	case query.MatchSuffix:
		w.Printf("right(%s, %s::integer) = %s::text", c, w.Arg(int64(utf8.RuneCountInString(e.Text))), w.Arg(e.Text))
	default: // contains
		w.Printf("strpos(%s, %s::text) > 0", c, w.Arg(e.Text))
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
