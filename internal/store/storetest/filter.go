package storetest

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"cel.dev/cel-go/cel"
	celast "cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/ext"

	"github.com/plinth-dev/plinth/internal/query"
	"github.com/plinth-dev/plinth/internal/spec"
)

// The filter checks are differential: for each filter, the rows a store selects must be
// exactly the rows for which the CEL expression, evaluated in memory over the records the
// store returns, is true. Filters are compiled as clients' are, with Resource.CompileFilter;
// list rules as the spec compiles them, over record, and evaluated in memory as the engine
// evaluates rules.

var filterNow = time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)

// rowColumns are the fields of the rows resource, system fields included.
var rowColumns = []string{"id", "created_at", "updated_at", "version", "name", "code", "qty", "price", "active", "at", "tags",
	"labels", "counts", "ratios", "flags", "moments", "lines"}

func filterVars() map[string]any {
	return map[string]any{
		"auth": map[string]any{
			"sub":    "apple",
			"role":   "customer",
			"n":      3,
			"f":      2.5,
			"flag":   true,
			"none":   nil,
			"names":  []any{"Apple", "b", nil},
			"qtys":   []any{1, 2.5, 10},
			"minint": int64(math.MinInt64),
			"when":   time.Date(2024, 1, 2, 5, 4, 5, 123456000, time.FixedZone("", 2*3600)),
		},
		"now": filterNow,
	}
}

// filterEnv declares what the filter parameter's environment declares for the rows
// resource: every column as a variable, nullable where the field is, plus auth and now.
func filterEnv(t testing.TB) *cel.Env {
	t.Helper()
	env, err := cel.NewEnv(
		ext.Strings(),
		cel.Variable("auth", cel.MapType(cel.StringType, cel.DynType)),
		cel.Variable("now", cel.TimestampType),
		cel.Variable("id", cel.StringType),
		cel.Variable("created_at", cel.TimestampType),
		cel.Variable("updated_at", cel.TimestampType),
		cel.Variable("version", cel.IntType),
		cel.Variable("name", cel.NullableType(cel.StringType)),
		cel.Variable("code", cel.NullableType(cel.StringType)),
		cel.Variable("qty", cel.NullableType(cel.IntType)),
		cel.Variable("price", cel.NullableType(cel.DoubleType)),
		cel.Variable("active", cel.NullableType(cel.BoolType)),
		cel.Variable("at", cel.NullableType(cel.TimestampType)),
		cel.Variable("tags", cel.DynType),
		cel.Variable("labels", cel.NullableType(cel.ListType(cel.StringType))),
		cel.Variable("counts", cel.NullableType(cel.ListType(cel.IntType))),
		cel.Variable("ratios", cel.NullableType(cel.ListType(cel.DoubleType))),
		cel.Variable("flags", cel.NullableType(cel.ListType(cel.BoolType))),
		cel.Variable("moments", cel.NullableType(cel.ListType(cel.TimestampType))),
		cel.Variable("lines", cel.NullableType(cel.ListType(cel.MapType(cel.StringType, cel.DynType)))),
	)
	if err != nil {
		t.Fatal(err)
	}
	return env
}

// ruleEnv declares what the environment of access rules declares: record as a map, auth and
// now.
func ruleEnv(t testing.TB) *cel.Env {
	t.Helper()
	env, err := cel.NewEnv(
		ext.Strings(),
		cel.Variable("auth", cel.MapType(cel.StringType, cel.DynType)),
		cel.Variable("now", cel.TimestampType),
		cel.Variable("record", cel.MapType(cel.StringType, cel.DynType)),
	)
	if err != nil {
		t.Fatal(err)
	}
	return env
}

