package openapi

import (
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/plinth-dev/plinth/internal/engine"
	"github.com/plinth-dev/plinth/internal/fault"
	"github.com/plinth-dev/plinth/internal/spec"
	"github.com/plinth-dev/plinth/internal/worker"
)

// object is a closed JSON object schema: these members and no others, required ones listed.
func object(description string, props openapi3.Schemas, required ...string) *openapi3.Schema {
	return &openapi3.Schema{Type: types("object"), Properties: props, Required: required, Description: description,
		AdditionalProperties: openapi3.AdditionalProperties{Has: ptr(false)}}
}

func prop(s *openapi3.Schema) *openapi3.SchemaRef { return &openapi3.SchemaRef{Value: s} }

// okResponse is a 200 with a JSON body and X-Request-Id.
func (b *builder) okResponse(description string, s *openapi3.SchemaRef, example any) *openapi3.ResponseRef {
	return &openapi3.ResponseRef{Value: &openapi3.Response{Description: ptr(description),
		Headers: openapi3.Headers{"X-Request-Id": b.header("X-Request-Id")}, Content: jsonContent(s, example)}}
}

// batchLevel are the problems of a batch as a whole, which carry no operation's index.
var batchLevel = []fault.Type{fault.TypeInvalidBatch, fault.TypeMalformedJSON, fault.TypeUnsupportedMediaType, fault.TypeTooLarge,
	fault.TypeIdempotencyKeyInvalid, fault.TypeIdempotencyKeyInFlight, fault.TypeIdempotencyKeyReused, fault.TypeIdempotencyKeyMissing,
	fault.TypeInternal, fault.TypeUnavailable}

