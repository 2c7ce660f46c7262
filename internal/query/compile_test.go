package query

import (
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"cel.dev/cel-go/cel"
)

// testFields are the fields of the tests: every kind, as the spec would declare them.
var testFields = map[string]Field{
	"name":        {Name: "name", Kind: KindString},
	"customer_id": {Name: "customer_id", Kind: KindString},
	"price_cents": {Name: "price_cents", Kind: KindInteger},
	"rating":      {Name: "rating", Kind: KindNumber},
	"active":      {Name: "active", Kind: KindBool},
	"created_at":  {Name: "created_at", Kind: KindTimestamp},
	"tags":        {Name: "tags", Kind: KindJSON},
	"labels":      {Name: "labels", Kind: KindJSON, Elem: KindString},
	"scores":      {Name: "scores", Kind: KindJSON, Elem: KindInteger},
	"ratios":      {Name: "ratios", Kind: KindJSON, Elem: KindNumber},
	"flags":       {Name: "flags", Kind: KindJSON, Elem: KindBool},
	"dates":       {Name: "dates", Kind: KindJSON, Elem: KindTimestamp},
	"items":       {Name: "items", Kind: KindJSON, Elem: KindJSON},
}

var testNow = time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)

// testEnv declares record and auth as maps, now, lookup, and every field as a bare nullable
// variable, like the environments of access rules and of the filter parameter together.
func testEnv(t testing.TB) *cel.Env {
	t.Helper()
	dynMap := cel.MapType(cel.StringType, cel.DynType)
	env, err := cel.NewEnv(
		cel.Variable("record", dynMap),
		cel.Variable("auth", dynMap),
		cel.Variable("now", cel.TimestampType),
		cel.Variable("name", cel.NullableType(cel.StringType)),
		cel.Variable("customer_id", cel.NullableType(cel.StringType)),
		cel.Variable("price_cents", cel.NullableType(cel.IntType)),
		cel.Variable("rating", cel.NullableType(cel.DoubleType)),
		cel.Variable("active", cel.NullableType(cel.BoolType)),
		cel.Variable("created_at", cel.NullableType(cel.TimestampType)),
		cel.Variable("tags", cel.DynType),
		cel.Variable("labels", cel.ListType(cel.StringType)),
		cel.Variable("scores", cel.ListType(cel.IntType)),
		cel.Variable("ratios", cel.ListType(cel.DoubleType)),
		cel.Variable("flags", cel.ListType(cel.BoolType)),
		cel.Variable("dates", cel.ListType(cel.TimestampType)),
		cel.Variable("items", cel.ListType(dynMap)),
		cel.Function("lookup", cel.Overload("lookup_string_string",
			[]*cel.Type{cel.StringType, cel.StringType}, dynMap)),
	)
	if err != nil {
		t.Fatal(err)
	}
	return env
}

func testVars() map[string]any {
	return map[string]any{
		"auth": map[string]any{
			"sub":   "u1",
			"role":  "customer",
			"n":     5,
			"f":     2.5,
			"nan":   math.NaN(),
			"big":   uint64(math.MaxUint64),
			"none":  nil,
			"roles": []string{"a", "b"},
			"mixed": []any{"a", nil, "b"},
			"when":  time.Date(2023, 6, 1, 12, 0, 0, 0, time.FixedZone("CEST", 2*3600)),
		},
		"now": testNow,
	}
}

func compileTest(t *testing.T, env *cel.Env, src string, opts Options) (*Plan, error) {
	t.Helper()
	checked, iss := env.Compile(src)
	if iss.Err() != nil {
		t.Fatalf("cel: %v", iss.Err())
	}
	return Compile(env, checked, testFields, opts)
}

