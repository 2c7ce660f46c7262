package engine_test

import (
	"encoding/json"
	"math"
	"reflect"
	"testing"
	"time"

	"github.com/plinth-dev/plinth/internal/fault"
	"github.com/plinth-dev/plinth/internal/store"
)

// validationSpec has one field per type and option. Only admins may act on it (no access rules).
const validationSpec = `
plinth: 1
name: test
resources:
  owners:
    fields:
      name: {type: string, max_length: 50}
  things:
    fields:
      title:   {type: string, min_length: 2, max_length: 5}
      code:    {type: string, pattern: "^[A-Z]{3}$"}
      email:   {type: string, format: email}
      site:    {type: string, format: uri}
      ext_id:  {type: string, format: uuid}
      day:     {type: string, format: date}
      count:   {type: integer, min: 0, max: 1000}
      ratio:   {type: number, min: 0.5, max: 2.5}
      flag:    boolean
      color:   {type: enum, values: [red, green, blue]}
      at:      timestamp
      owner:   {type: ref, resource: owners}
      tags:    {type: array, of: {type: string, max_length: 3}, min_items: 1, max_items: 3}
      owners:  {type: array, of: {type: ref, resource: owners}}
      items:
        type: array
        max_items: 5
        of:
          sku:      {type: string, required: true, max_length: 10}
          quantity: {type: integer, required: true, min: 1}
      dims:
        type: object
        fields:
          w: {type: number, min: 0}
          h: {type: integer, required: true}
          inner:
            type: object
            fields:
              note: {type: string, max_length: 3}
      meta:    json
      fixed:   {type: string, immutable: true, max_length: 10}
      needed:  {type: string, required: true, max_length: 10}
      upper:   {type: string, computed: 'needed == null ? "" : needed.upperAscii()'}
`