// batch adds POST /vN/batch: every write of every resource, in one transaction.
func (b *builder) batch() {
	var variants openapi3.SchemaRefs
	var results openapi3.SchemaRefs
	var keyedResources, requiredKeys []string
	p := problems{instance: b.prefix + "/batch", batch: true}
	p.add(fault.TypeInvalidBatch, fault.TypeMalformedJSON, fault.TypeUnsupportedMediaType, fault.TypeTooLarge, fault.TypeNotFound,
		fault.TypeValidation, fault.TypeInvalid, fault.TypeStaleVersion, fault.TypeConflict, fault.TypeUnavailable)
	for _, r := range b.m.Resources {
		collection := b.prefix + "/" + r.Name
		record := prop(&openapi3.Schema{Type: types("string"), Pattern: "^" + regexp.QuoteMeta(collection) + "/[^/]+$"})
		method := func(m string) *openapi3.SchemaRef {
			return prop(&openapi3.Schema{Type: types("string"), Enum: []any{m}})
		}
		ifMatch := prop(&openapi3.Schema{Type: types("string"), Pattern: `^(\*|"[0-9]+")$`,
			Description: "As the If-Match header: the version the operation's record must be at."})
		variants = append(variants,
			prop(object("Create a record of "+r.Name+".", openapi3.Schemas{"method": method(http.MethodPost),
				"path": prop(&openapi3.Schema{Type: types("string"), Enum: []any{collection}}), "body": b.ref(r.Name + createSuffix)}, "method", "path", "body")),
			prop(object("Change a record of "+r.Name+" with a merge patch.", openapi3.Schemas{"method": method(http.MethodPatch), "path": record,
				"body": b.ref(r.Name + patchSuffix), "if_match": ifMatch}, "method", "path", "body")),
			prop(object("Replace a record of "+r.Name+".", openapi3.Schemas{"method": method(http.MethodPut), "path": record,
				"body": b.ref(b.replaceBody(r)), "if_match": ifMatch}, "method", "path", "body")),
			prop(object("Delete a record of "+r.Name+".", openapi3.Schemas{"method": method(http.MethodDelete), "path": record,
				"if_match": ifMatch}, "method", "path")),
		)
		results = append(results, b.ref(r.Name))
		for _, op := range spec.Operations {
			if op != spec.OpList && op != spec.OpRead {
				p.add(b.writeProblems(r, op)...)
			}
			if r.Access[op] == nil || r.Access[op].Constant == nil || !*r.Access[op].Constant {
				p.add(fault.TypeForbidden)
			}
		}
		if r.ConcurrencyRequired {
			p.add(fault.TypePreconditionRequired)
		}
		switch r.Idempotency {
		case spec.IdempotencyRequired:
			requiredKeys = append(requiredKeys, r.Name)
			fallthrough
		case spec.IdempotencyOptional:
			keyedResources = append(keyedResources, r.Name)
			b.keyProblems(&p, r, true)
		}
	}
	p.keyed = len(keyedResources) > 0
	first := b.m.Resources[0]
	b.component("BatchRequest", &openapi3.Schema{
		Type: types("object"), Required: []string{"operations"}, AdditionalProperties: openapi3.AdditionalProperties{Has: ptr(false)},
		Description: "Writes to run in one transaction, in order.",
		Properties: openapi3.Schemas{"operations": prop(&openapi3.Schema{Type: types("array"), MinItems: 1, MaxItems: ptr(uint64(engine.MaxBatch)),
			// The variants exclude each other by method and path, which a linter cannot tell
			// from patterns; anyOf validates the same.
			Items: prop(&openapi3.Schema{AnyOf: variants, Description: "One write: its method and path as the route it stands for would take them, its body, and its If-Match."})})},
		Examples: []any{map[string]any{"operations": []any{
			map[string]any{"method": http.MethodPost, "path": b.prefix + "/" + first.Name, "body": sampleCreate(first)},
			map[string]any{"method": http.MethodPatch, "path": b.sampleInstance(first), "body": samplePatch(first), "if_match": `"1"`},
		}}},
	})
	sampleResults := []any{
		map[string]any{"status": 201, "etag": `"1"`, "body": sampleRecord(first)},
		map[string]any{"status": 200, "etag": `"2"`, "body": sampleRecord(first)},
	}
	b.component("BatchResponse", &openapi3.Schema{
		Type: types("object"), Required: []string{"results"}, AdditionalProperties: openapi3.AdditionalProperties{Has: ptr(false)},
		Description: "Every operation's result, in order.",
		Properties: openapi3.Schemas{"results": prop(&openapi3.Schema{Type: types("array"), MinItems: 1, MaxItems: ptr(uint64(engine.MaxBatch)),
			Items: prop(object("One operation's result: its status, and the record it left with its ETag (none for a delete).", openapi3.Schemas{
				"status": prop(&openapi3.Schema{Type: types("integer"), Enum: []any{201, 200, 204}}),
				"etag":   prop(&openapi3.Schema{Type: types("string"), Pattern: `^"[0-9]+"$`}),
				"body":   prop(&openapi3.Schema{AnyOf: results}),
			}, "status"))})},
		Examples: []any{map[string]any{"results": sampleResults}},
	})
	var params openapi3.Parameters
	if p.keyed {
		key := *b.param("Idempotency-Key").Value
		key.Description += fmt.Sprintf(" Batches take keys when they write to %s; a batch that creates or merge-patches %s needs one.",
			strings.Join(keyedResources, ", "), orNone(requiredKeys))
		params = append(params, &openapi3.ParameterRef{Value: &key})
	}
	op := &openapi3.Operation{
		Tags: []string{"Batch"}, OperationID: "batch", Summary: "Run several writes in one transaction",
		Description: fmt.Sprintf("Runs 1 to %d writes in one transaction, in order: all of them take effect, or none does. "+
			"Each operation meets every rule it would meet alone (access, validation, If-Match, transitions, effects). "+
			"A failed operation answers its own problem document with its `index`, and nothing is written.", engine.MaxBatch),
		Parameters:  append(params, b.param("X-Request-Id")),
		RequestBody: b.body(jsonContent(b.ref("BatchRequest"), b.doc.Components.Schemas["BatchRequest"].Value.Examples[0])),
		Responses:   openapi3.NewResponses(),
	}
	resp := b.okResponse("Every operation succeeded.", b.ref("BatchResponse"), map[string]any{"results": sampleResults})
	if p.keyed {
		resp.Value.Headers["Idempotent-Replayed"] = b.header("Idempotent-Replayed")
	}
	op.Responses.Set("200", resp)
	b.problemResponses(op.Responses, p)
	b.add(b.prefix+"/batch", http.MethodPost, op)
}

func orNone(names []string) string {
	if len(names) == 0 {
		return "none of them"
	}
	return strings.Join(names, " or ")
}

