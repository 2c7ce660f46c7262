package storetest

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/plinth-dev/plinth/internal/fault"
	"github.com/plinth-dev/plinth/internal/query"
)

// tri is a predicate's value for one record: CEL's true, false or error.
type tri int8

const (
	triFalse tri = iota
	triTrue
	triError
)

// evalPredicate evaluates e over rec with the meaning query.Expr documents; it is the oracle
// for predicates that CEL filters cannot spell (values finer than storage, U+0000, empty
// And and Or).
func evalPredicate(e query.Expr, rec row) tri {
	switch e := e.(type) {
	case query.And:
		out := triTrue
		for _, term := range e.Terms {
			switch evalPredicate(term, rec) {
			case triFalse:
				return triFalse
			case triError:
				out = triError
			}
		}
		return out
	case query.Or:
		out := triFalse
		for _, term := range e.Terms {
			switch evalPredicate(term, rec) {
			case triTrue:
				return triTrue
			case triError:
				out = triError
			}
		}
		return out
	case query.Not:
		switch evalPredicate(e.X, rec) {
		case triTrue:
			return triFalse
		case triFalse:
			return triTrue
		}
		return triError
	case query.Const:
		return truth(bool(e))
	case query.Compare:
		v := rec[e.Field]
		if v == nil {
			switch e.Op {
			case query.Eq:
				return triFalse
			case query.Ne:
				return triTrue
			}
			return triError
		}
		c := compareValues(v, e.Value)
		switch e.Op {
		case query.Eq:
			return truth(c == 0)
		case query.Ne:
			return truth(c != 0)
		case query.Lt:
			return truth(c < 0)
		case query.Le:
			return truth(c <= 0)
		case query.Gt:
			return truth(c > 0)
		default:
			return truth(c >= 0)
		}
	case query.In:
		v := rec[e.Field]
		if v == nil {
			return triFalse
		}
		for _, x := range e.Values {
			if compareValues(v, x) == 0 {
				return triTrue
			}
		}
		return triFalse
	case query.IsNull:
		return truth(rec[e.Field] == nil)
	case query.Match:
		s, ok := rec[e.Field].(string)
		if !ok {
			return triError
		}
		switch e.Kind {
		case query.MatchPrefix:
			return truth(strings.HasPrefix(s, e.Text))
		case query.MatchSuffix:
			return truth(strings.HasSuffix(s, e.Text))
		default:
			return truth(strings.Contains(s, e.Text))
		}
	case query.Truth:
		b, ok := rec[e.Field].(bool)
		if !ok {
			return triError
		}
		return truth(b)
	case query.InArray:
		arr, ok := rec[e.Field].([]any)
		if !ok {
			return triError
		}
		for _, x := range arr {
			if x == nil && e.Value == nil || x != nil && e.Value != nil && compareValues(x, e.Value) == 0 {
				return triTrue
			}
		}
		return triFalse
	case query.Size:
		arr, ok := rec[e.Field].([]any)
		if !ok {
			return triError
		}
		return evalPredicate(query.Compare{Field: "n", Op: e.Op, Value: e.Value}, row{"n": int64(len(arr))})
	case query.Exists:
		arr, ok := rec[e.Field].([]any)
		if !ok {
			return triError
		}
		out := triFalse
		for _, x := range arr {
			switch evalPredicate(e.Cond, row{e.Var: x}) {
			case triTrue:
				return triTrue
			case triError:
				out = triError
			}
		}
		return out
	}
	panic(fmt.Sprintf("storetest: unknown predicate %T", e))
}

func truth(b bool) tri {
	if b {
		return triTrue
	}
	return triFalse
}

// compareValues orders two non-null values of one kind as CEL and the stores do: strings by
// bytes, false before true, numbers and times by value.
func compareValues(a, b any) int {
	switch x := a.(type) {
	case string:
		return strings.Compare(x, b.(string))
	case int64:
		return cmp.Compare(x, b.(int64))
	case float64:
		y := b.(float64)
		if x == y { // -0 and 0 are equal, as in CEL and SQL
			return 0
		}
		return cmp.Compare(x, y)
	case bool:
		y := b.(bool)
		switch {
		case x == y:
			return 0
		case !x:
			return -1
		}
		return 1
	case time.Time:
		return x.Compare(b.(time.Time))
	}
	panic(fmt.Sprintf("storetest: cannot compare %T", a))
}

