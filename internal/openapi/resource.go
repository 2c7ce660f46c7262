package openapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/plinth-dev/plinth/internal/engine"
	"github.com/plinth-dev/plinth/internal/fault"
	"github.com/plinth-dev/plinth/internal/query"
	"github.com/plinth-dev/plinth/internal/spec"
)

// Component names of a resource's schemas: the record under the resource's own name, the
// others under the name and a suffix. Resource names are lowercase letters, digits and
// underscores, so the dot keeps them apart from each other and from the shared schemas,
// whose names start with a capital.
const (
	itemSuffix    = ".item"
	pageSuffix    = ".page"
	createSuffix  = ".create"
	replaceSuffix = ".replace"
	patchSuffix   = ".patch"
	eventSuffix   = ".event"
)

// records registers every resource's record schema, before anything refers to one.
func (b *builder) records() {
	for _, r := range b.m.Resources {
		s := b.recordSchema(r, read, false)
		s.Description = strings.TrimSpace(r.Description + " One record of " + r.Name + ", as the server writes it.")
		s.Examples = []any{sampleRecord(r)}
		b.component(r.Name, s)
	}
}

// resourceSchemas registers the schemas of r's bodies but the record.
func (b *builder) resourceSchemas(r *spec.Resource) {
	item := b.recordSchema(r, read, true)
	item.Description = "One record of " + r.Name + " in a list: the members `fields` names (id always, every member without it), and `expand` when the list expands refs."
	item.Examples = []any{sampleRecord(r)}
	b.component(r.Name+itemSuffix, item)

	b.component(r.Name+pageSuffix, &openapi3.Schema{
		Type: types("object"), Required: []string{"items", "next_cursor"},
		AdditionalProperties: openapi3.AdditionalProperties{Has: ptr(false)},
		Description:          "One page of a list of " + r.Name + ".",
		Properties: openapi3.Schemas{
			"items": {Value: &openapi3.Schema{Type: types("array"), Items: b.ref(r.Name + itemSuffix), MaxItems: ptr(uint64(r.MaxLimit))}},
			"next_cursor": {Value: &openapi3.Schema{Type: types("string", "null"),
				Description: "The `cursor` of the next page, with the same filter and sort; null on the last page."}},
		},
		Examples: []any{samplePage(r)},
	})

	cr := b.recordSchema(r, create, false)
	cr.Description = "The body of a create: the members a client may write. Unknown and read-only members are 422 field errors, never silently dropped."
	cr.Examples = []any{sampleCreate(r)}
	b.component(r.Name+createSuffix, cr)

	rp := b.recordSchema(r, replace, false)
	if !sameSchema(rp, b.recordSchema(r, create, false)) {
		rp.Description = "The body of a replace (PUT): the whole record. Members left out become null, or their default; immutable ones keep their value."
		rp.Examples = []any{sampleCreate(r)}
		b.component(r.Name+replaceSuffix, rp)
	}

	pt := b.recordSchema(r, patch, false)
	pt.Description = "A JSON merge patch (RFC 7386): members sent replace the stored ones, null clears a member that may be null, objects merge member by member, arrays replace whole. A patch that changes nothing writes nothing."
	pt.Examples = []any{samplePatch(r)}
	b.component(r.Name+patchSuffix, pt)

	if r.Events {
		b.component(r.Name+eventSuffix, b.eventSchema(r))
	}
}

// sameSchema reports whether two schemas say the same.
func sameSchema(a, c *openapi3.Schema) bool {
	ja, _ := json.Marshal(a)
	jc, _ := json.Marshal(c)
	return bytes.Equal(ja, jc)
}

// replaceBody is the component of r's replace body: its own, or the create's when they are
// the same.
func (b *builder) replaceBody(r *spec.Resource) string {
	if _, ok := b.doc.Components.Schemas[r.Name+replaceSuffix]; ok {
		return r.Name + replaceSuffix
	}
	return r.Name + createSuffix
}

