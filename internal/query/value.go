package query

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// The range of timestamps a record may hold: years 1 to 9999, CEL's timestamp range and what
// the SQLite driver's fixed-width layout can hold.
var (
	minTime = time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)
	maxTime = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
)

// Canonical returns v, the value of a field of kind k, in the one form every driver stores:
// string; int64 for integers (an int is accepted); float64 for numbers (integers are
// accepted; NaN is refused, and -0 becomes 0, since SQLite keeps no sign of zero); bool;
// time.Time in UTC within years 1 to 9999. A KindJSON value is returned as it is, for the
// driver to encode. nil stays nil. Drivers then map these to their column types.
func (k Kind) Canonical(v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	switch k {
	// A value already in its canonical form is returned as the interface it came in, so that
	// encoding a record's values boxes none of them again.
	case KindString:
		if _, ok := v.(string); ok {
			return v, nil
		}
	case KindInteger:
		switch x := v.(type) {
		case int64:
			return v, nil
		case int:
			return int64(x), nil
		}
	case KindNumber:
		switch x := v.(type) {
		case float64:
			if math.IsNaN(x) {
				return nil, errors.New("encode number: NaN cannot be stored")
			}
			if x == 0 {
				return 0.0, nil
			}
			return v, nil
		case int64:
			return float64(x), nil
		case int:
			return float64(x), nil
		}
	case KindBool:
		if _, ok := v.(bool); ok {
			return v, nil
		}
	case KindTimestamp:
		if t, ok := v.(time.Time); ok {
			t = t.UTC()
			if t.Before(minTime) || !t.Before(maxTime) {
				return nil, fmt.Errorf("encode timestamp: %s is outside years 1 to 9999", t.Format(time.RFC3339))
			}
			return t, nil
		}
	case KindJSON:
		return v, nil
	default:
		return nil, fmt.Errorf("encode value: unknown kind %d", int(k))
	}
	return nil, fmt.Errorf("encode %s: unsupported value of type %T", k, v)
}
