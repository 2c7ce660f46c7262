package storetest

import (
	"math"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/plinth-dev/plinth/internal/query"
)

// Arrays in filters and list rules: the rows resource has an array of each scalar kind and
// one of objects (lines), holding null arrays, empty ones, duplicates, null elements,
// unicode, numbers in both their integer and their fractional form, and timestamps as the
// engine writes them (UTC, at most microseconds, with and without a fraction).

// arrayNames are the arrays of scalars of the rows resource, and arrayKinds their element
// kinds.
var (
	arrayNames = []string{"labels", "counts", "ratios", "flags", "moments"}
	arrayKinds = map[string]query.Kind{"labels": query.KindString, "counts": query.KindInteger,
		"ratios": query.KindNumber, "flags": query.KindBool, "moments": query.KindTimestamp}
)

// arrayPools are the elements the arrays are drawn from. ratios mixes int64 and float64, as
// a client's JSON does (7 and 7.5); 7.133850150051798e17 is a double that JSON writes as a
// whole number that is not its exact value.
var arrayPools = map[string][]any{
	"labels": {"go", "Go", "apple", "Apple", "a", "ab", "b", "", "%", "_", `\`, "é", "e\u0301",
		"日本語", "a\x7f", "\u00ff\u00ff", "\U0010FFFF", "\uD7FF", "r1", "x y"},
	"counts": {int64(0), int64(1), int64(2), int64(3), int64(-1), int64(100), int64(5),
		int64(math.MaxInt64), int64(math.MinInt64), int64(1)<<53 + 1},
	"ratios": {int64(0), int64(2), int64(3), int64(-7), 2.5, -2.5, 0.5, 0.1, 99.99, 1e10, negZero,
		9.007199254740993e15, 7.133850150051798e17, 1e300, 5e-324, 3.0000000000000004},
	"flags": {true, false},
	"moments": {filterNow, filterNow.Add(-time.Hour), filterNow.Add(time.Microsecond),
		time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2024, 1, 2, 3, 4, 5, 123456000, time.UTC),
		time.Date(2024, 1, 2, 3, 4, 5, 100000000, time.UTC),
		time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC)},
}

// randomArrays returns the arrays of one row.
func randomArrays(r *rand.Rand) row {
	rec := row{}
	for _, name := range arrayNames {
		rec[name] = randomArray(r, arrayPools[name])
	}
	lines := []any{map[string]any{"q": int64(1)}, map[string]any{"q": int64(2)}, map[string]any{}}
	rec["lines"] = randomArray(r, lines)
	return rec
}

// randomArray is null, empty, or one to five elements of pool (so often with duplicates),
// some of them null.
func randomArray(r *rand.Rand, pool []any) any {
	switch r.IntN(6) {
	case 0:
		return nil
	case 1:
		return []any{}
	}
	out := make([]any, 1+r.IntN(5))
	for i := range out {
		if r.IntN(12) > 0 {
			out[i] = pool[r.IntN(len(pool))]
		}
	}
	return out
}

// storedArrays returns the arrays of rec that read back differently from how they were
// written: numbers in an array of numbers are float64, and zero has no sign.
func storedArrays(rec row) row {
	xs, ok := rec["ratios"].([]any)
	if !ok {
		return nil
	}
	ys := make([]any, len(xs))
	for i, x := range xs {
		switch x := x.(type) {
		case int64:
			ys[i] = float64(x)
		case float64:
			ys[i] = x + 0 // -0 + 0 is 0
		default:
			ys[i] = x
		}
	}
	return row{"ratios": ys}
}

// arrayFilters are checked as filters, with $ removed, and as list rules, with $ replaced by
// record. The ones with U+0000 or nanoseconds test values that no array holds.
var arrayFilters = []string{
	// Membership: values of every kind, null elements, values no array can hold, and null
	// arrays, for which in fails (also under negation).
	`"go" in $labels`, `!("go" in $labels)`, `"" in $labels`, `"é" in $labels`, `"e\u0301" in $labels`,
	`"日本語" in $labels`, `"\U0010FFFF" in $labels`, `"x\x00y" in $labels`, `!("x\x00y" in $labels)`,
	`auth.sub in $labels`, `auth.none in $labels`, `!(auth.none in $labels)`,
	`auth.missing in $labels || $qty == 1`, `$labels == null || !("a" in $labels)`,
	`3 in $counts`, `!(3 in $counts)`, `9223372036854775807 in $counts`, `auth.f in $counts`,
	`!(auth.f in $counts)`, `auth.n in $counts`,
	`2.5 in $ratios`, `2.0 in $ratios`, `!(2.0 in $ratios)`, `auth.n in $ratios`, `0.0 in $ratios`,
	`-0.0 in $ratios`, `9007199254740993.0 in $ratios`, `713385015005179800.0 in $ratios`,
	`1e300 in $ratios`, `5e-324 in $ratios`, `0.1 in $ratios`, `double("Infinity") in $ratios`,
	`!(double("Infinity") in $ratios)`,
	`true in $flags`, `!(false in $flags)`, `auth.flag in $flags`, `auth.none in $flags`,
	`now in $moments`, `timestamp("2024-01-02T03:04:05.1Z") in $moments`,
	`timestamp("2024-01-02T03:04:05.123456Z") in $moments`, `auth.when in $moments`,
	`timestamp("2024-01-02T03:04:05.1234567Z") in $moments`,
	`!(timestamp("2024-01-02T03:04:05.1234567Z") in $moments)`,
	`timestamp("0001-01-01T00:00:00Z") in $moments`,

	// Sizes, of null arrays too.
	`size($labels) == 0`, `size($labels) > 2`, `$labels.size() != 1`, `!(size($labels) >= 0)`,
	`size($counts) < auth.f`, `size($ratios) == auth.f`, `!(size($ratios) == auth.f)`,
	`size($flags) == auth.none`, `!(size($flags) != auth.none)`, `size($lines) > 0`,
	`$lines.size() == 0`, `2 <= size($moments)`, `size($moments) < auth.missing || $qty == 1`,

	// exists() and all(): null elements fail the tests that fail on null.
	`$labels.exists(l, l.startsWith("a"))`, `!$labels.exists(l, l.startsWith("a"))`,
	`$labels.all(l, l.startsWith("a"))`, `!$labels.all(l, l.contains("é"))`,
	`$labels.exists(l, l == auth.none)`, `$labels.all(l, l != auth.none)`,
	`$labels.exists(l, l != "go" && l < "b")`, `$labels.all(l, l >= "a")`, `!$labels.exists(l, l > "b")`,
	`$labels.exists(l, l.endsWith("\u0301"))`, `$labels.exists(l, l in ["a", "b", "x\x00y"])`,
	`$labels.exists(l, l.contains(auth.missing)) || $qty == 1`, `$labels.exists(l, l.startsWith(""))`,
	`$labels.exists(name, name == "go")`, `$labels.exists(l, l == "go" || l == auth.none)`,
	`$counts.exists(c, c > auth.f && c < 100)`, `$counts.all(c, c >= 0)`, `!$counts.all(c, c >= 0)`,
	`$counts.exists(c, c == 9223372036854775807)`, `$counts.exists(c, c in [1, 2, 3])`,
	`$ratios.exists(r, r > 2.5)`, `$ratios.all(r, r < double("Infinity"))`, `$ratios.exists(r, r == -0.0)`,
	`$ratios.exists(r, r < auth.n)`, `!$ratios.exists(r, r >= 3.0000000000000004)`,
	`$ratios.exists(r, r == 713385015005179800.0)`,
	`$flags.exists(f, f)`, `$flags.all(f, f)`, `!$flags.exists(f, !f)`, `$flags.exists(f, f == auth.none)`,
	`$flags.exists(f, f < true)`, `!$flags.all(f, f || f == auth.none)`,
	`$moments.exists(m, m > now - duration("1h"))`,
	`$moments.all(m, m < timestamp("2024-01-02T03:04:05.1234567Z"))`,
	`$moments.exists(m, m == timestamp("2024-01-02T03:04:05.1Z"))`,
	`$moments.exists(m, m <= timestamp("2024-01-02T03:04:05Z"))`,
	`!$moments.exists(m, m >= timestamp("9999-12-31T23:59:59.999999Z"))`,
	`$moments.exists(m, m > timestamp("2024-01-02T03:04:05.09Z") && m < timestamp("2024-01-02T03:04:05.11Z"))`,

	// With other fields and parts without fields.
	`"go" in $labels && $qty > 0`, `!("go" in $labels) || $active`, `$labels.exists(l, true)`,
	`$labels.exists(l, auth.role == "admin") || size($counts) == 1`, `$labels.all(l, false)`,
	`!$labels.all(l, auth.missing == "x")`,
}

// arrayTest is a test of an array: in, size() or exists() and all() with a condition on
// the element.
func (g *filterGen) arrayTest() string {
	name := arrayNames[g.pick(len(arrayNames))]
	kind := arrayKinds[name]
	vals := genValues[kind]
	switch g.pick(4) {
	case 0:
		return vals[g.pick(len(vals))] + " in " + g.f(name)
	case 1:
		if g.pick(5) == 0 {
			name = "lines"
		}
		size := "size(" + g.f(name) + ")"
		if g.pick(2) == 0 {
			size = g.f(name) + ".size()"
		}
		n := []string{"0", "1", "2", "3", "auth.n", "auth.f", "auth.none"}[g.pick(7)]
		op := genOps[g.pick(len(genOps))]
		if g.pick(3) == 0 {
			return n + " " + genFlipped[op] + " " + size
		}
		return size + " " + op + " " + n
	}
	quantifier := []string{"exists", "all"}[g.pick(2)]
	v := []string{"x", "e", "name"}[g.pick(3)] // name hides the field
	return g.f(name) + "." + quantifier + "(" + v + ", " + g.elemCond(kind, v, 0) + ")"
}

// elemCond is a condition on the element v of an array of the kind.
func (g *filterGen) elemCond(kind query.Kind, v string, depth int) string {
	if depth < 2 {
		switch g.pick(6) {
		case 0:
			return "(" + g.elemCond(kind, v, depth+1) + " && " + g.elemCond(kind, v, depth+1) + ")"
		case 1:
			return "(" + g.elemCond(kind, v, depth+1) + " || " + g.elemCond(kind, v, depth+1) + ")"
		case 2:
			return "!(" + g.elemCond(kind, v, depth+1) + ")"
		}
	}
	vals := genValues[kind]
	switch g.pick(7) {
	case 0, 1:
		op := genOps[g.pick(len(genOps))]
		val := vals[g.pick(len(vals))]
		if g.pick(3) == 0 {
			return val + " " + genFlipped[op] + " " + v
		}
		return v + " " + op + " " + val
	case 2:
		return v + " in " + g.list(kind)
	case 3:
		return v + " " + []string{"==", "!="}[g.pick(2)] + " auth.none"
	case 4, 5:
		switch kind {
		case query.KindString:
			return g.stringTest(v)
		case query.KindBool:
			return v
		}
		return v + " " + genOps[g.pick(len(genOps))] + " " + vals[g.pick(len(vals))]
	}
	return genDynamic[g.pick(len(genDynamic))]
}

// arrayFilterSources returns src as a filter and as a list rule.
func arrayFilterSources(src string) (filter, rule string) {
	return strings.ReplaceAll(src, "$", ""), strings.ReplaceAll(src, "$", "record.")
}
