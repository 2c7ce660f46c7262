package engine

import (
	"context"
	"fmt"

	"github.com/plinth-dev/plinth/internal/fault"
	"github.com/plinth-dev/plinth/internal/query"
	"github.com/plinth-dev/plinth/internal/spec"
	"github.com/plinth-dev/plinth/internal/store"
)

// A delete makes way for itself: the records whose ref says `on_delete: cascade` are deleted
// with it and those whose ref says `set_null` let go of it, in the delete's own transaction,
// through the engine's update and delete paths, so that each touched record emits its event and
// runs its effects. The storage keeps its foreign keys ON DELETE RESTRICT: the engine clears
// the references before the delete, and the database still refuses one it missed.
// docs/decisions/0014-on-delete.md explains the choices.

// DefaultMaxCascade is how many records one delete may delete or change besides its own,
// unless Config.MaxCascade says otherwise.
const DefaultMaxCascade = 1000

// MaxCascadeDepth is how many references deep a delete follows cascades: replies to replies
// of a comment, 32 levels below the record deleted.
const MaxCascadeDepth = 32

// Sizes of the lists that find referring records: ids per list, and rows per page, so that a
// list stays within a statement's parameter bound.
const (
	referIDs  = 500
	referPage = 500
)

// cascadingKey marks the deletes a cascade makes: the plan covered what refers to them.
type cascadingKey struct{}

// doomed is a record the delete removes.
type doomed struct {
	r  *spec.Resource
	id string
	// referrers are the doomed records that refer to this one, which must go first.
	referrers []*doomed
	visited   bool
}

// nulling is a record whose set_null refs let go of doomed records.
type nulling struct {
	r       *spec.Resource
	id      string
	fields  []string
	targets []*doomed
}

// cascade is what one delete reaches.
type cascade struct {
	e       *Engine
	tx      store.Tx
	max     int
	doomed  map[string]*doomed // by resource and id, the root included
	order   []*doomed          // in the order found, the root first
	nulls   map[string]*nulling
	nulled  []*nulling      // in the order found
	touched map[string]bool // the records deleted or changed besides the root
}

func key(r *spec.Resource, id string) string { return r.Name + "\x00" + id }

// clearReferences deletes what cascades from the record old of r and nulls the set_null refs
// to everything deleted, before old itself is deleted; it returns old as it stands then, since
// the effects of the records it touched may have changed it. It changes nothing when no ref
// to r says cascade or set_null: the foreign keys decide, as ever. Errors: Conflict with type
// cascade-too-large when the delete would reach more than the limit or depth, Conflict with
// type referenced when a restrict ref to a record it would delete remains.
func (e *Engine) clearReferences(ctx context.Context, tx store.Tx, r *spec.Resource, old *store.Record) (*store.Record, error) {
	if ctx.Value(cascadingKey{}) != nil || !clears(e.model, r) {
		return old, nil
	}
	root := &doomed{r: r, id: old.ID}
	c := &cascade{e: e, tx: tx, max: e.maxCascade, doomed: map[string]*doomed{key(r, root.id): root},
		order: []*doomed{root}, nulls: map[string]*nulling{}, touched: map[string]bool{}}
	if err := c.find(ctx, root); err != nil {
		return nil, err
	}
	if err := c.restricted(ctx); err != nil {
		return nil, err
	}
	if len(c.touched) == 0 {
		return old, nil
	}
	// The touched records are the spec author's logic, like effects: the root's delete rule
	// was checked, theirs are not.
	sys := context.WithValue(context.WithValue(ctx, systemKey{}, true), cascadingKey{}, true)
	for _, n := range c.nulled {
		if err := c.null(sys, n); err != nil {
			return nil, err
		}
	}
	root.visited = true
	for _, d := range root.referrers {
		if err := c.remove(sys, d); err != nil {
			return nil, err
		}
	}
	return tx.Get(ctx, r, root.id)
}

