package sqlite

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/plinth-dev/plinth/internal/codec"
	"github.com/plinth-dev/plinth/internal/query"
	"github.com/plinth-dev/plinth/internal/store/jsonval"
)

// TimeLayout is how timestamps are stored: TEXT in UTC with a fixed width and microseconds,
// so that comparing the text compares the times and an index on the column orders by time.
// Microseconds are what PostgreSQL keeps too; finer digits are truncated.
const TimeLayout = "2006-01-02T15:04:05.000000Z"

// The range TimeLayout can hold with a fixed width; it is also CEL's timestamp range.
var (
	minStoredTime = time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)
	maxStoredTime = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
)

// encodeValue converts the Go value of a field of the given kind to what the table stores:
// TEXT for strings (string, enum, ref), INTEGER for integers, REAL for numbers, INTEGER 0 or 1
// for booleans, TEXT in TimeLayout for timestamps and TEXT holding JSON for arrays, objects
// and json. nil is NULL for every kind, and so is a JSON value that marshals to null, so that
// "no value" has one representation that IS NULL finds.
//
// Accepted inputs are string, int64 (or int), float64 (or int64 for numbers), bool, time.Time,
// and for KindJSON anything encoding/json can marshal. NaN is refused: SQLite would store it
// as NULL.
func encodeValue(kind query.Kind, v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	switch kind {
	case query.KindString:
		if s, ok := v.(string); ok {
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
			return x, nil
		case int64:
			return float64(x), nil
		case int:
			return float64(x), nil
		}
	case query.KindBool:
		if b, ok := v.(bool); ok {
			if b {
				return int64(1), nil
			}
			return int64(0), nil
		}
	case query.KindTimestamp:
		if t, ok := v.(time.Time); ok {
			t = t.UTC()
			if t.Before(minStoredTime) || !t.Before(maxStoredTime) {
				return nil, fmt.Errorf("encode timestamp: %s is outside years 1 to 9999", t.Format(time.RFC3339))
			}
			return t.Format(TimeLayout), nil
		}
	case query.KindJSON:
		b, err := codec.AppendExact(nil, v)
		if err != nil {
			return nil, err
		}
		if string(b) == "null" {
			return nil, nil
		}
		return string(b), nil
	default:
		return nil, fmt.Errorf("encode value: unknown kind %d", int(kind))
	}
	return nil, fmt.Errorf("encode %s: unsupported value of type %T", kind, v)
}

// decodeValue converts what database/sql scanned from a column (int64, float64, string,
// []byte or nil) back to the Go value of a field of the given kind: string, int64, float64,
// bool, time.Time in UTC, or for KindJSON the decoded JSON with objects as map[string]any,
// arrays as []any and numbers as int64 when they are integers that fit, float64 otherwise
// (encoding/json writes 5.0 as 5, and CEL compares int and double by value anyway). NULL is
// nil for every kind.
func decodeValue(kind query.Kind, v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	if b, ok := v.([]byte); ok {
		v = string(b)
	}
	// A value that already has its type is returned as the interface it came in: boxing it
	// again would allocate, per column and row.
	switch kind {
	case query.KindString:
		if _, ok := v.(string); ok {
			return v, nil
		}
	case query.KindInteger:
		if _, ok := v.(int64); ok {
			return v, nil
		}
	case query.KindNumber:
		switch x := v.(type) {
		case float64:
			return v, nil
		case int64:
			return float64(x), nil
		}
	case query.KindBool:
		if i, ok := v.(int64); ok && (i == 0 || i == 1) {
			return i == 1, nil
		}
	case query.KindTimestamp:
		switch x := v.(type) {
		case string:
			if t, ok := parseTime(x); ok {
				return t, nil
			}
			t, err := time.Parse(TimeLayout, x)
			if err != nil {
				return nil, fmt.Errorf("decode timestamp: %w", err)
			}
			return t.UTC(), nil
		case time.Time:
			// The driver parses columns declared DATETIME or TIMESTAMP itself.
			return x.UTC(), nil
		}
	case query.KindJSON:
		if s, ok := v.(string); ok {
			return jsonval.Decode(s)
		}
	default:
		return nil, fmt.Errorf("decode value: unknown kind %d", int(kind))
	}
	return nil, fmt.Errorf("decode %s: unexpected column value of type %T", kind, v)
}

// parseTime reads a timestamp as Plinth stores it, "2006-01-02T15:04:05.000000Z", several
// times faster than time.Parse, which is a read's largest decoding cost. It declines
// anything else, for time.Parse to judge.
func parseTime(s string) (time.Time, bool) {
	if len(s) != len(TimeLayout) || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' ||
		s[16] != ':' || s[19] != '.' || s[26] != 'Z' {
		return time.Time{}, false
	}
	num := func(from, to int) int {
		n := 0
		for _, c := range []byte(s[from:to]) {
			if c < '0' || c > '9' {
				return -1
			}
			n = n*10 + int(c-'0')
		}
		return n
	}
	year, month, day := num(0, 4), num(5, 7), num(8, 10)
	hour, minute, sec, micro := num(11, 13), num(14, 16), num(17, 19), num(20, 26)
	if min(year, month, day, hour, minute, sec, micro) < 0 || year < 1 || month < 1 || month > 12 || day < 1 ||
		day > daysIn(time.Month(month), year) || hour > 23 || minute > 59 || sec > 59 {
		return time.Time{}, false
	}
	return time.Date(year, time.Month(month), day, hour, minute, sec, micro*1000, time.UTC), true
}

func daysIn(m time.Month, year int) int {
	return time.Date(year, m+1, 0, 0, 0, 0, 0, time.UTC).Day()
}