// testPredicates runs predicates built directly, checked against evalPredicate.
func testPredicates(t *testing.T, open Opener) {
	h := newFilterHarness(t, open)
	nano := time.Date(2024, 1, 2, 3, 4, 5, 123456789, time.UTC)
	exact := time.Date(2024, 1, 2, 3, 4, 5, 123456000, time.UTC)
	cmpf := func(field string, op query.Op, v any) query.Expr {
		return query.Compare{Field: field, Op: op, Value: v}
	}
	preds := []query.Expr{
		query.And{}, query.Or{}, query.Const(true), query.Const(false), query.Not{X: query.Const(false)},
		query.And{Terms: []query.Expr{query.Truth{Field: "active"}}},
		query.Or{Terms: []query.Expr{cmpf("qty", query.Gt, int64(2)), query.Truth{Field: "active"}}},
		query.Not{X: query.Or{Terms: []query.Expr{cmpf("qty", query.Gt, int64(2)), query.Truth{Field: "active"}}}},
		query.Not{X: query.And{Terms: []query.Expr{cmpf("price", query.Lt, 1.0), query.Not{X: query.Truth{Field: "active"}}}}},
		query.Truth{Field: "active"}, query.Not{X: query.Truth{Field: "active"}},
		query.IsNull{Field: "tags"}, query.Not{X: query.IsNull{Field: "tags"}}, query.IsNull{Field: "at"},
		// Times finer than the microseconds stored.
		cmpf("at", query.Eq, nano), cmpf("at", query.Ne, nano), cmpf("at", query.Lt, nano),
		cmpf("at", query.Le, nano), cmpf("at", query.Gt, nano), cmpf("at", query.Ge, nano),
		cmpf("at", query.Eq, exact), cmpf("at", query.Le, exact), cmpf("at", query.Gt, exact),
		query.In{Field: "at", Values: []any{nano, exact}}, query.In{Field: "at", Values: []any{nano}},
		query.Not{X: query.In{Field: "at", Values: []any{nano}}},
		cmpf("at", query.Lt, time.Date(2024, 1, 2, 5, 4, 5, 123456000, time.FixedZone("", 2*3600))),
		// Text with U+0000, which no store holds.
		cmpf("name", query.Eq, "b\x00"), cmpf("name", query.Ne, "b\x00"), cmpf("name", query.Lt, "ab\x00c"),
		cmpf("name", query.Le, "ab\x00"), cmpf("name", query.Gt, "ab\x00"), cmpf("name", query.Ge, "\x00"),
		cmpf("name", query.Lt, "\x00"), cmpf("name", query.Gt, "a\x00"),
		query.In{Field: "name", Values: []any{"b", "x\x00y"}}, query.In{Field: "name", Values: []any{"\x00"}},
		query.Match{Field: "name", Kind: query.MatchPrefix, Text: "a\x00"},
		query.Match{Field: "name", Kind: query.MatchSuffix, Text: "\x00"},
		query.Match{Field: "name", Kind: query.MatchContains, Text: "b\x00c"},
		query.Not{X: query.Match{Field: "name", Kind: query.MatchContains, Text: "\x00"}},
		// Strings at the edges of code points and bytes.
		query.Match{Field: "name", Kind: query.MatchPrefix, Text: "a\U0010FFFF"},
		query.Match{Field: "name", Kind: query.MatchPrefix, Text: "\U0010FFFF"},
		query.Match{Field: "name", Kind: query.MatchPrefix, Text: "\uD7FF"},
		query.Match{Field: "name", Kind: query.MatchPrefix, Text: "a\x7f"},
		query.Match{Field: "name", Kind: query.MatchSuffix, Text: "\u0301"},
		query.Match{Field: "name", Kind: query.MatchSuffix, Text: ""},
		query.Match{Field: "name", Kind: query.MatchContains, Text: ""},
		query.Not{X: query.Match{Field: "name", Kind: query.MatchPrefix, Text: ""}},
		cmpf("name", query.Ge, "\uE000"), cmpf("name", query.Lt, "\u00ff"),
		// Empty and large value lists.
		query.In{Field: "qty"}, query.Not{X: query.In{Field: "qty"}},
		query.In{Field: "qty", Values: manyInts(1000)},
		// Numbers at the edges, booleans ordered.
		cmpf("price", query.Gt, math.Inf(-1)), cmpf("price", query.Eq, math.Inf(1)), cmpf("price", query.Lt, math.Inf(1)),
		cmpf("price", query.Eq, negZero), cmpf("price", query.Lt, negZero), cmpf("qty", query.Le, int64(math.MinInt64)),
		cmpf("qty", query.Ge, int64(math.MaxInt64)), cmpf("active", query.Lt, true), cmpf("active", query.Ge, false),
		cmpf("active", query.Ne, false),
		// System fields.
		cmpf("id", query.Ge, "r20"), query.Match{Field: "id", Kind: query.MatchSuffix, Text: "7"},
		cmpf("version", query.Eq, int64(1)), cmpf("created_at", query.Gt, filterNow.Add(3*time.Minute)),
		// Arrays: values no array holds, null elements, sizes at the edges, conditions that
		// are constant or fail on null elements.
		query.InArray{Field: "labels", Value: "go"}, query.InArray{Field: "labels"},
		query.InArray{Field: "labels", Value: "x\x00"}, query.Not{X: query.InArray{Field: "labels", Value: "\x00"}},
		query.InArray{Field: "moments", Value: nano}, query.Not{X: query.InArray{Field: "moments", Value: nano}},
		query.InArray{Field: "moments", Value: filterNow}, query.InArray{Field: "flags", Value: false},
		query.InArray{Field: "ratios", Value: math.Inf(1)}, query.Not{X: query.InArray{Field: "ratios", Value: math.Inf(-1)}},
		query.InArray{Field: "ratios", Value: negZero}, query.InArray{Field: "counts", Value: int64(math.MinInt64)},
		query.Size{Field: "labels", Op: query.Lt, Value: 0}, query.Not{X: query.Size{Field: "labels", Op: query.Ge, Value: 0}},
		query.Size{Field: "lines", Op: query.Ge, Value: math.MaxInt64}, query.Size{Field: "counts", Op: query.Ne, Value: math.MinInt64},
		query.Exists{Field: "labels", Var: "v", Cond: query.Const(true)},
		query.Not{X: query.Exists{Field: "labels", Var: "v", Cond: query.Const(false)}},
		query.Exists{Field: "labels", Var: "v", Cond: query.And{}},
		query.Exists{Field: "labels", Var: "v", Cond: query.Not{X: query.Match{Field: "v", Kind: query.MatchContains, Text: "\x00"}}},
		query.Exists{Field: "moments", Var: "id", Cond: cmpf("id", query.Lt, nano)},
		query.Not{X: query.Exists{Field: "moments", Var: "m", Cond: cmpf("m", query.Eq, nano)}},
		query.Exists{Field: "flags", Var: "f", Cond: query.Or{Terms: []query.Expr{query.Truth{Field: "f"}, query.IsNull{Field: "f"}}}},
		query.Not{X: query.Exists{Field: "flags", Var: "f", Cond: query.Not{X: query.Truth{Field: "f"}}}},
		query.Exists{Field: "counts", Var: "c", Cond: query.In{Field: "c", Values: manyInts(1000)[:900]}},
		query.Exists{Field: "ratios", Var: "r", Cond: cmpf("r", query.Gt, math.Inf(-1))},
	}
	for _, p := range preds {
		got, err := h.selectIDs(t, p)
		if err != nil {
			t.Errorf("%s: %v", p, err)
			continue
		}
		var want []string
		for _, row := range h.rows {
			if evalPredicate(p, row) == triTrue {
				want = append(want, row["id"].(string))
			}
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s\n  store  %v\n  want   %v", p, got, want)
		}
	}
}

