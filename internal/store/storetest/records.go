package storetest

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/plinth-dev/plinth/internal/fault"
	"github.com/plinth-dev/plinth/internal/query"
	"github.com/plinth-dev/plinth/internal/store"
)

// negZero is -0, which no store keeps: it reads back as 0. (The constant -0.0 is 0 in Go.)
var negZero = math.Copysign(0, -1)

// roundTrip is a record as written and the values that read back differently.
type roundTrip struct {
	in   row
	want row // overrides of the values of in, after expected's normalisation
}

// roundTrips covers every field type: whole and fractional numbers at the edges, nested
// arrays, objects and json with timestamps in other zones, unicode and text that SQL
// quoting, LIKE or C strings would get wrong (but no U+0000, which PostgreSQL cannot store).
func roundTrips() []roundTrip {
	nested := time.Date(2024, 1, 2, 3, 4, 5, 987654321, time.FixedZone("IST", 5*3600+1800))
	return []roundTrip{
		{
			in: newRecord("rt-typical", baseTime, row{
				"s": "hello", "code": "A-1", "i": int64(42), "n": 2.5, "b": true, "e": "red", "t": baseTime,
				"tags":  []any{"a", "b", ""},
				"ints":  []any{int64(1), int64(-2), int64(math.MaxInt64), int64(math.MinInt64)},
				"nums":  []any{1.0, 2.5, -0.125, 1e300, 5e-324, int64(7), 0.1},
				"times": []any{nested, baseTime},
				"items": []any{
					map[string]any{"q": int64(2), "price": 3.0, "at": baseTime},
					map[string]any{"q": int64(1), "price": 0.1, "at": nil},
				},
				"obj": map[string]any{"a": int64(1), "x": 2.0, "when": nested,
					"inner": map[string]any{"deep": []any{1.0, 1.5, int64(-3)}}},
				"j": map[string]any{"whole": 2.0, "frac": 0.1, "big": 1.2345678901234567e19, "neg": int64(-7),
					"s": "x", "arr": []any{int64(1), "two", nil, true, map[string]any{"k": []any{}}},
					"when": baseTime, "max": int64(math.MaxInt64), "min": int64(math.MinInt64), "tiny": 1e-7},
			}),
			want: row{
				// Numbers in arrays of numbers come back as float64, whole or not.
				"nums": []any{1.0, 2.5, -0.125, 1e300, 5e-324, 7.0, 0.1},
				// Nested timestamps keep their nanoseconds (they are JSON text), in UTC.
				"times": []any{nested.UTC(), baseTime.UTC()},
				"items": []any{
					map[string]any{"q": int64(2), "price": 3.0, "at": baseTime.UTC()},
					map[string]any{"q": int64(1), "price": 0.1, "at": nil},
				},
				"obj": map[string]any{"a": int64(1), "x": 2.0, "when": nested.UTC(),
					"inner": map[string]any{"deep": []any{1.0, 1.5, -3.0}}},
				// json has no field types: whole numbers are int64, and times stay text.
				"j": map[string]any{"whole": int64(2), "frac": 0.1, "big": 1.2345678901234567e19, "neg": int64(-7),
					"s": "x", "arr": []any{int64(1), "two", nil, true, map[string]any{"k": []any{}}},
					"when": baseTime.Format(time.RFC3339Nano), "max": int64(math.MaxInt64),
					"min": int64(math.MinInt64), "tiny": 1e-7},
			},
		},
		{
			in: newRecord("rt-edges", baseTime.Add(time.Second), row{
				"s": "", "code": "ünïcödé 日本語 🎉 \u00ff \U0010FFFF e\u0301", "i": int64(math.MinInt64), "n": negZero,
				"b": false, "e": "blue", "t": time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC),
				"tags": []any{}, "ints": []any{}, "items": []any{}, "obj": map[string]any{}, "j": "just a string",
			}),
		},
		{
			in: newRecord("rt-extremes", baseTime.Add(2*time.Second), row{
				"s":    strings.Repeat("long ", 20000),
				"code": "quote ' \" backslash \\ tab \t newline \n percent % underscore _ del \x7f ?$1 :x @y",
				"i":    int64(math.MaxInt64), "n": math.Inf(1), "b": nil,
				"t":    time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC),
				"tags": []any{"'; DROP TABLE things; --", `"`, "\\", "日本語"},
				"nums": []any{negZero, math.MaxFloat64, -math.SmallestNonzeroFloat64},
				"j": []any{1.5, true, false, nil, "", negZero, map[string]any{"a": map[string]any{"b": []any{[]any{int64(1)}}},
					"": "empty key", "ü": "ü"}},
			}),
			want: row{
				"t":    time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC),
				"nums": []any{0.0, math.MaxFloat64, -math.SmallestNonzeroFloat64},
				"j": []any{1.5, true, false, nil, "", int64(0), map[string]any{"a": map[string]any{"b": []any{[]any{int64(1)}}},
					"": "empty key", "ü": "ü"}},
			},
		},
		{
			in: newRecord("rt-negative-infinity", baseTime, row{"n": math.Inf(-1), "i": int64(0), "j": true}),
		},
		{
			in:   newRecord("rt-json-number", baseTime, row{"j": 12.75, "n": int64(3), "i": 7}),
			want: row{"n": 3.0, "i": int64(7)},
		},
		{
			in:   newRecord("rt-json-whole", baseTime, row{"j": 3.0, "n": 3.0}),
			want: row{"j": int64(3)},
		},
		{
			// Values that marshal to JSON null are stored as NULL.
			in: newRecord("rt-json-null", baseTime, row{"j": nil, "tags": []any(nil),
				"obj": map[string]any(nil), "items": nil}),
			want: row{"tags": nil, "obj": nil},
		},
		{
			in: newRecord("rt-minimal", baseTime, nil),
		},
	}
}