// eventSchema is an event of r's in the change feed.
func (b *builder) eventSchema(r *spec.Resource) *openapi3.Schema {
	recordOrNull := func(description string) *openapi3.SchemaRef {
		return prop(&openapi3.Schema{Description: description, AnyOf: openapi3.SchemaRefs{b.ref(r.Name), prop(&openapi3.Schema{Type: types("null")})}})
	}
	s := object("A change to a record of "+r.Name+".", openapi3.Schemas{
		"id":  prop(&openapi3.Schema{Type: types("string"), Format: "uuid", Description: "The event's id, stable: consumers deduplicate by it."}),
		"seq": prop(&openapi3.Schema{Type: types("integer"), Format: "int64", Min: ptr(1.0), Description: "The event's place in the feed, shared by every resource and every caller."}),
		"type": prop(&openapi3.Schema{Type: types("string"), Enum: []any{r.Name + "." + engine.EventCreated, r.Name + "." + engine.EventUpdated, r.Name + "." + engine.EventDeleted},
			Description: "The resource and what happened to the record."}),
		"resource":  prop(&openapi3.Schema{Type: types("string"), Enum: []any{r.Name}}),
		"record_id": prop(&openapi3.Schema{Type: types("string"), Format: "uuid"}),
		"time":      prop(&openapi3.Schema{Type: types("string"), Format: "date-time", Description: "When the write committed."}),
		"actor":     prop(&openapi3.Schema{Type: types("string"), Description: "Who wrote it: shown to the writer and to admins only, else empty."}),
		"data": prop(object("", openapi3.Schemas{
			"record": recordOrNull("The record after the change (as it was, for a delete)."),
			"old":    recordOrNull("The record before an update, when the caller may read it; null otherwise."),
		}, "record", "old")),
	}, "id", "seq", "type", "resource", "record_id", "time", "actor", "data")
	s.Examples = []any{sampleEvent(r)}
	return s
}

func sampleEvent(r *spec.Resource) map[string]any {
	return map[string]any{"id": spec.SampleID(r.Name + " event"), "seq": 42, "type": r.Name + "." + engine.EventCreated, "resource": r.Name,
		"record_id": spec.SampleID(r.Name), "time": sampleTimestamp, "actor": "root", "data": map[string]any{"record": sampleRecord(r), "old": nil}}
}

// events adds GET /vN/events, the change feed.
func (b *builder) events() {
	var kinds openapi3.SchemaRefs
	var names []any
	mapping := map[string]openapi3.MappingRef{}
	var example []any
	for _, r := range b.m.Resources {
		if !r.Events {
			continue
		}
		kinds = append(kinds, b.ref(r.Name+eventSuffix))
		names = append(names, r.Name)
		mapping[r.Name] = openapi3.MappingRef{Ref: "#/components/schemas/" + r.Name + eventSuffix}
		if example == nil {
			example = []any{sampleEvent(r)}
		}
	}
	items := &openapi3.Schema{Type: types("array"), MaxItems: ptr(uint64(engine.MaxEventLimit))}
	if len(kinds) > 0 {
		b.component("Event", &openapi3.Schema{OneOf: kinds, Discriminator: &openapi3.Discriminator{PropertyName: "resource", Mapping: mapping},
			Description: "A committed create, update or delete of a record."})
		items.Items = b.ref("Event")
	} else {
		items.MaxItems = ptr(uint64(0)) // no resource emits events
		example = []any{}
	}
	page := map[string]any{"items": example, "next_after": 42}
	b.component("EventsPage", object("One page of the change feed.", openapi3.Schemas{
		"items": prop(items),
		"next_after": prop(&openapi3.Schema{Type: types("integer"), Format: "int64", Min: ptr(0.0),
			Description: "Where the next page starts: `after` for the next request. It moves past events the caller may not see."}),
	}, "items", "next_after"))
	b.doc.Components.Schemas["EventsPage"].Value.Examples = []any{page}
	resourceItems := &openapi3.Schema{Type: types("string")}
	if len(names) > 0 {
		resourceItems.Enum = names
	}
	op := &openapi3.Operation{
		Tags: []string{"Events"}, OperationID: "events", Summary: "Read the change feed",
		Description: "Reads the events after a sequence number, oldest first. A caller sees an event only when the resource's read rule admits its record, exactly as a read would; " +
			"`data.old` only when the rule admits it too, and `actor` only when it is the caller or the caller is an admin. Resume with `after=next_after`: " +
			"a page with no items and an unchanged `next_after` means the caller is up to date.",
		Parameters: openapi3.Parameters{
			{Value: &openapi3.Parameter{Name: "after", In: openapi3.ParameterInQuery, Description: "The sequence number to start after; 0, the beginning, unless given.",
				Schema: prop(&openapi3.Schema{Type: types("integer"), Format: "int64", Min: ptr(0.0), Default: 0})}},
			{Value: &openapi3.Parameter{Name: "resource", In: openapi3.ParameterInQuery, Style: openapi3.SerializationForm, Explode: ptr(false),
				Description: "Only events of these resources, comma-separated (the parameter may also be repeated).",
				Schema:      prop(&openapi3.Schema{Type: types("array"), Items: prop(resourceItems)})}},
			{Value: &openapi3.Parameter{Name: "limit", In: openapi3.ParameterInQuery,
				Description: fmt.Sprintf("How many events a page holds: 1 to %d, %d unless given.", engine.MaxEventLimit, engine.DefaultEventLimit),
				Schema:      prop(&openapi3.Schema{Type: types("integer"), Min: ptr(1.0), Max: ptr(float64(engine.MaxEventLimit)), Default: engine.DefaultEventLimit})}},
			b.param("X-Request-Id"),
		},
		Responses: openapi3.NewResponses(),
	}
	op.Responses.Set("200", b.okResponse("A page of events.", b.ref("EventsPage"), page))
	p := problems{instance: b.prefix + "/events"}
	p.add(fault.TypeInvalidQuery, fault.TypeUnavailable)
	b.problemResponses(op.Responses, p)
	b.add(b.prefix+"/events", http.MethodGet, op)
}

