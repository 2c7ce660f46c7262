package engine

import (
	"context"
	"fmt"
	"strings"

	"github.com/plinth-dev/plinth/internal/fault"
	"github.com/plinth-dev/plinth/internal/query"
	"github.com/plinth-dev/plinth/internal/spec"
	"github.com/plinth-dev/plinth/internal/store"
	"github.com/plinth-dev/plinth/internal/trace"
)

// Limits on list parameters, so that no request can ask for unbounded work. Lists answer
// Invalid (invalid-query) beyond them.
const (
	MaxFilterLength = 2048 // bytes of a filter
	MaxSortKeys     = 4    // keys of a sort
	MaxExpand       = 4    // ref fields one list may expand
)

// Get returns the record id if the caller may read it; NotFound otherwise, whether it is
// missing or hidden, so that existence does not leak. A caller whom the read rule refuses
// whatever the record gets Unauthorized (anonymous) or Forbidden, for every id alike.
func (e *Engine) Get(ctx context.Context, resource, id string) (_ *store.Record, err error) {
	ctx, span := startOp(ctx, "get", resource)
	defer func() { trace.End(span, err) }()
	defer func() { e.count(ctx, resource, opGet, err) }()
	r, err := e.resource(resource)
	if err != nil {
		return nil, err
	}
	if err := e.refuses(ctx, r, spec.OpRead); err != nil {
		return nil, err
	}
	rec, err := e.db.Get(ctx, r, id)
	if err != nil {
		return nil, err
	}
	if err := e.recheck(ctx, r, spec.OpRead, rec, nil, true); err != nil {
		return nil, err
	}
	return rec, nil
}

// ListParams are a list request's parameters, as the client wrote them.
type ListParams struct {
	Filter string   // CEL over the resource's fields
	Sort   string   // comma-separated fields, - for descending
	Limit  *int     // nil means the resource's default
	Cursor string   // from a previous page's NextCursor
	Fields []string // the fields to return; empty means all
	Expand []string // ref fields whose records to read beside each item (Item.Expand)
}

// Page is one page of a list. NextCursor is empty on the last page.
type Page struct {
	Items []Item
	// Fields are the members the client asked for, id always among them; nil means all.
	Fields     map[string]bool
	NextCursor string
}

// Item is one record of a page, with what its expanded refs point to.
type Item struct {
	Record *store.Record
	// Expand holds, by ref field, the record the field points to, or nil when it points to
	// none or to one the caller may not read; nil when the list expands nothing.
	Expand map[string]*store.Record
}

// List returns the records the caller may list that match the filter, in keyset pages. The
// list rule and the filter both run in the database; no row is filtered in memory.
// Errors: Invalid for a bad filter, sort, limit, cursor, fields or expand; Unauthorized or
// Forbidden when the list rule excludes the caller whatever the record.
func (e *Engine) List(ctx context.Context, resource string, p ListParams) (_ *Page, err error) {
	ctx, span := startOp(ctx, "list", resource)
	defer func() { trace.End(span, err) }()
	defer func() { e.count(ctx, resource, opList, err) }()
	r, err := e.resource(resource)
	if err != nil {
		return nil, err
	}
	// The list rule comes first: a caller who may not list pays for no filter.
	access, err := e.listRule(ctx, r)
	if err != nil {
		return nil, err
	}
	var v validator
	args := checkListArgs(r, p, &v)
	limit, order := args.limit, args.order
	where := []query.Expr{}
	if p.Filter != "" && len(p.Filter) <= MaxFilterLength {
		x, err := e.filter(ctx, r, p.Filter)
		if err != nil {
			v.add("filter", "invalid", "%s", err.Error())
		} else {
			where = append(where, x)
		}
	}
	if p.Cursor != "" {
		nonNull := map[string]bool{"id": true, "created_at": true, "updated_at": true, "version": true}
		for _, w := range append(where, access) {
			nonNullFields(w, nonNull)
		}
		x, err := e.decodeCursor(r, order, p.Filter, p.Cursor, nonNull)
		if err != nil {
			v.add("cursor", "invalid", "is not a cursor of this list; start again without it")
		} else {
			where = append(where, x)
		}
	}
	if err := v.listErr(); err != nil {
		return nil, err
	}
	where = append(where, access)
	rows, err := e.db.List(ctx, r, query.Select{Where: query.And{Terms: where}, Order: order, Limit: limit + 1})
	if err != nil {
		return nil, err
	}
	page := &Page{Fields: args.fields}
	if len(rows) > limit {
		rows = rows[:limit]
		page.NextCursor = e.encodeCursor(r, order, p.Filter, rows[limit-1])
	}
	page.Items = make([]Item, len(rows))
	for i, rec := range rows {
		page.Items[i].Record = rec
	}
	if err := e.expand(ctx, r, page.Items, args.expand); err != nil {
		return nil, err
	}
	return page, nil
}

