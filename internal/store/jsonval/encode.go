package jsonval

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"time"
	"unicode/utf8"
)

// TimeLayout is how timestamps are written: UTC, microseconds, fixed width.
const TimeLayout = "2006-01-02T15:04:05.000000Z"

// AppendValue writes any record value as JSON for a client: timestamps in UTC with
// microseconds, object members sorted by name, and null for what JSON cannot hold.
func AppendValue(b []byte, v any) []byte {
	b, _ = appendJSON(b, v, false)
	return b
}

// AppendExact writes v as encoding/json.Marshal would — every member, sorted by name;
// timestamps with all their digits; an error for NaN, infinities and values JSON cannot hold —
// without reflection for the values records hold. Drivers store values with it.
func AppendExact(b []byte, v any) ([]byte, error) {
	return appendJSON(b, v, true)
}

// appendJSON is AppendExact when exact is set and AppendValue otherwise.
func appendJSON(b []byte, v any, exact bool) ([]byte, error) {
	var err error
	switch x := v.(type) {
	case nil:
		return append(b, "null"...), nil
	case string:
		return AppendString(b, x), nil
	case bool:
		return strconv.AppendBool(b, x), nil
	case int64:
		return strconv.AppendInt(b, x, 10), nil
	case float64:
		if exact && (math.IsNaN(x) || math.IsInf(x, 0)) {
			return b, fmt.Errorf("encode json: unsupported value %v", x)
		}
		return appendFloat(b, x), nil
	case time.Time:
		if !exact {
			return AppendTime(b, x), nil
		}
		b = append(b, '"')
		b = x.AppendFormat(b, time.RFC3339Nano)
		return append(b, '"'), nil
	case []any:
		if x == nil && exact {
			return append(b, "null"...), nil
		}
		b = append(b, '[')
		for i, item := range x {
			if i > 0 {
				b = append(b, ',')
			}
			if b, err = appendJSON(b, item, exact); err != nil {
				return b, err
			}
		}
		return append(b, ']'), nil
	case map[string]any:
		if x == nil && exact {
			return append(b, "null"...), nil
		}
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
			b = AppendString(b, k)
			b = append(b, ':')
			if b, err = appendJSON(b, x[k], exact); err != nil {
				return b, err
			}
		}
		return append(b, '}'), nil
	default:
		enc, err := json.Marshal(x)
		if err != nil {
			if exact {
				return b, fmt.Errorf("encode json: %w", err)
			}
			return append(b, "null"...), nil
		}
		return append(b, enc...), nil
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

// AppendTime writes t as AppendValue does, in UTC with microseconds, without boxing it.
func AppendTime(b []byte, t time.Time) []byte {
	b = append(b, '"')
	b = t.UTC().AppendFormat(b, TimeLayout)
	return append(b, '"')
}

// AppendString writes s as a JSON string; invalid UTF-8 becomes U+FFFD.
func AppendString(b []byte, s string) []byte {
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
