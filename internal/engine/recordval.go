package engine

import (
	"reflect"

	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/common/types/traits"

	"github.com/plinth-dev/plinth/internal/store"
)

// RecordValue is rec as expressions see it (record, old, target, lookup()): a map of every
// member, system members and fields, exactly as CEL sees rec.Map(), but read in place. A write
// evaluates many expressions over the same few records and most read a member or two, so
// copying each record into a map for each of them was the largest part of what a write
// allocated. Reading a member converts only that member; what needs the whole map (iterating
// it, its size, comparing it, converting it) builds the map once, on first use. A nil rec is
// an empty map, as a create has no old record.
func RecordValue(rec *store.Record) ref.Val { return &recordValue{rec: rec} }

type recordValue struct {
	rec   *store.Record
	whole traits.Mapper // rec.Map() as CEL's own map, built by asMap
}

var _ traits.Mapper = (*recordValue)(nil)

// asMap is the record as CEL's own map, for the operations that read it whole.
func (v *recordValue) asMap() traits.Mapper {
	if v.whole == nil {
		v.whole = types.DefaultTypeAdapter.NativeToValue(v.rec.Map()).(traits.Mapper)
	}
	return v.whole
}

// Find reads one member. Keys that are not strings are answered by the map itself, which
// holds only string keys.
func (v *recordValue) Find(key ref.Val) (ref.Val, bool) {
	name, ok := key.(types.String)
	if !ok {
		return v.asMap().Find(key)
	}
	if v.rec == nil {
		return nil, false
	}
	x, ok := v.rec.Value(string(name))
	if !ok {
		return nil, false
	}
	return types.DefaultTypeAdapter.NativeToValue(x), true
}

// Get is Find, with CEL's error for a member the record does not hold.
func (v *recordValue) Get(key ref.Val) ref.Val {
	x, found := v.Find(key)
	if !found {
		return types.ValOrErr(x, "no such key: %v", key)
	}
	return x
}

// Contains reports whether the record holds the member key.
func (v *recordValue) Contains(key ref.Val) ref.Val {
	_, found := v.Find(key)
	return types.Bool(found)
}

func (v *recordValue) Size() ref.Val               { return v.asMap().Size() }
func (v *recordValue) Iterator() traits.Iterator   { return v.asMap().Iterator() }
func (v *recordValue) Equal(other ref.Val) ref.Val { return v.asMap().Equal(other) }
func (v *recordValue) Type() ref.Type              { return types.MapType }
func (v *recordValue) Value() any                  { return v.asMap().Value() }

func (v *recordValue) ConvertToNative(typeDesc reflect.Type) (any, error) {
	return v.asMap().ConvertToNative(typeDesc)
}

func (v *recordValue) ConvertToType(typeVal ref.Type) ref.Val {
	if typeVal == types.MapType {
		return v
	}
	return v.asMap().ConvertToType(typeVal)
}