// TestValidateFieldValues runs one invalid (or valid) value per case through Create and checks
// the field errors, then that nothing was written.
func TestValidateFieldValues(t *testing.T) {
	t.Parallel()
	e := newEnv(t, validationSpec)
	owner := e.create(admin, "owners", `{"name": "o"}`).ID

	cases := []struct {
		name string
		body string            // members added to {"needed": "x"}
		want map[string]string // nil: valid
	}{
		// Strings: lengths count characters, not bytes.
		{"string ok", `"title": "abc"`, nil},
		{"string 5 chars of 6 bytes", `"title": "héllo"`, nil},
		{"string 3 runes of 9 bytes", `"title": "日本語"`, nil},
		{"string too long in characters", `"title": "日本語日本語"`, map[string]string{"title": "max_length"}},
		{"string too short in characters though 2 bytes", `"title": "é"`, map[string]string{"title": "min_length"}},
		{"string not a string", `"title": 12`, map[string]string{"title": "type"}},
		{"string array", `"title": ["ab"]`, map[string]string{"title": "type"}},
		{"pattern ok", `"code": "ABC"`, nil},
		{"pattern mismatch", `"code": "ABCD"`, map[string]string{"code": "pattern"}},
		{"pattern lowercase", `"code": "abc"`, map[string]string{"code": "pattern"}},
		{"email ok", `"email": "a.b@example.org"`, nil},
		{"email without at", `"email": "example.org"`, map[string]string{"email": "format"}},
		{"email with space", `"email": "a b@example.org"`, map[string]string{"email": "format"}},
		{"uri ok", `"site": "https://example.org/x?y=1"`, nil},
		{"uri opaque ok", `"site": "mailto:a@example.org"`, nil},
		{"uri relative", `"site": "/just/a/path"`, map[string]string{"site": "format"}},
		{"uri without host", `"site": "https://"`, map[string]string{"site": "format"}},
		{"uuid ok", `"ext_id": "0190c1d2-7b3a-7def-8123-456789abcdef"`, nil},
		{"uuid without dashes", `"ext_id": "0190c1d27b3a7def8123456789abcdef"`, map[string]string{"ext_id": "format"}},
		{"uuid in braces", `"ext_id": "{0190c1d2-7b3a-7def-8123-456789abcdef}"`, map[string]string{"ext_id": "format"}},
		{"uuid garbage", `"ext_id": "not-a-uuid"`, map[string]string{"ext_id": "format"}},
		{"date ok", `"day": "2026-02-28"`, nil},
		{"date impossible", `"day": "2026-02-30"`, map[string]string{"day": "format"}},
		{"date with time", `"day": "2026-02-28T00:00:00Z"`, map[string]string{"day": "format"}},
		// Integers: whole JSON numbers, written in any JSON notation.
		{"integer plain", `"count": 3`, nil},
		{"integer exponent", `"count": 1e3`, nil},
		{"integer 1.0", `"count": 1.0`, nil},
		{"integer fraction", `"count": 1.5`, map[string]string{"count": "type"}},
		{"integer string", `"count": "3"`, map[string]string{"count": "type"}},
		{"integer over 64 bits", `"count": 9223372036854775808`, map[string]string{"count": "type"}},
		{"integer bool", `"count": true`, map[string]string{"count": "type"}},
		{"integer below min", `"count": -1`, map[string]string{"count": "min"}},
		{"integer above max", `"count": 1001`, map[string]string{"count": "max"}},
		{"integer at bounds", `"count": 1000`, nil},
		// Numbers.
		{"number ok", `"ratio": 1.25`, nil},
		{"number whole", `"ratio": 2`, nil},
		{"number below min", `"ratio": 0.49`, map[string]string{"ratio": "min"}},
		{"number above max", `"ratio": 2.51`, map[string]string{"ratio": "max"}},
		{"number string", `"ratio": "1.5"`, map[string]string{"ratio": "type"}},
		{"number out of float range", `"ratio": 1e400`, map[string]string{"ratio": "type"}},
		// Booleans.
		{"boolean ok", `"flag": false`, nil},
		{"boolean as number", `"flag": 1`, map[string]string{"flag": "type"}},
		{"boolean as string", `"flag": "true"`, map[string]string{"flag": "type"}},
		// Enums.
		{"enum ok", `"color": "green"`, nil},
		{"enum other value", `"color": "purple"`, map[string]string{"color": "enum"}},
		{"enum wrong case", `"color": "Red"`, map[string]string{"color": "enum"}},
		{"enum number", `"color": 1`, map[string]string{"color": "type"}},
		// Timestamps.
		{"timestamp ok", `"at": "2026-01-31T12:00:00Z"`, nil},
		{"timestamp with offset", `"at": "2026-01-31T12:00:00+05:30"`, nil},
		{"timestamp date only", `"at": "2026-01-31"`, map[string]string{"at": "type"}},
		{"timestamp without zone", `"at": "2026-01-31T12:00:00"`, map[string]string{"at": "type"}},
		{"timestamp number", `"at": 1767182400`, map[string]string{"at": "type"}},
		// References must exist.
		{"ref ok", `"owner": "` + owner + `"`, nil},
		{"ref missing", `"owner": "0190c1d2-7b3a-7def-8123-456789abcdef"`, map[string]string{"owner": "not_found"}},
		{"ref not a string", `"owner": 5`, map[string]string{"owner": "type"}},
		{"ref in array missing", `"owners": ["` + owner + `", "nope"]`, map[string]string{"owners[1]": "not_found"}},
		// Arrays: item counts and element constraints, with element paths.
		{"array ok", `"tags": ["a", "bb", "ccc"]`, nil},
		{"array too few", `"tags": []`, map[string]string{"tags": "min_items"}},
		{"array too many", `"tags": ["a", "b", "c", "d"]`, map[string]string{"tags": "max_items"}},
		{"array element too long", `"tags": ["a", "bbbb"]`, map[string]string{"tags[1]": "max_length"}},
		{"array element wrong type", `"tags": ["a", 2, "c"]`, map[string]string{"tags[1]": "type"}},
		{"array null element", `"tags": ["a", null]`, map[string]string{"tags[1]": "required"}},
		{"array not an array", `"tags": "a"`, map[string]string{"tags": "type"}},
		{"array of objects ok", `"items": [{"sku": "a", "quantity": 1}, {"sku": "b", "quantity": 2}]`, nil},
		{"array of objects element errors", `"items": [{"sku": "a", "quantity": 1}, {"sku": "b", "quantity": 2}, {"sku": "c", "quantity": 0}]`,
			map[string]string{"items[2].quantity": "min"}},
		{"array of objects required member", `"items": [{"quantity": 1}, {"sku": "b"}]`,
			map[string]string{"items[0].sku": "required", "items[1].quantity": "required"}},
		{"array of objects unknown member", `"items": [{"sku": "a", "quantity": 1, "price": 3}]`,
			map[string]string{"items[0].price": "unknown"}},
		{"array of objects element not an object", `"items": [5]`, map[string]string{"items[0]": "type"}},
		// Nested objects.
		{"object ok", `"dims": {"w": 1.5, "h": 2, "inner": {"note": "abc"}}`, nil},
		{"object required member", `"dims": {"w": 1}`, map[string]string{"dims.h": "required"}},
		{"object nested errors", `"dims": {"w": -1, "h": 1.5, "inner": {"note": "abcd", "x": 1}}`,
			map[string]string{"dims.w": "min", "dims.h": "type", "dims.inner.note": "max_length", "dims.inner.x": "unknown"}},
		{"object not an object", `"dims": [1]`, map[string]string{"dims": "type"}},
		{"object nested system name is unknown", `"dims": {"h": 1, "id": "x"}`, map[string]string{"dims.id": "unknown"}},
		// json keeps anything.
		{"json object", `"meta": {"a": [1, 2.5, "x", null, {"b": true}]}`, nil},
		{"json scalar", `"meta": "just a string"`, nil},
		// Fields clients may not write.
		{"unknown field", `"nope": 1`, map[string]string{"nope": "unknown"}},
		{"system id", `"id": "0190c1d2-7b3a-7def-8123-456789abcdef"`, map[string]string{"id": "read_only"}},
		{"system created_at", `"created_at": "2026-01-31T12:00:00Z"`, map[string]string{"created_at": "read_only"}},
		{"system updated_at", `"updated_at": "2026-01-31T12:00:00Z"`, map[string]string{"updated_at": "read_only"}},
		{"system version", `"version": 7`, map[string]string{"version": "read_only"}},
		{"expand envelope", `"expand": {}`, map[string]string{"expand": "read_only"}},
		{"computed field", `"upper": "X"`, map[string]string{"upper": "read_only"}},
		{"computed field set to null", `"upper": null`, map[string]string{"upper": "read_only"}},
		// Required.
		{"required null", `"needed": null`, map[string]string{"needed": "required"}}, // a later member wins
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			src := `{"needed": "x", ` + c.body + `}`
			before := len(e.all("things"))
			rec, err := create1(e.eng, admin, "things", body(t, src))
			if c.want == nil {
				if err != nil {
					t.Fatalf("create %s: %s", src, describe(err))
				}
				if _, err := e.eng.Get(admin, "things", rec.ID); err != nil {
					t.Fatalf("get the created record: %s", describe(err))
				}
				return
			}
			if err == nil {
				t.Fatalf("create %s succeeded with %v; want field errors %v", src, rec, c.want)
			}
			f := wantCode(t, err, fault.Invalid)
			if f.Type != fault.TypeValidation {
				t.Errorf("problem type %q, want validation", f.Type)
			}
			wantFields(t, err, c.want)
			if after := len(e.all("things")); after != before {
				t.Fatalf("a failed create wrote a record: %d records before, %d after", before, after)
			}
		})
	}
}

