package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"sort"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/plinth-dev/plinth/internal/spec"
)

// maxJSONDepth bounds nesting in request bodies, so that no input can exhaust the stack.
const maxJSONDepth = 32

// errSyntax describes a body that is not the JSON object we expect; its text is safe to show.
type errSyntax struct{ msg string }

func (e *errSyntax) Error() string { return e.msg }

// decodeObject reads exactly one JSON object from r. Unlike encoding/json's defaults, it
// rejects duplicate member names (an attacker's favourite ambiguity), deep nesting and
// trailing data, and keeps numbers exact as json.Number.
func decodeObject(r io.Reader) (map[string]any, error) {
	dec := json.NewDecoder(r)
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return nil, syntaxError(dec, err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, &errSyntax{"the body must be a JSON object"}
	}
	obj, err := decodeMembers(dec, 1)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		if err != nil {
			return nil, syntaxError(dec, err)
		}
		return nil, &errSyntax{"the body has data after the JSON object"}
	}
	return obj, nil
}

func syntaxError(dec *json.Decoder, err error) error {
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return err
	}
	if errors.Is(err, io.EOF) {
		return &errSyntax{"the body is empty; send a JSON object"}
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return &errSyntax{"the body ends in the middle of the JSON"}
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return &errSyntax{fmt.Sprintf("the body is not valid JSON (at byte %d)", se.Offset)}
	}
	return &errSyntax{fmt.Sprintf("the body is not valid JSON (at byte %d)", dec.InputOffset())}
}

func decodeMembers(dec *json.Decoder, depth int) (map[string]any, error) {
	obj := map[string]any{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, syntaxError(dec, err)
		}
		key, _ := tok.(string)
		if _, dup := obj[key]; dup {
			return nil, &errSyntax{fmt.Sprintf("the member %q appears twice", key)}
		}
		v, err := decodeValue(dec, depth)
		if err != nil {
			return nil, err
		}
		obj[key] = v
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return nil, syntaxError(dec, err)
	}
	return obj, nil
}

func decodeValue(dec *json.Decoder, depth int) (any, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, syntaxError(dec, err)
	}
	d, ok := tok.(json.Delim)
	if !ok {
		return tok, nil
	}
	if depth >= maxJSONDepth {
		return nil, &errSyntax{fmt.Sprintf("the body nests deeper than %d levels", maxJSONDepth)}
	}
	if d == '{' {
		return decodeMembers(dec, depth+1)
	}
	arr := []any{}
	for dec.More() {
		v, err := decodeValue(dec, depth+1)
		if err != nil {
			return nil, err
		}
		arr = append(arr, v)
	}
	if _, err := dec.Token(); err != nil {
		return nil, syntaxError(dec, err)
	}
	return arr, nil
}

// timeLayout is how timestamps are written: UTC, microseconds, fixed width.
const timeLayout = "2006-01-02T15:04:05.000000Z"

// appendRecord writes a record as JSON with its members in spec order: id, the fields,
// created_at, updated_at, version, then expand. Absent members (after projection) are skipped.
func appendRecord(b []byte, r *spec.Resource, rec map[string]any) []byte {
	b = append(b, '{')
	first := true
	member := func(name string) {
		v, ok := rec[name]
		if !ok {
			return
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = appendString(b, name)
		b = append(b, ':')
		b = appendValue(b, v)
	}
	member("id")
	for _, f := range r.Fields {
		member(f.Name)
	}
	member("created_at")
	member("updated_at")
	member("version")
	member("expand")
	return append(b, '}')
}

// appendValue writes any record value as JSON. Object members are sorted by name.
func appendValue(b []byte, v any) []byte {
	switch x := v.(type) {
	case nil:
		return append(b, "null"...)
	case string:
		return appendString(b, x)
	case bool:
		return strconv.AppendBool(b, x)
	case int64:
		return strconv.AppendInt(b, x, 10)
	case float64:
		return appendFloat(b, x)
	case time.Time:
		b = append(b, '"')
		b = x.UTC().AppendFormat(b, timeLayout)
		return append(b, '"')
	case []any:
		b = append(b, '[')
		for i, item := range x {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendValue(b, item)
		}
		return append(b, ']')
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		b = append(b, '{')
		for i, k := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, k)
			b = append(b, ':')
			b = appendValue(b, x[k])
		}
		return append(b, '}')
	default:
		enc, err := json.Marshal(x)
		if err != nil {
			return append(b, "null"...)
		}
		return append(b, enc...)
	}
}

// appendFloat formats like encoding/json: plain notation, exponents only for extremes.
func appendFloat(b []byte, f float64) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(b, "null"...)
	}
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	return strconv.AppendFloat(b, f, format, -1, 64)
}

const hexDigits = "0123456789abcdef"

// appendString writes s as a JSON string; invalid UTF-8 becomes U+FFFD.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c >= 0x20:
				b = append(b, c)
			case c == '\n':
				b = append(b, '\\', 'n')
			case c == '\r':
				b = append(b, '\\', 'r')
			case c == '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
		default:
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}

// marshal encodes documents that are not records (problems, health) with encoding/json.
func marshal(v any) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return []byte(`{}`)
	}
	return bytes.TrimRight(buf.Bytes(), "\n")
}