// webhooks adds the webhook administration under /vN/_webhooks, for role admin.
func (b *builder) webhooks() {
	base := b.prefix + "/_webhooks"
	str := func(description string) *openapi3.SchemaRef {
		return prop(&openapi3.Schema{Type: types("string"), Description: description})
	}
	count := func(description string) *openapi3.SchemaRef {
		return prop(&openapi3.Schema{Type: types("integer"), Min: ptr(0.0), Description: description})
	}
	var breakers []any
	for _, s := range worker.BreakerStates {
		breakers = append(breakers, s)
	}
	statusExample := map[string]any{"items": []any{map[string]any{"name": "fulfillment", "enabled": true, "disabled_at": nil,
		"destination": "fulfil.example.com", "breaker": worker.BreakerStates[0], "pending": 0, "delivered": 12, "dead": 1}}}
	b.component("WebhookStatus", object("Every webhook of the spec, with its circuit breaker and its deliveries.", openapi3.Schemas{
		"items": prop(&openapi3.Schema{Type: types("array"), Items: prop(object("", openapi3.Schemas{
			"name":        str("The webhook's name in the spec."),
			"enabled":     prop(&openapi3.Schema{Type: types("boolean"), Description: "Whether its URL is set."}),
			"disabled_at": prop(&openapi3.Schema{Type: types("string", "null"), Format: "date-time", Description: "When its receiver answered 410 Gone, which stops deliveries until a replay."}),
			"destination": str("The receiver's host."),
			"breaker":     prop(&openapi3.Schema{Type: types("string"), Enum: breakers}),
			"pending":     count("Deliveries waiting or being retried."),
			"delivered":   count("Deliveries the receiver accepted."),
			"dead":        count("Deliveries that used up their attempts."),
		}, "name", "enabled", "disabled_at", "destination", "breaker", "pending", "delivered", "dead"))}),
	}, "items"))
	b.doc.Components.Schemas["WebhookStatus"].Value.Examples = []any{statusExample}
	deadExample := map[string]any{"items": []any{map[string]any{"id": spec.SampleID("delivery"), "webhook": "fulfillment",
		"event_id": spec.SampleID("event"), "event_type": "orders.updated", "record_id": spec.SampleID("orders"), "attempts": 12,
		"last_status": 503, "last_error": "the receiver answered 503", "created_at": sampleTimestamp, "updated_at": sampleTimestamp}}}
	b.component("DeadLetters", object("Dead deliveries, oldest first.", openapi3.Schemas{
		"items": prop(&openapi3.Schema{Type: types("array"), Items: prop(object("", openapi3.Schemas{
			"id":          prop(&openapi3.Schema{Type: types("string"), Description: "The delivery's id, to replay or discard it."}),
			"webhook":     str("The webhook's name."),
			"event_id":    str("The event it carried."),
			"event_type":  str("The event's type, such as orders.updated."),
			"record_id":   str("The record the event is about."),
			"attempts":    count("How many times it was tried."),
			"last_status": prop(&openapi3.Schema{Type: types("integer"), Description: "The receiver's last HTTP status; 0 when it could not be reached."}),
			"last_error":  str("Why the last attempt failed."),
			"created_at":  prop(&openapi3.Schema{Type: types("string"), Format: "date-time"}),
			"updated_at":  prop(&openapi3.Schema{Type: types("string"), Format: "date-time"}),
		}, "id", "webhook", "event_id", "event_type", "record_id", "attempts", "last_status", "last_error", "created_at", "updated_at"))}),
	}, "items"))
	b.doc.Components.Schemas["DeadLetters"].Value.Examples = []any{deadExample}
	selection := &openapi3.Schema{Description: fmt.Sprintf("Which dead deliveries: 1 to %d ids, or all of them.", worker.MaxSelected),
		OneOf: openapi3.SchemaRefs{
			prop(object("", openapi3.Schemas{"ids": prop(&openapi3.Schema{Type: types("array"), MinItems: 1, MaxItems: ptr(uint64(worker.MaxSelected)),
				Items: prop(&openapi3.Schema{Type: types("string")})})}, "ids")),
			prop(object("", openapi3.Schemas{"all": prop(&openapi3.Schema{Type: types("boolean"), Enum: []any{true}})}, "all")),
		},
		Examples: []any{map[string]any{"ids": []any{spec.SampleID("delivery")}}}}
	b.component("DeadLetterSelection", selection)

	admin := func(op *openapi3.Operation, types ...fault.Type) *openapi3.Operation {
		op.Tags = []string{"Webhooks"}
		op.Security = adminSecurity()
		op.Description += " Role admin only."
		p := problems{instance: base}
		p.add(fault.TypeForbidden, fault.TypeUnavailable)
		p.add(types...)
		b.problemResponses(op.Responses, p)
		return op
	}
	status := &openapi3.Operation{OperationID: "webhooks.status", Summary: "Show the webhooks",
		Description: "Lists every webhook with its circuit breaker and delivery counts.",
		Parameters:  openapi3.Parameters{b.param("X-Request-Id")}, Responses: openapi3.NewResponses()}
	status.Responses.Set("200", b.okResponse("The webhooks.", b.ref("WebhookStatus"), statusExample))
	b.add(base, http.MethodGet, admin(status))

	dead := &openapi3.Operation{OperationID: "webhooks.dead", Summary: "List dead deliveries",
		Description: "Lists the deliveries that used up their attempts, oldest first.",
		Parameters: openapi3.Parameters{{Value: &openapi3.Parameter{Name: "limit", In: openapi3.ParameterInQuery,
			Description: fmt.Sprintf("How many: 1 to %d, %d unless given.", worker.MaxDeadLetters, worker.DefaultDeadLetters),
			Schema:      prop(&openapi3.Schema{Type: types("integer"), Min: ptr(1.0), Max: ptr(float64(worker.MaxDeadLetters)), Default: worker.DefaultDeadLetters})}},
			b.param("X-Request-Id")},
		Responses: openapi3.NewResponses()}
	dead.Responses.Set("200", b.okResponse("The dead deliveries.", b.ref("DeadLetters"), deadExample))
	b.add(base+"/dead", http.MethodGet, admin(dead, fault.TypeInvalidQuery))

	for _, action := range []struct {
		name, done, verb string
		invalid          fault.Type
	}{
		{"replay", "replayed", "Delivers dead deliveries again, and enables their webhooks again.", fault.TypeInvalidReplay},
		{"discard", "discarded", "Deletes dead deliveries, once they have been dealt with otherwise.", fault.TypeInvalidDiscard},
	} {
		result := "DeadLetters" + strings.ToUpper(action.name[:1]) + action.name[1:]
		b.component(result, object("How many deliveries were "+action.done+".", openapi3.Schemas{action.done: count("")}, action.done))
		b.doc.Components.Schemas[result].Value.Examples = []any{map[string]any{action.done: 1}}
		op := &openapi3.Operation{OperationID: "webhooks." + action.name, Summary: strings.ToUpper(action.name[:1]) + action.name[1:] + " dead deliveries",
			Description: action.verb, Parameters: openapi3.Parameters{b.param("X-Request-Id")},
			RequestBody: b.body(jsonContent(b.ref("DeadLetterSelection"), selection.Examples[0])),
			Responses:   openapi3.NewResponses()}
		op.Responses.Set("200", b.okResponse("Done.", b.ref(result), map[string]any{action.done: 1}))
		b.add(base+"/"+action.name, http.MethodPost, admin(op, action.invalid, fault.TypeMalformedJSON, fault.TypeUnsupportedMediaType, fault.TypeTooLarge))
	}
}