func testRoundTrip(t *testing.T, open Opener) {
	f := newFixture(t, open)
	things := f.res("things")
	cases := roundTrips()
	want := map[string]row{}
	var order []string
	for _, c := range cases {
		id := c.in["id"].(string)
		want[id] = expected(things, c.in, c.want)
		order = append(order, id)
	}
	slices.Sort(order)

	// Inside the transaction that writes them, Tx.Get reads them back already.
	f.write(func(tx store.Tx) error {
		for _, c := range cases {
			if err := tx.Insert(f.ctx, things, store.FromMap(c.in)); err != nil {
				return fmt.Errorf("insert %s: %w", c.in["id"], err)
			}
		}
		for _, c := range cases {
			id := c.in["id"].(string)
			got, err := tx.Get(f.ctx, things, id)
			if err != nil {
				return fmt.Errorf("tx get %s: %w", id, err)
			}
			checkRecord(t, "Tx.Get "+id, want[id], got)
		}
		return nil
	})
	for _, id := range order {
		checkRecord(t, "Get "+id, want[id], f.get(things, id))
	}
	many, err := f.store.GetMany(f.ctx, things, order)
	if err != nil {
		t.Fatal(err)
	}
	if len(many) != len(order) {
		t.Fatalf("GetMany returned %d records, want %d", len(many), len(order))
	}
	for _, got := range many {
		checkRecord(t, "GetMany "+got.ID, want[got.ID], got)
	}
	list, err := f.store.List(f.ctx, things, query.Select{Where: query.And{}, Order: []query.Sort{{Field: "id"}}, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ids(list), order) {
		t.Fatalf("List ids = %v, want %v", ids(list), order)
	}
	for _, got := range list {
		id := got.ID
		checkRecord(t, "List "+id, want[id], got)
	}

	// Update writes every column again, and reads back the same way.
	for _, c := range cases {
		id := c.in["id"].(string)
		next := row{}
		for k, v := range c.in {
			next[k] = v
		}
		next["version"] = int64(2)
		next["updated_at"] = baseTime.Add(time.Hour)
		f.write(func(tx store.Tx) error { return tx.Update(f.ctx, things, store.FromMap(next), 1) })
		w := row{}
		for k, v := range want[id] {
			w[k] = v
		}
		w["version"] = int64(2)
		w["updated_at"] = stored(baseTime.Add(time.Hour))
		checkRecord(t, "Get after Update "+id, w, f.get(things, id))
	}
}

// testNulls checks that NULL is nil for every kind, distinct from empty text, zero and false.
func testNulls(t *testing.T, open Opener) {
	f := newFixture(t, open)
	things := f.res("things")
	nulls := newRecord("null", baseTime, nil)
	for _, fl := range things.Fields {
		nulls[fl.Name] = nil
	}
	zeros := newRecord("zero", baseTime, row{"s": "", "i": int64(0), "n": 0.0, "b": false,
		"tags": []any{}, "obj": map[string]any{}, "j": int64(0)})
	f.insert(things, nulls, zeros)
	checkRecord(t, "nulls", expected(things, nulls, nil), f.get(things, "null"))
	checkRecord(t, "zeros", expected(things, zeros, nil), f.get(things, "zero"))
	for _, field := range []string{"s", "i", "n", "b", "tags", "obj", "j", "t", "e", "owner"} {
		recs, err := f.store.List(f.ctx, things, query.Select{Where: query.IsNull{Field: field},
			Order: []query.Sort{{Field: "id"}}, Limit: 10})
		if err != nil {
			t.Fatalf("%s IS NULL: %v", field, err)
		}
		want := []string{"null"}
		if zeros[field] == nil {
			want = []string{"null", "zero"}
		}
		if !slices.Equal(ids(recs), want) {
			t.Errorf("%s == null selects %v, want %v", field, ids(recs), want)
		}
	}
}

// testBadValues checks that values a field cannot hold are refused, and nothing is stored.
func testBadValues(t *testing.T, open Opener) {
	f := newFixture(t, open)
	things := f.res("things")
	for i, bad := range []row{
		{"i": "not a number"},
		{"i": 2.5},
		{"n": math.NaN()},
		{"n": "2.5"},
		{"b": int64(1)},
		{"s": int64(5)},
		{"t": "2024-01-01T00:00:00Z"},
		{"t": time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)},
		{"t": time.Date(0, 12, 31, 23, 59, 59, 0, time.UTC)},
		{"j": func() {}},
		{"j": math.Inf(1)},
	} {
		id := fmt.Sprintf("bad-%d", i)
		rec := newRecord(id, baseTime, bad)
		err := f.store.Write(f.ctx, func(tx store.Tx) error { return tx.Insert(f.ctx, things, store.FromMap(rec)) })
		wantFault(t, fmt.Sprintf("insert %v", bad), err, fault.Internal, "")
		f.mustBeMissing(things, id)
	}
	good := newRecord("good", baseTime, row{"i": int64(1)})
	f.insert(things, good)
	bad := newRecord("good", baseTime, row{"i": "one", "version": int64(2)})
	err := f.store.Write(f.ctx, func(tx store.Tx) error { return tx.Update(f.ctx, things, store.FromMap(bad), 1) })
	wantFault(t, "update with a bad value", err, fault.Internal, "")
	checkRecord(t, "after a refused update", expected(things, good, nil), f.get(things, "good"))
}

