package sqlite

import (
	"database/sql"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"

	"github.com/plinth-dev/plinth/internal/query"
	"github.com/plinth-dev/plinth/internal/store/sqlwhere"
)

// The differential tests below check renderWhere against CEL itself: for each filter, the
// rows SQLite selects must be exactly the rows for which the CEL expression, evaluated in
// memory over the decoded row, is true.

var whereFields = map[string]query.Field{
	"id":         {Name: "id", Kind: query.KindInteger},
	"name":       {Name: "name", Kind: query.KindString},
	"code":       {Name: "code", Kind: query.KindString},
	"qty":        {Name: "qty", Kind: query.KindInteger},
	"price":      {Name: "price", Kind: query.KindNumber},
	"active":     {Name: "active", Kind: query.KindBool},
	"created_at": {Name: "created_at", Kind: query.KindTimestamp},
	"tags":       {Name: "tags", Kind: query.KindJSON},
}

// whereColumns lists the columns in table order.
var whereColumns = []string{"id", "name", "code", "qty", "price", "active", "created_at", "tags"}

var whereNow = time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)

func whereTestCol(field string) string { return `"` + field + `"` }

func whereVars() map[string]any {
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
		"now": whereNow,
	}
}

// whereEnv declares the fields both ways a filter may name them: record.<field> and bare.
func whereEnv(t testing.TB) *cel.Env {
	t.Helper()
	dynMap := cel.MapType(cel.StringType, cel.DynType)
	env, err := cel.NewEnv(
		cel.Variable("record", dynMap),
		cel.Variable("auth", dynMap),
		cel.Variable("now", cel.TimestampType),
		cel.Variable("id", cel.IntType),
		cel.Variable("name", cel.NullableType(cel.StringType)),
		cel.Variable("code", cel.NullableType(cel.StringType)),
		cel.Variable("qty", cel.NullableType(cel.IntType)),
		cel.Variable("price", cel.NullableType(cel.DoubleType)),
		cel.Variable("active", cel.NullableType(cel.BoolType)),
		cel.Variable("created_at", cel.NullableType(cel.TimestampType)),
		cel.Variable("tags", cel.DynType),
	)
	if err != nil {
		t.Fatal(err)
	}
	return env
}

