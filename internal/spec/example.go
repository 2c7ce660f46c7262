package spec

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"regexp/syntax"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/google/uuid"
	"go.yaml.in/yaml/v3"
)

// sampleTime is the instant documentation shows for timestamps: one fixed value, so that
// generated documents are the same on every run.
var sampleTime = time.Date(2026, 1, 31, 12, 0, 0, 0, time.UTC)

// Sample is a value of the field's type that satisfies its constraints, in the Go types
// records hold, for documentation: the spec's `example:`, else its literal default, else one
// derived from the type and constraints (a string matching the pattern, a number within
// min and max, min_items items, an object with every member). The value is the same on
// every call. A derived string may fail constraints that no simple value meets (a pattern
// and lengths that pull apart): the compiler warns about those, asking for an `example:`.
func (f *Field) Sample() any {
	if f.Example != nil {
		return f.Example
	}
	if f.Default != nil && f.Default.Literal != nil {
		return f.Default.Literal
	}
	switch f.Type {
	case TypeString:
		return f.sampleString()
	case TypeEnum:
		if len(f.Initial) > 0 {
			return f.Initial[0]
		}
		return f.Values[0]
	case TypeRef:
		return SampleID(f.Ref)
	case TypeInteger:
		return int64(f.clamp(1))
	case TypeNumber:
		return f.clamp(1.5)
	case TypeBoolean:
		return true
	case TypeTimestamp:
		return sampleTime
	case TypeArray:
		n := 1
		if f.MinItems != nil && *f.MinItems > n {
			n = *f.MinItems
		}
		if f.MaxItems != nil && *f.MaxItems < n {
			n = *f.MaxItems
		}
		items := make([]any, n)
		for i := range items {
			items[i] = f.Of.Sample()
		}
		return items
	case TypeObject:
		m := make(map[string]any, len(f.Fields))
		for _, sub := range f.Fields {
			m[sub.Name] = sub.Sample()
		}
		return m
	default: // json
		return map[string]any{"any": "JSON"}
	}
}

// SampleID is the id documentation shows for a record of resource: shaped like the UUIDv7
// ids the server makes, and the same on every run for the same resource.
func SampleID(resource string) string {
	sum := sha256.Sum256([]byte(resource))
	var id uuid.UUID
	copy(id[:], sum[:16])
	var ms [8]byte
	binary.BigEndian.PutUint64(ms[:], uint64(sampleTime.UnixMilli()))
	copy(id[:6], ms[2:])
	id[6] = id[6]&0x0f | 0x70 // version 7
	id[8] = id[8]&0x3f | 0x80 // RFC 9562 variant
	return id.String()
}

// clamp is x moved within the field's min and max.
func (f *Field) clamp(x float64) float64 {
	if f.Min != nil && x < *f.Min {
		x = *f.Min
	}
	if f.Max != nil && x > *f.Max {
		x = *f.Max
	}
	return x
}

// formatSamples are values of each string format that the server's checks accept.
var formatSamples = map[string]string{
	"email": "user@example.com",
	"uri":   "https://example.com/",
	"uuid":  "0c5f6c1e-2d3b-4a59-8e7f-9a0b1c2d3e4f",
	"date":  "2026-01-31",
}

// sampleString tries, in turn, the format's sample, strings the pattern generates (longer
// and longer, to reach min_length) and words naming the field cut or padded to the lengths,
// and returns the first that the field accepts, or the first it tried.
func (f *Field) sampleString() string {
	var tried []string
	if s, ok := formatSamples[f.Format]; ok {
		tried = append(tried, s)
	}
	if f.Pattern != nil {
		if re, err := syntax.Parse(f.Pattern.String(), syntax.Perl); err == nil {
			for extra := 0; extra <= 64; extra++ {
				var b strings.Builder
				if !generate(&b, re, extra) {
					break
				}
				tried = append(tried, b.String())
				if f.MinLength == nil || len([]rune(b.String())) >= *f.MinLength {
					break
				}
			}
		}
	}
	tried = append(tried, f.fitted("example "+strings.ReplaceAll(strings.Trim(f.Name, "[]"), "_", " ")))
	for _, s := range tried {
		if len(f.CheckString(s)) == 0 {
			return s
		}
	}
	return tried[0]
}

// fitted is s cut to max_length or padded to min_length.
func (f *Field) fitted(s string) string {
	s = strings.TrimSpace(s)
	r := []rune(s)
	if f.MaxLength != nil && len(r) > *f.MaxLength {
		r = []rune(strings.TrimSpace(string(r[:*f.MaxLength])))
	}
	for f.MinLength != nil && len(r) < *f.MinLength {
		r = append(r, 'x')
	}
	return string(r)
}