func samplePage(r *spec.Resource) map[string]any {
	return map[string]any{"items": []any{sampleRecord(r)}, "next_cursor": sampleCursor}
}

// sampleCursor is shaped like the server's cursors: the last row's sort values and a
// signature, each base64url.
const sampleCursor = "WyIwMTk0MTNmNi0zNjAwLTdhYmMtOGRlZi0wMTIzNDU2Nzg5YWIiXQ.kq3Hs0VwqYh1mXq0aZb9sA"

// resourcePaths adds r's six routes.
func (b *builder) resourcePaths(r *spec.Resource) {
	base := b.prefix + "/" + r.Name
	item := base + "/{id}"
	b.add(base, http.MethodGet, b.listOp(r, base))
	b.add(base, http.MethodPost, b.createOp(r, base))
	b.add(item, http.MethodGet, b.readOp(r))
	b.add(item, http.MethodPatch, b.updateOp(r, patch))
	b.add(item, http.MethodPut, b.updateOp(r, replace))
	b.add(item, http.MethodDelete, b.deleteOp(r))
	b.doc.Paths.Value(item).Parameters = openapi3.Parameters{{Value: &openapi3.Parameter{
		Name: "id", In: openapi3.ParameterInPath, Required: true,
		Description: "The record's id. An id that names no record, or one the caller may not read, is 404.",
		Schema:      &openapi3.SchemaRef{Value: &openapi3.Schema{Type: types("string"), Format: "uuid"}},
		Example:     spec.SampleID(r.Name),
	}}}
}

// sampleInstance is the path of r's record in examples.
func (b *builder) sampleInstance(r *spec.Resource) string {
	return b.prefix + "/" + r.Name + "/" + spec.SampleID(r.Name)
}

func (b *builder) listOp(r *spec.Resource, path string) *openapi3.Operation {
	op := &openapi3.Operation{
		Tags: []string{r.Name}, OperationID: r.Name + ".list", Summary: "List " + r.Name,
		Description: "Lists the " + r.Name + " records the caller may list that match `filter`, in keyset pages: stable under concurrent writes, with no total count. " +
			"The access rule and the filter run inside the database query. Unknown or repeated parameters are 400, so that a typo cannot return everything.\n\n" +
			access(r, spec.OpList),
		Parameters: append(b.listParams(r), b.param("X-Request-Id")),
		Security:   security(r, spec.OpList),
		Responses:  openapi3.NewResponses(),
	}
	op.Responses.Set("200", &openapi3.ResponseRef{Value: &openapi3.Response{
		Description: ptr("A page of records."),
		Headers:     openapi3.Headers{"X-Request-Id": b.header("X-Request-Id")},
		Content:     jsonContent(b.ref(r.Name+pageSuffix), samplePage(r)),
	}})
	p := problems{instance: path, r: r}
	p.add(fault.TypeInvalidQuery, fault.TypeInvalid, fault.TypeUnavailable)
	b.denials(&p, r, spec.OpList)
	b.problemResponses(op.Responses, p)
	return op
}