func testGetMany(t *testing.T, open Opener) {
	f := newFixture(t, open)
	owners := f.res("owners")
	f.insert(owners, newRecord("o1", baseTime, nil), newRecord("o2", baseTime, nil), newRecord("o3", baseTime, nil))

	check := func(what string, in []string, want []string) {
		t.Helper()
		recs, err := f.store.GetMany(f.ctx, owners, in)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		got := ids(recs)
		slices.Sort(got) // the order of GetMany is not part of the contract
		if !slices.Equal(got, want) {
			t.Errorf("%s: got %v, want %v", what, got, want)
		}
	}
	check("none", nil, nil)
	check("missing only", []string{"x", "y"}, nil)
	check("some missing", []string{"o3", "missing", "o1"}, []string{"o1", "o3"})
	check("duplicates", []string{"o2", "o2", "o1", "o2"}, []string{"o1", "o2"})
	check("case matters", []string{"O1", "o1 ", " o1"}, nil)
	var many []string
	for i := range 1500 {
		many = append(many, fmt.Sprintf("m%04d", i))
	}
	many = append(many, "o2")
	many = append([]string{"o3"}, many...)
	check("over a thousand ids", many, []string{"o2", "o3"})

	if _, err := f.store.Get(f.ctx, owners, "missing"); fault.CodeOf(err) != fault.NotFound {
		t.Errorf("Get missing: %v, want NotFound", err)
	}
}
