package spec

import (
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
)

// Violation is a value that breaks one of a field's constraints: a stable code, such as
// min_length, and a sentence for people.
type Violation struct {
	Code    string
	Message string
}

func violation(code, format string, args ...any) Violation {
	return Violation{Code: code, Message: fmt.Sprintf(format, args...)}
}

// EmailPattern is what a string of format email must match: something, an @, and a domain
// with a dot, without spaces. Documentation states it as it is, since JSON Schema
// validators differ on what format: email admits.
const EmailPattern = `^[^@\s]+@[^@\s]+\.[^@\s]+$`

var emailPattern = regexp.MustCompile(EmailPattern)

// CheckString reports how s breaks f's string constraints: UTF-8, length, pattern, enum values
// and format. The engine applies it to what clients send; the compiler to literal defaults.
func (f *Field) CheckString(s string) []Violation {
	if !utf8.ValidString(s) {
		return []Violation{violation("type", "must be valid UTF-8")}
	}
	var out []Violation
	n := utf8.RuneCountInString(s)
	if f.MinLength != nil && n < *f.MinLength {
		out = append(out, violation("min_length", "must be at least %d characters", *f.MinLength))
	}
	if f.MaxLength != nil && n > *f.MaxLength {
		out = append(out, violation("max_length", "must be at most %d characters", *f.MaxLength))
	}
	if f.Pattern != nil && !f.Pattern.MatchString(s) {
		out = append(out, violation("pattern", "must match %s", f.Pattern.String()))
	}
	if f.Type == TypeEnum && !slices.Contains(f.Values, s) {
		out = append(out, violation("enum", "must be one of %s", strings.Join(f.Values, ", ")))
	}
	switch f.Format {
	case "email":
		if !emailPattern.MatchString(s) {
			out = append(out, violation("format", "must be an email address"))
		}
	case "uri":
		if u, err := url.Parse(s); err != nil || u.Scheme == "" || (u.Host == "" && u.Opaque == "") {
			out = append(out, violation("format", "must be an absolute URI"))
		}
	case "uuid":
		if _, err := uuid.Parse(s); err != nil || len(s) != 36 {
			out = append(out, violation("format", "must be a UUID"))
		}
	case "date":
		if _, err := time.Parse(time.DateOnly, s); err != nil {
			out = append(out, violation("format", "must be a date, like 2026-01-31"))
		}
	}
	return out
}

// CheckNumber reports how n breaks f's min and max.
func (f *Field) CheckNumber(n float64) []Violation {
	var out []Violation
	if f.Min != nil && n < *f.Min {
		out = append(out, violation("min", "must be at least %s", formatNumber(*f.Min)))
	}
	if f.Max != nil && n > *f.Max {
		out = append(out, violation("max", "must be at most %s", formatNumber(*f.Max)))
	}
	return out
}

// CheckItems reports how an array of n items breaks f's min_items and max_items.
func (f *Field) CheckItems(n int) []Violation {
	var out []Violation
	if f.MinItems != nil && n < *f.MinItems {
		out = append(out, violation("min_items", "must have at least %d items", *f.MinItems))
	}
	if f.MaxItems != nil && n > *f.MaxItems {
		out = append(out, violation("max_items", "must have at most %d items", *f.MaxItems))
	}
	return out
}

func formatNumber(x float64) string { return strconv.FormatFloat(x, 'f', -1, 64) }

// literalViolations reports, with a path below the field, how a literal value breaks f's
// constraints at every nesting level, so that no default stores what the field refuses.
func (f *Field) literalViolations(v any, path string) []string {
	var out []string
	add := func(vs []Violation) {
		for _, x := range vs {
			out = append(out, path+": "+x.Message)
		}
	}
	switch x := v.(type) {
	case string:
		add(f.CheckString(x))
	case int64:
		add(f.CheckNumber(float64(x)))
	case float64:
		add(f.CheckNumber(x))
	case []any:
		add(f.CheckItems(len(x)))
		if f.Of != nil {
			for i, item := range x {
				out = append(out, f.Of.literalViolations(item, fmt.Sprintf("%s[%d]", path, i))...)
			}
		}
	case map[string]any:
		for _, sub := range f.Fields {
			if val, ok := x[sub.Name]; ok {
				out = append(out, sub.literalViolations(val, path+"."+sub.Name)...)
			}
		}
	}
	return out
}
