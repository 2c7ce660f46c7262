package openapi

import (
	"fmt"
	"slices"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/plinth-dev/plinth/internal/spec"
)

// shape is which body a schema describes: the same field is written differently to a
// response, a create, a replace and a merge patch.
type shape int

const (
	// read is a record as the server writes it: every member, read-only ones included.
	read shape = iota
	// create is a POST body: writable members, those without a default required, a state
	// machine only at its initial states.
	create
	// replace is a PUT body: as a create, but immutable members may be left out (they keep
	// their value) and a state machine may name any state (its transitions are checked).
	replace
	// patch is a JSON merge patch (RFC 7386): every member optional; objects merge member by
	// member, anything else (arrays included) replaces.
	patch
)

// systemField describes a member every record has.
func systemField(name string) *openapi3.Schema {
	switch name {
	case "id":
		return &openapi3.Schema{Type: types("string"), Format: "uuid", ReadOnly: true,
			Description: "The record's id, a UUIDv7 the server makes."}
	case "created_at":
		return &openapi3.Schema{Type: types("string"), Format: "date-time", ReadOnly: true,
			Description: "When the record was created, in UTC with microseconds."}
	case "updated_at":
		return &openapi3.Schema{Type: types("string"), Format: "date-time", ReadOnly: true,
			Description: "When the record last changed, in UTC with microseconds."}
	default: // version
		return &openapi3.Schema{Type: types("integer"), Format: "int64", Min: ptr(1.0), ReadOnly: true,
			Description: "1 on create, then one more per change. The ETag is this number in quotes; If-Match names it."}
	}
}

func ptr[T any](v T) *T { return &v }

func types(t ...string) *openapi3.Types { return (*openapi3.Types)(&t) }

// place is where a field sits: a member of the record, of a nested object, or an array's
// element.
type place int

const (
	top place = iota
	member
	element
)

// recordSchema is a resource's record in a shape. In the read shape, list says whether it is
// a list's item: lists return only the members `fields` names (id always), and the records
// `expand` names under an `expand` member.
func (b *builder) recordSchema(r *spec.Resource, sh shape, list bool) *openapi3.Schema {
	s := &openapi3.Schema{Type: types("object"), Properties: openapi3.Schemas{},
		AdditionalProperties: openapi3.AdditionalProperties{Has: ptr(false)}}
	if sh == read {
		for _, sf := range spec.SystemFields {
			s.Properties[sf.Name] = &openapi3.SchemaRef{Value: systemField(sf.Name)}
			if !list || sf.Name == "id" {
				s.Required = append(s.Required, sf.Name)
			}
		}
	}
	for _, f := range r.Fields {
		if sh != read && f.ReadOnly() {
			continue
		}
		s.Properties[f.Name] = b.fieldSchema(f, sh, top)
		if required(f, sh, top) && !list {
			s.Required = append(s.Required, f.Name)
		}
	}
	if list {
		if exp := b.expandSchema(r); exp != nil {
			s.Properties["expand"] = &openapi3.SchemaRef{Value: exp}
		}
	}
	return s
}

// required reports whether a body in shape sh must hold f, a member at pl.
func required(f *spec.Field, sh shape, pl place) bool {
	switch sh {
	case read:
		// Every member of the record is written (null when unset); a nested one only when set.
		return pl == top || !f.Nullable()
	case create:
		return f.Required && f.Default == nil
	case replace:
		return f.Required && f.Default == nil && !(pl == top && f.Immutable)
	}
	return false
}

// nullable reports whether f at pl may be null in a body of shape sh.
func nullable(f *spec.Field, sh shape, pl place) bool {
	switch {
	case pl == element:
		return false // an array's items are never null
	case sh == read && pl == top && f.Computed != nil:
		// A computed field added to a spec is null in the records written before, until their
		// next write computes it (docs/spec.md, Schema changes).
		return true
	}
	return f.Nullable()
}

// expandSchema is the `expand` member of a list's items: the record each expanded ref field
// points to, or null when it points to none or to one the caller may not read. Nil for a
// resource without top-level refs, whose lists expand nothing.
func (b *builder) expandSchema(r *spec.Resource) *openapi3.Schema {
	props := openapi3.Schemas{}
	for _, f := range r.Fields {
		if f.Type == spec.TypeRef {
			props[f.Name] = &openapi3.SchemaRef{Value: &openapi3.Schema{
				Description: fmt.Sprintf("The %s record that %s refers to; null when it refers to none, or to one the caller may not read.", f.Ref, f.Name),
				AnyOf:       openapi3.SchemaRefs{b.ref(f.Ref), {Value: &openapi3.Schema{Type: types("null")}}},
			}}
		}
	}
	if len(props) == 0 {
		return nil
	}
	return &openapi3.Schema{Type: types("object"), Properties: props, AdditionalProperties: openapi3.AdditionalProperties{Has: ptr(false)},
		Description: "Present when the list was asked to `expand` ref fields: the records they refer to, by field."}
}