func TestCompileBind(t *testing.T) {
	env := testEnv(t)
	tests := []struct {
		src  string
		want string
	}{
		// Access rules: the parts without fields are decided per request.
		{`record.customer_id == auth.sub || auth.role == "admin"`, `customer_id == "u1"`},
		{`auth.role == "customer" || record.customer_id == auth.sub`, `true`},
		{`auth.role == "admin"`, `false`},
		{`true`, `true`},
		{`false || name == "x"`, `name == "x"`},
		{`true && name == "x"`, `name == "x"`},

		// Comparisons, with the field on either side.
		{`price_cents > 500 && name.startsWith("A")`, `((price_cents > 500) && name.startsWith("A"))`},
		{`500 < price_cents`, `price_cents > 500`},
		{`500 >= record.price_cents`, `price_cents <= 500`},
		{`record["name"] != "x"`, `name != "x"`},
		{`record.active == true`, `active == true`},
		{`rating >= 4.5`, `rating >= 4.5`},

		// Timestamps from expressions.
		{`created_at < now - duration("30m")`, `created_at < timestamp("2024-01-02T02:34:05Z")`},
		{`created_at >= timestamp("2024-01-01T01:00:00+01:00")`, `created_at >= timestamp("2024-01-01T00:00:00Z")`},
		{`record.created_at == auth.when`, `created_at == timestamp("2023-06-01T10:00:00Z")`},

		// Boolean fields and negation.
		{`active`, `active`},
		{`!active`, `!active`},
		{`!!active`, `active`},
		{`!(name == "a" && active)`, `!((name == "a") && active)`},

		// Null.
		{`name == null`, `name == null`},
		{`null != record.name`, `!(name == null)`},
		{`record.tags == null`, `tags == null`},
		{`name == auth.none`, `name == null`},
		{`name != auth.none`, `!(name == null)`},

		// in.
		{`record.name in ["a", "b"]`, `name in ["a", "b"]`},
		{`name in auth.roles`, `name in ["a", "b"]`},
		{`name in ["a", null]`, `((name in ["a"]) || (name == null))`},
		{`name in auth.mixed`, `((name in ["a", "b"]) || (name == null))`},
		{`record.name in []`, `false`},

		// Numbers across int and double, as CEL compares them.
		{`record.price_cents < 2.5`, `price_cents <= 2`},
		{`record.price_cents <= 2.5`, `price_cents <= 2`},
		{`record.price_cents > 2.5`, `price_cents >= 3`},
		{`record.price_cents >= -2.5`, `price_cents >= -2`},
		{`record.price_cents < -2.5`, `price_cents <= -3`},
		{`record.price_cents == 2.5`, `false`},
		{`record.price_cents != 2.5`, `true`},
		{`record.price_cents == 2.0`, `price_cents == 2`},
		{`record.price_cents == 5u`, `price_cents == 5`},
		{`record.price_cents in [1, 2.5, 3.0]`, `price_cents in [1, 3]`},
		{`record.rating > 4`, `rating > 4.0`},
		{`record.rating == auth.n`, `rating == 5.0`},
		{`record.price_cents < auth.f`, `price_cents <= 2`},

		// String tests.
		{`name.endsWith(".com")`, `name.endsWith(".com")`},
		{`record.name.contains(auth.sub)`, `name.contains("u1")`},
		{`name.startsWith("")`, `name.startsWith("")`},

		// Failed evaluation of a part without fields: never adds rows (see Bind).
		{`auth.missing == "x" || name == "a"`, `name == "a"`},
		{`!(auth.missing == "x") || name == "a"`, `name == "a"`},
		{`name == auth.missing`, `false`},
		{`!(name == auth.missing)`, `false`},
		{`!(name == auth.missing) || active`, `active`},
		{`price_cents < auth.none`, `false`},
		{`name.startsWith(auth.missing) || active`, `active`},
		{`name in auth.missing || active`, `active`},
		{`auth.sub && name == "x"`, `false`},

		// Comprehension variables hide the record variable and fields.
		{`[1, 2].exists(record, record == 2) && name == "x"`, `name == "x"`},
		{`["x"].exists(name, name == "x") && price_cents == 1`, `price_cents == 1`},

		// Membership in arrays.
		{`"go" in labels`, `"go" in labels`},
		{`auth.sub in record.labels`, `"u1" in labels`},
		{`!("go" in record.labels)`, `!("go" in labels)`},
		{`auth.none in labels`, `null in labels`},
		{`auth.missing in labels || active`, `active`},
		{`2.0 in record.scores`, `2 in scores`},
		{`2.5 in record.scores`, `size(scores) < 0`},
		{`auth.n in ratios`, `5.0 in ratios`},
		{`true in flags`, `true in flags`},
		{`now in dates`, `timestamp("2024-01-02T03:04:05Z") in dates`},

		// Sizes, with the array on either side and as a method.
		{`size(labels) > 0`, `size(labels) > 0`},
		{`record.labels.size() == 2`, `size(labels) == 2`},
		{`3 <= size(record.scores)`, `size(scores) >= 3`},
		{`size(record.labels) < auth.f`, `size(labels) <= 2`},
		{`size(record.labels) == auth.f`, `size(labels) < 0`},
		{`size(record.labels) != auth.f`, `size(labels) >= 0`},
		{`size(record.labels) == auth.none`, `size(labels) < 0`},
		{`size(record.labels) != auth.none`, `size(labels) >= 0`},
		{`size(record.labels) < auth.none || active`, `active`},
		{`size(items) > 1`, `size(items) > 1`},

		// exists() and all(), with the forms of a filter on the element.
		{`labels.exists(l, l == "go")`, `labels.exists(l, l == "go")`},
		{`record.labels.exists(l, l.startsWith("g") && l != "gone")`, `labels.exists(l, (l.startsWith("g") && (l != "gone")))`},
		{`record.labels.exists(l, l in ["a", "b"] || l == null)`, `labels.exists(l, ((l in ["a", "b"]) || (l == null)))`},
		{`labels.all(l, l.endsWith(auth.sub))`, `!labels.exists(l, !l.endsWith("u1"))`},
		{`record.scores.exists(s, s > 2.5 && 10 > s)`, `scores.exists(s, ((s >= 3) && (s < 10)))`},
		{`flags.exists(f, f)`, `flags.exists(f, f)`},
		{`flags.all(f, !f)`, `!flags.exists(f, f)`},
		{`dates.exists(d, d > now - duration("1h"))`, `dates.exists(d, d > timestamp("2024-01-02T02:04:05Z"))`},
		{`labels.exists(name, name == "x")`, `labels.exists(name, name == "x")`},
		{`record.labels.exists(record, record == "x")`, `labels.exists(record, record == "x")`},
		{`labels.exists(l, true)`, `size(labels) > 0`},
		{`labels.exists(l, auth.role == "admin")`, `size(labels) < 0`},
		{`labels.all(l, auth.role == "customer")`, `!(size(labels) < 0)`},
		{`labels.exists(l, l == auth.missing)`, `size(labels) < 0`},
		{`!labels.exists(l, l == auth.missing)`, `!(size(labels) > 0)`},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			plan, err := compileTest(t, env, tt.src, Options{RecordVar: "record", Bare: true})
			if err != nil {
				t.Fatalf("Compile: %v", err)
			}
			got, err := plan.Bind(testVars())
			if err != nil {
				t.Fatalf("Bind: %v", err)
			}
			if got.String() != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestBindValueTypes(t *testing.T) {
	env := testEnv(t)
	tests := []struct {
		src  string
		want Expr
	}{
		{`record.rating > 4`, Compare{Field: "rating", Op: Gt, Value: float64(4)}},
		{`record.price_cents == 5u`, Compare{Field: "price_cents", Op: Eq, Value: int64(5)}},
		{`record.price_cents < 2.5`, Compare{Field: "price_cents", Op: Le, Value: int64(2)}},
		{`name == "a"`, Compare{Field: "name", Op: Eq, Value: "a"}},
		{`active != false`, Compare{Field: "active", Op: Ne, Value: false}},
		{`record.price_cents in [1, 2]`, In{Field: "price_cents", Values: []any{int64(1), int64(2)}}},
		{`name.contains("b")`, Match{Field: "name", Kind: MatchContains, Text: "b"}},
		{`name.endsWith("b")`, Match{Field: "name", Kind: MatchSuffix, Text: "b"}},
		{`name.startsWith("b")`, Match{Field: "name", Kind: MatchPrefix, Text: "b"}},
		{`active`, Truth{Field: "active"}},
		{`name == null || !active`, Or{Terms: []Expr{IsNull{Field: "name"}, Not{X: Truth{Field: "active"}}}}},
		{`"a" in labels`, InArray{Field: "labels", Value: "a"}},
		{`auth.n in ratios`, InArray{Field: "ratios", Value: float64(5)}},
		{`2.0 in record.scores`, InArray{Field: "scores", Value: int64(2)}},
		{`auth.when in dates`, InArray{Field: "dates", Value: time.Date(2023, 6, 1, 10, 0, 0, 0, time.UTC)}},
		{`auth.none in record.flags`, InArray{Field: "flags"}},
		{`size(labels) >= 2`, Size{Field: "labels", Op: Ge, Value: 2}},
		{`scores.exists(s, s < 3)`, Exists{Field: "scores", Var: "s", Cond: Compare{Field: "s", Op: Lt, Value: int64(3)}}},
		{`flags.all(f, f)`, Not{X: Exists{Field: "flags", Var: "f", Cond: Not{X: Truth{Field: "f"}}}}},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			plan, err := compileTest(t, env, tt.src, Options{RecordVar: "record", Bare: true})
			if err != nil {
				t.Fatalf("Compile: %v", err)
			}
			got, err := plan.Bind(testVars())
			if err != nil {
				t.Fatalf("Bind: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %#v\nwant %#v", got, tt.want)
			}
		})
	}

	// Times are converted to UTC, whatever zone the value came in.
	plan, err := compileTest(t, env, `created_at > auth.when`, Options{Bare: true})
	if err != nil {
		t.Fatal(err)
	}
	got, err := plan.Bind(testVars())
	if err != nil {
		t.Fatal(err)
	}
	c, ok := got.(Compare)
	if !ok {
		t.Fatalf("got %#v, want a Compare", got)
	}
	tm, ok := c.Value.(time.Time)
	if !ok || tm.Location() != time.UTC || !tm.Equal(time.Date(2023, 6, 1, 10, 0, 0, 0, time.UTC)) {
		t.Errorf("value %#v, want 2023-06-01T10:00:00Z in UTC", c.Value)
	}
}

