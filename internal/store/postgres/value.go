package postgres

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/plinth-dev/plinth/internal/codec"
	"github.com/plinth-dev/plinth/internal/fault"
	"github.com/plinth-dev/plinth/internal/query"
)

// The range of timestamps a record may hold: years 1 to 9999, CEL's timestamp range and what
// the SQLite driver's fixed-width layout can hold. PostgreSQL could store more; refusing the
// rest keeps the drivers interchangeable.
var (
	minStoredTime = time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)
	maxStoredTime = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
)

// errNUL is returned (wrapped) for text that PostgreSQL cannot store: TEXT and JSONB refuse
// the character U+0000 (and bytes that are not UTF-8), which SQLite keeps.
var errNUL = errors.New("text with the character U+0000 or bytes that are not UTF-8 cannot be stored in PostgreSQL")

// storable reports whether PostgreSQL can hold s in a TEXT column (of a UTF8 database).
func storable(s string) bool {
	return strings.IndexByte(s, 0) < 0 && utf8.ValidString(s)
}

// encodeValue converts the Go value of a field of the given kind to the parameter pgx sends:
// string for TEXT, int64 for BIGINT, float64 for DOUBLE PRECISION, bool for BOOLEAN, time.Time
// in UTC truncated to microseconds (what TIMESTAMPTZ keeps) for TIMESTAMPTZ, and the JSON text
// for JSONB (pgx sends a string to a jsonb parameter as is). nil is NULL for every kind, and so
// is a JSON value that marshals to null, so that "no value" has one representation that IS
// NULL finds.
//
// Accepted inputs are those of the SQLite driver: string, int64 (or int), float64 (or int64
// for numbers; -0 is stored as 0), bool, time.Time, and for KindJSON anything encoding/json
// can marshal. NaN and timestamps outside years 1 to 9999 are refused, as there. Text with
// U+0000 or invalid UTF-8 is refused wrapping errNUL (encoding/json already replaces invalid
// UTF-8 in JSON).
func encodeValue(kind query.Kind, v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	switch kind {
	case query.KindString:
		if s, ok := v.(string); ok {
			if !storable(s) {
				return nil, fmt.Errorf("encode string: %w", errNUL)
			}
			return s, nil
		}
	case query.KindInteger:
		switch x := v.(type) {
		case int64:
			return x, nil
		case int:
			return int64(x), nil
		}
	case query.KindNumber:
		switch x := v.(type) {
		case float64:
			if math.IsNaN(x) {
				return nil, errors.New("encode number: NaN cannot be stored")
			}
			if x == 0 {
				return 0.0, nil // -0 reads back as 0, as from SQLite, which keeps no sign of zero
			}
			return x, nil
		case int64:
			return float64(x), nil
		case int:
			return float64(x), nil
		}
	case query.KindBool:
		if b, ok := v.(bool); ok {
			return b, nil
		}
	case query.KindTimestamp:
		if t, ok := v.(time.Time); ok {
			t = t.UTC()
			if t.Before(minStoredTime) || !t.Before(maxStoredTime) {
				return nil, fmt.Errorf("encode timestamp: %s is outside years 1 to 9999", t.Format(time.RFC3339))
			}
			return t.Truncate(time.Microsecond), nil
		}
	case query.KindJSON:
		b, err := codec.AppendExact(nil, v)
		if err != nil {
			return nil, err
		}
		if string(b) == "null" {
			return nil, nil
		}
		if jsonHasNUL(b) {
			return nil, fmt.Errorf("encode json: %w", errNUL)
		}
		return string(b), nil
	default:
		return nil, fmt.Errorf("encode value: unknown kind %d", int(kind))
	}
	return nil, fmt.Errorf("encode %s: unsupported value of type %T", kind, v)
}

// jsonHasNUL reports whether the JSON text b, as encoding/json writes it, has a string with
// U+0000, which it escapes as \u0000 and JSONB refuses.
func jsonHasNUL(b []byte) bool {
	for i := 0; i < len(b); i++ {
		if b[i] != '\\' || i+1 >= len(b) {
			continue
		}
		if b[i+1] == 'u' && i+6 <= len(b) && string(b[i+2:i+6]) == "0000" {
			return true
		}
		i++ // skip the escaped character, so that \\u0000 is a backslash and text
	}
	return false
}

// nulPath finds where in v (a record value: maps, slices and scalars) text with U+0000 sits,
// as the engine writes field paths (items[0].name), starting from name.
func nulPath(name string, v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return name, strings.IndexByte(x, 0) >= 0
	case []any:
		for i, el := range x {
			if p, ok := nulPath(name+"["+strconv.Itoa(i)+"]", el); ok {
				return p, true
			}
		}
	case map[string]any:
		for k, el := range x {
			if strings.IndexByte(k, 0) >= 0 {
				return name, true
			}
			if p, ok := nulPath(name+"."+k, el); ok {
				return p, true
			}
		}
	}
	return "", false
}

// nulFault is the client's error for a value PostgreSQL cannot store: a 422 naming the field.
func nulFault(field string, v any, cause error) error {
	path, ok := nulPath(field, v)
	if !ok {
		path = field
	}
	f := fault.Fields([]fault.FieldError{{Field: path, Code: "characters",
		Message: "must be UTF-8 text without the character U+0000"}})
	f.Err = cause
	return f
}