// TestValidateReportsEveryErrorAtOnce: a client learns all its input mistakes in one round trip.
func TestValidateReportsEveryErrorAtOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t, validationSpec)
	_, err := create1(e.eng, admin, "things", body(t, `{
		"needed": "x",
		"title": "a",
		"code": "abc",
		"email": "nope",
		"count": 1.5,
		"ratio": 9,
		"flag": "yes",
		"color": "pink",
		"at": "yesterday",
		"tags": ["toolong", 1],
		"items": [{"sku": "a", "quantity": 0}, {"sku": 3, "quantity": 1}],
		"dims": {"w": "wide", "h": 1},
		"id": "x",
		"upper": "X",
		"bogus": true
	}`))
	wantFields(t, err, map[string]string{
		"title": "min_length", "code": "pattern", "email": "format", "count": "type", "ratio": "max",
		"flag": "type", "color": "enum", "at": "type", "tags[0]": "max_length", "tags[1]": "type",
		"items[0].quantity": "min", "items[1].sku": "type", "dims.w": "type",
		"id": "read_only", "upper": "read_only", "bogus": "unknown",
	})
	if n := len(e.all("things")); n != 0 {
		t.Fatalf("%d records written by a failed create", n)
	}
}

// TestValidateReportsRequiredAndRefsWithTypeErrors: required fields and missing references are
// field errors like any other, so they belong in the same answer as a type error.
func TestValidateReportsRequiredAndRefsWithTypeErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t, validationSpec)
	_, err := create1(e.eng, admin, "things", body(t, `{"count": "three", "owner": "0190c1d2-7b3a-7def-8123-456789abcdef", "items": [{"quantity": 1}]}`))
	got := fieldCodes(t, err)
	want := map[string]string{"count": "type", "needed": "required", "owner": "not_found", "items[0].sku": "required"}
	if !mapsEqual(got, want) {
		t.Fatalf("field errors are reported in phases, not at once: got %v, want %v "+
			"(Create returns type errors before the transaction; write.complete returns ref errors before checking required fields)", got, want)
	}
}