func TestCompileRejects(t *testing.T) {
	env := testEnv(t)
	tests := []struct {
		src    string
		msg    string
		offset int
	}{
		{`record.nope == 1`, `unknown field "nope"`, 7},
		{`record["nope"] == 1`, `unknown field "nope"`, 7},
		{`record.name == record.customer_id`, `comparing two fields is not supported`, 12},
		{`name < customer_id`, `comparing two fields is not supported`, 5},
		{`name.startsWith(customer_id)`, `comparing two fields is not supported`, 5},
		{`size(record.name) > 1`, `size() needs an array field; "name" is a string`, 0},
		{`tags.size() > 0`, `size() needs an array field; "tags" is an object or json`, 5},
		{`size(labels) in [1, 2]`, `size() of an array field can only be compared with a number`, 0},
		{`name.matches("a.*")`, `function matches() is not supported on fields`, 5},
		{`record.price_cents + 1 > 2`, `arithmetic on fields is not supported`, 19},
		{`-price_cents < 1`, `arithmetic on fields is not supported`, 0},
		{`record.price_cents == record.price_cents * 2`, `arithmetic on fields is not supported`, 41},
		{`record.tags.exists(t, t == 1)`, `exists() needs an array field; "tags" is an object or json`, 12},
		{`[1, 2].exists(x, x == price_cents)`, `exists() over a list of values cannot mention fields; apply it to an array field`, 7},
		{`["a"].all(x, x == "a" && active)`, `all() over a list of values cannot mention fields`, 6},
		{`labels.exists(l, l == name)`, `the condition of exists() or all() can test only its element l; conditions on "name" belong outside`, 22},
		{`labels.exists(l, record.active)`, `conditions on "active" belong outside`, 24},
		{`labels.exists(l, labels.exists(m, m == l))`, `conditions on "labels" belong outside`, 17},
		{`labels.exists_one(l, l == "a")`, `of the macros, only exists() and all() can be applied to fields`, 7},
		{`labels.map(l, l == "a").size() > 0`, `of the macros, only exists() and all() can be applied to fields`, 7},
		{`record.labels.exists(l, l)`, `field "l" is a string, not a condition`, 24},
		{`record.labels.exists(l, l > 1)`, `field "l" is a string and cannot be compared with an integer`, 28},
		{`labels.exists(l, size(l) > 1)`, `size() needs an array field; "l" is a string`, 17},
		{`items.exists(i, i.q > 1)`, `exists() cannot test the elements of "items", an array of objects`, 6},
		{`items.all(i, i.q > 1)`, `all() cannot test the elements of "items", an array of objects`, 6},
		{`{"q": 1} in items`, `in cannot test the elements of "items", an array of objects`, 9},
		{`"a" in record.name`, `in needs an array field; "name" is a string`, 4},
		{`1 in record.labels`, `field "labels" holds string values and cannot hold an integer`, 0},
		{`auth.sub in record.scores && "a" in record.labels && 1e300 in record.scores`, `cannot be compared exactly with integer field "scores"`, 53},
		{`name in labels`, `comparing two fields is not supported`, 5},
		{`labels.exists(l, l == "a") == true`, `of the macros, only exists() and all() can be applied to fields`, 7},
		{`has(record.name)`, `has() is not supported; compare the field with null instead`, 0},
		{`record.name == 1`, `field "name" is a string and cannot be compared with an integer`, 15},
		{`record.created_at < 5`, `field "created_at" is a timestamp and cannot be compared with an integer`, 20},
		{`record.active == "yes"`, `field "active" is a boolean and cannot be compared with a string`, 17},
		{`record.name == ["a"]`, `field "name" is a string and cannot be compared with a list(string)`, 15},
		{`record.name == auth.sub + 1`, `field "name" is a string and cannot be compared with an integer`, 15},
		{`price_cents in [1, "a"]`, `field "price_cents" is an integer and cannot be compared with a string`, 19},
		{`record.price_cents < 1e300`, `cannot be compared exactly with integer field "price_cents"`, 21},
		{`record.price_cents == 18446744073709551615u`, `too large to compare with integer field "price_cents"`, 22},
		{`record.tags == [1]`, `field "tags" holds arrays, objects or json and can only be compared with null`, 12},
		{`record.tags in [1]`, `field "tags" holds arrays, objects or json`, 12},
		{`record.tags.city == "x"`, `field "tags" cannot be looked into`, 12},
		{`"a" in record.tags`, `in needs an array field; "tags" is an object or json`, 4},
		{`record.price_cents < null`, `null can only be compared with == or !=`, 19},
		{`record.active ? true : false`, `the conditional operator ?: is not supported on fields`, 14},
		{`(price_cents > 1) == true`, `the result of a condition cannot be compared`, 13},
		{`record == {}`, `record can only be used to name a field, as record.<field>`, 0},
		{`record.name`, `field "name" is a string, not a condition`, 7},
		{`name.startsWith("a") && record.rating`, `field "rating" is a number, not a condition`, 31},
		{`record.price_cents.startsWith("1")`, `startsWith() needs a string field; "price_cents" is an integer`, 19},
		{`record.name in {"a": 1}`, `in needs a list of values, not a map(string, int)`, 15},
		{`record.name in [1, 2]`, `field "name" is a string and cannot be compared with a list(int)`, 15},
		{`"abc".startsWith(name)`, `startsWith() needs the field before the dot`, 6},
		{`lookup("products", "p1").price > 1 || name == "x"`, `lookup() cannot be used here`, 0},
		{`"abc"`, `the expression must be a condition (true or false), not a string`, 0},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			_, err := compileTest(t, env, tt.src, Options{RecordVar: "record", Bare: true})
			var qe *Error
			if !errors.As(err, &qe) {
				t.Fatalf("err = %v, want *Error", err)
			}
			if !strings.Contains(qe.Message, tt.msg) {
				t.Errorf("message %q, want it to contain %q", qe.Message, tt.msg)
			}
			if qe.Offset != tt.offset {
				t.Errorf("offset %d, want %d (%q)", qe.Offset, tt.offset, tt.src[min(tt.offset, len(tt.src)):])
			}
			if !strings.HasPrefix(err.Error(), "filter: ") {
				t.Errorf("Error() = %q, want the filter: prefix", err.Error())
			}
		})
	}
}