// filterRows are the rows every filter runs over: every kind with NULLs, strings that LIKE
// would misread (%, _, \, case), code points at the edges (U+007F, U+00FF, U+D7FF, U+E000,
// U+10FFFF), decomposed accents, extreme numbers and times.
func filterRows() []row {
	names := []any{"Apple", "apple", "APPLE", "a%b", "a_b", `a\b`, "100%", "_x", "", "ünïcödé",
		"日本語", "a\x7f", "é", "e", "ab", "abc", "abd", "b", "Z", nil, " lead", "trail ", "x y",
		"A", "Ab", "aB", "%", "_", `\`, "a\U0010FFFF", "ab%", "abcdef", "\u00ff\u00ff", "apple pie",
		"\uD7FF", "\uE000", "a\U0010FFFFb", "e\u0301", "\U0010FFFF", "abc\u00ff"}
	codes := []any{"ab", "AB", nil, "b", "", "%", "apple", "c_d", "zz"}
	qtys := []any{int64(0), int64(1), int64(2), int64(3), int64(-1), int64(-5), nil, int64(10),
		int64(100), int64(math.MaxInt64), int64(math.MinInt64), int64(1) << 53, int64(1)<<53 + 1}
	prices := []any{0.0, 0.5, 2.5, 3.0, -2.5, nil, 99.99, 1e10, math.Inf(1), math.Inf(-1), negZero,
		9.007199254740993e15, 3.0000000000000004}
	actives := []any{true, false, nil, true}
	times := []any{
		time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2024, 1, 2, 3, 4, 5, 123456000, time.UTC),
		nil,
		time.Date(1999, 12, 31, 23, 59, 59, 999999000, time.UTC),
		time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC),
		filterNow,
		filterNow.Add(-time.Hour),
		filterNow.Add(-time.Minute),
		filterNow.Add(time.Microsecond),
		time.Date(2024, 1, 2, 3, 4, 5, 123457000, time.UTC),
	}
	tagsList := []any{nil, []any{"a", "b"}, map[string]any{"k": int64(1)}, []any{}, "s"}
	r := rand.New(rand.NewPCG(7, 11))
	var rows []row
	for i := range 48 {
		created := filterNow.Add(time.Duration(i%7) * time.Minute)
		rec := row{
			"name":   names[i%len(names)],
			"code":   codes[(i*5)%len(codes)],
			"qty":    qtys[(i*7)%len(qtys)],
			"price":  prices[(i*3)%len(prices)],
			"active": actives[(i/3)%len(actives)],
			"at":     times[(i*4)%len(times)],
			"tags":   tagsList[i%len(tagsList)],
		}
		for k, v := range randomArrays(r) {
			rec[k] = v
		}
		rows = append(rows, newRecord(fmt.Sprintf("r%02d", i), created, rec))
	}
	return rows
}

// filters are checked on every row. The ones with U+0000 test values no stored text holds.
var filters = []string{
	// Equality and null.
	`name == "apple"`, `name != "apple"`, `!(name == "apple")`, `!(name != "apple")`, `name == null`,
	`name != null`, `null == name`, `!(name == null)`, `code == ""`, `code != ""`, `code == auth.sub`,
	`code != auth.none`, `name == "日本語"`, `name == "e\u0301"`, `name == "x\x00y"`, `name != "a\x00"`,

	// Orderings: null fails, which matters under negation.
	`name < "b"`, `!(name < "b")`, `name >= "a"`, `!(name >= "a")`, `"b" > name`, `name > "\uD7FF"`,
	`name < "a\x00b"`, `name <= "a\x00"`, `name > "ab\x00"`, `!(name >= "ab\x00c")`,
	`qty > 2`, `qty <= 2`, `!(qty <= 2)`, `2 < qty`, `qty >= -1 && qty < 100`,
	`!(qty > 0) || name == "b"`, `!(qty > 0 && price > 0.0)`, `!(qty > 0 || price > 0.0)`,
	`price > 2.5`, `price >= 2.5`, `price < 0.0`, `!(price < 0.0)`, `price == 0.0`, `price != 3.0`,
	`price < 9007199254740993.0`, `price > 1e300`, `price == -0.0`, `price == double("Infinity")`,
	`price > double("-Infinity")`,

	// Integers against doubles, as CEL compares them.
	`qty > auth.f`, `qty < auth.f`, `qty == auth.n`, `price < auth.n`, `price == auth.n`, `qty in auth.qtys`,
	`qty == 9223372036854775807`, `qty < auth.minint`, `qty <= auth.minint`, `qty > 9007199254740992`,

	// Booleans.
	`active`, `!active`, `active == true`, `active != true`, `active == false`, `!(active == false)`,
	`active || name == "b"`, `!active && qty > 0`, `active < true`, `active >= false`, `active == null`,
	`active == auth.flag`,

	// Timestamps, including values finer than the microseconds stored.
	`at < now`, `at <= now`, `at == now`, `at != now`, `at > now - duration("90m")`,
	`!(at > now - duration("90m"))`, `at < timestamp("2000-01-01T00:00:00Z")`,
	`at >= timestamp("0001-01-01T00:00:00Z")`, `at == timestamp("2024-01-02T03:04:05.123456Z")`,
	`at < timestamp("2024-01-02T03:04:05.1234567Z")`, `at <= timestamp("2024-01-02T03:04:05.1234567Z")`,
	`at > timestamp("2024-01-02T03:04:05.1234567Z")`, `at >= timestamp("2024-01-02T03:04:05.1234567Z")`,
	`at == timestamp("2024-01-02T03:04:05.1234567Z")`, `at != timestamp("2024-01-02T03:04:05.1234567Z")`,
	`at in [now, timestamp("2024-01-02T03:04:05.1234567Z"), timestamp("2024-01-01T00:00:00Z")]`,
	`at == auth.when`, `at == null`, `at > timestamp("9999-12-31T23:59:59.999998Z")`,

	// in.
	`name in ["apple", "Apple", "b"]`, `!(name in ["apple", "b"])`, `name in auth.names`,
	`!(name in auth.names)`, `name in ["a", null]`, `name in []`, `!(name in [])`, `code in ["", "%"]`,
	`name in ["x\x00y", "b"]`, `!(name in ["x\x00y"])`,

	// String tests: case, LIKE's special characters, code points at the edges, null.
	`name.startsWith("a")`, `name.startsWith("A")`, `!name.startsWith("a")`, `name.startsWith("ab")`,
	`name.startsWith("a%")`, `name.startsWith("a_")`, `name.startsWith("_")`, `name.startsWith("%")`,
	`name.startsWith("\\")`, `name.startsWith("a\x7f")`, `name.startsWith("\u00ff")`,
	`name.startsWith("a\U0010FFFF")`, `name.startsWith("\U0010FFFF")`, `name.startsWith("\uD7FF")`,
	`name.startsWith("abc\u00ff")`, `name.startsWith("x\x00")`, `!name.startsWith("x\x00")`,
	`name.startsWith("")`, `!name.startsWith("")`, `name.startsWith("é")`, `name.startsWith("e")`,
	`name.endsWith("e")`, `name.endsWith("E")`, `!name.endsWith("b")`, `name.endsWith("%")`,
	`name.endsWith("_b")`, `name.endsWith("\x00y")`, `name.endsWith("")`, `name.endsWith("dé")`,
	`name.endsWith("\u0301")`, `name.endsWith("abcdefg")`, `name.endsWith("\U0010FFFFb")`,
	`name.contains("b")`, `name.contains("B")`, `!name.contains("p")`, `name.contains("%")`,
	`name.contains("_")`, `name.contains("\\")`, `name.contains("\x00")`, `!name.contains("\x00")`,
	`name.contains("")`, `name.contains("本")`, `name.contains(" ")`, `code.startsWith(auth.sub)`,
	`code.contains(auth.none)`, `!code.contains(auth.none)`, `name.startsWith(auth.missing) || qty == 1`,

	// JSON fields can be tested for null only.
	`tags == null`, `tags != null`, `tags == null && name != null`,

	// System fields.
	`id < "r10" || id > "r40"`, `id in ["r01", "r02", "nope"]`, `id.startsWith("r1")`,
	`created_at > now`, `created_at <= now + duration("3m")`, `version == 1`, `updated_at >= now && qty == 1`,

	// Parts without fields, including ones that fail.
	`auth.role == "admin" || name == "b"`, `auth.role == "customer" && name == "b"`,
	`auth.missing == "x" || name == "b"`, `!(auth.missing == "x") || name == "b"`,
	`!(auth.missing == "x" && name == "b")`, `!(auth.missing == "x" || name == "b")`,
	`!(name == auth.missing)`, `!(name == auth.missing) || qty == 1`, `true`, `false`,
}

// filterHarness holds a store with the rows, the rows as the store returns them, and the
// environments that evaluate filters and rules in memory.
type filterHarness struct {
	f       *fixture
	r       *spec.Resource
	env     *cel.Env
	ruleEnv *cel.Env
	rows    []row
	vars    map[string]any
}

func newFilterHarness(t *testing.T, open Opener) *filterHarness {
	f := newFixture(t, open)
	h := &filterHarness{f: f, r: f.res("rows"), env: filterEnv(t), ruleEnv: ruleEnv(t), vars: filterVars()}
	rows := filterRows()
	f.insert(h.r, rows...)
	stored, err := f.store.List(f.ctx, h.r, query.Select{Where: query.And{}, Order: []query.Sort{{Field: "id"}}, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if len(stored) != len(rows) {
		t.Fatalf("stored %d rows, read back %d", len(rows), len(stored))
	}
	for i, got := range stored {
		checkRecord(t, "row "+got.ID, expected(h.r, rows[i], storedArrays(rows[i])), got)
	}
	h.rows = toRows(stored)
	return h
}

// selectIDs lists the ids a predicate selects, in id order.
func (h *filterHarness) selectIDs(t testing.TB, pred query.Expr) ([]string, error) {
	t.Helper()
	recs, err := h.f.store.List(h.f.ctx, h.r, query.Select{Where: pred, Order: []query.Sort{{Field: "id"}}, Limit: 1000})
	return ids(recs), err
}

// check compares the store with CEL for src, a filter, and returns the ids both selected.
func (h *filterHarness) check(t testing.TB, src string) []string {
	t.Helper()
	plan, err := h.r.CompileFilter(src)
	if err != nil {
		t.Fatalf("%s: compile: %v", src, err)
	}
	return h.compare(t, src, plan, h.env, func(row row, act map[string]any) {
		for _, c := range rowColumns {
			if row[c] == nil {
				act[c] = types.NullValue
			} else {
				act[c] = row[c]
			}
		}
	})
}

// checkRule compares the store with CEL for src, a list rule over record, and returns the
// ids both selected. In memory the rule sees the record as the engine passes it, null
// fields as nil.
func (h *filterHarness) checkRule(t testing.TB, src string) []string {
	t.Helper()
	checked, iss := h.ruleEnv.Compile(src)
	if iss.Err() != nil {
		t.Fatalf("%s: cel: %v", src, iss.Err())
	}
	plan, err := query.Compile(h.ruleEnv, checked, h.r.QueryFields(), query.Options{RecordVar: "record"})
	if err != nil {
		t.Fatalf("%s: compile: %v", src, err)
	}
	return h.compare(t, src, plan, h.ruleEnv, func(row row, act map[string]any) {
		act["record"] = map[string]any(row)
	})
}

// compare lists the rows plan selects and checks them against src evaluated in env over
// each row, whose variables rowVars adds to the activation.
func (h *filterHarness) compare(t testing.TB, src string, plan *query.Plan, env *cel.Env, rowVars func(row, map[string]any)) []string {
	t.Helper()
	pred, err := plan.Bind(h.vars)
	if err != nil {
		t.Fatalf("%s: bind: %v", src, err)
	}
	got, err := h.selectIDs(t, pred)
	if err != nil {
		t.Fatalf("%s: list with %s: %v", src, pred, err)
	}
	checked, iss := env.Compile(src)
	if iss.Err() != nil {
		t.Fatalf("%s: cel: %v", src, iss.Err())
	}
	prg, err := env.Program(checked)
	if err != nil {
		t.Fatalf("%s: program: %v", src, err)
	}
	var want []string
	for _, row := range h.rows {
		act := map[string]any{}
		for k, v := range h.vars {
			act[k] = v
		}
		rowVars(row, act)
		// An error, like any result but true, leaves the row out.
		if out, _, err := prg.Eval(act); err == nil && out == types.True {
			want = append(want, row["id"].(string))
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("%s\n  predicate %s\n  store  %v\n  CEL    %v", src, pred, got, want)
	}
	return want
}

func testFilters(t *testing.T, open Opener) {
	h := newFilterHarness(t, open)
	partial, all := 0, 0
	count := func(selected []string) {
		all++
		if n := len(selected); n > 0 && n < len(h.rows) {
			partial++
		}
	}
	for _, src := range filters {
		count(h.check(t, src))
	}
	// The filters on arrays, also as list rules over record.
	for _, src := range arrayFilters {
		filter, rule := arrayFilterSources(src)
		count(h.check(t, filter))
		count(h.checkRule(t, rule))
	}
	// Filters that select all rows or none would agree with almost any store.
	if partial < all*3/4 {
		t.Errorf("only %d of %d filters select some but not all rows", partial, all)
	}
}

// testRandomFilters runs generated filters and list rules from a fixed seed.
func testRandomFilters(t *testing.T, open Opener) {
	h := newFilterHarness(t, open)
	r := rand.New(rand.NewPCG(5, 9))
	const runs = 300
	skipped := 0
	for i := range runs {
		data := make([]byte, 24+r.IntN(40))
		for i := range data {
			data[i] = byte(r.Uint32())
		}
		env, prefix, check := h.env, "", h.check
		if i%3 == 2 {
			env, prefix, check = h.ruleEnv, "record.", h.checkRule
		}
		src := generateFilter(data, prefix)
		if checked, iss := env.Compile(src); iss.Err() == nil && celast.NodeCount(checked.NativeRep()) > query.DefaultMaxNodes {
			skipped++ // too large for a filter or a rule
			continue
		}
		check(t, src)
	}
	if skipped > runs/20 {
		t.Errorf("%d of %d generated expressions were too large to compile", skipped, runs)
	}
}

// generateFilter builds a filter from data with a small grammar over the rows fields: &&,
// ||, !, comparisons either way round, null tests, in, string tests, boolean fields, tests
// of arrays (in, size(), exists() and all() with conditions on the element) and parts
// without fields. Fields are named with prefix ("record." for a list rule). Every filter it
// builds type-checks and compiles, unless it is too large for a filter.
func generateFilter(data []byte, prefix string) string {
	g := &filterGen{data: data, prefix: prefix}
	return g.cond(0)
}

type filterGen struct {
	data   []byte
	i      int
	prefix string
}

// f names a field.
func (g *filterGen) f(name string) string { return g.prefix + name }

func (g *filterGen) pick(n int) int {
	if g.i >= len(g.data) {
		g.i++
		return g.i % n // keep varying once the input runs out
	}
	b := g.data[g.i]
	g.i++
	return int(b) % n
}

func (g *filterGen) cond(depth int) string {
	if depth < 3 {
		switch g.pick(7) {
		case 0:
			return "(" + g.cond(depth+1) + " && " + g.cond(depth+1) + ")"
		case 1:
			return "(" + g.cond(depth+1) + " || " + g.cond(depth+1) + ")"
		case 2:
			return "!(" + g.cond(depth+1) + ")"
		}
	}
	return g.leaf()
}

// genValues are operands whose static type lets them meet a field of each kind.
var genValues = map[query.Kind][]string{
	query.KindString: {`"apple"`, `"Apple"`, `"a"`, `"ab"`, `"b"`, `""`, `"%"`, `"_"`, `"\\"`, `"é"`,
		`"e\u0301"`, `"x\x00y"`, `"a\x7f"`, `"日本語"`, `"\u00ff\u00ff"`, `"\U0010FFFF"`, `"\uD7FF"`,
		`"r1"`, `"r20"`, `auth.sub`, `auth.none`, `auth.missing`},
	query.KindInteger: {`0`, `1`, `3`, `-1`, `100`, `9223372036854775807`, `auth.n`, `auth.minint`,
		`auth.none`, `auth.f`},
	query.KindNumber: {`0.0`, `2.5`, `-2.5`, `3.0`, `99.99`, `1e10`, `-0.0`, `9007199254740993.0`,
		`double("Infinity")`, `auth.f`, `auth.n`, `auth.missing`},
	query.KindBool: {`true`, `false`, `auth.flag`, `auth.none`},
	query.KindTimestamp: {`now`, `now - duration("1h")`, `now + duration("1us")`,
		`timestamp("2024-01-01T00:00:00Z")`, `timestamp("2024-01-02T03:04:05.123456Z")`,
		`timestamp("2024-01-02T03:04:05.1234567Z")`, `timestamp("0001-01-01T00:00:00Z")`,
		`auth.when`, `auth.none`},
}

var (
	genFields = map[string]query.Kind{"id": query.KindString, "name": query.KindString,
		"code": query.KindString, "qty": query.KindInteger, "price": query.KindNumber,
		"active": query.KindBool, "at": query.KindTimestamp, "created_at": query.KindTimestamp}
	genScalarFields = []string{"id", "name", "code", "qty", "price", "active", "at", "created_at"}
	genOps          = []string{"==", "!=", "<", "<=", ">", ">="}
	genFlipped      = map[string]string{"==": "==", "!=": "!=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}
	genDynamic      = []string{`true`, `false`, `auth.role == "admin"`, `auth.role == "customer"`,
		`auth.missing == "x"`, `auth.flag`, `auth.n > 2`}
)

func (g *filterGen) leaf() string {
	switch g.pick(12) {
	case 0, 1, 2: // comparison
		field := genScalarFields[g.pick(len(genScalarFields))]
		vals := genValues[genFields[field]]
		v := vals[g.pick(len(vals))]
		if (field == "id" || field == "created_at") && (v == "auth.none" || v == "auth.missing") {
			v = "auth.sub" // non-null fields of static type: a null operand does not type-check
			if field == "created_at" {
				v = "now"
			}
		}
		op := genOps[g.pick(len(genOps))]
		if g.pick(3) == 0 {
			return v + " " + genFlipped[op] + " " + g.f(field)
		}
		return g.f(field) + " " + op + " " + v
	case 3: // null test
		field := []string{"name", "code", "qty", "price", "active", "at", "tags", "labels", "lines"}[g.pick(9)]
		op := []string{"==", "!="}[g.pick(2)]
		if g.pick(2) == 0 {
			return "null " + op + " " + g.f(field)
		}
		return g.f(field) + " " + op + " null"
	case 4: // in
		field := []string{"name", "code", "qty", "price", "at", "id"}[g.pick(6)]
		if field == "name" && g.pick(3) == 0 {
			return g.f("name") + " in auth.names"
		}
		return g.f(field) + " in " + g.list(genFields[field])
	case 5, 6: // string test
		field := []string{"name", "code", "id"}[g.pick(3)]
		return g.stringTest(g.f(field))
	case 7: // boolean field
		return g.f("active")
	case 8, 9, 10:
		return g.arrayTest()
	default: // no field
		return genDynamic[g.pick(len(genDynamic))]
	}
}

// list is a list literal of values of the kind.
func (g *filterGen) list(kind query.Kind) string {
	vals := genValues[kind]
	var elems []string
	for range g.pick(4) {
		v := vals[g.pick(len(vals))]
		if strings.HasPrefix(v, "auth.") {
			continue // a failing element would fail the whole list
		}
		elems = append(elems, v)
	}
	if len(elems) == 0 {
		elems = append(elems, vals[0])
	}
	return "[" + strings.Join(elems, ", ") + "]"
}

// stringTest is startsWith, endsWith or contains on the string s.
func (g *filterGen) stringTest(s string) string {
	fn := []string{"startsWith", "endsWith", "contains"}[g.pick(3)]
	vals := genValues[query.KindString]
	return s + "." + fn + "(" + vals[g.pick(len(vals))] + ")"
}