// health adds /healthz and /readyz.
func (b *builder) health() {
	status := func(value string) *openapi3.Schema {
		return object("", openapi3.Schemas{"status": prop(&openapi3.Schema{Type: types("string"), Enum: []any{value}})}, "status")
	}
	live := &openapi3.Operation{Tags: []string{"Health"}, OperationID: "healthz", Summary: "Liveness",
		Description: "Answers 200 while the process runs.", Parameters: openapi3.Parameters{b.param("X-Request-Id")}, Responses: openapi3.NewResponses()}
	live.Responses.Set("200", b.okResponse("The process runs.", prop(status("ok")), map[string]any{"status": "ok"}))
	b.problemResponses(live.Responses, problems{instance: "/healthz"})
	b.add("/healthz", http.MethodGet, live)

	ready := &openapi3.Operation{Tags: []string{"Health"}, OperationID: "readyz", Summary: "Readiness",
		Description: "Answers 200 while the database does, 503 otherwise.", Parameters: openapi3.Parameters{b.param("X-Request-Id")}, Responses: openapi3.NewResponses()}
	ready.Responses.Set("200", b.okResponse("The database answers.", prop(status("ready")), map[string]any{"status": "ready"}))
	p := problems{instance: "/readyz"}
	p.add(fault.TypeUnavailable)
	b.problemResponses(ready.Responses, p)
	b.add("/readyz", http.MethodGet, ready)
}