// generate writes a string that re matches, repeating each repetition extra times beyond its
// minimum (within its maximum), so that a caller can grow the string. It reports false for a
// pattern that matches nothing.
func generate(b *strings.Builder, re *syntax.Regexp, extra int) bool {
	switch re.Op {
	case syntax.OpNoMatch:
		return false
	case syntax.OpLiteral:
		b.WriteString(string(re.Rune))
	case syntax.OpCharClass:
		r, ok := pickRune(re.Rune)
		if !ok {
			return false
		}
		b.WriteRune(r)
	case syntax.OpAnyChar, syntax.OpAnyCharNotNL:
		b.WriteByte('x')
	case syntax.OpCapture:
		return generate(b, re.Sub[0], extra)
	case syntax.OpConcat:
		for _, sub := range re.Sub {
			if !generate(b, sub, extra) {
				return false
			}
		}
	case syntax.OpAlternate:
		return generate(b, re.Sub[0], extra)
	case syntax.OpStar, syntax.OpPlus, syntax.OpQuest, syntax.OpRepeat:
		least, most := re.Min, re.Max
		switch re.Op {
		case syntax.OpStar:
			least, most = 0, -1
		case syntax.OpPlus:
			least, most = 1, -1
		case syntax.OpQuest:
			least, most = 0, 1
		}
		n := least + extra
		if most >= 0 && n > most {
			n = most
		}
		for range n {
			if !generate(b, re.Sub[0], extra) {
				return false
			}
		}
	}
	// Anchors and word boundaries match without writing anything.
	return true
}

// pickRune chooses a rune of a character class (given as ranges lo, hi, lo, hi...):
// a letter or digit when the class has one, so that samples read as words.
func pickRune(ranges []rune) (rune, bool) {
	in := func(r rune) bool {
		for i := 0; i+1 < len(ranges); i += 2 {
			if ranges[i] <= r && r <= ranges[i+1] {
				return true
			}
		}
		return false
	}
	for _, r := range []rune{'a', 'A', '0'} {
		if in(r) {
			return r, true
		}
	}
	for i := 0; i+1 < len(ranges); i += 2 {
		for r := max(ranges[i], '!'); r <= ranges[i+1] && r < ranges[i]+256; r++ {
			if unicode.IsPrint(r) {
				return r, true
			}
		}
	}
	return 0, false
}

// example reads a field's `example:`: a value of the field's type, checked member by member
// and item by item at its own position, that satisfies every constraint of the field.
func (c *compiler) example(f *Field, n *yaml.Node, what string) any {
	v, ok := c.exampleValue(f, n, what)
	// What could be read is checked too, so that every mistake is reported at once.
	bad := f.literalViolations(v, what)
	for _, msg := range bad {
		c.errorf(n, "%s (an example must be a value the field accepts)", msg)
	}
	if !ok || len(bad) > 0 {
		return nil
	}
	return v
}

// exampleValue converts n to a value of f's type, reporting at n where it is not one.
func (c *compiler) exampleValue(f *Field, n *yaml.Node, what string) (any, bool) {
	n = deref(n)
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		c.errorf(n, "%s: an example is a value, not null", what)
		return nil, false
	}
	switch f.Type {
	case TypeString, TypeEnum, TypeRef:
		if n.Kind != yaml.ScalarNode || n.Tag != "!!str" {
			c.errorf(n, "%s must be a string (quote it)", what)
			return nil, false
		}
		if _, err := uuid.Parse(n.Value); f.Type == TypeRef && (err != nil || len(n.Value) != 36) {
			c.errorf(n, "%s must be the id of a %s record: a UUID, like %s", what, f.Ref, SampleID(f.Ref))
			return nil, false
		}
		return n.Value, true
	case TypeInteger:
		var v int64
		if n.Kind != yaml.ScalarNode || n.Tag != "!!int" || n.Decode(&v) != nil {
			c.errorf(n, "%s must be a whole number", what)
			return nil, false
		}
		return v, true
	case TypeNumber:
		return c.number(n, what)
	case TypeBoolean:
		return c.boolean(n, what)
	case TypeTimestamp:
		t, err := time.Parse(time.RFC3339Nano, n.Value)
		if n.Kind != yaml.ScalarNode || err != nil || t.UTC().Year() < 1 || t.UTC().Year() > 9999 {
			c.errorf(n, "%s must be an RFC 3339 timestamp, like 2026-01-31T12:00:00Z", what)
			return nil, false
		}
		return t.UTC().Truncate(time.Microsecond), true
	case TypeArray:
		if n.Kind != yaml.SequenceNode {
			c.errorf(n, "%s must be a list", what)
			return nil, false
		}
		items := make([]any, len(n.Content))
		ok := true
		for i, item := range n.Content {
			var good bool
			items[i], good = c.exampleValue(f.Of, item, fmt.Sprintf("%s[%d]", what, i))
			ok = ok && good
		}
		return items, ok
	case TypeObject:
		return c.exampleObject(f, n, what)
	default: // json
		var v any
		if err := n.Decode(&v); err != nil {
			c.errorf(n, "%s: %v", what, err)
			return nil, false
		}
		return normalizeYAML(v), true
	}
}

// exampleObject converts an object's example: members of the object only, each of its type,
// and every member a client must send (required, without a default) present. Computed members
// may be given, to show what responses hold.
func (c *compiler) exampleObject(f *Field, n *yaml.Node, what string) (any, bool) {
	names := make([]string, len(f.Fields))
	for i, sub := range f.Fields {
		names[i] = sub.Name
	}
	entries, ok := c.mapping(n, what, names...)
	if !ok {
		return nil, false
	}
	m := make(map[string]any, len(entries))
	for _, e := range entries {
		i := slices.Index(names, e.Key)
		v, good := c.exampleValue(f.Fields[i], e.Value, what+"."+e.Key)
		ok = ok && good
		m[e.Key] = v
	}
	for _, sub := range f.Fields {
		if _, present := m[sub.Name]; !present && sub.Required && sub.Default == nil {
			c.errorf(n, "%s lacks %s, which is required", what, sub.Name)
			ok = false
		}
	}
	return m, ok
}
