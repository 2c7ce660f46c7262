package store

import "time"

// Record is one stored record of a resource: the members every record has, typed, and the
// resource's fields by name. Field values are string, int64, float64, bool, time.Time (UTC),
// nil, []any and map[string]any, recursively; a field the record does not hold is absent.
type Record struct {
	ID        string
	Version   int64
	CreatedAt time.Time // UTC, microseconds
	UpdatedAt time.Time // UTC, microseconds
	Fields    map[string]any
}

// The names of the members every record has, as clients and expressions spell them.
const (
	MemberID        = "id"
	MemberVersion   = "version"
	MemberCreatedAt = "created_at"
	MemberUpdatedAt = "updated_at"
)

// Value is the member name of the record, system member or field; false when the record does
// not hold it.
func (r *Record) Value(name string) (any, bool) {
	switch name {
	case MemberID:
		return r.ID, true
	case MemberVersion:
		return r.Version, true
	case MemberCreatedAt:
		return r.CreatedAt, true
	case MemberUpdatedAt:
		return r.UpdatedAt, true
	}
	v, ok := r.Fields[name]
	return v, ok
}

// Map is the record as one map of every member, as expressions and stored event bodies see
// it (expressions read it in place, through engine.RecordValue, which must agree with Map);
// empty for a nil record (no record, as a create has no old one). It is a new map; the field
// values are shared with the record.
func (r *Record) Map() map[string]any {
	if r == nil {
		return map[string]any{}
	}
	m := make(map[string]any, len(r.Fields)+4)
	for k, v := range r.Fields {
		m[k] = v
	}
	m[MemberID], m[MemberVersion] = r.ID, r.Version
	m[MemberCreatedAt], m[MemberUpdatedAt] = r.CreatedAt, r.UpdatedAt
	return m
}

// FromMap is the record that Map returned m for, with m's members set as Set does.
func FromMap(m map[string]any) *Record {
	r := &Record{Fields: make(map[string]any, len(m))}
	for k, v := range m {
		r.Set(k, v)
	}
	return r
}

// Set sets the member name, system member or field, to v. A system member given a value of
// another type than its own (which no driver scans) is left zero.
func (r *Record) Set(name string, v any) {
	switch name {
	case MemberID:
		r.ID, _ = v.(string)
	case MemberVersion:
		r.Version, _ = v.(int64)
	case MemberCreatedAt:
		r.CreatedAt, _ = v.(time.Time)
	case MemberUpdatedAt:
		r.UpdatedAt, _ = v.(time.Time)
	default:
		r.Fields[name] = v
	}
}

// Clone is a copy of the record whose field map can be changed without changing r's.
func (r *Record) Clone() *Record {
	c := *r
	c.Fields = make(map[string]any, len(r.Fields))
	for k, v := range r.Fields {
		c.Fields[k] = v
	}
	return &c
}