// fieldSchema is f, at pl, in a body of shape sh.
func (b *builder) fieldSchema(f *spec.Field, sh shape, pl place) *openapi3.SchemaRef {
	s := &openapi3.Schema{Description: describe(f, sh, pl), Deprecated: f.Deprecated}
	switch f.Type {
	case spec.TypeString:
		s.Type = types("string")
		if f.MinLength != nil {
			s.MinLength = uint64(*f.MinLength)
		}
		if f.MaxLength != nil {
			s.MaxLength = ptr(uint64(*f.MaxLength))
		}
		if f.Pattern != nil {
			s.Pattern = f.Pattern.String()
		}
		if f.Format != "" {
			s.Format = f.Format
		}
		if f.Format == "email" {
			if s.Pattern == "" {
				s.Pattern = spec.EmailPattern
			} else {
				s.AllOf = openapi3.SchemaRefs{{Value: &openapi3.Schema{Pattern: spec.EmailPattern}}}
			}
		}
	case spec.TypeEnum:
		s.Type = types("string")
		values := f.Values
		if sh == create && f.Transitions != nil {
			values = f.Initial
		}
		for _, v := range values {
			s.Enum = append(s.Enum, v)
		}
		if f.Transitions != nil {
			s.Extensions = map[string]any{"x-plinth-transitions": transitions(f), "x-plinth-initial": f.Initial}
		}
	case spec.TypeRef:
		s.Type = types("string")
		s.Format = "uuid"
		s.Extensions = map[string]any{"x-plinth-ref": f.Ref}
	case spec.TypeInteger:
		s.Type = types("integer")
		s.Format = "int64"
		s.Min, s.Max = f.Min, f.Max
	case spec.TypeNumber:
		s.Type = types("number")
		s.Format = "double"
		s.Min, s.Max = f.Min, f.Max
	case spec.TypeBoolean:
		s.Type = types("boolean")
	case spec.TypeTimestamp:
		s.Type = types("string")
		s.Format = "date-time"
	case spec.TypeArray:
		s.Type = types("array")
		if f.MinItems != nil {
			s.MinItems = uint64(*f.MinItems)
		}
		if f.MaxItems != nil {
			s.MaxItems = ptr(uint64(*f.MaxItems))
		}
		// An array replaces the stored one whole, so even a patch sends complete items.
		itemShape := sh
		if sh == patch || sh == replace {
			itemShape = create
		}
		s.Items = b.fieldSchema(f.Of, itemShape, element)
	case spec.TypeObject:
		s.Type = types("object")
		s.AdditionalProperties = openapi3.AdditionalProperties{Has: ptr(false)}
		s.Properties = openapi3.Schemas{}
		memberShape := sh
		if sh == replace {
			memberShape = create
		}
		for _, sub := range f.Fields {
			if sh != read && sub.ReadOnly() {
				continue
			}
			s.Properties[sub.Name] = b.fieldSchema(sub, memberShape, member)
			if required(sub, memberShape, member) {
				s.Required = append(s.Required, sub.Name)
			}
		}
	default: // json: any JSON value
		if !nullable(f, sh, pl) {
			s.Type = types("object", "array", "string", "number", "boolean")
		}
	}
	if sh == read && f.ReadOnly() {
		s.ReadOnly = true
	}
	if (sh == create || sh == replace) && f.Default != nil && f.Default.Literal != nil {
		s.Default = jsonValue(f.Default.Literal)
	}
	if sh == read && f.Example != nil {
		s.Examples = []any{jsonValue(f.Example)}
	}
	if nullable(f, sh, pl) && s.Type != nil {
		*s.Type = append(*s.Type, "null")
		if s.Enum != nil {
			s.Enum = append(s.Enum, nil)
		}
	}
	return &openapi3.SchemaRef{Value: s}
}

// transitions is an enum's state machine as a JSON object: each state's next states, a final
// state with none.
func transitions(f *spec.Field) map[string][]string {
	out := make(map[string][]string, len(f.Values))
	for _, v := range f.Values {
		out[v] = append([]string{}, f.Transitions[v]...)
	}
	return out
}

