package engine

import (
	"context"
	"fmt"
	"maps"
	"reflect"
	"time"

	"github.com/plinth-dev/plinth/internal/fault"
	"github.com/plinth-dev/plinth/internal/spec"
)

// Create validates body, applies defaults and computed fields, checks the create rule and
// stores the record, all in one transaction. It returns the stored record.
// Errors: Invalid (with every field error), Unauthorized, Forbidden, Conflict (unique).
func (e *Engine) Create(ctx context.Context, resource string, body map[string]any) (Record, error) {
	r, err := e.resource(resource)
	if err != nil {
		return nil, err
	}
	early := r.Access[spec.OpCreate] == nil || !r.Access[spec.OpCreate].Refs["record"]
	if early {
		if err := e.permits(ctx, r, spec.OpCreate, nil, nil, false); err != nil {
			return nil, err
		}
	}
	var v validator
	input := v.object(r.Fields, body, "")
	if err := v.err(); err != nil {
		return nil, err
	}
	id, err := newID()
	if err != nil {
		return nil, err
	}
	var out Record
	err = e.store.Write(ctx, func(tx Tx) error {
		now := e.clock()
		rec := cloneRecord(input)
		w := e.newWrite(ctx, tx, now, rec)
		w.applyDefaults(r.Fields, rec)
		if err := w.complete(r); err != nil {
			return err
		}
		if !early {
			if err := e.permits(ctx, r, spec.OpCreate, rec, nil, false); err != nil {
				return err
			}
		}
		rec["id"], rec["created_at"], rec["updated_at"], rec["version"] = id, now, now, int64(1)
		if err := tx.Insert(ctx, r, rec); err != nil {
			return err
		}
		out = rec
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// UpdateMode says how an update body relates to the stored record.
type UpdateMode int

// Update modes.
const (
	MergePatch UpdateMode = iota // RFC 7386: members replace, null removes, objects merge
	Replace                      // the body is the whole record; omitted fields become null
)

// Precondition carries If-Match: the version the client last saw. Zero means none.
type Precondition struct {
	Version int64
}

// Update changes the record id. The caller must be able to read it (else NotFound) and pass
// the update rule (else Forbidden). Immutable fields may not change, enum transitions must be
// allowed (Conflict, with the allowed states), and a stale precondition is PreconditionFailed.
func (e *Engine) Update(ctx context.Context, resource, id string, body map[string]any, mode UpdateMode, pre Precondition) (Record, error) {
	r, err := e.resource(resource)
	if err != nil {
		return nil, err
	}
	var v validator
	input := v.object(r.Fields, body, "")
	if err := v.err(); err != nil {
		return nil, err
	}
	var out Record
	err = e.store.Write(ctx, func(tx Tx) error {
		old, err := tx.Get(ctx, r, id)
		if err != nil {
			return err
		}
		if !e.canRead(ctx, r, old) {
			return denial(ctx, true, spec.OpUpdate, r.Name)
		}
		if err := checkPrecondition(old, pre); err != nil {
			return err
		}
		rec := nextRecord(r, old, cloneRecord(input), mode)
		if err := checkChange(r, old, rec); err != nil {
			return err
		}
		now := e.clock()
		w := e.newWrite(ctx, tx, now, rec)
		if err := w.complete(r); err != nil {
			return err
		}
		if err := e.permits(ctx, r, spec.OpUpdate, rec, old, false); err != nil {
			return err
		}
		if sameRecord(r, old, rec) {
			out = old
			return nil
		}
		prev := old["version"].(int64)
		rec["id"], rec["created_at"], rec["updated_at"], rec["version"] = id, old["created_at"], now, prev+1
		if err := tx.Update(ctx, r, rec, prev); err != nil {
			return err
		}
		out = rec
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Delete removes the record id, under the same visibility and precondition rules as Update.
// A record that others still reference is a Conflict.
func (e *Engine) Delete(ctx context.Context, resource, id string, pre Precondition) error {
	r, err := e.resource(resource)
	if err != nil {
		return err
	}
	return e.store.Write(ctx, func(tx Tx) error {
		old, err := tx.Get(ctx, r, id)
		if err != nil {
			return err
		}
		if !e.canRead(ctx, r, old) {
			return denial(ctx, true, spec.OpDelete, r.Name)
		}
		if err := checkPrecondition(old, pre); err != nil {
			return err
		}
		if err := e.permits(ctx, r, spec.OpDelete, old, nil, false); err != nil {
			return err
		}
		return tx.Delete(ctx, r, id)
	})
}

func checkPrecondition(old Record, pre Precondition) error {
	if pre.Version == 0 {
		return nil
	}
	if cur := old["version"].(int64); cur != pre.Version {
		return &fault.Error{Code: fault.PreconditionFailed, Type: "stale-version",
			Message: fmt.Sprintf("the record is at version %d, not %d", cur, pre.Version),
			Extra:   map[string]any{"current_version": cur}}
	}
	return nil
}

// nextRecord builds the record an update asks for from the stored one and the input.
func nextRecord(r *spec.Resource, old, input Record, mode UpdateMode) Record {
	next := make(Record, len(r.Fields))
	if mode == Replace {
		for _, f := range r.Fields {
			if v, ok := input[f.Name]; ok {
				next[f.Name] = v
			} else if f.Immutable {
				next[f.Name] = old[f.Name]
			}
		}
		return next
	}
	for _, f := range r.Fields {
		next[f.Name] = cloneValue(old[f.Name])
	}
	mergeInto(r.Fields, next, input)
	return next
}

// mergeInto applies a merge patch: objects merge member by member, anything else replaces.
func mergeInto(fields []*spec.Field, dst, patch map[string]any) {
	for name, pv := range patch {
		f := findField(fields, name)
		cur, isMap := dst[name].(map[string]any)
		pm, patchIsMap := pv.(map[string]any)
		if f != nil && f.Type == spec.TypeObject && isMap && patchIsMap {
			mergeInto(f.Fields, cur, pm)
			continue
		}
		dst[name] = pv
	}
}

// checkChange enforces immutability and enum transitions between two versions of a record.
func checkChange(r *spec.Resource, old, next Record) error {
	var v validator
	for _, f := range r.Fields {
		if f.Immutable && !equalValue(old[f.Name], next[f.Name]) {
			v.add(f.Name, "immutable", "cannot be changed once set")
		}
	}
	if err := v.err(); err != nil {
		return err
	}
	for _, f := range r.Fields {
		if f.Type != spec.TypeEnum || f.Transitions == nil {
			continue
		}
		from, _ := old[f.Name].(string)
		to, _ := next[f.Name].(string)
		if from == "" || to == "" || from == to || contains(f.Transitions[from], to) {
			continue
		}
		allowedNext := f.Transitions[from]
		if allowedNext == nil {
			allowedNext = []string{}
		}
		return &fault.Error{Code: fault.Conflict, Type: "invalid-transition",
			Message: fmt.Sprintf("%s cannot change from %s to %s", f.Name, from, to),
			Fields:  []fault.FieldError{{Field: f.Name, Code: "transition", Message: fmt.Sprintf("cannot change from %s to %s", from, to)}},
			Extra:   map[string]any{"field": f.Name, "from": from, "to": to, "allowed": allowedNext}}
	}
	return nil
}

func sameRecord(r *spec.Resource, a, b Record) bool {
	for _, f := range r.Fields {
		if !equalValue(a[f.Name], b[f.Name]) {
			return false
		}
	}
	return true
}

func equalValue(a, b any) bool {
	if ta, ok := a.(time.Time); ok {
		tb, ok := b.(time.Time)
		return ok && ta.Equal(tb)
	}
	return reflect.DeepEqual(a, b)
}

func cloneRecord(r Record) Record {
	out := make(Record, len(r))
	for k, v := range r {
		out[k] = cloneValue(v)
	}
	return out
}

func cloneValue(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := maps.Clone(x)
		for k, val := range out {
			out[k] = cloneValue(val)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i := range x {
			out[i] = cloneValue(x[i])
		}
		return out
	}
	return v
}