// TestValidateStoredValues checks how accepted input is stored and read back.
func TestValidateStoredValues(t *testing.T) {
	t.Parallel()
	e := newEnv(t, validationSpec)
	rec := e.create(admin, "things", `{
		"needed": "x",
		"count": 1e3,
		"ratio": 2,
		"flag": false,
		"at": "2026-01-31T12:00:00.1234567+05:30",
		"tags": ["a"],
		"dims": {"w": 1.5, "h": 2},
		"meta": {"list": [1, 2.5, "x", null, {"deep": true}], "empty": {}, "s": "é"}
	}`)
	got := e.get(admin, "things", rec.ID)
	for _, r := range []*store.Record{rec, got} {
		if r.Fields["count"] != int64(1000) {
			t.Errorf("count = %#v, want int64 1000", r.Fields["count"])
		}
		if r.Fields["ratio"] != float64(2) {
			t.Errorf("ratio = %#v, want float64 2", r.Fields["ratio"])
		}
		if r.Fields["flag"] != false {
			t.Errorf("flag = %#v, want false", r.Fields["flag"])
		}
		at, ok := r.Fields["at"].(time.Time)
		want := time.Date(2026, 1, 31, 6, 30, 0, 123456000, time.UTC)
		if !ok || !at.Equal(want) || at.Location() != time.UTC || at.Nanosecond() != 123456000 {
			t.Errorf("at = %#v, want %v (UTC, microseconds)", r.Fields["at"], want)
		}
		if r.Fields["upper"] != "X" {
			t.Errorf("computed upper = %#v, want X", r.Fields["upper"])
		}
	}
	wantMeta := map[string]any{"list": []any{int64(1), 2.5, "x", nil, map[string]any{"deep": true}}, "empty": map[string]any{}, "s": "é"}
	if !reflect.DeepEqual(got.Fields["meta"], wantMeta) {
		t.Errorf("json field read back as %#v, want %#v", got.Fields["meta"], wantMeta)
	}
	if !reflect.DeepEqual(got.Fields["tags"], []any{"a"}) {
		t.Errorf("tags = %#v", got.Fields["tags"])
	}
	dims, _ := got.Fields["dims"].(map[string]any)
	if dims["h"] != int64(2) {
		t.Errorf("dims.h = %#v, want 2", dims["h"])
	}
	if w, ok := dims["w"].(float64); !ok || w != 1.5 {
		t.Errorf("dims.w = %#v, want 1.5", dims["w"])
	}
	// Values given as Go values rather than json.Number are accepted alike.
	rec2, err := create1(e.eng, admin, "things", map[string]any{"needed": "y", "count": int64(5), "ratio": 1.5, "at": time.Date(2026, 1, 1, 0, 0, 0, 999, time.UTC)})
	if err != nil {
		t.Fatalf("create with Go values: %s", describe(err))
	}
	if rec2.Fields["count"] != int64(5) || rec2.Fields["ratio"] != 1.5 || !rec2.Fields["at"].(time.Time).Equal(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("Go values stored as %v %v %v", rec2.Fields["count"], rec2.Fields["ratio"], rec2.Fields["at"])
	}
}