func TestBindRejects(t *testing.T) {
	env := testEnv(t)
	tests := []struct {
		src    string
		msg    string
		offset int
	}{
		{`name == auth.n`, `field "name" is a string and cannot be compared with auth.n, which is an integer`, 8},
		{`record.price_cents == auth.big`, `auth.big is too large to compare with integer field "price_cents"`, 22},
		{`rating < auth.nan`, `auth.nan is NaN, which cannot be compared`, 9},
		{`name in auth.sub`, `in needs a list of values; auth.sub is a string`, 8},
		{`name in auth.when`, `in needs a list of values; auth.when is a timestamp`, 8},
		{`name.startsWith(auth.n)`, `startsWith() needs a string; auth.n is an integer`, 16},
		{`price_cents in [1, auth.sub]`, `field "price_cents" is an integer and cannot be compared with an element of [1, auth.sub], which is a string`, 15},
		{`auth.n in record.labels`, `field "labels" is a string and cannot be compared with auth.n, which is an integer`, 0},
		{`size(record.labels) > auth.sub`, `field "labels" is an integer and cannot be compared with auth.sub, which is a string`, 22},
		{`record.ratios.exists(r, r < auth.nan)`, `auth.nan is NaN, which cannot be compared`, 28},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			plan, err := compileTest(t, env, tt.src, Options{RecordVar: "record", Bare: true})
			if err != nil {
				t.Fatalf("Compile: %v", err)
			}
			_, err = plan.Bind(testVars())
			var qe *Error
			if !errors.As(err, &qe) {
				t.Fatalf("err = %v, want *Error", err)
			}
			if !strings.Contains(qe.Message, tt.msg) || qe.Offset != tt.offset {
				t.Errorf("got %q at %d, want %q at %d", qe.Message, qe.Offset, tt.msg, tt.offset)
			}
		})
	}
}