// listParams are a list's query parameters, with the resource's real bounds and fields.
func (b *builder) listParams(r *spec.Resource) openapi3.Parameters {
	var sortable, all []string
	for _, c := range r.Columns() {
		all = append(all, c.Name)
		if c.Kind != query.KindJSON {
			sortable = append(sortable, c.Name)
		}
	}
	names := func(list []string) []any {
		out := make([]any, len(list))
		for i, n := range list {
			out[i] = n
		}
		return out
	}
	commaList := func(name, description string, items *openapi3.Schema, maxItems int, example []any) *openapi3.ParameterRef {
		s := &openapi3.Schema{Type: types("array"), Items: &openapi3.SchemaRef{Value: items}}
		if maxItems > 0 {
			s.MaxItems = ptr(uint64(maxItems))
		}
		return &openapi3.ParameterRef{Value: &openapi3.Parameter{Name: name, In: openapi3.ParameterInQuery, Description: description,
			Style: openapi3.SerializationForm, Explode: ptr(false), Schema: &openapi3.SchemaRef{Value: s}, Example: example}}
	}
	sortPattern := "^-?(" + strings.Join(quoteAll(sortable), "|") + ")$"
	params := openapi3.Parameters{
		{Value: &openapi3.Parameter{Name: "filter", In: openapi3.ParameterInQuery, Description: filterGrammar(r),
			Schema:  &openapi3.SchemaRef{Value: &openapi3.Schema{Type: types("string"), MaxLength: ptr(uint64(engine.MaxFilterLength))}},
			Example: sampleFilter(r)}},
		commaList("sort", fmt.Sprintf("Comma-separated fields to sort by, `-` before one for descending: at most %d. "+
			"`id` always breaks ties, in the direction of the last key. Ascending puts nulls first, descending last. Sortable: %s.",
			engine.MaxSortKeys, strings.Join(sortable, ", ")),
			&openapi3.Schema{Type: types("string"), Pattern: sortPattern}, engine.MaxSortKeys, []any{"-created_at"}),
		{Value: &openapi3.Parameter{Name: "limit", In: openapi3.ParameterInQuery,
			Description: fmt.Sprintf("How many records a page holds: 1 to %d, %d unless given.", r.MaxLimit, r.DefaultLimit),
			Schema: &openapi3.SchemaRef{Value: &openapi3.Schema{Type: types("integer"), Min: ptr(1.0), Max: ptr(float64(r.MaxLimit)),
				Default: r.DefaultLimit}}}},
		{Value: &openapi3.Parameter{Name: "cursor", In: openapi3.ParameterInQuery,
			Description: "The `next_cursor` of the previous page. It is signed, and valid only with the same filter and sort.",
			Schema:      &openapi3.SchemaRef{Value: &openapi3.Schema{Type: types("string")}}}},
		commaList("fields", "Comma-separated members to return; `id` is always returned. Without it, every member.",
			&openapi3.Schema{Type: types("string"), Enum: names(all)}, 0, []any{"id", all[len(all)-1]}),
	}
	var refs []string
	for _, f := range r.Fields {
		if f.Type == spec.TypeRef {
			refs = append(refs, f.Name)
		}
	}
	if len(refs) > 0 {
		params = append(params, commaList("expand", fmt.Sprintf("Comma-separated ref fields (at most %d) whose records to embed in each item under `expand`; "+
			"a record the caller may not read is null there.", engine.MaxExpand),
			&openapi3.Schema{Type: types("string"), Enum: names(refs)}, engine.MaxExpand, []any{refs[0]}))
	}
	return params
}

func quoteAll(names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = regexp.QuoteMeta(n)
	}
	return out
}

// filterGrammar says what a filter may be, with the resource's own fields.
func filterGrammar(r *spec.Resource) string {
	var fields []string
	for _, c := range r.Columns() {
		what := c.Kind.String()
		if c.Field != nil {
			what = c.Field.Signature()
		}
		fields = append(fields, fmt.Sprintf("`%s` (%s)", c.Name, what))
	}
	return fmt.Sprintf("A CEL expression over the fields by name, at most %d bytes, such as `%s`. "+
		"It may use comparisons (`==`, `!=`, `<`, `<=`, `>`, `>=`), `&&`, `||`, `!`, `in [..]`, `startsWith`, `endsWith`, `contains`, `== null`, "+
		"`now`, `timestamp(\"…\")` and `duration(\"…\")`; on arrays of scalars `\"x\" in tags`, `tags.exists(t, …)`, `tags.all(t, …)` and `size(tags)`. "+
		"A null array fails every test of its elements. Anything else is 400 `invalid-query` saying why. Fields: %s.",
		engine.MaxFilterLength, sampleFilter(r), strings.Join(fields, ", "))
}