// TestValidateJSONKeepsAnyValue: json fields hold any JSON value, top-level scalars included.
func TestValidateJSONKeepsAnyValue(t *testing.T) {
	t.Parallel()
	e := newEnv(t, validationSpec)
	for _, src := range []string{`false`, `0`, `""`, `[]`, `[1, 2]`, `-12.75`, `"x\"y"`, `{"k": {"k": {"k": 1}}}`, `[[1], {"a": [null]}]`, `["a", "b"]`} {
		rec, err, panicked := createRecovering(e, admin, "things", body(t, `{"needed": "x", "meta": `+src+`}`))
		if panicked != nil {
			t.Fatalf("creating a json field holding %s panics: %v (write.checkRefs treats any []any as a typed array and dereferences the nil Of of a json field)", src, panicked)
		}
		if err != nil {
			t.Fatalf("create with meta %s: %s", src, describe(err))
		}
		got := e.get(admin, "things", rec.ID).Fields["meta"]
		var want any
		dec := json.NewDecoder(stringsReader(src))
		if err := dec.Decode(&want); err != nil {
			t.Fatal(err)
		}
		if !jsonEqual(got, want) {
			t.Errorf("json %s read back as %#v", src, got)
		}
	}
}

// TestValidateOutOfRangeValues: values a client can send that the store cannot hold are the
// client's mistake (422), not a server failure.
func TestValidateOutOfRangeValues(t *testing.T) {
	t.Parallel()
	e := newEnv(t, validationSpec)
	cases := []struct{ name, body, field string }{
		{"timestamp past year 9999 in UTC", `{"needed": "x", "at": "9999-12-31T23:00:00-02:00"}`, "at"},
		{"timestamp before year 1 in UTC", `{"needed": "x", "at": "0001-01-01T00:00:00+01:00"}`, "at"},
		{"json number beyond float64", `{"needed": "x", "meta": {"n": 1e400}}`, "meta"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := create1(e.eng, admin, "things", body(t, c.body))
			if fault.CodeOf(err) == fault.Internal {
				t.Fatalf("%s is an internal error, want 422 on %s: %s", c.body, c.field, describe(err))
			}
			if err == nil {
				// Accepting it is fine too, as long as it reads back.
				return
			}
			wantCode(t, err, fault.Invalid)
			if _, ok := fieldCodes(t, err)[c.field]; !ok {
				t.Errorf("error does not name %s: %s", c.field, describe(err))
			}
		})
	}
}

// TestValidateGoValues: callers that build bodies in Go (hooks, tests, embedders) get the same
// validation as JSON clients, including values JSON cannot carry.
func TestValidateGoValues(t *testing.T) {
	t.Parallel()
	e := newEnv(t, validationSpec)
	cases := []struct {
		name  string
		field string
		value any
		code  string
	}{
		{"invalid UTF-8", "title", "a\xffb", "type"},
		{"NaN", "ratio", math.NaN(), "type"},
		{"infinity", "ratio", math.Inf(1), ""}, // type or max: either way not stored
		{"fractional float64 integer", "count", 2.5, "type"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := create1(e.eng, admin, "things", map[string]any{"needed": "x", c.field: c.value})
			if fault.CodeOf(err) == fault.Internal || err == nil {
				t.Fatalf("%s %v in %s: got %s, want a %s field error (the validator accepts it and the store cannot hold it)", c.name, c.value, c.field, describe(err), c.code)
			}
			if c.code == "" {
				wantCode(t, err, fault.Invalid)
				if _, ok := fieldCodes(t, err)[c.field]; !ok {
					t.Errorf("no error on %s: %s", c.field, describe(err))
				}
				return
			}
			wantFields(t, err, map[string]string{c.field: c.code})
		})
	}
}
