package engine

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/plinth-dev/plinth/internal/fault"
	"github.com/plinth-dev/plinth/internal/spec"
	"github.com/plinth-dev/plinth/internal/store"
	"github.com/plinth-dev/plinth/internal/trace"
)

// OpKind is what a write does.
type OpKind int

// The kinds of write.
const (
	OpCreate  OpKind = iota + 1
	OpUpdate         // a JSON merge patch (RFC 7386): members replace, null removes, objects merge
	OpReplace        // the body is the whole record: omitted fields become null
	OpDelete
)

// opNames are the kinds' names, as metrics and spans show them.
var opNames = [...]string{OpCreate: "create", OpUpdate: "update", OpReplace: "replace", OpDelete: "delete"}

// String names the kind: create, update, replace or delete; "write" for another value.
func (k OpKind) String() string {
	if k > 0 && int(k) < len(opNames) {
		return opNames[k]
	}
	return "write"
}

// Op is one write: what to do, to which record, with which body.
type Op struct {
	Kind     OpKind
	Resource string
	ID       string         // update, replace and delete
	Body     map[string]any // create, update and replace
	Pre      Precondition   // update, replace and delete
	// Refused are field errors the transport found in Body itself (an older version of the
	// API refuses what its clients may not send): they are reported with the body's other
	// invalid fields, after any denial, exactly as the engine's own.
	Refused []fault.FieldError
	// Reconcile, when set, adjusts an update's or a replace's input (the body's validated
	// fields) to the stored record's fields, inside the transaction and before the input is
	// applied. An older version of the API keeps through it what its clients cannot see or
	// cannot tell apart. It may run more than once (the transaction may be retried) and must
	// change only input.
	Reconcile func(stored, input map[string]any)
}

// Precondition carries If-Match: the version the client last saw. Zero means none.
type Precondition struct {
	Version int64
}

// applyOne runs one operation as Apply does, uncounted (the system's writes are not a
// caller's operations), and returns its error as is, not as a BatchError.
func (e *Engine) applyOne(ctx context.Context, op Op) (*store.Record, error) {
	recs, err := e.apply(ctx, []Op{op}, false, nil)
	if err != nil {
		var be *BatchError
		if errors.As(err, &be) {
			return nil, be.Err
		}
		return nil, err
	}
	return recs[0], nil
}

// MaxBatch is the most operations one Apply may carry.
const MaxBatch = 100

// BatchError is the failure of one operation of an Apply; nothing of the batch was written.
type BatchError struct {
	Index int
	Err   error
}

func (e *BatchError) Error() string { return fmt.Sprintf("operation %d: %v", e.Index, e.Err) }
func (e *BatchError) Unwrap() error { return e.Err }

// Apply runs ops in one transaction: all of them take effect, or none does. It returns the
// record each operation left (nil for a delete). Every rule applies to each operation exactly
// as it would alone. A failing operation is reported as *BatchError with its index, wrapping:
//   - Invalid, with every field error at once, for a body that fails validation (a create
//     also fills defaults and computed fields, and checks references and initial states);
//   - Unauthorized or Forbidden when a rule refuses the caller whatever the record, NotFound
//     for a record the caller may not read (exactly as for a missing one), Forbidden when the
//     update or delete rule refuses a record the caller may read;
//   - Conflict for a unique clash, an invalid transition, a record still referenced or a
//     cascade too large, or an effect's guard; PreconditionFailed or PreconditionNeeded for
//     If-Match; Invalid (expression-failed) for an expression of the spec that failed.
func (e *Engine) Apply(ctx context.Context, ops []Op) ([]*store.Record, error) {
	recs, err := e.apply(ctx, ops, false, nil)
	e.countWrite(ctx, ops, err)
	return recs, err
}