func TestCompileOptions(t *testing.T) {
	env := testEnv(t)

	// Without Bare, identifiers are ordinary variables, evaluated at Bind.
	plan, err := compileTest(t, env, `name == "x" && record.price_cents > 1`, Options{RecordVar: "record"})
	if err != nil {
		t.Fatal(err)
	}
	vars := testVars()
	vars["name"] = "x"
	if got, err := plan.Bind(vars); err != nil || got.String() != "price_cents > 1" {
		t.Errorf("Bind = %v, %v; want price_cents > 1", got, err)
	}

	// Without RecordVar, record is an ordinary variable too.
	plan, err = compileTest(t, env, `record.x == 1 && price_cents > 1`, Options{Bare: true})
	if err != nil {
		t.Fatal(err)
	}
	vars["record"] = map[string]any{"x": 1}
	if got, err := plan.Bind(vars); err != nil || got.String() != "price_cents > 1" {
		t.Errorf("Bind = %v, %v; want price_cents > 1", got, err)
	}

	// MaxNodes bounds the expression after macro expansion; the default is 200.
	long := strings.Repeat(`price_cents == 1 || `, 60) + `true`
	if _, err := compileTest(t, env, long, Options{Bare: true}); err == nil || !strings.Contains(err.Error(), "too large") {
		t.Errorf("Compile of %d terms: %v, want too large", 61, err)
	}
	if _, err := compileTest(t, env, long, Options{Bare: true, MaxNodes: 1000}); err != nil {
		t.Errorf("Compile with MaxNodes 1000: %v", err)
	}
	if _, err := compileTest(t, env, `[1, 2, 3].all(x, x > 0) && active`, Options{Bare: true, MaxNodes: 10}); err == nil {
		t.Error("Compile of a macro with MaxNodes 10 succeeded; want too large")
	}

	// Untrusted filters may apply exists() and all() to array fields, and no other macro.
	for _, src := range []string{`labels.exists(l, l == "a")`, `!scores.all(s, s > 1) || active`} {
		if _, err := compileTest(t, env, src, Options{Bare: true, Untrusted: true}); err != nil {
			t.Errorf("untrusted %s: %v", src, err)
		}
	}
	for _, src := range []string{`[1, 2, 3].all(x, x > 0) && active`, `labels.exists_one(l, l == "a")`,
		`labels.filter(l, l == "a").size() > 0`, `labels.exists(l, ["a"].exists(x, x == l))`, `size(labels.map(l, l)) > 0`} {
		_, err := compileTest(t, env, src, Options{Bare: true, Untrusted: true})
		if err == nil || !strings.Contains(err.Error(), "macros are not supported in filters, except exists() and all() over an array field") {
			t.Errorf("untrusted %s: %v, want macros refused", src, err)
		}
	}

	// An unchecked expression is a programming error, not an *Error.
	parsed, iss := env.Parse(`name == "x"`)
	if iss.Err() != nil {
		t.Fatal(iss.Err())
	}
	_, err = Compile(env, parsed, testFields, Options{Bare: true})
	var qe *Error
	if err == nil || errors.As(err, &qe) {
		t.Errorf("Compile of a parsed expression: %v, want a plain error", err)
	}
}