func manyInts(n int) []any {
	out := make([]any, n)
	for i := range out {
		out[i] = int64(i - n/2)
	}
	return out
}

// testFilterErrors checks that predicates a store cannot run are the client's Invalid.
func testFilterErrors(t *testing.T, open Opener) {
	f := newFixture(t, open)
	rows := f.res("rows")
	for _, bad := range []query.Expr{
		nil,
		query.Compare{Field: "nope", Op: query.Eq, Value: "x"},
		query.Compare{Field: "tags", Op: query.Eq, Value: "x"},
		query.In{Field: "tags", Values: []any{"x"}},
		query.Compare{Field: "qty", Op: query.Eq, Value: "x"},
		query.Compare{Field: "qty", Op: query.Eq},
		query.Compare{Field: "price", Op: query.Lt, Value: math.NaN()},
		query.Match{Field: "qty", Kind: query.MatchPrefix, Text: "1"},
		query.Truth{Field: "name"},
		query.In{Field: "qty", Values: manyInts(1001)},
		query.Or{Terms: slices.Repeat([]query.Expr{query.IsNull{Field: "name"}}, 5000)},
		query.InArray{Field: "name", Value: "x"},
		query.InArray{Field: "tags", Value: "x"},
		query.InArray{Field: "lines", Value: "x"},
		query.InArray{Field: "counts", Value: "x"},
		query.InArray{Field: "labels", Value: int64(1)},
		query.InArray{Field: "counts", Value: math.Inf(1)},
		query.Size{Field: "tags", Op: query.Eq, Value: 1},
		query.Size{Field: "qty", Op: query.Eq, Value: 1},
		query.Size{Field: "nope", Op: query.Eq, Value: 1},
		query.Exists{Field: "labels", Var: "v"},
		query.Exists{Field: "labels", Cond: query.Const(true)},
		query.Exists{Field: "lines", Var: "v", Cond: query.Const(true)},
		query.Exists{Field: "labels", Var: "v", Cond: query.Compare{Field: "name", Op: query.Eq, Value: "x"}},
		query.Exists{Field: "labels", Var: "v", Cond: query.InArray{Field: "labels", Value: "x"}},
		query.Exists{Field: "labels", Var: "v", Cond: query.Compare{Field: "v", Op: query.Eq, Value: int64(1)}},
		query.Exists{Field: "labels", Var: "v", Cond: query.Exists{Field: "v", Var: "w", Cond: query.Const(true)}},
	} {
		_, err := f.store.List(f.ctx, rows, query.Select{Where: bad, Order: []query.Sort{{Field: "id"}}, Limit: 10})
		wantFault(t, fmt.Sprint(bad), err, fault.Invalid, "")
	}
}

