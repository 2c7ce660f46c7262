package engine

import (
	"context"
	"errors"
	"fmt"
	"time"

	"cel.dev/cel-go/common/types/ref"
	"github.com/plinth-dev/plinth/internal/fault"
	"github.com/plinth-dev/plinth/internal/spec"
	"github.com/plinth-dev/plinth/internal/store"
)

// write is the state of one write inside its transaction: the record being built, the
// records already read (so that a product looked up for three order items is read once),
// and the field errors found so far.
type write struct {
	e      *Engine
	ctx    context.Context
	get    func(ctx context.Context, r *spec.Resource, id string) (*store.Record, error) // reads inside the transaction
	now    time.Time
	record map[string]any // the fields of the record being written
	auth   map[string]any
	old    map[string]any     // the stored fields, on an update
	seen   map[string]ref.Val // the records looked up, as expressions see them; nil for missing
	v      validator
	failed error // a storage failure met while checking; it wins over field errors
	// broken is the first default or computed expression that failed, and why: the write
	// answers expression-failed rather than field errors the client cannot mend.
	broken      *spec.Expr
	brokenCause error
}

func (e *Engine) newWrite(ctx context.Context, tx store.Tx, now time.Time, rec map[string]any) *write {
	return &write{e: e, ctx: ctx, get: tx.Get, now: now, record: rec,
		auth: authFrom(ctx), seen: map[string]ref.Val{}}
}

// lookup reads a record in the transaction, once per write, under the caller's read rule.
func (w *write) lookup(resource, id string) (ref.Val, error) {
	key := resource + "/" + id
	if view, ok := w.seen[key]; ok {
		if view == nil {
			return nil, fault.New(fault.NotFound, "no such record")
		}
		return view, nil
	}
	r, ok := w.e.model.Resource(resource)
	if !ok {
		return nil, fault.New(fault.NotFound, "no such resource")
	}
	rec, err := w.get(w.ctx, r, id)
	if err == nil && !w.e.canRead(w.ctx, r, rec) {
		// A record the caller may not read is missing to them here too: lookup() would copy
		// it into their record, and a reference to it would confirm that it exists.
		rec, err = nil, fault.New(fault.NotFound, "no such record")
	}
	if fault.CodeOf(err) == fault.NotFound {
		w.seen[key] = nil
		return nil, err
	}
	if err != nil {
		// A storage failure is ours, not the client's: it must not become a field error
		// (which an idempotent replay would repeat) where an expression swallows it.
		if w.failed == nil {
			w.failed = err
		}
		return nil, err
	}
	view := RecordValue(rec)
	w.seen[key] = view
	return view, nil
}

// vars are the variables of a default or computed expression at one nesting level.
func (w *write) vars(level []*spec.Field, values map[string]any) map[string]any {
	vars := make(map[string]any, len(level)+3)
	for _, f := range level {
		vars[f.Name] = values[f.Name]
	}
	vars["record"], vars["auth"], vars["now"] = map[string]any(w.record), w.auth, w.now
	return vars
}

// eval runs a default or computed expression and converts its result to f's type. A computed
// field's expression may not give null (computed fields are never null).
func (w *write) eval(f *spec.Field, x *spec.Expr, level []*spec.Field, values map[string]any, path string) any {
	out, err := evalExpr(x, w.vars(level, values), w.lookup)
	if err == nil {
		var v any
		if v, err = fromCEL(out); err == nil && v == nil && f.Computed == x {
			err = errors.New("gave null")
		}
		if err == nil {
			return w.v.value(f, v, path)
		}
	}
	if w.broken == nil {
		w.broken, w.brokenCause = x, err
	}
	return nil
}

// applyDefaults fills absent fields of one level from their defaults.
func (w *write) applyDefaults(level []*spec.Field, values map[string]any) {
	for _, f := range level {
		if values[f.Name] != nil || f.Default == nil {
			continue
		}
		if f.Default.Expr != nil {
			values[f.Name] = w.eval(f, f.Default.Expr, level, values, f.Name)
		} else {
			values[f.Name] = cloneValue(f.Default.Literal)
		}
	}
}

// complete finishes a record inside the transaction: references must exist, nested defaults
// and computed fields are filled in, and required fields must be set. Every problem is
// reported at once.
// id is the record's id, or "" for a create.
func (w *write) complete(r *spec.Resource, id string) error {
	w.checkRefs(r.Fields, w.record, w.old, "")
	// Fields the client had to send are reported as such before any expression reads them.
	w.v.checkRequired(r.Fields, w.record, "", true)
	if err := w.problem(r, id); err != nil {
		return err
	}
	w.compute(r.Fields, w.record, w.old, "")
	if err := w.problem(r, id); err != nil {
		return err
	}
	w.v.checkRequired(r.Fields, w.record, "", false)
	return w.v.err()
}

// problem is what the write has met so far, most serious first: a storage failure, an
// expression that failed, then the field errors.
func (w *write) problem(r *spec.Resource, id string) error {
	switch {
	case w.failed != nil:
		return w.failed
	case w.broken != nil:
		return w.e.exprFailed(w.ctx, w.broken, r.Name, id, w.brokenCause)
	}
	return w.v.err()
}