// TestPlanReuse checks that a plan evaluates its dynamic parts anew at every Bind.
func TestPlanReuse(t *testing.T) {
	env := testEnv(t)
	plan, err := compileTest(t, env, `record.customer_id == auth.sub || auth.role == "admin"`, Options{RecordVar: "record"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		auth map[string]any
		want string
	}{
		{map[string]any{"sub": "u1", "role": "customer"}, `customer_id == "u1"`},
		{map[string]any{"sub": "u2", "role": "admin"}, `true`},
		{map[string]any{"sub": "u3"}, `customer_id == "u3"`},
		{map[string]any{}, `false`},
	} {
		got, err := plan.Bind(map[string]any{"auth": tc.auth, "now": testNow})
		if err != nil {
			t.Fatal(err)
		}
		if got.String() != tc.want {
			t.Errorf("auth %v: got %s, want %s", tc.auth, got, tc.want)
		}
	}
}

func TestExprString(t *testing.T) {
	e := And{Terms: []Expr{
		Compare{Field: "a", Op: Le, Value: 1.5},
		Or{Terms: []Expr{Not{X: IsNull{Field: "b"}}, Const(false)}},
		In{Field: "c", Values: []any{int64(1), "x", true}},
		Match{Field: "d", Kind: MatchSuffix, Text: `q"`},
		Compare{Field: "e", Op: Ne, Value: time.Date(2024, 1, 1, 0, 0, 0, 5, time.UTC)},
		Or{},
		Not{X: InArray{Field: "f", Value: 2.0}},
		Size{Field: "g", Op: Gt, Value: 1},
		Exists{Field: "h", Var: "x", Cond: Or{Terms: []Expr{IsNull{Field: "x"}, Match{Field: "x", Kind: MatchPrefix, Text: "a"}}}},
	}}
	want := `((a <= 1.5) && (!(b == null) || false) && (c in [1, "x", true]) && d.endsWith("q\"") && ` +
		`(e != timestamp("2024-01-01T00:00:00.000000005Z")) && false && !(2.0 in f) && (size(g) > 1) && ` +
		`h.exists(x, ((x == null) || x.startsWith("a"))))`
	if got := e.String(); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}