// CheckList reports what List would refuse in p when p is written in the names of view, the
// resource of an older version of the API that maps onto resource: first a list rule of
// resource that refuses the caller, as List checks it before anything else, then every
// invalid parameter at once, in view's terms. The cursor is left to List: it is bound to the
// parameters as translated for resource.
func (e *Engine) CheckList(ctx context.Context, resource string, view *spec.Resource, p ListParams) error {
	r, err := e.resource(resource)
	if err != nil {
		return err
	}
	if _, err := e.listRule(ctx, r); err != nil {
		return err
	}
	var v validator
	checkListArgs(view, p, &v)
	if p.Filter != "" && len(p.Filter) <= MaxFilterLength {
		if _, err := view.CompileFilter(p.Filter); err != nil {
			v.add("filter", "invalid", "%s", err.Error())
		}
	}
	return v.listErr()
}

// listArgs are a list's parameters other than its filter and cursor, checked.
type listArgs struct {
	limit  int
	order  []query.Sort
	fields map[string]bool
	expand []*spec.Field
}

// checkListArgs reads p's limit, sort, fields and expand for r, and the filter's length,
// adding every mistake to v.
func checkListArgs(r *spec.Resource, p ListParams, v *validator) listArgs {
	if len(p.Filter) > MaxFilterLength {
		v.add("filter", "max_length", "must be at most %d characters", MaxFilterLength)
	}
	return listArgs{limit: v.limit(p.Limit, r.DefaultLimit, r.MaxLimit), order: parseSort(r, p.Sort, v),
		fields: fieldSet(r, p.Fields, v), expand: expandFields(r, p.Expand, v)}
}

// listErr is the error of a list's invalid parameters, or nil.
func (v *validator) listErr() error {
	if len(v.errs) == 0 {
		return nil
	}
	return &fault.Error{Code: fault.Invalid, Type: fault.TypeInvalidQuery, Message: "the list parameters are invalid", Fields: v.errs}
}

// limit reads a page size: def when the client gave none, else n if it is within 1 to max.
func (v *validator) limit(n *int, def, max int) int {
	switch {
	case n == nil:
		return def
	case *n < 1 || *n > max:
		v.add("limit", "range", "must be between 1 and %d", max)
		return def
	}
	return *n
}

// listRule binds the list rule for the caller. A rule that excludes every record for this
// caller is a denial rather than an empty page, so that clients can tell the difference.
func (e *Engine) listRule(ctx context.Context, r *spec.Resource) (query.Expr, error) {
	rule := r.Access[spec.OpList]
	if rule == nil {
		if PrincipalFrom(ctx).Role == RoleAdmin {
			return query.Const(true), nil
		}
		return nil, denial(ctx, false, spec.OpList, r.Name)
	}
	x, err := rule.Plan.Bind(e.bindVars(ctx))
	if err != nil {
		// A value of the caller's (a claim of another type than the field) that the rule
		// cannot compare: the rule fails, and a rule that fails denies.
		e.log.WarnContext(ctx, "rule failed; denying", "expression", rule.Where, "request_id", RequestIDFrom(ctx), "err", err)
		return nil, denial(ctx, false, spec.OpList, r.Name)
	}
	if c, ok := x.(query.Const); ok && !bool(c) {
		return nil, denial(ctx, false, spec.OpList, r.Name)
	}
	return x, nil
}