// apply is Apply with the idempotency hooks: keyed says a key protects the request, and
// finish runs last inside the transaction, to store the response with the write.
func (e *Engine) apply(ctx context.Context, ops []Op, keyed bool, finish func(store.Tx, []*store.Record) error) (out []*store.Record, err error) {
	ctx, span := startApply(ctx, ops)
	defer func() { trace.End(span, err) }()
	if len(ops) == 0 || len(ops) > MaxBatch {
		return nil, &fault.Error{Code: fault.Invalid, Type: fault.TypeInvalidBatch, Message: fmt.Sprintf("a batch has 1 to %d operations", MaxBatch)}
	}
	if !keyed && !isSystem(ctx) {
		if err := needsKey(ops, e.model); err != nil {
			return nil, err
		}
	}
	prepared := make([]*prepared, len(ops))
	for i, op := range ops {
		p, err := e.prepare(ctx, op)
		if err != nil {
			return nil, &BatchError{Index: i, Err: err}
		}
		prepared[i] = p
	}
	err = e.db.Write(ctx, func(tx store.Tx) error {
		out = make([]*store.Record, len(ops))
		for i, p := range prepared {
			rec, err := e.run(ctx, tx, p)
			if err != nil {
				return &BatchError{Index: i, Err: err}
			}
			out[i] = rec
		}
		if finish != nil {
			return finish(tx, out)
		}
		return nil
	})
	if err != nil {
		if f := fault.As(err); f != nil && f.Code == fault.Conflict {
			if effect, ok := f.Extra["effect"].(string); ok {
				e.metrics.EffectConflict(effect)
			}
		}
		return nil, err
	}
	if e.committed != nil {
		e.committed()
	}
	return out, nil
}

// prepared is an operation checked as far as it can be outside a transaction.
type prepared struct {
	op    Op
	r     *spec.Resource
	input map[string]any // the body's fields, validated
	early bool           // the create rule was checked already (it does not depend on the record)
	id    string         // the new record's id, for a create
	old   *store.Record  // the stored record, when the caller read it in this transaction already
}

// prepare resolves the resource, validates the body and, where possible, checks access before
// any transaction starts, so that bad requests cost no lock.
func (e *Engine) prepare(ctx context.Context, op Op) (*prepared, error) {
	r, err := e.resource(op.Resource)
	if err != nil {
		return nil, err
	}
	p := &prepared{op: op, r: r}
	// Rules the caller fails whatever the record are checked before anything else, so that
	// such a caller learns nothing: not whether a record exists, nor what its body got wrong.
	if op.Kind == OpCreate {
		if err := e.refuses(ctx, r, spec.OpCreate); err != nil {
			return nil, err
		}
		rule := r.Access[spec.OpCreate]
		p.early = rule == nil || rule.Partial == nil
		if p.id, err = newID(); err != nil {
			return nil, err
		}
	} else {
		if err := e.refuses(ctx, r, spec.OpRead); err != nil {
			return nil, err
		}
		writeOp := spec.OpUpdate
		if op.Kind == OpDelete {
			writeOp = spec.OpDelete
		}
		if err := e.refuses(ctx, r, writeOp); err != nil {
			return nil, err
		}
	}
	if op.Kind != OpDelete {
		var v validator
		p.input = v.object(r.Fields, op.Body, "")
		v.errs = append(v.errs, op.Refused...)
		if op.Kind == OpCreate {
			v.start(r, p.input) // reported with the body's other mistakes, in one round trip
		}
		if len(v.errs) > 0 {
			if op.Kind == OpCreate || op.Kind == OpReplace {
				e.precheck(ctx, r, p.input, &v)
			}
			return nil, v.err()
		}
	}
	return p, nil
}

// run performs a prepared operation inside tx. It may run more than once if the store
// retries the transaction, so it changes nothing outside tx.
func (e *Engine) run(ctx context.Context, tx store.Tx, p *prepared) (*store.Record, error) {
	switch p.op.Kind {
	case OpCreate:
		return e.create(ctx, tx, p)
	case OpDelete:
		return nil, e.remove(ctx, tx, p)
	default:
		return e.update(ctx, tx, p)
	}
}