// sampleFilter is a filter on r's first scalar field, or on created_at: the first of those
// that r's filter language compiles.
func sampleFilter(r *spec.Resource) string {
	var tried []string
	for _, f := range r.Fields {
		switch f.Type {
		case spec.TypeInteger:
			tried = append(tried, f.Name+" >= 0")
		case spec.TypeNumber:
			tried = append(tried, f.Name+" >= 0.0")
		case spec.TypeString, spec.TypeEnum:
			s, _ := f.Sample().(string)
			q, _ := json.Marshal(s)
			tried = append(tried, f.Name+" == "+string(q))
		case spec.TypeBoolean:
			tried = append(tried, f.Name)
		}
	}
	tried = append(tried, `created_at > timestamp("2026-01-01T00:00:00Z")`)
	for _, f := range tried {
		if _, err := r.CompileFilter(f); err == nil {
			return f
		}
	}
	return tried[len(tried)-1]
}

func (b *builder) readOp(r *spec.Resource) *openapi3.Operation {
	op := &openapi3.Operation{
		Tags: []string{r.Name}, OperationID: r.Name + ".read", Summary: "Read one of " + r.Name,
		Description: "Reads a record with its ETag. A record the caller may not read answers exactly as a missing one.\n\n" + access(r, spec.OpRead),
		Parameters:  openapi3.Parameters{b.param("If-None-Match"), b.param("X-Request-Id")},
		Security:    security(r, spec.OpRead),
		Responses:   openapi3.NewResponses(),
	}
	op.Responses.Set("200", &openapi3.ResponseRef{Value: &openapi3.Response{
		Description: ptr("The record."),
		Headers:     openapi3.Headers{"ETag": b.header("ETag"), "X-Request-Id": b.header("X-Request-Id")},
		Content:     jsonContent(b.ref(r.Name), sampleRecord(r)),
	}})
	op.Responses.Set("304", &openapi3.ResponseRef{Value: &openapi3.Response{
		Description: ptr("`If-None-Match` names the record's ETag: the client's copy is current."),
		Headers:     openapi3.Headers{"ETag": b.header("ETag"), "X-Request-Id": b.header("X-Request-Id")},
	}})
	p := problems{instance: b.sampleInstance(r), r: r}
	p.add(fault.TypeNotFound, fault.TypeUnavailable)
	b.denials(&p, r, spec.OpRead)
	b.problemResponses(op.Responses, p)
	return op
}

func (b *builder) createOp(r *spec.Resource, path string) *openapi3.Operation {
	keyed := r.Idempotency != spec.IdempotencyOff
	op := &openapi3.Operation{
		Tags: []string{r.Name}, OperationID: r.Name + ".create", Summary: "Create one of " + r.Name,
		Description: "Creates a record in one transaction with its event" + effectsText(r, spec.OpCreate) + ". Every invalid field is reported at once (422 `validation`).\n\n" +
			access(r, spec.OpCreate),
		Parameters:  b.writeParams(r, true, false),
		Security:    security(r, spec.OpCreate),
		RequestBody: b.body(jsonContent(b.ref(r.Name+createSuffix), sampleCreate(r))),
		Responses:   openapi3.NewResponses(),
	}
	headers := openapi3.Headers{"Location": b.header("Location"), "ETag": b.header("ETag"), "X-Request-Id": b.header("X-Request-Id")}
	if keyed {
		headers["Idempotent-Replayed"] = b.header("Idempotent-Replayed")
	}
	op.Responses.Set("201", &openapi3.ResponseRef{Value: &openapi3.Response{
		Description: ptr("The record as created, with defaults and computed fields filled in."),
		Headers:     headers, Content: jsonContent(b.ref(r.Name), sampleRecord(r)),
	}})
	p := problems{instance: path, r: r, keyed: keyed}
	p.add(fault.TypeMalformedJSON, fault.TypeUnsupportedMediaType, fault.TypeTooLarge, fault.TypeValidation, fault.TypeInvalid, fault.TypeConflict, fault.TypeUnavailable)
	p.add(b.writeProblems(r, spec.OpCreate)...)
	b.keyProblems(&p, r, true)
	b.denials(&p, r, spec.OpCreate)
	b.problemResponses(op.Responses, p)
	return op
}

