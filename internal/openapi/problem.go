package openapi

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/plinth-dev/plinth/internal/engine"
	"github.com/plinth-dev/plinth/internal/fault"
	"github.com/plinth-dev/plinth/internal/spec"
)

// problemMedia is the media type of every error.
const problemMedia = "application/problem+json"

// memberSchemas describe the members a problem type may carry beyond RFC 9457's, by name
// (fault.Type.Extra). A member the catalogue declares that is missing here fails Document.
// Each document gets its own schemas, which validation may annotate.
func (b *builder) memberSchemas() map[string]*openapi3.Schema {
	return map[string]*openapi3.Schema{
		"errors": {Type: types("array"), Items: b.ref("FieldError"),
			Description: "Every invalid field or parameter at once."},
		"current_version": {Type: types("integer"), Format: "int64", Min: ptr(1.0),
			Description: "`stale-version`: the record's version now; its ETag is this number in quotes."},
		"field": {Type: types("string"), Description: "`invalid-transition`: the state machine field."},
		"from":  {Type: types("string", "null"), Description: "`invalid-transition`: the state the record is in (null when unset)."},
		"to":    {Type: types("string", "null"), Description: "`invalid-transition`: the state the write asked for (null to clear)."},
		"allowed": {Type: types("array"), Items: &openapi3.SchemaRef{Value: &openapi3.Schema{Type: types("string")}},
			Description: "`invalid-transition`: the states the record may move to from `from`."},
		"effect":     {Type: types("string"), Description: "An effect's conflict: the effect of the spec that refused the write."},
		"resource":   {Type: types("string"), Description: "The resource of the record concerned: an effect's target, or the record an expression failed for."},
		"id":         {Type: types("string"), Description: "The id of the record concerned (absent when an expression failed on a create)."},
		"expression": {Type: types("string"), Description: "`expression-failed`: the expression's place in the spec, such as orders.effects.reserve_stock.guard."},
		"found": {Type: types("integer"), Min: ptr(0.0),
			Description: "`cascade-too-large`: how many records the delete had reached when it stopped."},
		"limit": {Type: types("integer"), Min: ptr(0.0),
			Description: "`cascade-too-large`: how many records one delete may reach besides its own."},
		"max_depth": {Type: types("integer"), Min: ptr(0.0),
			Description: "`cascade-too-large`: how many references deep one delete may follow."},
		"successor": {Type: types("string"), Format: "uri-reference",
			Description: "`version-sunset`: the same path under the current version of the API."},
		"sunset": {Type: types("string"), Format: "date-time",
			Description: "`version-sunset`: when the version was retired."},
	}
}

// problemSchema registers FieldError and Problem: the one schema of every error, with the
// members of every type the server answers and the catalogue of those types.
func (b *builder) problemSchema() error {
	b.component("FieldError", &openapi3.Schema{
		Type: types("object"), Required: []string{"field", "code", "message"},
		AdditionalProperties: openapi3.AdditionalProperties{Has: ptr(false)},
		Description:          "One invalid field or parameter.",
		Properties: openapi3.Schemas{
			"field": {Value: &openapi3.Schema{Type: types("string"),
				Description: "Where: a member's path such as items[0].quantity, or a query parameter's name."}},
			"code": {Value: &openapi3.Schema{Type: types("string"),
				Description: "What, as a stable code: required, null, type, unknown, read_only, immutable, min_length, max_length, pattern, format, enum, initial, min, max, min_items, max_items, not_found, unique, transition; for query parameters also invalid, range, unsortable, duplicate and not_ref; in an older version of the API also removed (a field it reads as a constant)."}},
			"message": {Value: &openapi3.Schema{Type: types("string"), Description: "The same, in a sentence for people."}},
		},
	})
	props := openapi3.Schemas{
		"type": {Value: &openapi3.Schema{Type: types("string"), Format: "uri", Enum: b.problemURNs(),
			Description: "What a client switches on: `urn:plinth:problem:` and a slug. The type fixes `title` and `status`:\n\n" + b.problemTable()}},
		"title":      {Value: &openapi3.Schema{Type: types("string"), Description: "The type's title, the same for every problem of the type."}},
		"status":     {Value: &openapi3.Schema{Type: types("integer"), Min: ptr(400.0), Max: ptr(599.0), Description: "The HTTP status, the same as the response's."}},
		"detail":     {Value: &openapi3.Schema{Type: types("string"), Description: "What went wrong this time, in a sentence for people."}},
		"instance":   {Value: &openapi3.Schema{Type: types("string"), Format: "uri-reference", Description: "The request's path."}},
		"request_id": {Value: &openapi3.Schema{Type: types("string"), Description: "The request's id, as in the X-Request-Id header."}},
		"index": {Value: &openapi3.Schema{Type: types("integer"), Min: ptr(0.0),
			Description: "`POST /vN/batch`: the position of the operation that failed; nothing of the batch was written."}},
	}
	members := b.memberSchemas()
	for _, t := range fault.Catalogue() {
		for _, m := range t.Extra() {
			s, ok := members[m]
			if !ok {
				return fmt.Errorf("openapi: the problem type %s carries %q, which has no schema here", t.Slug(), m)
			}
			props[m] = &openapi3.SchemaRef{Value: s}
		}
	}
	b.component("Problem", &openapi3.Schema{
		Type: types("object"), Properties: props, AdditionalProperties: openapi3.AdditionalProperties{Has: ptr(false)},
		Required:    []string{"type", "title", "status", "detail", "instance", "request_id"},
		Description: "An RFC 9457 problem document: every error the server answers is one, sent as application/problem+json.",
		Extensions:  map[string]any{"x-plinth-problem-types": b.problemCatalogue()},
	})
	return nil
}

