package engine

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/plinth-dev/plinth/internal/fault"
	"github.com/plinth-dev/plinth/internal/spec"
)

// validator converts client input to typed values and collects every field error, so that
// a client learns of all its mistakes in one round trip.
type validator struct {
	errs []fault.FieldError
}

func (v *validator) add(path, code, format string, args ...any) {
	v.errs = append(v.errs, fault.FieldError{Field: path, Code: code, Message: fmt.Sprintf(format, args...)})
}

func (v *validator) err() error {
	if len(v.errs) == 0 {
		return nil
	}
	return fault.Fields(v.errs)
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// object converts the client-written members of an object whose fields are fields. Unknown
// members and members clients may not write are errors, never silently dropped.
func (v *validator) object(fields []*spec.Field, in map[string]any, path string) map[string]any {
	out := make(map[string]any, len(fields))
	for name, raw := range in {
		f := findField(fields, name)
		switch {
		case f == nil && path == "" && isSystemField(name):
			v.add(join(path, name), "read_only", "%s is set by the server", name)
		case f == nil:
			v.add(join(path, name), "unknown", "there is no field %s", name)
		case f.ReadOnly():
			v.add(join(path, name), "read_only", "%s is computed by the server", name)
		case raw == nil && !f.Nullable():
			v.null(f, join(path, name), true)
		default:
			out[name] = v.value(f, raw, join(path, name))
		}
	}
	return out
}

func findField(fields []*spec.Field, name string) *spec.Field {
	for _, f := range fields {
		if f.Name == name {
			return f
		}
	}
	return nil
}

func isSystemField(name string) bool {
	for _, s := range spec.SystemFields {
		if s.Name == name {
			return true
		}
	}
	return name == "expand"
}

// value converts one input value to f's type and checks f's constraints. Null is kept as
// nil; whether it is allowed is decided once the whole record is known (required).
func (v *validator) value(f *spec.Field, in any, path string) any {
	if in == nil {
		return nil
	}
	switch f.Type {
	case spec.TypeString, spec.TypeEnum, spec.TypeRef:
		s, ok := in.(string)
		if !ok {
			v.add(path, "type", "must be a string")
			return nil
		}
		v.checkString(f, s, path)
		return s
	case spec.TypeInteger:
		n, ok := toInt(in)
		if !ok {
			v.add(path, "type", "must be a whole number")
			return nil
		}
		v.checkRange(f, float64(n), path)
		return n
	case spec.TypeNumber:
		n, ok := toFloat(in)
		if !ok {
			v.add(path, "type", "must be a number")
			return nil
		}
		v.checkRange(f, n, path)
		return n
	case spec.TypeBoolean:
		b, ok := in.(bool)
		if !ok {
			v.add(path, "type", "must be true or false")
			return nil
		}
		return b
	case spec.TypeTimestamp:
		t, ok := toTime(in)
		if !ok {
			v.add(path, "type", "must be an RFC 3339 timestamp, like 2026-01-31T12:00:00Z")
			return nil
		}
		return t
	case spec.TypeArray:
		items, ok := in.([]any)
		if !ok {
			v.add(path, "type", "must be an array")
			return nil
		}
		if vs := f.CheckItems(len(items)); len(vs) > 0 {
			v.addAll(path, vs)
			if f.MaxItems != nil && len(items) > *f.MaxItems {
				return nil // too many to look at each
			}
		}
		out := make([]any, len(items))
		for i, item := range items {
			out[i] = v.value(f.Of, item, fmt.Sprintf("%s[%d]", path, i))
		}
		return out
	case spec.TypeObject:
		m, ok := in.(map[string]any)
		if !ok {
			v.add(path, "type", "must be an object")
			return nil
		}
		return v.object(f.Fields, m, path)
	default: // json
		out, ok := normalizeJSON(in)
		if !ok {
			v.add(path, "type", "numbers must be finite 64-bit floating-point values")
			return nil
		}
		return out
	}
}

func (v *validator) checkString(f *spec.Field, s string, path string) {
	v.addAll(path, f.CheckString(s))
}

func (v *validator) checkRange(f *spec.Field, n float64, path string) {
	v.addAll(path, f.CheckNumber(n))
}

func (v *validator) addAll(path string, vs []spec.Violation) {
	for _, x := range vs {
		v.errs = append(v.errs, fault.FieldError{Field: path, Code: x.Code, Message: x.Message})
	}
}

// toInt accepts JSON numbers that are whole and fit in 64 bits (1e3 is 1000; 1.5 is not).
func toInt(in any) (int64, bool) {
	switch x := in.(type) {
	case json.Number:
		if n, err := strconv.ParseInt(string(x), 10, 64); err == nil {
			return n, true
		}
		f, err := strconv.ParseFloat(string(x), 64)
		if err != nil || f != math.Trunc(f) || math.Abs(f) >= 1<<63 {
			return 0, false
		}
		return int64(f), true
	case int64:
		return x, true
	case float64:
		if x != math.Trunc(x) || math.Abs(x) >= 1<<63 {
			return 0, false
		}
		return int64(x), true
	}
	return 0, false
}

func toFloat(in any) (float64, bool) {
	switch x := in.(type) {
	case json.Number:
		f, err := strconv.ParseFloat(string(x), 64)
		return f, err == nil && !math.IsInf(f, 0)
	case int64:
		return float64(x), true
	case float64:
		return x, !math.IsInf(x, 0) && !math.IsNaN(x)
	}
	return 0, false
}

// toTime accepts RFC 3339 timestamps whose UTC year is 1 to 9999, the range storage can
// hold, and keeps microseconds, the precision storage keeps.
func toTime(in any) (time.Time, bool) {
	var t time.Time
	switch x := in.(type) {
	case string:
		var err error
		if t, err = time.Parse(time.RFC3339Nano, x); err != nil {
			return time.Time{}, false
		}
	case time.Time:
		t = x
	default:
		return time.Time{}, false
	}
	t = t.UTC().Truncate(time.Microsecond)
	if y := t.Year(); y < 1 || y > 9999 {
		return time.Time{}, false
	}
	return t, true
}

// normalizeJSON turns decoded JSON (with json.Number) into the values records hold. It
// reports false for a number no float64 can hold.
func normalizeJSON(in any) (any, bool) {
	switch x := in.(type) {
	case json.Number:
		if n, err := strconv.ParseInt(string(x), 10, 64); err == nil {
			return n, true
		}
		f, err := strconv.ParseFloat(string(x), 64)
		if err != nil {
			return nil, false
		}
		return normalizeJSON(f)
	case float64:
		if math.IsInf(x, 0) || math.IsNaN(x) {
			return nil, false
		}
		// Whole numbers are integers, as storage gives them back: 1.0 and 1 are one value.
		if x == math.Trunc(x) && math.Abs(x) < 1<<53 {
			return int64(x), true
		}
		return x, true
	case []any:
		out := make([]any, len(x))
		for i := range x {
			var ok bool
			if out[i], ok = normalizeJSON(x[i]); !ok {
				return nil, false
			}
		}
		return out, true
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, val := range x {
			var ok bool
			if out[k], ok = normalizeJSON(val); !ok {
				return nil, false
			}
		}
		return out, true
	}
	return in, true
}

// null reports a null where f may not hold one (see spec.Field.Nullable): sent by the client,
// or left by a default expression that gave null.
func (v *validator) null(f *spec.Field, path string, sent bool) {
	switch {
	case f.Required:
		v.add(path, "required", "is required")
	case !sent && f.Default != nil && f.Default.Expr != nil:
		v.add(path, "null", "may not be null, and its default (%s) gave null", f.Default.Expr.Source)
	default:
		v.add(path, "null", "may not be null: it has a default, which a create that omits it gets")
	}
}

// checkRequired reports fields that are still null once defaults and computed fields are
// applied but may not be (see spec.Field.Nullable), at every nesting level. With pending,
// fields that a default or an expression will fill are not reported: they have not run yet.
func (v *validator) checkRequired(fields []*spec.Field, rec map[string]any, path string, pending bool) {
	for _, f := range fields {
		val := rec[f.Name]
		p := join(path, f.Name)
		if val == nil {
			if !f.Nullable() && !(pending && (f.Default != nil || f.Computed != nil)) {
				v.null(f, p, false)
			}
			continue
		}
		switch f.Type {
		case spec.TypeObject:
			if m, ok := val.(map[string]any); ok {
				v.checkRequired(f.Fields, m, p, pending)
			}
		case spec.TypeArray:
			items, _ := val.([]any)
			for i, item := range items {
				ip := fmt.Sprintf("%s[%d]", p, i)
				if item == nil {
					v.add(ip, "required", "items may not be null")
				} else if m, ok := item.(map[string]any); ok && f.Of.Type == spec.TypeObject {
					v.checkRequired(f.Of.Fields, m, ip, pending)
				}
			}
		}
	}
}
