package postgres

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/plinth-dev/plinth/internal/query"
	"github.com/plinth-dev/plinth/internal/store/sqlwhere"
)

// The meaning of renderWhere is checked against CEL by the shared suite (storetest); these
// pin the SQL it writes and its bounds.

func TestRenderWhereSQL(t *testing.T) {
	fields := map[string]query.Field{
		"s": {Name: "s", Kind: query.KindString},
		"i": {Name: "i", Kind: query.KindInteger},
		"b": {Name: "b", Kind: query.KindBool},
		"t": {Name: "t", Kind: query.KindTimestamp},
		"j": {Name: "j", Kind: query.KindJSON},
	}
	ts := time.Date(2024, 1, 2, 3, 4, 5, 600700800, time.UTC)
	tests := []struct {
		expr query.Expr
		sql  string
		args []any
	}{
		{query.Compare{Field: "s", Op: query.Eq, Value: "x"}, `("s" IS NOT NULL AND "s" = $1)`, []any{"x"}},
		{query.Compare{Field: "s", Op: query.Ne, Value: "x"}, `("s" IS NULL OR "s" <> $1)`, []any{"x"}},
		{query.Compare{Field: "i", Op: query.Ge, Value: int64(5)}, `"i" >= $1`, []any{int64(5)}},
		{query.Compare{Field: "b", Op: query.Eq, Value: true}, `("b" IS NOT NULL AND "b" = $1)`, []any{true}},
		{query.Compare{Field: "t", Op: query.Lt, Value: ts}, `"t" <= $1`, []any{ts.Truncate(time.Microsecond)}},
		{query.Compare{Field: "t", Op: query.Eq, Value: ts}, `FALSE`, nil},
		{query.Compare{Field: "s", Op: query.Eq, Value: "a\x00"}, `FALSE`, nil},
		{query.Compare{Field: "s", Op: query.Ne, Value: "a\x00"}, `TRUE`, nil},
		{query.Compare{Field: "s", Op: query.Lt, Value: "ab\x00c"}, `"s" <= $1`, []any{"ab"}},
		{query.Compare{Field: "s", Op: query.Ge, Value: "ab\x00c"}, `"s" > $1`, []any{"ab"}},
		{query.In{Field: "i", Values: []any{int64(1), int64(2)}}, `("i" IS NOT NULL AND "i" IN ($1, $2))`, []any{int64(1), int64(2)}},
		{query.In{Field: "s", Values: []any{"a\x00", "b"}}, `("s" IS NOT NULL AND "s" IN ($1))`, []any{"b"}},
		{query.In{Field: "i"}, `FALSE`, nil},
		{query.IsNull{Field: "j"}, `"j" IS NULL`, nil},
		{query.Truth{Field: "b"}, `"b"`, nil},
		{query.Not{X: query.Truth{Field: "b"}}, `(NOT "b")`, nil},
		{query.And{}, `TRUE`, nil},
		{query.Or{}, `FALSE`, nil},
		{query.And{Terms: []query.Expr{query.IsNull{Field: "s"}, query.Compare{Field: "i", Op: query.Lt, Value: int64(1)}}},
			`("s" IS NULL AND "i" < $1)`, []any{int64(1)}},
		{query.Match{Field: "s", Kind: query.MatchPrefix, Text: "a%"}, `("s" >= $1 AND "s" < $2)`, []any{"a%", "a&"}},
		{query.Match{Field: "s", Kind: query.MatchPrefix, Text: "a\u007f"}, `("s" >= $1 AND "s" < $2)`, []any{"a\u007f", "a\u0080"}},
		{query.Match{Field: "s", Kind: query.MatchPrefix, Text: "a\U0010FFFF"}, `("s" >= $1 AND "s" < $2)`, []any{"a\U0010FFFF", "b"}},
		{query.Match{Field: "s", Kind: query.MatchPrefix, Text: "\uD7FF"}, `("s" >= $1 AND "s" < $2)`, []any{"\uD7FF", "\uE000"}},
		{query.Match{Field: "s", Kind: query.MatchPrefix, Text: "\U0010FFFF"}, `"s" >= $1`, []any{"\U0010FFFF"}},
		{query.Match{Field: "s", Kind: query.MatchSuffix, Text: "é"}, `right("s", $1::integer) = $2::text`, []any{int64(1), "é"}},
		{query.Match{Field: "s", Kind: query.MatchContains, Text: "_"}, `strpos("s", $1::text) > 0`, []any{"_"}},
		{query.Match{Field: "s", Kind: query.MatchContains}, `("s" IS NOT NULL OR NULL::boolean)`, nil},
		{query.Match{Field: "s", Kind: query.MatchSuffix, Text: "\x00"}, `("s" IS NULL AND NULL::boolean)`, nil},
	}
	for _, tt := range tests {
		sql, args, err := renderWhere(tt.expr, fields, quote)
		if err != nil {
			t.Errorf("%s: %v", tt.expr, err)
			continue
		}
		if sql != tt.sql || fmt.Sprint(args) != fmt.Sprint(tt.args) {
			t.Errorf("%s:\n got  %s %v\n want %s %v", tt.expr, sql, args, tt.sql, tt.args)
		}
	}

	for _, bad := range []query.Expr{
		query.Compare{Field: "nope", Op: query.Eq, Value: "x"},
		query.Compare{Field: "j", Op: query.Eq, Value: "x"},
		query.Compare{Field: "i", Op: query.Eq, Value: "x"},
		query.Compare{Field: "i", Op: query.Eq},
		query.Compare{Field: "s", Op: query.Lt, Value: "\xff"},
		query.Match{Field: "i", Kind: query.MatchPrefix, Text: "1"},
		query.Match{Field: "s", Kind: query.MatchPrefix, Text: "\xff"},
		query.Truth{Field: "s"},
		nil,
	} {
		if sql, _, err := renderWhere(bad, fields, quote); err == nil {
			t.Errorf("%v rendered as %s, want an error", bad, sql)
		}
	}

	// Bounds: parameters and length, as in the SQLite driver.
	many := make([]any, 1001)
	for i := range many {
		many[i] = int64(i)
	}
	if _, _, err := renderWhere(query.In{Field: "i", Values: many}, fields, quote); !errors.Is(err, errWhereTooLarge) {
		t.Errorf("1001 parameters: %v, want errWhereTooLarge", err)
	}
	if _, args, err := renderWhere(query.In{Field: "i", Values: many[:1000]}, fields, quote); err != nil || len(args) != 1000 {
		t.Errorf("1000 parameters: %d, %v", len(args), err)
	}
	var terms []query.Expr
	for range 5000 {
		terms = append(terms, query.IsNull{Field: "s"})
	}
	if _, _, err := renderWhere(query.Or{Terms: terms}, fields, quote); !errors.Is(err, errWhereTooLarge) {
		t.Errorf("5000 terms of SQL: %v, want errWhereTooLarge", err)
	}
}

func TestJSONHasNUL(t *testing.T) {
	for in, want := range map[string]bool{
		`"a\u0000b"`:     true,
		`{"\u0000":1}`:   true,
		`"\\u0000"`:      false,
		`"\\\u0000"`:     true,
		`"\u00001"`:      true,
		`"\u0001"`:       false,
		`[1,"\\",0]`:     false,
		`"u0000\\"`:      false,
		`"\"\u0000\""`:   true,
		`"\\\\u0000"`:    false,
		`{"a":"\u000"}`:  false,
		`"\u0000`[:5]:    false,
		`"trailing \\"`:  false,
		`"\u2028\u0000"`: true,
	} {
		if got := jsonHasNUL([]byte(in)); got != want {
			t.Errorf("jsonHasNUL(%s) = %v, want %v", in, got, want)
		}
	}
}

// renderWhere renders e as a PostgreSQL condition with $n parameters, numbered from 1, as List does.
func renderWhere(e query.Expr, fields map[string]query.Field, col func(field string) string) (string, []any, error) {
	return sqlwhere.Render(&dialect, e, fields, col)
}

var errWhereTooLarge = sqlwhere.ErrTooLarge