// problemTypes are every type the server may answer for this spec: the catalogue's, then the
// conflicts its effects name.
func (b *builder) problemTypes() []fault.Type { return append(fault.Catalogue(), b.conflicts...) }

func (b *builder) problemURNs() []any {
	var out []any
	for _, t := range b.problemTypes() {
		out = append(out, t.URN())
	}
	return out
}

// problemTable lists the types in Markdown, as docs/api.md does.
func (b *builder) problemTable() string {
	var sb strings.Builder
	sb.WriteString("| type | status | title | when | members |\n|---|---|---|---|---|\n")
	for _, t := range b.problemTypes() {
		when := t.When()
		if !slices.Contains(fault.Catalogue(), t) {
			when = "an effect of this spec refused the write (" + strings.Join(b.effectsNaming(t), ", ") + "); as `guard-failed`"
		}
		fmt.Fprintf(&sb, "| `%s` | %d | %s | %s | %s |\n", t.Slug(), t.Status(), t.Title(), when, strings.Join(t.Extra(), ", "))
	}
	return sb.String()
}

// problemCatalogue is the x-plinth-problem-types extension: the types as data, for tools.
func (b *builder) problemCatalogue() []map[string]any {
	var out []map[string]any
	for _, t := range b.problemTypes() {
		out = append(out, map[string]any{"type": t.URN(), "slug": t.Slug(), "status": t.Status(), "title": t.Title(), "members": t.Extra()})
	}
	return out
}

// effectConflicts are the problem types the spec's effects name that the catalogue lacks, in
// the order the spec first names them.
func effectConflicts(m *spec.Model) []fault.Type {
	var out []fault.Type
	seen := map[string]bool{}
	for _, t := range fault.Catalogue() {
		seen[t.Slug()] = true
	}
	for _, r := range m.Resources {
		for _, eff := range r.Effects {
			if !seen[eff.Conflict.Slug()] {
				seen[eff.Conflict.Slug()] = true
				out = append(out, eff.Conflict)
			}
		}
	}
	return out
}

// effectsNaming lists the effects, as resource.effect, that answer the type t.
func (b *builder) effectsNaming(t fault.Type) []string {
	var out []string
	for _, r := range b.m.Resources {
		for _, eff := range r.Effects {
			if eff.Conflict.Slug() == t.Slug() {
				out = append(out, r.Name+"."+eff.Name)
			}
		}
	}
	return out
}

// touch is a write a request may make: an operation on a resource, its own or through an
// effect or an on_delete.
type touch struct {
	r  *spec.Resource
	op spec.Operation
}

