package postgres

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/plinth-dev/plinth/internal/fault"
	"github.com/plinth-dev/plinth/internal/query"
	"github.com/plinth-dev/plinth/internal/store/sqlstore"
)

// errNUL is returned (wrapped) for text that PostgreSQL cannot store: TEXT and JSONB refuse
// the character U+0000 (and bytes that are not UTF-8), which SQLite keeps.
var errNUL = errors.New("text with the character U+0000 or bytes that are not UTF-8 cannot be stored in PostgreSQL")

// storableIDs returns those of ids that PostgreSQL can hold, the only ones a stored row can
// have: sending another would fail the whole query instead of matching nothing, as in SQLite.
func storableIDs(ids []string) []string {
	keep := make([]string, 0, len(ids))
	for _, id := range ids {
		if sqlstore.Storable(id) {
			keep = append(keep, id)
		}
	}
	return keep
}

// encodeValue converts the Go value of a field of the given kind to the parameter pgx sends:
// string for TEXT, int64 for BIGINT, float64 for DOUBLE PRECISION, bool for BOOLEAN, time.Time
// in UTC truncated to microseconds (what TIMESTAMPTZ keeps) for TIMESTAMPTZ, and the JSON text
// for JSONB (pgx sends a string to a jsonb parameter as is). nil is NULL for every kind, and so
// is a JSON value that marshals to null, so that "no value" has one representation that IS
// NULL finds.
//
// What is accepted is query.Kind.Canonical's, as in the SQLite driver. Text with U+0000 or
// invalid UTF-8 is refused wrapping errNUL (encoding JSON already replaces invalid UTF-8).
func encodeValue(kind query.Kind, v any) (any, error) {
	c, err := kind.Canonical(v)
	if err != nil || c == nil {
		return nil, err
	}
	if kind == query.KindJSON {
		text, ok, err := sqlstore.JSONText(c)
		switch {
		case err != nil || !ok:
			return nil, err
		case jsonHasNUL(text):
			return nil, fmt.Errorf("encode json: %w", errNUL)
		}
		return text, nil
	}
	switch x := c.(type) {
	case string:
		if !sqlstore.Storable(x) {
			return nil, fmt.Errorf("encode string: %w", errNUL)
		}
	case time.Time:
		return x.Truncate(time.Microsecond), nil
	}
	return c, nil
}

// jsonHasNUL reports whether the JSON text b, as encoding/json writes it, has a string with
// U+0000, which it escapes as \u0000 and JSONB refuses.
func jsonHasNUL[T string | []byte](b T) bool {
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