// contract adds /openapi.json and /openapi.yaml, this document, and /docs, its reference page.
func (b *builder) contract() {
	example := map[string]any{"openapi": Version, "info": map[string]any{"title": b.m.Name, "version": fmt.Sprint(b.m.Version)}, "paths": map[string]any{}}
	base := "" // the current version's document is at the root, an older one's under its prefix
	if b.opts.Retiring != nil {
		base = b.prefix
	}
	for _, f := range []struct{ path, media, id string }{
		{base + "/openapi.json", "application/json", "openapi.json"},
		{base + "/openapi.yaml", "application/yaml", "openapi.yaml"},
	} {
		// A schema describes the body as decoded, so the YAML one is an object too, as
		// validators (openapi3filter) decode it.
		s := &openapi3.Schema{Type: types("object"), Description: "An OpenAPI 3.1 document."}
		var ex any = example
		op := &openapi3.Operation{Tags: []string{"Contract"}, OperationID: f.id, Summary: "This document, as " + strings.ToUpper(f.media[len("application/"):]),
			Description: "The OpenAPI 3.1 document of this API, built when the server started from the spec it serves.",
			Parameters:  openapi3.Parameters{b.param("X-Request-Id")}, Responses: openapi3.NewResponses()}
		op.Responses.Set("200", &openapi3.ResponseRef{Value: &openapi3.Response{Description: ptr("The document."),
			Headers: openapi3.Headers{"X-Request-Id": b.header("X-Request-Id")},
			Content: openapi3.Content{f.media: {Schema: prop(s), Example: ex}}}})
		b.problemResponses(op.Responses, problems{instance: f.path})
		b.add(f.path, http.MethodGet, op)
	}
	op := &openapi3.Operation{Tags: []string{"Contract"}, OperationID: "docs", Summary: "This document, as a page to read",
		Description: "A reference of this document for people: every operation with its parameters, bodies, responses and examples, and every schema, with a filter. The page loads nothing from elsewhere, so it works with no network.",
		Parameters:  openapi3.Parameters{b.param("X-Request-Id")}, Responses: openapi3.NewResponses()}
	op.Responses.Set("200", &openapi3.ResponseRef{Value: &openapi3.Response{Description: ptr("The page."),
		Headers: openapi3.Headers{"X-Request-Id": b.header("X-Request-Id")},
		Content: openapi3.Content{"text/html": {Schema: prop(&openapi3.Schema{Type: types("string")})}}}})
	b.problemResponses(op.Responses, problems{instance: base + "/docs"})
	b.add(base+"/docs", http.MethodGet, op)
}

