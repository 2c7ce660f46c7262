package jsonval

import (
	"encoding/json"
	"math"
	"reflect"
	"testing"
	"time"
)

// TestAppendExactAgreesWithEncodingJSON: drivers store values with AppendExact instead of
// json.Marshal, so the two must agree on what every value means and on what cannot be stored.
func TestAppendExactAgreesWithEncodingJSON(t *testing.T) {
	at := time.Date(2024, 5, 6, 5, 8, 9, 123456789, time.FixedZone("x", 3600))
	values := []any{
		nil, "", "plain", "quote \" backslash \\ <tag> & \u2028 \x00 \t é 😀", "\xff invalid",
		true, false, int64(0), int64(-42), int64(math.MaxInt64), 0.0, 2.5, -1e-7, 1e21, 123456789.125,
		at, []any(nil), []any{}, map[string]any(nil), map[string]any{},
		[]any{int64(1), "two", nil, []any{3.5}, map[string]any{"z": 1.0, "a": at}},
		map[string]any{"b": []any{true}, "a": map[string]any{"nested": "x"}, "": "empty key"},
		json.Number("12.50"), []string{"typed", "slice"},
	}
	for _, v := range values {
		want, err := json.Marshal(v)
		if err != nil {
			t.Fatalf("json.Marshal(%#v): %v", v, err)
		}
		got, err := AppendExact(nil, v)
		if err != nil {
			t.Errorf("AppendExact(%#v): %v", v, err)
			continue
		}
		var g, w any
		if err := json.Unmarshal(got, &g); err != nil {
			t.Errorf("AppendExact(%#v) = %s, not JSON: %v", v, got, err)
			continue
		}
		json.Unmarshal(want, &w)
		if !reflect.DeepEqual(g, w) {
			t.Errorf("AppendExact(%#v) = %s, encoding/json %s", v, got, want)
		}
	}
	for _, v := range []any{math.NaN(), math.Inf(1), []any{math.Inf(-1)}, map[string]any{"f": func() {}}, make(chan int)} {
		if _, err := json.Marshal(v); err == nil {
			t.Fatalf("json.Marshal accepts %#v", v)
		}
		if got, err := AppendExact(nil, v); err == nil {
			t.Errorf("AppendExact(%#v) = %s, want an error", v, got)
		}
	}
}