func (e *Engine) create(ctx context.Context, tx store.Tx, p *prepared) (*store.Record, error) {
	r := p.r
	now := e.clock()
	fields := cloneFields(p.input)
	w := e.newWrite(ctx, tx, now, fields)
	w.applyDefaults(r.Fields, fields)
	if err := w.complete(r, ""); err != nil {
		return nil, err
	}
	fillNulls(r, fields)
	var v validator
	if v.start(r, fields); len(v.errs) > 0 { // a default expression may give another state
		return nil, v.err()
	}
	rec := &store.Record{ID: p.id, CreatedAt: now, UpdatedAt: now, Version: 1, Fields: fields}
	if !p.early {
		if err := e.permits(ctx, r, spec.OpCreate, rec, nil, false); err != nil {
			return nil, err
		}
	}
	if err := tx.Insert(ctx, r, rec); err != nil {
		return nil, err
	}
	if err := e.emit(ctx, tx, r, EventCreated, rec, nil); err != nil {
		return nil, err
	}
	return rec, e.runEffects(ctx, tx, r, spec.OpCreate, rec, nil)
}

func (e *Engine) update(ctx context.Context, tx store.Tx, p *prepared) (*store.Record, error) {
	r, id := p.r, p.op.ID
	old := p.old
	if old == nil {
		var err error
		if old, err = tx.Get(ctx, r, id); err != nil {
			return nil, err
		}
	}
	if err := e.recheck(ctx, r, spec.OpRead, old, nil, true); err != nil {
		return nil, err
	}
	if err := checkPrecondition(r, old, p.op.Pre, !isSystem(ctx)); err != nil {
		return nil, err
	}
	input := cloneFields(p.input)
	if p.op.Reconcile != nil {
		p.op.Reconcile(old.Fields, input)
	}
	fields := nextFields(r, old.Fields, input, p.op.Kind == OpReplace)
	now := e.clock()
	w := e.newWrite(ctx, tx, now, fields)
	w.old = old.Fields
	if p.op.Kind == OpReplace {
		w.applyDefaults(r.Fields, fields) // the body is the whole record: what it omits is as on a create
	}
	if err := checkChange(r, old.Fields, fields); err != nil {
		return nil, err
	}
	if err := w.complete(r, id); err != nil {
		return nil, err
	}
	fillNulls(r, fields)
	rec := &store.Record{ID: id, CreatedAt: old.CreatedAt, UpdatedAt: now, Version: old.Version + 1, Fields: fields}
	if err := e.recheck(ctx, r, spec.OpUpdate, rec, old, false); err != nil {
		return nil, err
	}
	if sameFields(r, old.Fields, fields) {
		return old, nil
	}
	if err := tx.Update(ctx, r, rec, old.Version); err != nil {
		return nil, err
	}
	if err := e.emit(ctx, tx, r, EventUpdated, rec, old); err != nil {
		return nil, err
	}
	return rec, e.runEffects(ctx, tx, r, spec.OpUpdate, rec, old)
}

func (e *Engine) remove(ctx context.Context, tx store.Tx, p *prepared) error {
	r, id := p.r, p.op.ID
	old, err := tx.Get(ctx, r, id)
	if err != nil {
		return err
	}
	if err := e.recheck(ctx, r, spec.OpRead, old, nil, true); err != nil {
		return err
	}
	if err := checkPrecondition(r, old, p.op.Pre, !isSystem(ctx)); err != nil {
		return err
	}
	if err := e.recheck(ctx, r, spec.OpDelete, old, nil, false); err != nil {
		return err
	}
	if old, err = e.clearReferences(ctx, tx, r, old); err != nil {
		return err
	}
	if err := tx.Delete(ctx, r, id); err != nil {
		return err
	}
	if err := e.emit(ctx, tx, r, EventDeleted, old, nil); err != nil {
		return err
	}
	return e.runEffects(ctx, tx, r, spec.OpDelete, old, nil)
}

// fillNulls sets the fields rec lacks to null: every field is in the answer and the event, as
// a read would show it.
func fillNulls(r *spec.Resource, rec map[string]any) {
	for _, f := range r.Fields {
		if _, ok := rec[f.Name]; !ok {
			rec[f.Name] = nil
		}
	}
}