// retiring marks the document as an older version's: every operation under its prefix is
// deprecated, and every answer says when the version sunsets and where its successor is.
func (b *builder) retiring() {
	rt := b.opts.Retiring
	b.doc.Info.Description = fmt.Sprintf("**Deprecated** since %s: this version is served until its sunset, %s, and answers 410 `version-sunset` from then on. "+
		"Every answer names the same path under the current version in a `successor-version` Link.\n\n",
		rt.Deprecated.Format(time.DateOnly), rt.Sunset.Format(time.RFC3339)) + b.doc.Info.Description
	headers := map[string]*openapi3.Header{
		"Deprecation": {Parameter: openapi3.Parameter{Required: true, Schema: prop(&openapi3.Schema{Type: types("string"), Enum: []any{"@" + strconv.FormatInt(rt.Deprecated.Unix(), 10)}}),
			Description: "RFC 9745: this version is deprecated, since the date given in Unix seconds."}},
		"Sunset": {Parameter: openapi3.Parameter{Required: true, Schema: prop(&openapi3.Schema{Type: types("string"), Enum: []any{rt.Sunset.UTC().Format(http.TimeFormat)}}),
			Description: "RFC 8594: when this version stops answering (410 from then on)."}},
		"Link": {Parameter: openapi3.Parameter{Required: true, Schema: prop(&openapi3.Schema{Type: types("string"), Pattern: `^<[^>]+>; rel="successor-version"$`}),
			Description: "The same path under the current version, as `rel=\"successor-version\"`."}},
	}
	for name, h := range headers {
		b.doc.Components.Headers[name] = &openapi3.HeaderRef{Value: h}
	}
	for path, item := range b.doc.Paths.Map() {
		if !strings.HasPrefix(path, b.prefix+"/") {
			continue
		}
		for _, op := range item.Operations() {
			op.Deprecated = true
			for status, resp := range op.Responses.Map() {
				for name := range headers {
					if status != "410" || name == "Link" {
						resp.Value.Headers[name] = b.header(name)
					}
				}
			}
		}
	}
}

// profiler adds Go's profiler under /debug/pprof/, for role admin.
func (b *builder) profiler() {
	for _, f := range []struct{ path, id, summary, media string }{
		{"/debug/pprof/", "pprof.index", "The profiler's index", "text/html"},
		{"/debug/pprof/{profile}", "pprof.profile", "A profile, such as heap, goroutine, profile (CPU, ?seconds=N) or trace", "application/octet-stream"},
	} {
		op := &openapi3.Operation{Tags: []string{"Profiling"}, OperationID: f.id,
			Summary: f.summary, Description: "Go's net/http/pprof. Role admin only.", Security: adminSecurity(),
			Parameters: openapi3.Parameters{b.param("X-Request-Id")}, Responses: openapi3.NewResponses()}
		if strings.Contains(f.path, "{") {
			op.Parameters = append(op.Parameters, &openapi3.ParameterRef{Value: &openapi3.Parameter{Name: "profile", In: openapi3.ParameterInPath, Required: true,
				Schema: prop(&openapi3.Schema{Type: types("string")}), Example: "heap"}})
		}
		op.Responses.Set("200", &openapi3.ResponseRef{Value: &openapi3.Response{Description: ptr("The profile."),
			Headers: openapi3.Headers{"X-Request-Id": b.header("X-Request-Id")},
			Content: openapi3.Content{f.media: {Schema: prop(&openapi3.Schema{Type: types("string")})}}}})
		p := problems{instance: "/debug/pprof/"}
		p.add(fault.TypeForbidden)
		b.problemResponses(op.Responses, p)
		b.add(f.path, http.MethodGet, op)
	}
}
