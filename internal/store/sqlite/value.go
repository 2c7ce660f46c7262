package sqlite

import (
	"fmt"
	"time"

	"github.com/plinth-dev/plinth/internal/query"
	"github.com/plinth-dev/plinth/internal/store/jsonval"
	"github.com/plinth-dev/plinth/internal/store/sqlstore"
)

// TimeLayout is how timestamps are stored: TEXT in UTC with a fixed width and microseconds,
// so that comparing the text compares the times and an index on the column orders by time.
// Microseconds are what PostgreSQL keeps too; finer digits are truncated.
const TimeLayout = "2006-01-02T15:04:05.000000Z"

// encodeValue converts the Go value of a field of the given kind to what the table stores:
// TEXT for strings (string, enum, ref), INTEGER for integers, REAL for numbers, INTEGER 0 or 1
// for booleans, TEXT in TimeLayout for timestamps and TEXT holding JSON for arrays, objects
// and json. nil is NULL for every kind, and so is a JSON value that marshals to null, so that
// "no value" has one representation that IS NULL finds.
//
// What is accepted is query.Kind.Canonical's (which refuses NaN: SQLite would store it as
// NULL), and for KindJSON anything encoding/json can marshal.
func encodeValue(kind query.Kind, v any) (any, error) {
	c, err := kind.Canonical(v)
	if err != nil || c == nil {
		return nil, err
	}
	if kind == query.KindJSON {
		if text, ok, err := sqlstore.JSONText(c); ok || err != nil {
			return text, err
		}
		return nil, nil
	}
	switch x := c.(type) {
	case bool:
		if x {
			return int64(1), nil
		}
		return int64(0), nil
	case time.Time:
		return x.Format(TimeLayout), nil
	}
	return c, nil
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
		t, err := decodeTime(v)
		if err != nil {
			return nil, err
		}
		return t, nil
	case query.KindJSON:
		if s, ok := v.(string); ok {
			return jsonval.Decode(s)
		}
	default:
		return nil, fmt.Errorf("decode value: unknown kind %d", int(kind))
	}
	return nil, fmt.Errorf("decode %s: unexpected column value of type %T", kind, v)
}

// decodeTime is decodeValue of a timestamp column that is not NULL, unboxed.
func decodeTime(v any) (time.Time, error) {
	switch x := v.(type) {
	case string:
		if t, ok := parseTime(x); ok {
			return t, nil
		}
		t, err := time.Parse(TimeLayout, x)
		if err != nil {
			return time.Time{}, fmt.Errorf("decode timestamp: %w", err)
		}
		return t.UTC(), nil
	case time.Time:
		// The driver parses columns declared DATETIME or TIMESTAMP itself.
		return x.UTC(), nil
	}
	return time.Time{}, fmt.Errorf("decode timestamp: unexpected column value of type %T", v)
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