// checkPrecondition compares If-Match with the stored version. enforce says whether the
// resource's `concurrency: required` applies (it does not to effects, which are the server's).
func checkPrecondition(r *spec.Resource, old *store.Record, pre Precondition, enforce bool) error {
	if pre.Version == 0 {
		if enforce && r.ConcurrencyRequired {
			return &fault.Error{Code: fault.PreconditionNeeded, Type: fault.TypePreconditionRequired,
				Message: "writes to " + r.Name + " must carry If-Match with the ETag of the version they change"}
		}
		return nil
	}
	if cur := old.Version; cur != pre.Version {
		return &fault.Error{Code: fault.PreconditionFailed, Type: fault.TypeStaleVersion,
			Message: fmt.Sprintf("the record is at version %d, not %d", cur, pre.Version),
			Extra:   map[string]any{"current_version": cur}}
	}
	return nil
}

// nextRecord builds the record an update asks for from the stored one and the input.
func nextFields(r *spec.Resource, old, input map[string]any, replace bool) map[string]any {
	next := make(map[string]any, len(r.Fields))
	if replace {
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
	mergeInto(r.Fields, next, input, false)
	return next
}

// mergeInto applies a merge patch: objects merge member by member, anything else replaces,
// and null removes a member of a nested object (a top-level field becomes null).
func mergeInto(fields []*spec.Field, dst, patch map[string]any, nested bool) {
	for name, pv := range patch {
		f := findField(fields, name)
		cur, isMap := dst[name].(map[string]any)
		pm, patchIsMap := pv.(map[string]any)
		switch {
		case f != nil && f.Type == spec.TypeObject && isMap && patchIsMap:
			mergeInto(f.Fields, cur, pm, true)
		case pv == nil && nested:
			delete(dst, name)
		default:
			dst[name] = pv
		}
	}
}

// checkChange enforces immutability and enum transitions between two versions of a record.
func checkChange(r *spec.Resource, old, next map[string]any) error {
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
		to, set := next[f.Name].(string)
		// A state machine is entered only at its initial states, and once set it only moves
		// along its transitions: clearing it would let a final state be escaped.
		allowedNext := f.Transitions[from]
		if from == "" {
			if !set || slices.Contains(f.Initial, to) {
				continue
			}
			allowedNext = f.Initial
		}
		if from == to || slices.Contains(allowedNext, to) {
			continue
		}
		if allowedNext == nil {
			allowedNext = []string{}
		}
		var fromDoc any = from
		if from == "" {
			from, fromDoc = "null", nil
		}
		var toDoc any = to
		if !set {
			to, toDoc = "null", nil
		}
		return &fault.Error{Code: fault.Conflict, Type: fault.TypeInvalidTransition,
			Message: fmt.Sprintf("%s cannot change from %s to %s", f.Name, from, to),
			Fields:  []fault.FieldError{{Field: f.Name, Code: "transition", Message: fmt.Sprintf("cannot change from %s to %s", from, to)}},
			Extra:   map[string]any{"field": f.Name, "from": fromDoc, "to": toDoc, "allowed": allowedNext}}
	}
	return nil
}

// start reports a new record's state machines that are not at one of their initial states,
// whoever creates it: an order created as paid would skip its payment.
func (v *validator) start(r *spec.Resource, rec map[string]any) {
	for _, f := range r.Fields {
		// A value outside the enum is reported as such, once.
		if s, ok := rec[f.Name].(string); ok && f.Transitions != nil && slices.Contains(f.Values, s) && !slices.Contains(f.Initial, s) {
			v.add(f.Name, "initial", "a new record starts as %s, not %s", strings.Join(f.Initial, " or "), s)
		}
	}
}

func sameFields(r *spec.Resource, a, b map[string]any) bool {
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

func cloneFields(r map[string]any) map[string]any {
	out := make(map[string]any, len(r))
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
