package spec

import (
	"fmt"
	"math"
	"time"

	"cel.dev/cel-go/cel"

	"github.com/plinth-dev/plinth/internal/query"
)

// Type is a field type of the spec language.
type Type string

// The field types.
const (
	TypeString    Type = "string"
	TypeInteger   Type = "integer"
	TypeNumber    Type = "number"
	TypeBoolean   Type = "boolean"
	TypeEnum      Type = "enum"
	TypeTimestamp Type = "timestamp"
	TypeRef       Type = "ref"
	TypeArray     Type = "array"
	TypeObject    Type = "object"
	TypeJSON      Type = "json"
)

var allTypes = []string{"string", "integer", "number", "boolean", "enum", "timestamp", "ref", "array", "object", "json"}

// Kind is how storage and the filter language see values of the type.
func (t Type) Kind() query.Kind {
	switch t {
	case TypeString, TypeEnum, TypeRef:
		return query.KindString
	case TypeInteger:
		return query.KindInteger
	case TypeNumber:
		return query.KindNumber
	case TypeBoolean:
		return query.KindBool
	case TypeTimestamp:
		return query.KindTimestamp
	default:
		return query.KindJSON
	}
}

// Scalar reports whether values of the type are single values that can be compared and sorted.
func (t Type) Scalar() bool { return t.Kind() != query.KindJSON }

// celType is the CEL type of a field's value, as expressions see it.
func (f *Field) celType() *cel.Type {
	switch f.Type {
	case TypeString, TypeEnum, TypeRef:
		return cel.StringType
	case TypeInteger:
		return cel.IntType
	case TypeNumber:
		return cel.DoubleType
	case TypeBoolean:
		return cel.BoolType
	case TypeTimestamp:
		return cel.TimestampType
	case TypeArray:
		if f.Of != nil && f.Of.Type != TypeObject {
			return cel.ListType(f.Of.celType())
		}
		return cel.ListType(cel.MapType(cel.StringType, cel.DynType))
	case TypeObject:
		return cel.MapType(cel.StringType, cel.DynType)
	default:
		return cel.DynType
	}
}

// celNullable is the field's CEL type where the value may be absent (null).
func (f *Field) celNullable() *cel.Type {
	switch f.Type {
	case TypeString, TypeEnum, TypeRef, TypeInteger, TypeNumber, TypeBoolean:
		return cel.NullableType(f.celType())
	default:
		return f.celType()
	}
}

// Conform converts a value read back from storage (decoded JSON, for arrays, objects and json)
// to the Go types records hold for f's type: int64 for integers, float64 for numbers and
// time.Time for timestamps, at every nesting level. Values it cannot convert stay as they are.
func (f *Field) Conform(v any) any {
	switch f.Type {
	case TypeInteger:
		if x, ok := v.(float64); ok && x == math.Trunc(x) && math.Abs(x) < 1<<63 {
			return int64(x)
		}
	case TypeNumber:
		if x, ok := v.(int64); ok {
			return float64(x)
		}
	case TypeTimestamp:
		if s, ok := v.(string); ok {
			if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
				return t.UTC()
			}
		}
	case TypeArray:
		if items, ok := v.([]any); ok && f.Of != nil {
			for i := range items {
				items[i] = f.Of.Conform(items[i])
			}
		}
	case TypeObject:
		if m, ok := v.(map[string]any); ok {
			for _, sub := range f.Fields {
				if val, present := m[sub.Name]; present {
					m[sub.Name] = sub.Conform(val)
				}
			}
		}
	}
	return v
}

// Signature names what a field's stored values mean: its type, a ref's target and an
// array's element type. Storage compares signatures across spec versions, since several types
// share one column type (a string and a timestamp are both text) and a retype must not pass
// unnoticed.
func (f *Field) Signature() string {
	switch f.Type {
	case TypeRef:
		return "ref(" + f.Ref + ")"
	case TypeArray:
		if f.Of != nil {
			return "array(" + f.Of.Signature() + ")"
		}
	}
	return string(f.Type)
}

// Conform converts a record decoded from JSON (an event's body, say) back into record values
// with each field's Conform, system fields included. Anything but an object gives nil; on a nil
// resource (one the spec no longer has) the system fields are conformed and the fields stay as
// they were decoded.
func (r *Resource) Conform(v any) map[string]any {
	m, ok := v.(map[string]any)
	if !ok {
		return m
	}
	for _, s := range SystemFields {
		if val, ok := m[s.Name]; ok {
			m[s.Name] = (&Field{Type: s.Type}).Conform(val)
		}
	}
	if r == nil {
		return m
	}
	for _, f := range r.Fields {
		if val, ok := m[f.Name]; ok {
			m[f.Name] = f.Conform(val)
		}
	}
	return m
}

// Retyped explains why a field stored with the signature stored cannot be read as the model
// now declares it, or returns "" when it can (or the model no longer has the field). Drivers
// keep the signatures of what they stored and ask this at every start.
func (m *Model) Retyped(resource, field, stored string) string {
	r, ok := m.Resource(resource)
	if !ok {
		return ""
	}
	f, ok := r.Field(field)
	if !ok || f.Signature() == stored {
		return ""
	}
	return fmt.Sprintf("%s.%s holds %s values but the spec now says %s (retyping a field is not automatic)", resource, field, stored, f.Signature())
}
