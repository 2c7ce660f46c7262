package sqlstore

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Literal writes a parameter, as a driver's Encode gives it, as an SQL literal that both
// databases read back as the same value in a column of its kind: a planned file holds no
// parameters. Text is quoted, with its quotes doubled (both read backslashes as they are);
// a time is its text in UTC with microseconds, which PostgreSQL casts to TIMESTAMPTZ.
func Literal(v any) (string, error) {
	switch x := v.(type) {
	case nil:
		return "NULL", nil
	case string:
		return Quoted(x), nil
	case int64:
		return strconv.FormatInt(x, 10), nil
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return "", fmt.Errorf("%v has no SQL literal", x)
		}
		s := strconv.FormatFloat(x, 'g', -1, 64)
		if !strings.ContainsAny(s, ".e") {
			s += ".0"
		}
		return s, nil
	case bool:
		return boolLiteral(x), nil
	case time.Time:
		return Quoted(x.UTC().Format("2006-01-02T15:04:05.000000Z")), nil
	}
	return "", fmt.Errorf("%T has no SQL literal", v)
}

// Quoted is s as an SQL text literal.
func Quoted(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