// reach lists the writes one write of op on r may make in its transaction: itself, the
// updates its effects make and theirs, and what a delete cascades to.
func (b *builder) reach(r *spec.Resource, op spec.Operation) []touch {
	out := []touch{{r, op}}
	for i := 0; i < len(out); i++ {
		t := out[i]
		next := func(r *spec.Resource, op spec.Operation) {
			if r != nil && !slices.Contains(out, touch{r, op}) {
				out = append(out, touch{r, op})
			}
		}
		for _, eff := range t.r.Effects {
			if eff.Runs(t.op) && len(eff.Set) > 0 {
				target, _ := b.m.Resource(eff.Target)
				next(target, spec.OpUpdate)
			}
		}
		if t.op == spec.OpDelete {
			for _, ref := range b.m.ReferencedBy(t.r.Name) {
				switch ref.Field.OnDelete {
				case spec.OnDeleteCascade:
					next(ref.Resource, spec.OpDelete)
				case spec.OnDeleteSetNull:
					next(ref.Resource, spec.OpUpdate)
				}
			}
		}
	}
	return out
}

// writeProblems are the types a write of op on r may answer through what it touches: unique
// values, transitions, references, cascades, effects and expressions.
func (b *builder) writeProblems(r *spec.Resource, op spec.Operation) []fault.Type {
	var out []fault.Type
	for _, t := range b.reach(r, op) {
		switch t.op {
		case spec.OpCreate, spec.OpUpdate:
			if hasUnique(t.r) {
				out = append(out, fault.TypeUnique)
			}
			if t.op == spec.OpUpdate && hasMachine(t.r) {
				out = append(out, fault.TypeInvalidTransition)
			}
			if hasExpressions(t.r.Fields) {
				out = append(out, fault.TypeExpressionFailed)
			}
		case spec.OpDelete:
			if refs := b.m.ReferencedBy(t.r.Name); len(refs) > 0 {
				out = append(out, fault.TypeReferenced)
				for _, ref := range refs {
					if ref.Field.OnDelete != spec.OnDeleteRestrict {
						out = append(out, fault.TypeCascadeTooLarge)
					}
				}
			}
		}
		for _, eff := range t.r.Effects {
			if eff.Runs(t.op) {
				out = append(out, eff.Conflict, fault.TypeExpressionFailed)
			}
		}
	}
	return out
}

func hasUnique(r *spec.Resource) bool {
	for _, ix := range r.Indexes {
		if ix.Unique {
			return true
		}
	}
	return false
}

func hasMachine(r *spec.Resource) bool {
	for _, f := range r.Fields {
		if f.Transitions != nil {
			return true
		}
	}
	return false
}

// hasExpressions reports whether a write evaluates an expression of these fields: a default
// or a computed field, at any level.
func hasExpressions(fields []*spec.Field) bool {
	for _, f := range fields {
		if f.Computed != nil || f.Default != nil && f.Default.Expr != nil {
			return true
		}
		if f.Of != nil && hasExpressions([]*spec.Field{f.Of}) || hasExpressions(f.Fields) {
			return true
		}
	}
	return false
}

// problems is a set of problem types an operation may answer, with what their examples need.
type problems struct {
	types []fault.Type
	// instance is the path the examples show as the request's.
	instance string
	// r is the resource the operation is about; nil for the others.
	r *spec.Resource
	// batch says the operation is POST /vN/batch, whose problems carry the failed index.
	batch bool
	// keyed says the operation takes an Idempotency-Key: its stored answers may be replayed.
	keyed bool
	// patch says the operation is a PATCH, whose 415 names the media types it accepts.
	patch bool
}

func (p *problems) add(ts ...fault.Type) {
	for _, t := range ts {
		if !slices.ContainsFunc(p.types, func(x fault.Type) bool { return x.Slug() == t.Slug() }) {
			p.types = append(p.types, t)
		}
	}
}

