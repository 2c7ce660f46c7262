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
var dialect = sqlwhere.Dialect{
	Placeholder: func(int) string { return "?" },
	True:        "1=1",
	False:       "1=0",
	Null:        "NULL",
	Truth:       func(c string) string { return c + " = 1" },
	Encode:      encodeValue,
	Match:       match,
	Order:       orderSQL,
	Limit:       func(n int) any { return n },
}

func orderSQL(s query.Sort) string {
	if s.Desc {
		return quote(s.Field) + " DESC NULLS LAST"
	}
	return quote(s.Field) + " ASC NULLS FIRST"
}

func match(w *sqlwhere.Writer, c string, e query.Match) error {
	switch e.Kind {
	case query.MatchPrefix:
		if next, ok := nextPrefix(e.Text); ok {
			w.Printf("(%[1]s >= %[2]s AND %[1]s < %[3]s)", c, w.Arg(e.Text), w.Arg(next))
		} else {
			// Only strings with the prefix sort at or after a run of 0xFF bytes.
			w.Printf("%s >= %s", c, w.Arg(e.Text))
		}
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