// describe is what a field's schema says in words about what its keywords cannot: where its
// value comes from and the rules a write meets.
func describe(f *spec.Field, sh shape, pl place) string {
	var parts []string
	if f.Description != "" {
		parts = append(parts, strings.TrimSuffix(f.Description, ".")+".")
	}
	switch {
	case f.Computed != nil:
		parts = append(parts, fmt.Sprintf("Computed by the server on every write that changes what it reads: `%s`.", f.Computed.Source))
		if sh == read && pl == top {
			parts = append(parts, "Null only in records written before the field was added to the spec, until their next write.")
		}
	case f.Default != nil && f.Default.Expr != nil && sh != read && sh != patch:
		parts = append(parts, fmt.Sprintf("Left out, it is `%s`, evaluated when the record is written.", f.Default.Expr.Source))
	}
	if f.Unique {
		parts = append(parts, "Unique: no two records share a value (409 `unique`).")
	}
	if f.Immutable {
		switch sh {
		case patch:
			parts = append(parts, "Immutable: it may be sent only with its current value (else 422 `immutable`).")
		case replace:
			parts = append(parts, "Immutable: left out, it keeps its value; sent, it must be its current value (else 422 `immutable`).")
		default:
			parts = append(parts, "Immutable: set on create, never changed after.")
		}
	}
	if f.Type == spec.TypeRef {
		parts = append(parts, fmt.Sprintf("The id of a `%s` record, which must exist and be readable by the caller when it is written (else 422 `not_found`).", f.Ref))
		if pl == top && f.OnDelete != "" {
			parts = append(parts, onDeleteText[f.OnDelete])
		}
	}
	if f.Transitions != nil {
		parts = append(parts, machineText(f, sh))
	}
	if f.Pattern != nil {
		parts = append(parts, "The pattern is an RE2 regular expression, as the server reads it.")
	}
	return strings.Join(parts, " ")
}

var onDeleteText = map[spec.OnDelete]string{
	spec.OnDeleteRestrict: "Deleting the record it refers to is refused while this one refers to it (409 `referenced`).",
	spec.OnDeleteCascade:  "Deleting the record it refers to deletes this one too.",
	spec.OnDeleteSetNull:  "Deleting the record it refers to sets this field to null.",
}

// machineText says how a state machine field moves.
func machineText(f *spec.Field, sh shape) string {
	var moves, final []string
	for _, v := range f.Values {
		if next := f.Transitions[v]; len(next) > 0 {
			moves = append(moves, v+" → "+strings.Join(next, ", "))
		} else {
			final = append(final, v)
		}
	}
	text := fmt.Sprintf("State machine: a record starts as %s; then %s", strings.Join(f.Initial, " or "), strings.Join(moves, "; "))
	if len(final) > 0 {
		text += "; " + strings.Join(final, ", ") + " final"
	}
	text += "."
	if sh == patch || sh == replace {
		text += " Any other move is 409 `invalid-transition`."
	}
	return text
}

// writable is a sample value of f as a client writes it: without the members the server
// computes, at every level.
func writable(f *spec.Field, v any) any {
	return rebuild(f, v, func(sub *spec.Field, val any, present bool) (any, bool) {
		return val, present && !sub.ReadOnly()
	})
}

// filled is a sample value of f as the server stores it: with the computed members and the
// literal defaults of nested objects that an example of the spec left out.
func filled(f *spec.Field, v any) any {
	return rebuild(f, v, func(sub *spec.Field, val any, present bool) (any, bool) {
		if !present && (sub.Computed != nil || sub.Default != nil && sub.Default.Literal != nil) {
			return sub.Sample(), true
		}
		return val, present
	})
}

// rebuild copies a sample value of f, making each member of the spec's objects, at every
// level, what member says (false leaves it out). The values of json fields are copied as
// they are.
func rebuild(f *spec.Field, v any, member func(sub *spec.Field, val any, present bool) (any, bool)) any {
	switch x := v.(type) {
	case []any:
		out := make([]any, len(x))
		for i := range x {
			out[i] = rebuild(f.Of, x[i], member)
		}
		return out
	case map[string]any:
		if f.Type != spec.TypeObject {
			return x
		}
		out := make(map[string]any, len(x))
		for _, sub := range f.Fields {
			val, present := x[sub.Name]
			if val, ok := member(sub, val, present); ok {
				out[sub.Name] = rebuild(sub, val, member)
			}
		}
		return out
	}
	return v
}

// initialState keeps a create's example of a state machine at an initial state.
func initialState(f *spec.Field, v any) any {
	if s, _ := v.(string); f.Transitions != nil && !slices.Contains(f.Initial, s) {
		return f.Initial[0]
	}
	return v
}