// updateOp is PATCH (sh patch) or PUT (sh replace) of one record.
func (b *builder) updateOp(r *spec.Resource, sh shape) *openapi3.Operation {
	keyed := r.Idempotency != spec.IdempotencyOff
	op := &openapi3.Operation{
		Tags: []string{r.Name}, Security: security(r, spec.OpRead, spec.OpUpdate),
		Parameters: b.writeParams(r, sh == patch, true),
		Responses:  openapi3.NewResponses(),
	}
	what, body := "Changes", jsonContent(b.ref(r.Name+patchSuffix), samplePatch(r))
	how := "The body is a JSON merge patch (RFC 7386), sent as application/json or application/merge-patch+json. "
	if sh == patch {
		op.OperationID, op.Summary = r.Name+".patch", "Change one of "+r.Name
		body["application/merge-patch+json"] = body["application/json"]
	} else {
		op.OperationID, op.Summary = r.Name+".replace", "Replace one of "+r.Name
		what, body = "Replaces", jsonContent(b.ref(b.replaceBody(r)), sampleCreate(r))
		how = "The body is the whole record: members left out become null (or their default), immutable ones keep their value. "
	}
	op.Description = what + " a record in one transaction with its event" + effectsText(r, spec.OpUpdate) + ". " + how +
		"`If-Match` makes the write conditional on the version the client saw. A write that changes nothing writes nothing and answers the record as it is.\n\n" +
		access(r, spec.OpUpdate)
	op.RequestBody = b.body(body)
	headers := openapi3.Headers{"ETag": b.header("ETag"), "X-Request-Id": b.header("X-Request-Id")}
	if keyed {
		headers["Idempotent-Replayed"] = b.header("Idempotent-Replayed")
	}
	op.Responses.Set("200", &openapi3.ResponseRef{Value: &openapi3.Response{
		Description: ptr("The record as it is now."), Headers: headers, Content: jsonContent(b.ref(r.Name), sampleRecord(r)),
	}})
	p := problems{instance: b.sampleInstance(r), r: r, keyed: keyed, patch: sh == patch}
	p.add(fault.TypeNotFound, fault.TypeMalformedJSON, fault.TypeUnsupportedMediaType, fault.TypeTooLarge, fault.TypeValidation,
		fault.TypeInvalid, fault.TypeInvalidPrecondition, fault.TypeStaleVersion, fault.TypeConflict, fault.TypeUnavailable)
	if r.ConcurrencyRequired {
		p.add(fault.TypePreconditionRequired)
	}
	p.add(b.writeProblems(r, spec.OpUpdate)...)
	b.keyProblems(&p, r, sh == patch)
	b.denials(&p, r, spec.OpRead, spec.OpUpdate)
	b.problemResponses(op.Responses, p)
	return op
}

func (b *builder) deleteOp(r *spec.Resource) *openapi3.Operation {
	keyed := r.Idempotency != spec.IdempotencyOff
	op := &openapi3.Operation{
		Tags: []string{r.Name}, OperationID: r.Name + ".delete", Summary: "Delete one of " + r.Name,
		Description: "Deletes a record in one transaction with its event" + effectsText(r, spec.OpDelete) + onDeleteEffects(b.m, r) + ". " +
			"`If-Match` makes the delete conditional on the version the client saw.\n\n" + access(r, spec.OpDelete),
		Parameters: b.writeParams(r, false, true),
		Security:   security(r, spec.OpRead, spec.OpDelete),
		Responses:  openapi3.NewResponses(),
	}
	resp := &openapi3.Response{Description: ptr("Deleted."), Headers: openapi3.Headers{"X-Request-Id": b.header("X-Request-Id")}}
	if keyed {
		resp.Headers["Idempotent-Replayed"] = b.header("Idempotent-Replayed")
	}
	op.Responses.Set("204", &openapi3.ResponseRef{Value: resp})
	p := problems{instance: b.sampleInstance(r), r: r, keyed: keyed}
	p.add(fault.TypeNotFound, fault.TypeInvalidPrecondition, fault.TypeStaleVersion, fault.TypeConflict, fault.TypeUnavailable)
	if r.ConcurrencyRequired {
		p.add(fault.TypePreconditionRequired)
	}
	p.add(b.writeProblems(r, spec.OpDelete)...)
	if keyed {
		// A DELETE has no body, so a retry is never another request under the same key.
		p.add(fault.TypeIdempotencyKeyInvalid, fault.TypeIdempotencyKeyInFlight)
	}
	b.denials(&p, r, spec.OpRead, spec.OpDelete)
	b.problemResponses(op.Responses, p)
	return op
}