// precheck adds to v what a write would find once its body is well typed: missing required
// fields and references to missing records, read outside any transaction. It runs only when
// the body already has errors, so that the client learns of every mistake in one round trip
// without the request ever taking the write lock.
func (e *Engine) precheck(ctx context.Context, r *spec.Resource, input map[string]any, v *validator) {
	w := &write{e: e, ctx: ctx, get: e.db.Get, now: e.clock(), record: input,
		auth: authFrom(ctx), seen: map[string]ref.Val{}}
	w.checkRefs(r.Fields, input, nil, "")
	w.v.checkRequired(r.Fields, input, "", true)
	// A value with a type error was dropped to null; it is reported once, as a type error.
	reported := make(map[string]bool, len(v.errs))
	for _, fe := range v.errs {
		reported[fe.Field] = true
	}
	for _, fe := range w.v.errs {
		if !reported[fe.Field] {
			v.errs = append(v.errs, fe)
		}
	}
}

// checkRefs reports references to records that do not exist. A reference an update leaves as
// it was is not checked again: an order whose product was since deleted can still be cancelled.
// old holds the level's previous values (nil for a create).
func (w *write) checkRefs(level []*spec.Field, values, old map[string]any, path string) {
	for _, f := range level {
		p := join(path, f.Name)
		switch f.Type {
		case spec.TypeRef:
			if id, ok := values[f.Name].(string); ok && !unchanged(old, f.Name, id) {
				w.checkRef(f, id, p)
			}
		case spec.TypeObject:
			if m, ok := values[f.Name].(map[string]any); ok {
				w.checkRefs(f.Fields, m, child(old, f.Name), p)
			}
		case spec.TypeArray:
			items, _ := values[f.Name].([]any)
			oldItems := childList(old, f.Name)
			for i, item := range items {
				ip := fmt.Sprintf("%s[%d]", p, i)
				var oldItem any
				if i < len(oldItems) {
					oldItem = oldItems[i]
				}
				switch f.Of.Type {
				case spec.TypeObject:
					if m, ok := item.(map[string]any); ok {
						prev, _ := oldItem.(map[string]any)
						w.checkRefs(f.Of.Fields, m, prev, ip)
					}
				case spec.TypeRef:
					if id, ok := item.(string); ok && oldItem != id {
						w.checkRef(f.Of, id, ip)
					}
				}
			}
		}
	}
}

// unchanged reports whether old (a previous version of the level) held v under name.
func unchanged(old map[string]any, name string, v any) bool {
	if old == nil {
		return false
	}
	prev, ok := old[name]
	return ok && equalValue(prev, v)
}

func child(old map[string]any, name string) map[string]any {
	m, _ := old[name].(map[string]any)
	return m
}

func childList(old map[string]any, name string) []any {
	l, _ := old[name].([]any)
	return l
}

func (w *write) checkRef(f *spec.Field, id, path string) {
	if _, err := w.lookup(f.Ref, id); fault.CodeOf(err) == fault.NotFound {
		w.v.add(path, "not_found", "there is no %s with id %s", f.Ref, id)
	}
}

// compute fills nested defaults and computed fields, innermost first, so that a total can
// add up the items' computed prices. On an update (old is the level's previous values), a
// computed field keeps its stored value unless a field it mentions changed: a price copied
// from a product with lookup() stays the price the order was placed at. Expressions that
// mention record, auth or now are recomputed on every write.
func (w *write) compute(level []*spec.Field, values, old map[string]any, path string) {
	for _, f := range level {
		if !f.HasComputed() && !hasNestedDefaults(f) {
			continue
		}
		p := join(path, f.Name)
		switch val := values[f.Name].(type) {
		case map[string]any:
			w.applyDefaults(f.Fields, val)
			w.compute(f.Fields, val, child(old, f.Name), p)
		case []any:
			if f.Of.Type != spec.TypeObject {
				continue
			}
			oldItems := childList(old, f.Name)
			for i, item := range val {
				if m, ok := item.(map[string]any); ok {
					var prev map[string]any
					if i < len(oldItems) {
						prev, _ = oldItems[i].(map[string]any)
					}
					w.applyDefaults(f.Of.Fields, m)
					w.compute(f.Of.Fields, m, prev, fmt.Sprintf("%s[%d]", p, i))
				}
			}
		}
	}
	for _, f := range level {
		if f.Computed == nil {
			continue
		}
		if old != nil && !inputsChanged(f.Computed, level, values, old) {
			if prev := old[f.Name]; prev != nil {
				values[f.Name] = prev
				continue
			}
		}
		values[f.Name] = w.eval(f, f.Computed, level, values, join(path, f.Name))
	}
}

// inputsChanged reports whether x would see different inputs now than when its value was
// stored: a field of the level that it mentions changed, or it mentions what changes anyway.
func inputsChanged(x *spec.Expr, level []*spec.Field, values, old map[string]any) bool {
	if x.Refs["record"] || x.Refs["auth"] || x.Refs["now"] {
		return true
	}
	for _, f := range level {
		if x.Refs[f.Name] && !equalValue(values[f.Name], old[f.Name]) {
			return true
		}
	}
	return false
}

func hasNestedDefaults(f *spec.Field) bool {
	fields := f.Fields
	if f.Of != nil {
		fields = f.Of.Fields
	}
	for _, sub := range fields {
		if sub.Default != nil || hasNestedDefaults(sub) {
			return true
		}
	}
	return false
}