// problemResponses adds to rs a response per status of p's types, each listing the types it
// answers with an example of each. Every route also answers 401 for a bad token (checked
// before routing) and 500 for a bug.
func (b *builder) problemResponses(rs *openapi3.Responses, p problems) {
	p.add(fault.TypeUnauthorized, fault.TypeInternal)
	if b.opts.Retiring != nil && strings.HasPrefix(p.instance, b.prefix+"/") {
		p.add(fault.TypeVersionSunset)
	}
	byStatus := map[int][]fault.Type{}
	var statuses []int
	for _, t := range p.types {
		if _, ok := byStatus[t.Status()]; !ok {
			statuses = append(statuses, t.Status())
		}
		byStatus[t.Status()] = append(byStatus[t.Status()], t)
	}
	slices.Sort(statuses)
	for _, status := range statuses {
		ts := byStatus[status]
		slices.SortStableFunc(ts, func(a, c fault.Type) int { return b.order(a) - b.order(c) })
		var lines []string
		examples := openapi3.Examples{}
		for _, t := range ts {
			lines = append(lines, fmt.Sprintf("- `%s`: %s", t.Slug(), b.when(t)))
			examples[t.Slug()] = &openapi3.ExampleRef{Value: &openapi3.Example{Summary: t.Title(), Value: b.problemExample(t, p)}}
		}
		resp := &openapi3.Response{
			Description: ptr(strings.Join(lines, "\n")),
			Headers:     openapi3.Headers{"X-Request-Id": b.header("X-Request-Id")},
			Content:     openapi3.Content{problemMedia: {Schema: b.ref("Problem"), Examples: examples}},
		}
		switch {
		case status == 401:
			resp.Headers["WWW-Authenticate"] = b.header("WWW-Authenticate")
		case status == 503 || slices.Contains(ts, fault.TypeIdempotencyKeyInFlight):
			resp.Headers["Retry-After"] = b.header("Retry-After")
		case status == 415 && p.patch:
			resp.Headers["Accept-Patch"] = b.header("Accept-Patch")
		}
		if p.keyed && status < 500 && status != 413 && status != 415 && status != 428 {
			resp.Headers["Idempotent-Replayed"] = b.header("Idempotent-Replayed")
		}
		rs.Set(strconv.Itoa(status), &openapi3.ResponseRef{Value: resp})
	}
}

// order is t's place among the types: the catalogue's order, then the spec's conflicts.
func (b *builder) order(t fault.Type) int {
	return slices.IndexFunc(b.problemTypes(), func(x fault.Type) bool { return x.Slug() == t.Slug() })
}

// when says when t is answered: the catalogue's words, or the effects that name it.
func (b *builder) when(t fault.Type) string {
	if t == fault.TypeTooLarge && b.opts.MaxBody > 0 {
		return fmt.Sprintf("the body is larger than %d bytes", b.opts.MaxBody)
	}
	if slices.Contains(fault.Catalogue(), t) {
		return t.When()
	}
	return "an effect refused the write: " + strings.Join(b.effectsNaming(t), ", ")
}

// sampleRequestID is the request id examples show, shaped like the server's own.
const sampleRequestID = "5f0c3b9e8a7d6c5b4a392817"

// problemExample is an example document of type t for an operation of p.
func (b *builder) problemExample(t fault.Type, p problems) map[string]any {
	doc := map[string]any{"type": t.URN(), "title": t.Title(), "status": t.Status(),
		"detail": strings.ReplaceAll(b.when(t), "`", ""), "instance": p.instance, "request_id": sampleRequestID}
	for _, m := range t.Extra() {
		if v, ok := b.memberExample(t, m, p.r); ok {
			doc[m] = v
		}
	}
	if eff := b.effectNaming(t); eff != nil && eff.Message != "" {
		doc["detail"] = eff.Message
	}
	if t == fault.TypeVersionSunset {
		successor := b.opts.Retiring.Successor(p.instance)
		doc["successor"], doc["sunset"] = successor, b.opts.Retiring.Sunset.Format(time.RFC3339)
		doc["detail"] = fmt.Sprintf("v%d was retired on %s; the current version serves this at %s", b.m.Version, doc["sunset"], successor)
	}
	if p.batch && !slices.Contains(batchLevel, t) {
		doc["index"] = 0
		doc["detail"] = "operation 0 failed, so nothing was written: " + doc["detail"].(string)
	}
	return doc
}

