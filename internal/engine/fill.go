package engine

import (
	"context"
	"fmt"
	"time"

	"github.com/plinth-dev/plinth/internal/fault"
	"github.com/plinth-dev/plinth/internal/spec"
)

// write is the state of one write inside its transaction: the record being built, the
// records already read (so that a product looked up for three order items is read once),
// and the field errors found so far.
type write struct {
	e      *Engine
	ctx    context.Context
	get    func(ctx context.Context, r *spec.Resource, id string) (Record, error) // reads inside the transaction
	now    time.Time
	record Record
	auth   map[string]any
	seen   map[string]Record
	v      validator
	failed error // a storage failure met while checking; it wins over field errors
}

func (e *Engine) newWrite(ctx context.Context, tx Tx, now time.Time, rec Record) *write {
	return &write{e: e, ctx: ctx, get: tx.Get, now: now, record: rec,
		auth: PrincipalFrom(ctx).authValue(), seen: map[string]Record{}}
}

// lookup reads a record in the transaction, once per write.
func (w *write) lookup(resource, id string) (Record, error) {
	key := resource + "/" + id
	if rec, ok := w.seen[key]; ok {
		if rec == nil {
			return nil, fault.New(fault.NotFound, "no such record")
		}
		return rec, nil
	}
	r, ok := w.e.model.Resource(resource)
	if !ok {
		return nil, fault.New(fault.NotFound, "no such resource")
	}
	rec, err := w.get(w.ctx, r, id)
	if fault.CodeOf(err) == fault.NotFound {
		w.seen[key] = nil
		return nil, err
	}
	if err != nil {
		return nil, err
	}
	w.seen[key] = rec
	return rec, nil
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

// eval runs a default or computed expression and converts its result to f's type.
func (w *write) eval(f *spec.Field, x *spec.Expr, level []*spec.Field, values map[string]any, path string) any {
	out, err := evalExpr(x, w.vars(level, values), w.lookup)
	if err == nil {
		var v any
		if v, err = fromCEL(out); err == nil {
			return w.v.value(f, v, path)
		}
	}
	w.e.log.DebugContext(w.ctx, "expression failed", "field", path, "err", err)
	w.v.add(path, "computed", "could not be computed from the other fields")
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
func (w *write) complete(r *spec.Resource) error {
	w.checkRefs(r.Fields, w.record, "")
	if w.failed != nil {
		return w.failed
	}
	if err := w.v.err(); err != nil {
		return err
	}
	w.compute(r.Fields, w.record, "")
	w.v.checkRequired(r.Fields, w.record, "", false)
	return w.v.err()
}

// precheck adds to v what a write would find once its body is well typed: missing required
// fields and references to missing records, read outside any transaction. It runs only when
// the body already has errors, so that the client learns of every mistake in one round trip
// without the request ever taking the write lock.
func (e *Engine) precheck(ctx context.Context, r *spec.Resource, input Record, creating bool, v *validator) {
	w := &write{e: e, ctx: ctx, get: e.store.Get, now: e.clock(), record: input,
		auth: PrincipalFrom(ctx).authValue(), seen: map[string]Record{}}
	w.checkRefs(r.Fields, input, "")
	w.v.checkRequired(r.Fields, input, "", creating)
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

// checkRefs reports references to records that do not exist.
func (w *write) checkRefs(level []*spec.Field, values map[string]any, path string) {
	for _, f := range level {
		p := join(path, f.Name)
		switch f.Type {
		case spec.TypeRef:
			if id, ok := values[f.Name].(string); ok {
				w.checkRef(f, id, p)
			}
		case spec.TypeObject:
			if m, ok := values[f.Name].(map[string]any); ok {
				w.checkRefs(f.Fields, m, p)
			}
		case spec.TypeArray:
			items, _ := values[f.Name].([]any)
			for i, item := range items {
				ip := fmt.Sprintf("%s[%d]", p, i)
				switch f.Of.Type {
				case spec.TypeObject:
					if m, ok := item.(map[string]any); ok {
						w.checkRefs(f.Of.Fields, m, ip)
					}
				case spec.TypeRef:
					if id, ok := item.(string); ok {
						w.checkRef(f.Of, id, ip)
					}
				}
			}
		}
	}
}

func (w *write) checkRef(f *spec.Field, id, path string) {
	if _, err := w.lookup(f.Ref, id); fault.CodeOf(err) == fault.NotFound {
		w.v.add(path, "not_found", "there is no %s with id %s", f.Ref, id)
	} else if err != nil && w.failed == nil {
		w.failed = err
	}
}

// compute fills nested defaults and computed fields, innermost first, so that a total can
// add up the items' computed prices.
func (w *write) compute(level []*spec.Field, values map[string]any, path string) {
	for _, f := range level {
		if !f.HasComputed() && !hasNestedDefaults(f) {
			continue
		}
		p := join(path, f.Name)
		switch val := values[f.Name].(type) {
		case map[string]any:
			w.applyDefaults(f.Fields, val)
			w.compute(f.Fields, val, p)
		case []any:
			if f.Of.Type != spec.TypeObject {
				continue
			}
			for i, item := range val {
				if m, ok := item.(map[string]any); ok {
					w.applyDefaults(f.Of.Fields, m)
					w.compute(f.Of.Fields, m, fmt.Sprintf("%s[%d]", p, i))
				}
			}
		}
	}
	for _, f := range level {
		if f.Computed != nil {
			values[f.Name] = w.eval(f, f.Computed, level, values, join(path, f.Name))
		}
	}
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
