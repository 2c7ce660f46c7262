// Package codec writes records and events as JSON, the one representation every transport
// and every webhook shares: members in spec order, timestamps in UTC with microseconds.
package codec

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/plinth-dev/plinth/internal/engine"
	"github.com/plinth-dev/plinth/internal/spec"
	"github.com/plinth-dev/plinth/internal/store/jsonval"
)

// TimeLayout is how timestamps are written: UTC, microseconds, fixed width.
const TimeLayout = "2006-01-02T15:04:05.000000Z"

// AppendRecord writes a record as JSON with its members in spec order: id, the fields,
// created_at, updated_at, version, then expand. Absent members (after projection) are skipped.
func AppendRecord(b []byte, r *spec.Resource, rec map[string]any) []byte {
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
		b = AppendString(b, name)
		b = append(b, ':')
		b = AppendValue(b, v)
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
		b = append(b, '"')
		if exact {
			b = x.AppendFormat(b, time.RFC3339Nano)
		} else {
			b = x.UTC().AppendFormat(b, TimeLayout)
		}
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

// AppendEventData writes the stored body of an event, {"record":…,"old":…}, exactly as
// AppendExact writes values; old is left out when nil.
func AppendEventData(b []byte, record, old map[string]any) ([]byte, error) {
	b = append(b, `{"record":`...)
	b, err := AppendExact(b, record)
	if err == nil && old != nil {
		b = append(b, `,"old":`...)
		b, err = AppendExact(b, old)
	}
	return append(b, '}'), err
}

// ReadEventData reads what AppendEventData wrote: the record and the old record, conformed to
// res (nil when the spec no longer has the resource: the values stay as decoded).
func ReadEventData(res *spec.Resource, data string) (record, old map[string]any, err error) {
	decoded, err := jsonval.Decode(data)
	if err != nil {
		return nil, nil, err
	}
	body, _ := decoded.(map[string]any)
	return res.Conform(body["record"]), res.Conform(body["old"]), nil
}

// AppendEvent writes the event document that the change feed and webhooks share; res is the
// event's resource.
func AppendEvent(b []byte, res *spec.Resource, ev engine.Event) []byte {
	b = append(b, `{"id":`...)
	b = AppendString(b, ev.ID)
	b = append(b, `,"seq":`...)
	b = strconv.AppendInt(b, ev.Seq, 10)
	b = append(b, `,"type":`...)
	b = AppendString(b, ev.Type)
	b = append(b, `,"resource":`...)
	b = AppendString(b, ev.Resource)
	b = append(b, `,"record_id":`...)
	b = AppendString(b, ev.RecordID)
	b = append(b, `,"time":`...)
	b = AppendValue(b, ev.Time.UTC().Truncate(time.Microsecond))
	b = append(b, `,"actor":`...)
	b = AppendString(b, ev.Actor)
	b = append(b, `,"data":{"record":`...)
	b = AppendRecord(b, res, ev.Record)
	b = append(b, `,"old":`...)
	if ev.Old != nil {
		b = AppendRecord(b, res, ev.Old)
	} else {
		b = append(b, "null"...)
	}
	return append(b, "}}"...)
}