// memberExample is an example of the member m of a problem of type t about r (nil for
// operations that are about no resource); false leaves the member out, as the server does
// when it has nothing to say.
func (b *builder) memberExample(t fault.Type, m string, r *spec.Resource) (any, bool) {
	if r == nil {
		r = b.m.Resources[0]
	}
	fieldError := func(field, code, message string) []any {
		return []any{map[string]any{"field": field, "code": code, "message": message}}
	}
	machine := b.firstField(r, func(f *spec.Field) bool { return f.Transitions != nil })
	eff := b.effectNaming(t)
	switch {
	case m == "errors" && t == fault.TypeInvalidQuery:
		return fieldError("limit", "range", fmt.Sprintf("must be between 1 and %d", r.MaxLimit)), true
	case m == "errors" && t == fault.TypeUnique:
		name := "id"
		if f := b.firstField(r, func(f *spec.Field) bool { return f.Unique }); f != nil {
			name = f.Name
		}
		return fieldError(name, "unique", "another record has this value"), true
	case m == "errors" && t == fault.TypeValidation:
		f := b.firstField(r, func(f *spec.Field) bool { return !f.ReadOnly() })
		if f == nil {
			return fieldError("id", "read_only", "id is set by the server"), true
		}
		return fieldError(f.Name, "type", "must be a "+string(f.Type)), true
	case m == "errors" && t == fault.TypeInvalidTransition && machine != nil:
		from, to := b.badMove(machine)
		return fieldError(machine.Name, "transition", fmt.Sprintf("cannot change from %s to %s", from, to)), true
	case machine != nil && (m == "field" || m == "from" || m == "to" || m == "allowed"):
		from, to := b.badMove(machine)
		return map[string]any{"field": machine.Name, "from": from, "to": to, "allowed": append([]string{}, machine.Transitions[from]...)}[m], true
	case m == "effect" && eff != nil:
		return eff.Name, true
	case m == "resource" && eff != nil:
		return eff.Target, true
	case m == "id" && eff != nil:
		return spec.SampleID(eff.Target), true
	case m == "current_version":
		return 3, true
	case m == "found":
		return engine.DefaultMaxCascade + 1, true
	case m == "limit":
		return engine.DefaultMaxCascade, true
	case m == "max_depth":
		return engine.MaxCascadeDepth, true
	case m == "expression":
		return b.expressionOf(r), true
	case m == "resource":
		return r.Name, true
	case m == "id":
		return spec.SampleID(r.Name), true
	}
	return nil, false
}

// badMove is a move the state machine f refuses: from its first state to the first state that
// is not among that state's next ones.
func (b *builder) badMove(f *spec.Field) (from, to string) {
	from = f.Initial[0]
	for _, v := range f.Values {
		if v != from && !slices.Contains(f.Transitions[from], v) {
			return from, v
		}
	}
	return from, from
}

// effectNaming is the first effect of the spec that answers t.
func (b *builder) effectNaming(t fault.Type) *spec.Effect {
	for _, r := range b.m.Resources {
		for _, eff := range r.Effects {
			if eff.Conflict.Slug() == t.Slug() {
				return eff
			}
		}
	}
	return nil
}

// expressionOf names an expression of r's, as expression-failed does: its first computed
// field or expression default, else its first effect's id.
func (b *builder) expressionOf(r *spec.Resource) string {
	var where string
	var walk func(fields []*spec.Field)
	walk = func(fields []*spec.Field) {
		for _, f := range fields {
			switch {
			case where != "":
				return
			case f.Computed != nil:
				where = f.Computed.Where
			case f.Default != nil && f.Default.Expr != nil:
				where = f.Default.Expr.Where
			case f.Of != nil:
				walk([]*spec.Field{f.Of})
				walk(f.Of.Fields)
			default:
				walk(f.Fields)
			}
		}
	}
	walk(r.Fields)
	if where == "" && len(r.Effects) > 0 {
		where = r.Effects[0].ID.Where
	}
	if where == "" {
		where = r.Name + ".effects"
	}
	return where
}

// firstField is the first top-level field for which ok holds: r's, else, for a problem
// whose operation may touch any resource (a batch's), another resource's.
func (b *builder) firstField(r *spec.Resource, ok func(*spec.Field) bool) *spec.Field {
	for _, res := range append([]*spec.Resource{r}, b.m.Resources...) {
		for _, f := range res.Fields {
			if ok(f) {
				return f
			}
		}
	}
	return nil
}