// clears reports whether a delete of r may have anything to clear.
func clears(m *spec.Model, r *spec.Resource) bool {
	for _, ref := range m.ReferencedBy(r.Name) {
		if ref.Field.OnDelete != spec.OnDeleteRestrict {
			return true
		}
	}
	return false
}

// find walks the cascade refs breadth first from root, level by level, and gathers the
// records to delete and those to null.
func (c *cascade) find(ctx context.Context, root *doomed) error {
	level := []*doomed{root}
	for depth := 1; len(level) > 0; depth++ {
		var next []*doomed
		for _, group := range byResource(c.e.model, level) {
			target := group[0].r
			for _, ref := range c.e.model.ReferencedBy(target.Name) {
				if ref.Field.OnDelete == spec.OnDeleteRestrict {
					continue
				}
				err := c.referring(ctx, ref, group, func(rec *store.Record, to *doomed) error {
					id := rec.ID
					if ref.Field.OnDelete == spec.OnDeleteSetNull {
						return c.addNull(ref, id, to)
					}
					d, seen := c.doomed[key(ref.Resource, id)]
					if !seen {
						if depth > MaxCascadeDepth {
							return c.tooLarge(fmt.Sprintf("follow references more than %d deep", MaxCascadeDepth))
						}
						if err := c.touch(ref.Resource, id); err != nil {
							return err
						}
						d = &doomed{r: ref.Resource, id: id}
						c.doomed[key(ref.Resource, id)] = d
						c.order = append(c.order, d)
						next = append(next, d)
					}
					to.referrers = append(to.referrers, d)
					return nil
				})
				if err != nil {
					return err
				}
			}
		}
		level = next
	}
	// A record both deleted and nulled is only deleted, before what its set_null refs name;
	// but the root goes last, so it lets go first.
	kept := c.nulled[:0]
	for _, n := range c.nulled {
		d, ok := c.doomed[key(n.r, n.id)]
		if !ok || d == root {
			kept = append(kept, n)
			continue
		}
		for _, to := range n.targets {
			to.referrers = append(to.referrers, d)
		}
	}
	c.nulled = kept
	return nil
}

func (c *cascade) addNull(ref spec.Referrer, id string, to *doomed) error {
	n, ok := c.nulls[key(ref.Resource, id)]
	if !ok {
		if err := c.touch(ref.Resource, id); err != nil {
			return err
		}
		n = &nulling{r: ref.Resource, id: id}
		c.nulls[key(ref.Resource, id)] = n
		c.nulled = append(c.nulled, n)
	}
	n.targets = append(n.targets, to)
	for _, f := range n.fields {
		if f == ref.Field.Name {
			return nil
		}
	}
	n.fields = append(n.fields, ref.Field.Name)
	return nil
}