// whereRows builds the fixed rows: every kind with NULLs, strings that LIKE would misread
// (%, _, \, case), bytes at the edges of UTF-8, NUL, extreme numbers and times.
func whereRows() []map[string]any {
	names := []any{"Apple", "apple", "APPLE", "a%b", "a_b", `a\b`, "100%", "_x", "", "ünïcödé",
		"日本語", "a\x7f", "é", "e", "ab", "abc", "abd", "b", "Z", nil, " lead", "trail ", "x\x00y",
		"A", "Ab", "aB", "%", "_", `\`, "a\x00", "ab%", "abcdef", "\u00ff\u00ff", "apple pie"}
	codes := []any{"ab", "AB", nil, "b", "", "%", "apple", "c_d", "zz"}
	qtys := []any{int64(0), int64(1), int64(2), int64(3), int64(-1), int64(-5), nil, int64(10),
		int64(100), int64(math.MaxInt64), int64(math.MinInt64), int64(1) << 53, int64(1)<<53 + 1}
	prices := []any{0.0, 0.5, 2.5, 3.0, -2.5, nil, 99.99, 1e10, math.Inf(1), math.Inf(-1), -0.0,
		9.007199254740993e15, 3.0000000000000004}
	actives := []any{true, false, nil, true}
	times := []any{
		time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2024, 1, 2, 3, 4, 5, 123456000, time.UTC),
		nil,
		time.Date(1999, 12, 31, 23, 59, 59, 999999000, time.UTC),
		time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC),
		whereNow,
		whereNow.Add(-time.Hour),
		whereNow.Add(-time.Minute),
		whereNow.Add(time.Microsecond),
		time.Date(2024, 1, 2, 3, 4, 5, 123457000, time.UTC),
	}
	tagsList := []any{nil, []any{"a", "b"}, map[string]any{"k": int64(1)}, []any{}, "s"}
	var rows []map[string]any
	for i := range 44 {
		rows = append(rows, map[string]any{
			"id":         int64(i + 1),
			"name":       names[i%len(names)],
			"code":       codes[(i*5)%len(codes)],
			"qty":        qtys[(i*7)%len(qtys)],
			"price":      prices[(i*3)%len(prices)],
			"active":     actives[(i/3)%len(actives)],
			"created_at": times[(i*4)%len(times)],
			"tags":       tagsList[i%len(tagsList)],
		})
	}
	return rows
}

// openWhereDB creates the table, stores the rows through encodeValue and reads them back
// through decodeValue, so that the in-memory side sees exactly what SQLite holds.
func openWhereDB(t testing.TB) (*sql.DB, []map[string]any) {
	t.Helper()
	db, err := sql.Open("sqlite", filepath.Join(t.TempDir(), "where.db"))
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { db.Close() })
	_, err = db.Exec(`CREATE TABLE t ("id" INTEGER PRIMARY KEY, "name" TEXT, "code" TEXT, "qty" INTEGER,
		"price" REAL, "active" INTEGER, "created_at" TEXT, "tags" TEXT)`)
	if err != nil {
		t.Fatal(err)
	}
	for _, row := range whereRows() {
		args := make([]any, len(whereColumns))
		for i, c := range whereColumns {
			if args[i], err = encodeValue(whereFields[c].Kind, row[c]); err != nil {
				t.Fatalf("encode %s: %v", c, err)
			}
		}
		if _, err := db.Exec(`INSERT INTO t VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, args...); err != nil {
			t.Fatal(err)
		}
	}
	rows, err := db.Query(`SELECT * FROM t ORDER BY "id"`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []map[string]any
	for rows.Next() {
		raw := make([]any, len(whereColumns))
		ptrs := make([]any, len(raw))
		for i := range raw {
			ptrs[i] = &raw[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		rec := map[string]any{}
		for i, c := range whereColumns {
			if rec[c], err = decodeValue(whereFields[c].Kind, raw[i]); err != nil {
				t.Fatalf("decode %s: %v", c, err)
			}
		}
		out = append(out, rec)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return db, out
}

// whereFilters are filters with their CEL meaning; each is checked on every row.
var whereFilters = []string{
	// Equality and null, both spellings of a field.
	`name == "apple"`, `record.name == "apple"`, `name != "apple"`, `!(name == "apple")`,
	`!(name != "apple")`, `name == null`, `name != null`, `null == record.name`, `!(name == null)`,
	`code == ""`, `code != ""`, `record.code == auth.sub`, `record.code != auth.none`,
	`name == "x\x00y"`, `name == "a\x00"`, `name == "日本語"`,

	// Orderings: null fails, which matters under negation.
	`name < "b"`, `!(name < "b")`, `name >= "a"`, `!(name >= "a")`, `"b" > name`,
	`qty > 2`, `qty <= 2`, `!(qty <= 2)`, `2 < qty`, `qty >= -1 && qty < 100`,
	`!(qty > 0) || name == "b"`, `!(qty > 0 && price > 0.0)`, `!(qty > 0 || price > 0.0)`,
	`price > 2.5`, `price >= 2.5`, `price < 0.0`, `!(price < 0.0)`, `price == 0.0`, `price != 3.0`,
	`price < 9007199254740993.0`, `price > 1e300`, `price == -0.0`,

	// Integers against doubles and uints, as CEL compares them.
	`record.qty < 2.5`, `record.qty <= 2.5`, `record.qty > 2.5`, `record.qty >= 2.5`,
	`record.qty == 2.5`, `record.qty != 2.5`, `!(record.qty == 2.5)`, `!(record.qty != 2.5)`,
	`record.qty == 3.0`, `record.qty < -2.5`, `record.qty == 3u`, `record.qty > auth.f`,
	`record.qty == auth.n`, `record.price == 3`, `record.price < auth.n`, `record.price > 3u`,
	`record.qty in [1, 2.5, 10]`, `record.qty in auth.qtys`, `record.price in [2.5, 3]`,
	`qty == 9223372036854775807`, `qty < auth.minint`, `qty <= auth.minint`, `qty > 9007199254740992`,
	`record.qty < 4503599627370495.5`,

	// Booleans.
	`active`, `!active`, `record.active`, `!record.active`, `active == true`, `active != true`,
	`active == false`, `!(active == false)`, `active || name == "b"`, `!active && qty > 0`,
	`active < true`, `active >= false`, `active == null`, `active == auth.flag`,

	// Timestamps, including values finer than the microseconds stored.
	`created_at < now`, `created_at <= now`, `created_at == now`, `created_at != now`,
	`created_at > now - duration("90m")`, `!(created_at > now - duration("90m"))`,
	`created_at < timestamp("2000-01-01T00:00:00Z")`, `created_at >= timestamp("0001-01-01T00:00:00Z")`,
	`created_at == timestamp("2024-01-02T03:04:05.123456Z")`,
	`created_at < timestamp("2024-01-02T03:04:05.1234567Z")`,
	`created_at <= timestamp("2024-01-02T03:04:05.1234567Z")`,
	`created_at > timestamp("2024-01-02T03:04:05.1234567Z")`,
	`created_at >= timestamp("2024-01-02T03:04:05.1234567Z")`,
	`created_at == timestamp("2024-01-02T03:04:05.1234567Z")`,
	`created_at != timestamp("2024-01-02T03:04:05.1234567Z")`,
	`created_at in [now, timestamp("2024-01-02T03:04:05.1234567Z"), timestamp("2024-01-01T00:00:00Z")]`,
	`created_at == auth.when`, `created_at == null`,

	// in.
	`name in ["apple", "Apple", "b"]`, `!(name in ["apple", "b"])`, `name in auth.names`,
	`!(name in auth.names)`, `name in ["a", null]`, `name in []`, `!(name in [])`, `code in ["", "%"]`,

	// String tests: case, LIKE's special characters, bytes, null.
	`name.startsWith("a")`, `name.startsWith("A")`, `!name.startsWith("a")`, `name.startsWith("ab")`,
	`name.startsWith("a%")`, `name.startsWith("a_")`, `name.startsWith("_")`, `name.startsWith("%")`,
	`name.startsWith("\\")`, `name.startsWith("a\x7f")`, `name.startsWith("\u00ff")`,
	`name.startsWith("x\x00")`, `name.startsWith("")`, `!name.startsWith("")`, `name.startsWith("é")`,
	`name.endsWith("e")`, `name.endsWith("E")`, `!name.endsWith("b")`, `name.endsWith("%")`,
	`name.endsWith("_b")`, `name.endsWith("\x00y")`, `name.endsWith("")`, `name.endsWith("dé")`,
	`name.endsWith("abcdefg")`, `name.contains("b")`, `name.contains("B")`, `!name.contains("p")`,
	`name.contains("%")`, `name.contains("_")`, `name.contains("\\")`, `name.contains("\x00")`,
	`name.contains("")`, `name.contains("本")`, `code.startsWith(auth.sub)`, `code.contains(auth.none)`,
	`!code.contains(auth.none)`, `record.name.startsWith(auth.missing) || qty == 1`,

	// JSON fields can be tested for null only.
	`tags == null`, `tags != null`, `record.tags == null && name != null`,

	// Parts without fields, including ones that fail.
	`auth.role == "admin" || name == "b"`, `auth.role == "customer" && name == "b"`,
	`auth.missing == "x" || name == "b"`, `!(auth.missing == "x") || name == "b"`,
	`!(auth.missing == "x" && name == "b")`, `!(auth.missing == "x" || name == "b")`,
	`!(name == auth.missing)`, `!(name == auth.missing) || qty == 1`, `true`, `false`,
	`[1, 2].exists(x, x == 2) && qty == 1`, `id < 10 || record.id > 40`, `id in [1, 2, 3] || id == 44`,
}

// whereHarness holds the table, its rows as CEL sees them and the request variables.
type whereHarness struct {
	env  *cel.Env
	db   *sql.DB
	rows []map[string]any
	vars map[string]any
}

func newWhereHarness(t testing.TB) *whereHarness {
	db, rows := openWhereDB(t)
	return &whereHarness{env: whereEnv(t), db: db, rows: rows, vars: whereVars()}
}

// check compares SQLite with CEL for src and returns the ids both selected.
func (h *whereHarness) check(t testing.TB, src string) []int64 {
	t.Helper()
	checked, iss := h.env.Compile(src)
	if iss.Err() != nil {
		t.Fatalf("%s: cel: %v", src, iss.Err())
	}
	plan, err := query.Compile(h.env, checked, whereFields, query.Options{RecordVar: "record", Bare: true})
	if err != nil {
		t.Fatalf("%s: compile: %v", src, err)
	}
	pred, err := plan.Bind(h.vars)
	if err != nil {
		t.Fatalf("%s: bind: %v", src, err)
	}
	where, args, err := renderWhere(pred, whereFields, whereTestCol)
	if err != nil {
		t.Fatalf("%s: render %s: %v", src, pred, err)
	}
	got := h.selectIDs(t, where, args)

	prg, err := h.env.Program(checked)
	if err != nil {
		t.Fatalf("%s: program: %v", src, err)
	}
	var want []int64
	for _, row := range h.rows {
		act := map[string]any{"record": row}
		for k, v := range h.vars {
			act[k] = v
		}
		for _, c := range whereColumns {
			if row[c] == nil {
				act[c] = types.NullValue
			} else {
				act[c] = row[c]
			}
		}
		// An error, like any result but true, leaves the row out.
		if out, _, err := prg.Eval(act); err == nil && out == types.True {
			want = append(want, row["id"].(int64))
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("%s\n  predicate %s\n  SQL       %s %v\n  SQLite    %v\n  CEL       %v",
			src, pred, where, args, got, want)
	}
	return want
}

func (h *whereHarness) selectIDs(t testing.TB, where string, args []any) []int64 {
	t.Helper()
	rows, err := h.db.Query(`SELECT "id" FROM t WHERE `+where+` ORDER BY "id"`, args...)
	if err != nil {
		t.Fatalf("query %s: %v", where, err)
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return ids
}

func TestWhereMatchesCEL(t *testing.T) {
	h := newWhereHarness(t)
	if len(h.rows) < 40 {
		t.Fatalf("%d rows, want at least 40", len(h.rows))
	}
	partial := 0
	for _, src := range whereFilters {
		if n := len(h.check(t, src)); n > 0 && n < len(h.rows) {
			partial++
		}
	}
	// Filters that select all rows or none would agree with almost any renderer.
	if partial < len(whereFilters)*3/4 {
		t.Errorf("only %d of %d filters select some but not all rows", partial, len(whereFilters))
	}
}

// TestWhereRandom runs generated filters, as FuzzWhere does, from a fixed seed.
func TestWhereRandom(t *testing.T) {
	h := newWhereHarness(t)
	r := rand.New(rand.NewPCG(1, 2))
	for range 300 {
		data := make([]byte, 24+r.IntN(40))
		for i := range data {
			data[i] = byte(r.Uint32())
		}
		h.check(t, generateFilter(data))
	}
}

func FuzzWhere(f *testing.F) {
	for _, seed := range []string{
		"", "\x00", "\x03\x01\x02\x03\x04", "\x00\x03\x02\x05\x01\x03\x04\x06\x07",
		"\x01\x02\x04\x00\x03\x01\x05\x03\x02", "\x02\x05\x06\x07\x08\x09\x0a",
		"\x05\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09", "\x06\x01\x02\x03\x04\x05\x06",
		"\x07\x02\x03\x01\x00\x00", "\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f", "\x09\x04\x03\x02\x01",
		"\x0a\x0b\x0c\x0d\x0e\x10\x20\x30\x40", "\xff\xfe\xfd\xfc\xfb\xfa\xf9\xf8\xf7",
		"\x00\x00\x05\x07\x01\x01\x05\x02\x00\x04\x03\x01", "\x01\x00\x06\x02\x02\x00\x08\x01\x03",
	} {
		f.Add([]byte(seed))
	}
	h := newWhereHarness(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		h.check(t, generateFilter(data))
	})
}

// generateFilter builds a filter from data with a small grammar over the test fields: &&,
// ||, !, comparisons either way round, null tests, in, string tests, boolean fields and
// parts without fields. Every filter it builds type-checks and compiles.
func generateFilter(data []byte) string {
	g := &filterGen{data: data}
	return g.cond(0)
}

type filterGen struct {
	data []byte
	i    int
}

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

// genValue is a CEL operand; exact means its static type is the field's own, so that it may
// be compared with the bare (typed) variable and not only with record.<field>.
type genValue struct {
	src   string
	exact bool
}

var genValues = map[query.Kind][]genValue{
	query.KindString: {
		{`"apple"`, true}, {`"Apple"`, true}, {`"a"`, true}, {`"ab"`, true}, {`"b"`, true},
		{`""`, true}, {`"%"`, true}, {`"_"`, true}, {`"\\"`, true}, {`"é"`, true},
		{`"x\x00y"`, true}, {`"a\x7f"`, true}, {`"日本語"`, true}, {`"\u00ff\u00ff"`, true},
		{`auth.sub`, true}, {`auth.none`, true}, {`auth.missing`, true},
	},
	query.KindInteger: {
		{`0`, true}, {`1`, true}, {`3`, true}, {`-1`, true}, {`100`, true},
		{`9223372036854775807`, true}, {`auth.n`, true}, {`auth.minint`, true}, {`auth.none`, true},
		{`2.5`, false}, {`-2.5`, false}, {`3.0`, false}, {`3u`, false}, {`1e15`, false},
		{`auth.f`, true},
	},
	query.KindNumber: {
		{`0.0`, true}, {`2.5`, true}, {`-2.5`, true}, {`3.0`, true}, {`99.99`, true},
		{`1e10`, true}, {`-0.0`, true}, {`9007199254740993.0`, true}, {`auth.f`, true},
		{`3`, false}, {`-1`, false}, {`3u`, false}, {`auth.n`, true}, {`auth.missing`, true},
	},
	query.KindBool: {
		{`true`, true}, {`false`, true}, {`auth.flag`, true}, {`auth.none`, true},
	},
	query.KindTimestamp: {
		{`now`, true}, {`now - duration("1h")`, true}, {`now + duration("1us")`, true},
		{`timestamp("2024-01-01T00:00:00Z")`, true}, {`timestamp("2024-01-02T03:04:05.123456Z")`, true},
		{`timestamp("2024-01-02T03:04:05.1234567Z")`, true}, {`timestamp("0001-01-01T00:00:00Z")`, true},
		{`auth.when`, true}, {`auth.none`, true},
	},
}

var (
	genScalarFields = []string{"id", "name", "code", "qty", "price", "active", "created_at"}
	genOps          = []string{"==", "!=", "<", "<=", ">", ">="}
	genFlipped      = map[string]string{"==": "==", "!=": "!=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}
	genDynamic      = []string{`true`, `false`, `auth.role == "admin"`, `auth.role == "customer"`,
		`auth.missing == "x"`, `auth.flag`, `auth.sub`, `auth.n > 2`}
)

// ref names a field, bare or as record.<field>; bare only when the value's type is exact.
func (g *filterGen) ref(field string, exact bool) string {
	if exact && g.pick(2) == 0 {
		return field
	}
	return "record." + field
}

func (g *filterGen) leaf() string {
	switch g.pick(9) {
	case 0, 1, 2: // comparison
		field := genScalarFields[g.pick(len(genScalarFields))]
		kind := whereFields[field].Kind
		vals := genValues[kind]
		v := vals[g.pick(len(vals))]
		if field == "id" && v.src == "auth.none" {
			v.src = "auth.n" // id is declared non-null
		}
		op := genOps[g.pick(len(genOps))]
		ref := g.ref(field, v.exact)
		if g.pick(3) == 0 {
			return v.src + " " + genFlipped[op] + " " + ref
		}
		return ref + " " + op + " " + v.src
	case 3: // null test
		field := []string{"name", "code", "qty", "price", "active", "created_at", "tags"}[g.pick(7)]
		op := []string{"==", "!="}[g.pick(2)]
		if g.pick(2) == 0 {
			return "null " + op + " " + g.ref(field, true)
		}
		return g.ref(field, true) + " " + op + " null"
	case 4: // in
		field := []string{"name", "code", "qty", "price", "created_at"}[g.pick(5)]
		vals := genValues[whereFields[field].Kind]
		var elems []string
		exact := true
		for range g.pick(4) {
			v := vals[g.pick(len(vals))]
			if strings.HasPrefix(v.src, "auth.") {
				continue // a failing element would fail the whole list
			}
			elems = append(elems, v.src)
			exact = exact && v.exact
		}
		if g.pick(4) == 0 {
			elems = append(elems, "null")
		}
		if len(elems) == 0 && field == "name" && g.pick(2) == 0 {
			return g.ref(field, true) + " in auth.names"
		}
		return g.ref(field, exact && len(elems) > 0) + " in [" + strings.Join(elems, ", ") + "]"
	case 5, 6: // string test
		field := []string{"name", "code"}[g.pick(2)]
		fn := []string{"startsWith", "endsWith", "contains"}[g.pick(3)]
		vals := genValues[query.KindString]
		return g.ref(field, true) + "." + fn + "(" + vals[g.pick(len(vals))].src + ")"
	case 7: // boolean field
		return g.ref("active", true)
	default: // no field
		return genDynamic[g.pick(len(genDynamic))]
	}
}

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
		{query.Compare{Field: "s", Op: query.Eq, Value: "x"}, `("s" IS NOT NULL AND "s" = ?)`, []any{"x"}},
		{query.Compare{Field: "s", Op: query.Ne, Value: "x"}, `("s" IS NULL OR "s" <> ?)`, []any{"x"}},
		{query.Compare{Field: "i", Op: query.Ge, Value: int64(5)}, `"i" >= ?`, []any{int64(5)}},
		{query.Compare{Field: "b", Op: query.Eq, Value: true}, `("b" IS NOT NULL AND "b" = ?)`, []any{int64(1)}},
		{query.Compare{Field: "t", Op: query.Lt, Value: ts}, `"t" <= ?`, []any{"2024-01-02T03:04:05.600700Z"}},
		{query.Compare{Field: "t", Op: query.Eq, Value: ts}, `1=0`, nil},
		{query.In{Field: "i", Values: []any{int64(1), int64(2)}}, `("i" IS NOT NULL AND "i" IN (?, ?))`, []any{int64(1), int64(2)}},
		{query.In{Field: "i"}, `1=0`, nil},
		{query.IsNull{Field: "j"}, `"j" IS NULL`, nil},
		{query.Truth{Field: "b"}, `"b" = 1`, nil},
		{query.Not{X: query.Truth{Field: "b"}}, `(NOT "b" = 1)`, nil},
		{query.And{}, `1=1`, nil},
		{query.Or{}, `1=0`, nil},
		{query.Or{Terms: []query.Expr{query.Const(true), query.Const(false)}}, `(1=1 OR 1=0)`, nil},
		{query.Match{Field: "s", Kind: query.MatchPrefix, Text: "a%"}, `("s" >= ? AND "s" < ?)`, []any{"a%", "a&"}},
		{query.Match{Field: "s", Kind: query.MatchPrefix, Text: "\xff"}, `"s" >= ?`, []any{"\xff"}},
		{query.Match{Field: "s", Kind: query.MatchSuffix, Text: "é"}, `("s" <> '' AND substr(CAST("s" AS BLOB), ?) = ?)`, []any{int64(-2), []byte("é")}},
		{query.Match{Field: "s", Kind: query.MatchContains, Text: "_"}, `instr(CAST("s" AS BLOB), ?) > 0`, []any{[]byte("_")}},
		{query.Match{Field: "s", Kind: query.MatchContains}, `("s" IS NOT NULL OR NULL)`, nil},
	}
	for _, tt := range tests {
		sql, args, err := renderWhere(tt.expr, fields, whereTestCol)
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
		query.Match{Field: "i", Kind: query.MatchPrefix, Text: "1"},
		query.Truth{Field: "s"},
		nil,
	} {
		if sql, _, err := renderWhere(bad, fields, whereTestCol); err == nil {
			t.Errorf("%v rendered as %s, want an error", bad, sql)
		}
	}

	// Bounds: parameters and length.
	many := make([]any, 1001)
	for i := range many {
		many[i] = int64(i)
	}
	if _, _, err := renderWhere(query.In{Field: "i", Values: many}, fields, whereTestCol); !errors.Is(err, errWhereTooLarge) {
		t.Errorf("1001 parameters: %v, want errWhereTooLarge", err)
	}
	if _, args, err := renderWhere(query.In{Field: "i", Values: many[:1000]}, fields, whereTestCol); err != nil || len(args) != 1000 {
		t.Errorf("1000 parameters: %d, %v", len(args), err)
	}
	var terms []query.Expr
	for range 5000 {
		terms = append(terms, query.IsNull{Field: "s"})
	}
	if _, _, err := renderWhere(query.Or{Terms: terms}, fields, whereTestCol); !errors.Is(err, errWhereTooLarge) {
		t.Errorf("5000 terms of SQL: %v, want errWhereTooLarge", err)
	}
}

// TestEncodeDecodeValue pins the storage convention that insert, update and the WHERE
// renderer share.
func TestEncodeDecodeValue(t *testing.T) {
	cest := time.FixedZone("CEST", 2*3600)
	encodes := []struct {
		kind query.Kind
		in   any
		want any
	}{
		{query.KindString, "x", "x"},
		{query.KindInteger, int64(-7), int64(-7)},
		{query.KindInteger, 7, int64(7)},
		{query.KindNumber, 2.5, 2.5},
		{query.KindNumber, int64(3), 3.0},
		{query.KindBool, true, int64(1)},
		{query.KindBool, false, int64(0)},
		{query.KindTimestamp, time.Date(2024, 1, 2, 5, 4, 5, 123456789, cest), "2024-01-02T03:04:05.123456Z"},
		{query.KindTimestamp, time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC), "0001-01-01T00:00:00.000000Z"},
		{query.KindJSON, []any{"a", int64(1)}, `["a",1]`},
		{query.KindJSON, map[string]any{"k": true}, `{"k":true}`},
		{query.KindJSON, []any(nil), nil},
		{query.KindString, nil, nil},
	}
	for _, tt := range encodes {
		got, err := encodeValue(tt.kind, tt.in)
		if err != nil || got != tt.want {
			t.Errorf("encodeValue(%s, %#v) = %#v, %v; want %#v", tt.kind, tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []struct {
		kind query.Kind
		in   any
	}{
		{query.KindString, 5},
		{query.KindInteger, 2.5},
		{query.KindNumber, math.NaN()},
		{query.KindBool, int64(1)},
		{query.KindTimestamp, "2024-01-01"},
		{query.KindTimestamp, time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)},
		{query.KindJSON, func() {}},
		{query.Kind(0), "x"},
	} {
		if got, err := encodeValue(bad.kind, bad.in); err == nil {
			t.Errorf("encodeValue(%s, %#v) = %#v, want an error", bad.kind, bad.in, got)
		}
	}

	decodes := []struct {
		kind query.Kind
		in   any
		want any
	}{
		{query.KindString, []byte("x"), "x"},
		{query.KindInteger, int64(5), int64(5)},
		{query.KindNumber, int64(5), 5.0},
		{query.KindBool, int64(1), true},
		{query.KindBool, int64(0), false},
		{query.KindTimestamp, "2024-01-02T03:04:05.123456Z", time.Date(2024, 1, 2, 3, 4, 5, 123456000, time.UTC)},
		{query.KindTimestamp, time.Date(2024, 1, 2, 5, 0, 0, 0, cest), time.Date(2024, 1, 2, 3, 0, 0, 0, time.UTC)},
		{query.KindJSON, `{"a":[1,2.5,1e3,5.0,-0,12345678901234567890,"s",null,{"b":false}]}`,
			map[string]any{"a": []any{int64(1), 2.5, int64(1000), int64(5), int64(0), 1.2345678901234567e19,
				"s", nil, map[string]any{"b": false}}}},
		{query.KindJSON, []byte(` [] `), []any{}},
		{query.KindJSON, nil, nil},
	}
	for _, tt := range decodes {
		got, err := decodeValue(tt.kind, tt.in)
		if err != nil || fmt.Sprintf("%#v", got) != fmt.Sprintf("%#v", tt.want) {
			t.Errorf("decodeValue(%s, %#v) = %#v, %v; want %#v", tt.kind, tt.in, got, err, tt.want)
		}
		if tm, ok := got.(time.Time); ok && tm.Location() != time.UTC {
			t.Errorf("decodeValue(%s, %#v) is in %s, want UTC", tt.kind, tt.in, tm.Location())
		}
	}
	for _, bad := range []struct {
		kind query.Kind
		in   any
	}{
		{query.KindBool, int64(2)},
		{query.KindInteger, "5"},
		{query.KindTimestamp, "2024-01-02 03:04:05"},
		{query.KindJSON, `[1] [2]`},
		{query.KindJSON, `{"a":`},
		{query.KindJSON, `1e400`},
	} {
		if got, err := decodeValue(bad.kind, bad.in); err == nil {
			t.Errorf("decodeValue(%s, %#v) = %#v, want an error", bad.kind, bad.in, got)
		}
	}
}

// renderWhere renders e as an SQLite condition with ? parameters, as List does.
func renderWhere(e query.Expr, fields map[string]query.Field, col func(field string) string) (string, []any, error) {
	return sqlwhere.Render(&dialect, e, fields, col)
}

var errWhereTooLarge = sqlwhere.ErrTooLarge