// testOrder checks sorting (ascending puts NULLs first, descending last; text by bytes,
// false before true, -0 equal to 0) and limits, against a sort in memory.
func testOrder(t *testing.T, open Opener) {
	h := newFilterHarness(t, open)
	orders := [][]query.Sort{
		{{Field: "id"}},
		{{Field: "id", Desc: true}},
		{{Field: "name"}, {Field: "id"}},
		{{Field: "name", Desc: true}, {Field: "id"}},
		{{Field: "code"}, {Field: "name", Desc: true}, {Field: "id"}},
		{{Field: "qty"}, {Field: "id"}},
		{{Field: "qty", Desc: true}, {Field: "id", Desc: true}},
		{{Field: "price"}, {Field: "id"}},
		{{Field: "price", Desc: true}, {Field: "id"}},
		{{Field: "active"}, {Field: "price", Desc: true}, {Field: "id"}},
		{{Field: "active", Desc: true}, {Field: "qty"}, {Field: "id"}},
		{{Field: "at"}, {Field: "id"}},
		{{Field: "at", Desc: true}, {Field: "id"}},
		{{Field: "created_at", Desc: true}, {Field: "code"}, {Field: "id", Desc: true}},
	}
	for _, order := range orders {
		want := slices.Clone(h.rows)
		slices.SortStableFunc(want, func(a, b row) int { return compareRows(a, b, order) })
		wantIDs := rowIDs(want)
		for _, limit := range []int{len(h.rows) + 10, len(h.rows), 7, 1, 0} {
			recs, err := h.f.store.List(h.f.ctx, h.r, query.Select{Where: query.And{}, Order: order, Limit: limit})
			if err != nil {
				t.Fatalf("order %v: %v", order, err)
			}
			w := wantIDs[:min(limit, len(wantIDs))]
			if got := ids(recs); !slices.Equal(got, w) {
				t.Errorf("order %v limit %d:\n  got  %v\n  want %v", order, limit, got, w)
			}
		}
		// A filter and an order together.
		filter := query.Or{Terms: []query.Expr{query.Truth{Field: "active"}, query.IsNull{Field: "name"}}}
		recs, err := h.f.store.List(h.f.ctx, h.r, query.Select{Where: filter, Order: order, Limit: 5})
		if err != nil {
			t.Fatal(err)
		}
		var fw []string
		for _, r := range want {
			if evalPredicate(filter, r) == triTrue && len(fw) < 5 {
				fw = append(fw, r["id"].(string))
			}
		}
		if got := ids(recs); !slices.Equal(got, fw) {
			t.Errorf("order %v with a filter:\n  got  %v\n  want %v", order, got, fw)
		}
	}
}

// compareRows orders two records by the sort keys, NULLs first ascending and last descending.
func compareRows(a, b row, order []query.Sort) int {
	for _, s := range order {
		x, y := a[s.Field], b[s.Field]
		var c int
		switch {
		case x == nil && y == nil:
			c = 0
		case x == nil:
			c = -1
		case y == nil:
			c = 1
		default:
			c = compareValues(x, y)
		}
		if s.Desc {
			c = -c
		}
		if c != 0 {
			return c
		}
	}
	return 0
}