// restricted checks the restrict refs to every record the delete removes: one held by a
// record that stays refuses the delete, as the foreign key would, before anything is written;
// one held by a record that goes too orders the deletes.
func (c *cascade) restricted(ctx context.Context) error {
	for _, group := range byResource(c.e.model, c.order) {
		for _, ref := range c.e.model.ReferencedBy(group[0].r.Name) {
			if ref.Field.OnDelete != spec.OnDeleteRestrict {
				continue
			}
			err := c.referring(ctx, ref, group, func(rec *store.Record, to *doomed) error {
				d, ok := c.doomed[key(ref.Resource, rec.ID)]
				if !ok {
					return &fault.Error{Code: fault.Conflict, Type: fault.TypeReferenced,
						Message: fmt.Sprintf("other records still refer to this record (%s.%s does not cascade)", ref.Resource.Name, ref.Field.Name)}
				}
				to.referrers = append(to.referrers, d)
				return nil
			})
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// referring calls fn with each record whose ref holds the id of one of targets (all of the
// ref's resource), and the target it holds. It reads them with the list path, in pages, so
// that the ref's index finds them.
func (c *cascade) referring(ctx context.Context, ref spec.Referrer, targets []*doomed, fn func(*store.Record, *doomed) error) error {
	target := targets[0].r
	for len(targets) > 0 {
		chunk := targets[:min(len(targets), referIDs)]
		targets = targets[len(chunk):]
		ids := make([]any, len(chunk))
		for i, d := range chunk {
			ids[i] = d.id
		}
		var after *query.After
		for {
			rows, err := c.tx.List(ctx, ref.Resource, query.ReferringPage(ref.Field.Name, ids, referPage, after))
			if err != nil {
				return err
			}
			for _, rec := range rows {
				to := c.doomed[key(target, rec.Fields[ref.Field.Name].(string))]
				if err := fn(rec, to); err != nil {
					return err
				}
			}
			if len(rows) < referPage {
				break
			}
			last := rows[len(rows)-1]
			after = &query.After{Ref: last.Fields[ref.Field.Name], ID: last.ID}
		}
	}
	return nil
}

// touch counts a record the delete deletes or changes, and refuses one too many.
func (c *cascade) touch(r *spec.Resource, id string) error {
	c.touched[key(r, id)] = true
	if len(c.touched) > c.max {
		return c.tooLarge(fmt.Sprintf("delete or change more than %d other records", c.max))
	}
	return nil
}

func (c *cascade) tooLarge(what string) error {
	return &fault.Error{Code: fault.Conflict, Type: fault.TypeCascadeTooLarge,
		Message: fmt.Sprintf("this delete would %s (found %d so far); delete what refers to this record in smaller steps first", what, len(c.touched)),
		Extra:   map[string]any{"found": len(c.touched), "limit": c.max, "max_depth": MaxCascadeDepth}}
}

// null sets n's set_null refs to null through the update path.
func (c *cascade) null(ctx context.Context, n *nulling) error {
	patch := make(map[string]any, len(n.fields))
	for _, f := range n.fields {
		patch[f] = nil
	}
	p, err := c.e.prepare(ctx, Op{Kind: OpUpdate, Resource: n.r.Name, ID: n.id, Body: patch})
	if err == nil {
		_, err = c.e.update(ctx, c.tx, p)
	}
	switch f := fault.As(err); {
	case fault.CodeOf(err) == fault.NotFound:
		return nil // deleted meanwhile by another transaction: nothing refers any more
	case f != nil && f.Code == fault.Invalid:
		// The record cannot take the change (a computed field needs the reference, say): a
		// conflict with the data, not a mistake in the client's request.
		return &fault.Error{Code: fault.Conflict, Type: fault.TypeReferenced,
			Message: fmt.Sprintf("a record of %s refers to this record and cannot be changed to refer to nothing", n.r.Name),
			Fields:  f.Fields, Extra: map[string]any{"resource": n.r.Name}, Err: err}
	}
	return err
}

// remove deletes d through the delete path after the doomed records that refer to it. A
// cycle of records referring to each other is left to the foreign key, which refuses it.
func (c *cascade) remove(ctx context.Context, d *doomed) error {
	if d.visited {
		return nil
	}
	d.visited = true
	for _, r := range d.referrers {
		if err := c.remove(ctx, r); err != nil {
			return err
		}
	}
	err := c.e.remove(ctx, c.tx, &prepared{op: Op{Kind: OpDelete, Resource: d.r.Name, ID: d.id}, r: d.r})
	if fault.CodeOf(err) == fault.NotFound {
		return nil // deleted meanwhile by another transaction
	}
	return err
}

// byResource splits records into groups of one resource each, in the model's order.
func byResource(m *spec.Model, recs []*doomed) [][]*doomed {
	var out [][]*doomed
	for _, r := range m.Resources {
		var group []*doomed
		for _, d := range recs {
			if d.r == r {
				group = append(group, d)
			}
		}
		if len(group) > 0 {
			out = append(out, group)
		}
	}
	return out
}