func (e *Engine) bindVars(ctx context.Context) map[string]any {
	return map[string]any{"auth": authFrom(ctx), "now": e.clock()}
}

func (e *Engine) filter(ctx context.Context, r *spec.Resource, src string) (query.Expr, error) {
	plan, err := e.filters.get(r, src)
	if err != nil {
		return nil, err
	}
	return plan.Bind(e.bindVars(ctx))
}

// parseSort reads "a,-b" into sort keys, ending with id so that every order is total.
func parseSort(r *spec.Resource, s string, v *validator) []query.Sort {
	var order []query.Sort
	seen := map[string]bool{}
	if s != "" {
		for _, part := range strings.Split(s, ",") {
			desc := strings.HasPrefix(part, "-")
			name := strings.TrimPrefix(part, "-")
			f, ok := r.QueryFields()[name]
			switch {
			case !ok:
				v.add("sort", "unknown", "there is no field %q", name)
				continue
			case f.Kind == query.KindJSON:
				v.add("sort", "unsortable", "%s cannot be sorted on", name)
				continue
			case seen[name]:
				v.add("sort", "duplicate", "%s is listed twice", name)
				continue
			}
			seen[name] = true
			order = append(order, query.Sort{Field: name, Desc: desc})
		}
		if len(order) > MaxSortKeys {
			v.add("sort", "max_items", "at most %d sort keys", MaxSortKeys)
		}
	}
	if !seen["id"] {
		// The tie-breaker runs the same way as the last key, so that an index on (key, id)
		// serves the whole order, read forwards or backwards.
		desc := len(order) > 0 && order[len(order)-1].Desc
		order = append(order, query.Sort{Field: "id", Desc: desc})
	}
	return order
}

func fieldSet(r *spec.Resource, names []string, v *validator) map[string]bool {
	if len(names) == 0 {
		return nil
	}
	set := map[string]bool{"id": true}
	fields := r.QueryFields()
	for _, n := range names {
		if _, ok := fields[n]; !ok {
			v.add("fields", "unknown", "there is no field %q", n)
		}
		set[n] = true
	}
	return set
}

func expandFields(r *spec.Resource, names []string, v *validator) []*spec.Field {
	if len(names) > MaxExpand {
		v.add("expand", "max_items", "at most %d fields", MaxExpand)
		return nil
	}
	var out []*spec.Field
	for _, n := range names {
		f, ok := r.Field(n)
		if !ok || f.Type != spec.TypeRef {
			v.add("expand", "not_ref", "%q is not a reference field", n)
			continue
		}
		out = append(out, f)
	}
	return out
}

// expand reads the records the items' ref fields point to, with one query per field for the
// whole page. A record the caller may not read is expanded as none.
func (e *Engine) expand(ctx context.Context, r *spec.Resource, items []Item, fields []*spec.Field) error {
	for _, f := range fields {
		target, _ := e.model.Resource(f.Ref)
		var ids []string
		for _, it := range items {
			if id, ok := it.Record.Fields[f.Name].(string); ok {
				ids = append(ids, id)
			}
		}
		found := map[string]*store.Record{}
		if len(ids) > 0 {
			recs, err := e.db.GetMany(ctx, target, ids)
			if err != nil {
				return fmt.Errorf("expand %s.%s: %w", r.Name, f.Name, err)
			}
			for _, rec := range recs {
				if e.canRead(ctx, target, rec) {
					found[rec.ID] = rec
				}
			}
		}
		for i := range items {
			if items[i].Expand == nil {
				items[i].Expand = make(map[string]*store.Record, len(fields))
			}
			id, _ := items[i].Record.Fields[f.Name].(string)
			items[i].Expand[f.Name] = found[id]
		}
	}
	return nil
}
