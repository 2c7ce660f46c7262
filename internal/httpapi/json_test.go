package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestDecodeObject(t *testing.T) {
	deep := strings.Repeat(`{"a":`, maxJSONDepth) + "1" + strings.Repeat("}", maxJSONDepth)
	deeper := strings.Repeat(`{"a":`, maxJSONDepth+1) + "1" + strings.Repeat("}", maxJSONDepth+1)
	for _, tc := range []struct {
		body string
		want map[string]any
		err  string // a part of the error, "" for none
	}{
		{body: `{}`, want: map[string]any{}},
		{body: ` {"n": 12345678901234567890, "f": -1.5e3, "s": "a\u00e9\"", "b": true, "z": null} `,
			want: map[string]any{"n": json.Number("12345678901234567890"), "f": json.Number("-1.5e3"),
				"s": "a\u00e9\"", "b": true, "z": nil}},
		{body: `{"items":[{"q":1},[],[null,false]],"o":{}}`,
			want: map[string]any{"items": []any{map[string]any{"q": json.Number("1")}, []any{}, []any{nil, false}}, "o": map[string]any{}}},
		{body: deep, want: func() map[string]any {
			var v map[string]any
			json.Unmarshal([]byte(deep), &v)
			return numbers(v).(map[string]any)
		}()},
		{body: ``, err: "the body is empty"},
		{body: `   `, err: "the body is empty"},
		{body: `[1]`, err: "must be a JSON object"},
		{body: `"x"`, err: "must be a JSON object"},
		{body: `{"a":1}{}`, err: "data after the JSON object"},
		{body: `{"a":1} x`, err: "not valid JSON"},
		{body: `{"a":1,"a":2}`, err: `the member "a" appears twice`},
		{body: `{"o":{"a":1,"a":1}}`, err: `the member "a" appears twice`},
		{body: deeper, err: "nests deeper than 32 levels"},
		{body: `{"a":`, err: "ends in the middle"},
		{body: `{"a":[1,`, err: "ends in the middle"},
		{body: `{"a":01}`, err: "not valid JSON in UTF-8 (at byte 6)"},
		{body: `{"a":[1 2]}`, err: "not valid JSON"},
		{body: `{"a":"\xff"}`, err: "not valid JSON in UTF-8"},
		{body: `{a:1}`, err: "not valid JSON"},
		{body: `{"a":1,}`, err: "not valid JSON"},
	} {
		got, err := decodeObject(strings.NewReader(tc.body))
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("%.40q: %v", tc.body, err)
		case tc.err == "" && !reflect.DeepEqual(got, tc.want):
			t.Errorf("%.40q: got %#v, want %#v", tc.body, got, tc.want)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%.40q: error %v, want one saying %q", tc.body, err, tc.err)
		}
		var se *errSyntax
		if err != nil && !errors.As(err, &se) {
			t.Errorf("%.40q: %T is not an error whose text a client may see", tc.body, err)
		}
	}
}

// TestDecodeObjectTooLarge: a body over the limit is reported as such, not as bad JSON.
func TestDecodeObjectTooLarge(t *testing.T) {
	body := http.MaxBytesReader(httptest.NewRecorder(), io.NopCloser(strings.NewReader(`{"a":"`+strings.Repeat("x", 100)+`"}`)), 50)
	var tooLarge *http.MaxBytesError
	if _, err := decodeObject(body); !errors.As(err, &tooLarge) {
		t.Fatalf("got %v, want *http.MaxBytesError", err)
	}
}

// FuzzDecodeObject: on any object encoding/json reads without ambiguity (valid UTF-8, no
// duplicate member, within the depth), decodeObject reads the same values, but for escaped
// lone surrogates, which encoding/json turns into U+FFFD and decodeObject refuses as invalid
// UTF-8; on anything else it refuses with an error a client may see, and never panics.
func FuzzDecodeObject(f *testing.F) {
	for _, s := range []string{`{}`, `{"a":[1,{"b":null}],"c":"\u00e9"}`, `{"a":1,"a":2}`, `{"n":-0.5e-7}`, `[]`, `{"a":"\ud800"}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		got, err := decodeObject(strings.NewReader(body))
		var se *errSyntax
		if err != nil && !errors.As(err, &se) {
			t.Fatalf("%q: %T is not an error whose text a client may see", body, err)
		}
		dec := json.NewDecoder(strings.NewReader(body))
		dec.UseNumber()
		var want map[string]any
		if dec.Decode(&want) != nil || want == nil || dec.More() || !utf8.ValidString(body) || hasDuplicates(body) || depthOf(want) > maxJSONDepth {
			return
		}
		if _, err := dec.Token(); !errors.Is(err, io.EOF) {
			return // trailing data
		}
		if err != nil && strings.Contains(strings.ToLower(body), `\ud`) && strings.Contains(err.Error(), "UTF-8") {
			return // an escaped lone surrogate: encoding/json reads it as U+FFFD, we refuse it
		}
		if err != nil {
			t.Fatalf("%q: %v, but encoding/json reads %v", body, err, want)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%q: got %#v, encoding/json reads %#v", body, got, want)
		}
	})
}

// numbers turns float64s decoded by encoding/json without UseNumber into json.Number.
func numbers(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = numbers(e)
		}
	case float64:
		b, _ := json.Marshal(x)
		return json.Number(b)
	}
	return v
}

func depthOf(v any) int {
	d := 0
	switch x := v.(type) {
	case map[string]any:
		for _, e := range x {
			d = max(d, depthOf(e))
		}
		return d + 1
	case []any:
		for _, e := range x {
			d = max(d, depthOf(e))
		}
		return d + 1
	}
	return 0
}

// hasDuplicates reports whether any object of the JSON text repeats a member name.
func hasDuplicates(body string) bool {
	dec := json.NewDecoder(bytes.NewReader([]byte(body)))
	type level struct {
		names  map[string]bool
		object bool
		key    bool // the next token of an object is a name
	}
	var stack []*level
	for {
		tok, err := dec.Token()
		if err != nil {
			return false
		}
		var top *level
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if top != nil && top.object && top.key {
			if d, ok := tok.(json.Delim); ok && d == '}' {
				stack = stack[:len(stack)-1]
				continue
			}
			name := tok.(string)
			if top.names[name] {
				return true
			}
			top.names[name], top.key = true, false
			continue
		}
		if top != nil && top.object {
			top.key = true
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, &level{names: map[string]bool{}, object: true, key: true})
		case json.Delim('['):
			stack = append(stack, &level{})
		case json.Delim(']'), json.Delim('}'):
			stack = stack[:len(stack)-1]
		}
	}
}