// writeParams are the request headers of a write to r: Idempotency-Key unless r turns keys
// off (required where r requires it and the write is a create or a merge patch), If-Match on
// writes to an existing record (required with `concurrency: required`), and X-Request-Id.
func (b *builder) writeParams(r *spec.Resource, keyRequirable, existing bool) openapi3.Parameters {
	var params openapi3.Parameters
	switch {
	case r.Idempotency == spec.IdempotencyRequired && keyRequirable:
		params = append(params, b.param("Idempotency-Key.required"))
	case r.Idempotency != spec.IdempotencyOff:
		params = append(params, b.param("Idempotency-Key"))
	}
	switch {
	case existing && r.ConcurrencyRequired:
		params = append(params, b.param("If-Match.required"))
	case existing:
		params = append(params, b.param("If-Match"))
	}
	return append(params, b.param("X-Request-Id"))
}

// keyProblems adds the Idempotency-Key problems of a write to r; requirable says a missing key
// is refused where r requires one (creates and merge patches).
func (b *builder) keyProblems(p *problems, r *spec.Resource, requirable bool) {
	if r.Idempotency == spec.IdempotencyOff {
		return
	}
	p.add(fault.TypeIdempotencyKeyInvalid, fault.TypeIdempotencyKeyInFlight, fault.TypeIdempotencyKeyReused)
	if requirable && r.Idempotency == spec.IdempotencyRequired {
		p.add(fault.TypeIdempotencyKeyMissing)
	}
}

// effectsText names the effects a write of op on r runs, for an operation's description.
func effectsText(r *spec.Resource, op spec.Operation) string {
	var names []string
	for _, eff := range r.Effects {
		if eff.Runs(op) {
			names = append(names, fmt.Sprintf("`%s` (on %s)", eff.Name, eff.Target))
		}
	}
	if len(names) == 0 {
		return ""
	}
	return " and its effects " + strings.Join(names, ", ")
}

// onDeleteEffects says what deleting a record of r does to the records that refer to it.
func onDeleteEffects(m *spec.Model, r *spec.Resource) string {
	var parts []string
	for _, ref := range m.ReferencedBy(r.Name) {
		parts = append(parts, fmt.Sprintf("%s.%s: %s", ref.Resource.Name, ref.Field.Name, ref.Field.OnDelete))
	}
	if len(parts) == 0 {
		return ""
	}
	return "; records that refer to it follow their `on_delete` (" + strings.Join(parts, ", ") + ")"
}

// body is a required request body of content: one JSON object, within the server's size
// limit.
func (b *builder) body(content openapi3.Content) *openapi3.RequestBodyRef {
	rb := &openapi3.RequestBody{Required: true, Content: content, Description: "One JSON object. Duplicate member names, trailing data and nesting too deep are 400 `malformed-json`."}
	if b.opts.MaxBody > 0 {
		rb.Description += fmt.Sprintf(" At most %d bytes (else 413 `too-large`).", b.opts.MaxBody)
	}
	return &openapi3.RequestBodyRef{Value: rb}
}

// jsonContent is application/json content with a schema and an example.
func jsonContent(s *openapi3.SchemaRef, example any) openapi3.Content {
	return openapi3.Content{"application/json": {Schema: s, Example: example}}
}
