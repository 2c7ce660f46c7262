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
	tx     Tx
	now    time.Time
	record Record
	auth   map[string]any
	seen   map[string]Record
	v      validator
	failed error // a storage failure met while checking; it wins over field errors
}

func (e *Engine) newWrite(ctx context.Context, tx Tx, now time.Time, rec Record) *write {
	return &write{e: e, ctx: ctx, tx: tx, now: now, record: rec,
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
	rec, err := w.tx.Get(w.ctx, r, id)
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
	w.v.checkRequired(r.Fields, w.record, "")
	return w.v.err()
}

// checkRefs reports references to records that do not exist.
func (w *write) checkRefs(level []*spec.Field, values map[string]any, path string) {
	for _, f := range level {
		p := join(path, f.Name)
		switch val := values[f.Name].(type) {
		case string:
			if f.Type == spec.TypeRef {
				w.checkRef(f, val, p)
			}
		case map[string]any:
			w.checkRefs(f.Fields, val, p)
		case []any:
			for i, item := range val {
				ip := fmt.Sprintf("%s[%d]", p, i)
				if m, ok := item.(map[string]any); ok && f.Of.Type == spec.TypeObject {
					w.checkRefs(f.Of.Fields, m, ip)
				} else if s, ok := item.(string); ok && f.Of.Type == spec.TypeRef {
					w.checkRef(f.Of, s, ip)
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
