package sqlite

import (
	"github.com/plinth-dev/plinth/internal/query"
	"github.com/plinth-dev/plinth/internal/store/sqlwhere"
)

// quote quotes an identifier.
var quote = sqlwhere.Quote

// dialect is SQLite's share of rendering predicates (see internal/store/sqlwhere).
//
// String tests are byte-wise and case-sensitive, as in CEL. LIKE is avoided: it ignores ASCII
// case in SQLite, and PRAGMA case_sensitive_like is deprecated. startsWith is the range
// prefix <= c < next(prefix) under the BINARY collation (memcmp order), which is exact and
// can use an index; endsWith and contains compare the column's bytes (CAST AS BLOB) with
// substr and instr, which nothing would index anyway. Columns must keep the default BINARY
// collation.
//
// Arrays are JSON text, read with json_each and json_array_length; no index serves them.
var dialect = sqlwhere.Dialect{
	Placeholder: func(int) string { return "?" },
	True:        "1=1",
	False:       "1=0",
	Null:        "NULL",
	Truth:       func(c string) string { return c + " = 1" },
	Encode:      encodeValue,
	NextPrefix:  nextPrefix,
	Match:       match,
	Elements:    func(c, alias string) string { return "json_each(" + c + ") AS " + alias },
	Element:     element,
	ArrayLength: func(c string) string { return "json_array_length(" + c + ")" },
	Order:       orderSQL,
	Limit:       func(n int) any { return n },
}

// element is an element of json_each as the column of its kind holds it. json_each gives
// text for strings, integers for integers and for true and false (1 and 0), and NULL for
// null, as the columns hold them. Numbers need REAL: a whole double is written without a
// fraction (7, or 713385015005179800 for 7.133850150051798e17), which json_each reads as an
// integer that need not equal the double. Timestamps are RFC 3339 in UTC with 0 to 6
// fractional digits, as the engine writes them; they are padded to TimeLayout's fixed width,
// whose text order is time order.
func element(alias string, kind query.Kind) string {
	v := alias + ".value"
	switch kind {
	case query.KindNumber:
		return "CAST(" + v + " AS REAL)"
	case query.KindTimestamp:
		return "(substr(" + v + ", 1, 19) || '.' || substr(rtrim(substr(" + v + ", 21), 'Z') || '000000', 1, 6) || 'Z')"
	}
	return v
}

func orderSQL(s query.Sort) string {
	if s.Desc {
		return quote(s.Field) + " DESC NULLS LAST"
	}
	return quote(s.Field) + " ASC NULLS FIRST"
}

func match(w *sqlwhere.Writer, c string, e query.Match) error {
	switch e.Kind {
	case query.MatchSuffix:
		// substr of an empty blob is NULL rather than empty, hence the first test, which
		// is false for "" and NULL for null.
		w.Printf("(%[1]s <> '' AND substr(CAST(%[1]s AS BLOB), %[2]s) = %[3]s)", c, w.Arg(-int64(len(e.Text))), w.Arg([]byte(e.Text)))
	default: // contains
		w.Printf("instr(CAST(%s AS BLOB), %s) > 0", c, w.Arg([]byte(e.Text)))
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
