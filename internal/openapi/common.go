package openapi

import (
	"fmt"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/plinth-dev/plinth/internal/engine"
	"github.com/plinth-dev/plinth/internal/fault"
	"github.com/plinth-dev/plinth/internal/spec"
)

// bearerScheme names the one security scheme: bearer tokens.
const bearerScheme = "bearer"

// infoDescription introduces the API: what every operation shares.
func infoDescription(m *spec.Model) string {
	return fmt.Sprintf("The API of the spec `%s`, version %d, served by Plinth from the same compiled spec as this document.\n\n"+
		"- Records carry `id` (a UUIDv7), their fields, `created_at`, `updated_at` (UTC with microseconds) and `version`; unset fields are null.\n"+
		"- Every write is one transaction, with its event in the change feed. `If-Match` makes a write conditional on a version; `Idempotency-Key` makes a retry return the first answer instead of writing twice.\n"+
		"- Every error is an RFC 9457 problem document (`application/problem+json`, the Problem schema); its `type` is what a client switches on.\n"+
		"- Every response carries `X-Request-Id`.", m.Name, m.Version)
}

// authDescription says what a bearer token must be for this spec.
func authDescription(m *spec.Model) string {
	var sb strings.Builder
	sb.WriteString("A JWT signed with HS256, with `sub` and `exp`, and optionally `role`")
	if len(m.Auth.Roles) > 0 {
		fmt.Fprintf(&sb, " (one of %s)", strings.Join(m.Auth.Roles, ", "))
	}
	sb.WriteString(".")
	if j := m.Auth.JWT; j != nil && j.Issuer != "" {
		fmt.Fprintf(&sb, " Its `iss` must be `%s`.", j.Issuer)
	}
	if j := m.Auth.JWT; j != nil && j.Audience != "" {
		fmt.Fprintf(&sb, " Its `aud` must be `%s`.", j.Audience)
	}
	sb.WriteString(" A request without a token is anonymous (in access rules `auth.sub` and `auth.role` are null). " +
		"A malformed, invalid or expired token is 401 on every route. `plinth token` makes tokens for development.")
	return sb.String()
}

// common registers what many operations share: the security scheme, the response headers and
// the request headers.
func (b *builder) common() {
	b.doc.Components.SecuritySchemes[bearerScheme] = &openapi3.SecuritySchemeRef{Value: &openapi3.SecurityScheme{
		Type: "http", Scheme: "bearer", BearerFormat: "JWT", Description: authDescription(b.m)}}
	str := func(s *openapi3.Schema) *openapi3.SchemaRef {
		s.Type = types("string")
		return &openapi3.SchemaRef{Value: s}
	}
	headers := map[string]*openapi3.Header{
		"X-Request-Id": {Parameter: openapi3.Parameter{Required: true, Schema: str(&openapi3.Schema{}),
			Description: "The request's id, also in problem documents and in the server's log: the client's own X-Request-Id when it is 1 to 64 letters, digits, dots, underscores and hyphens, else one the server made."}},
		"ETag": {Parameter: openapi3.Parameter{Required: true, Schema: str(&openapi3.Schema{Pattern: `^"[0-9]+"$`}),
			Description: "A strong ETag: the record's version in quotes."}},
		"Location": {Parameter: openapi3.Parameter{Required: true, Schema: str(&openapi3.Schema{Format: "uri-reference"}),
			Description: "The path of the record created."}},
		"Idempotent-Replayed": {Parameter: openapi3.Parameter{Schema: str(&openapi3.Schema{Enum: []any{"true"}}),
			Description: "Present when the answer is the stored answer to an earlier request with the same Idempotency-Key and body, sent again byte for byte; nothing was written."}},
		"Retry-After": {Parameter: openapi3.Parameter{
			Schema:      &openapi3.SchemaRef{Value: &openapi3.Schema{Type: types("integer"), Min: ptr(0.0)}},
			Description: "Seconds to wait before trying again: sent with `unavailable` and `idempotency-key-in-flight`."}},
		"WWW-Authenticate": {Parameter: openapi3.Parameter{Required: true, Schema: str(&openapi3.Schema{}),
			Description: "The bearer challenge, as RFC 6750 has it."}},
		"Accept-Patch": {Parameter: openapi3.Parameter{Required: true, Schema: str(&openapi3.Schema{}),
			Description: "The media types a PATCH may be sent as."}},
	}
	for name, h := range headers {
		b.doc.Components.Headers[name] = &openapi3.HeaderRef{Value: h}
	}
	keyDescription := fmt.Sprintf("Makes the write safe to retry: a retry with the same key and body gets the first answer again, with `Idempotent-Replayed: true`, and writes nothing; "+
		"the same key with another body is 422 `idempotency-key-reused`, and while the first request runs 409 `idempotency-key-in-flight`. "+
		"Keys belong to the caller and are kept %g hours. 1 to %d bytes without control characters: a fresh UUID per operation is a good choice.",
		engine.DefaultIdempotencyTTL.Hours(), engine.MaxKeyLength)
	keySchema := func() *openapi3.SchemaRef {
		return str(&openapi3.Schema{MinLength: 1, MaxLength: ptr(uint64(engine.MaxKeyLength)), Pattern: `^[^\x00-\x1f\x7f-\x9f]+$`})
	}
	ifMatchDescription := "The version the client saw, as the record's ETag (`\"3\"`): the write happens only if the record is still at that version, else 412 `stale-version` with `current_version`. " +
		"Anything but one strong ETag of this API (or `*`, which is no condition) is 400 `invalid-precondition`."
	ifMatchSchema := func() *openapi3.SchemaRef { return str(&openapi3.Schema{Pattern: `^(\*|"[0-9]+")$`}) }
	params := map[string]*openapi3.Parameter{
		"X-Request-Id": {Name: "X-Request-Id", In: openapi3.ParameterInHeader, Schema: str(&openapi3.Schema{}),
			Description: "An id for the request, echoed in the response and the server's log when it is 1 to 64 letters, digits, dots, underscores and hyphens; otherwise the server makes one."},
		"Idempotency-Key": {Name: "Idempotency-Key", In: openapi3.ParameterInHeader, Schema: keySchema(), Description: keyDescription},
		"Idempotency-Key.required": {Name: "Idempotency-Key", In: openapi3.ParameterInHeader, Required: true, Schema: keySchema(),
			Description: keyDescription + " This resource requires it (`idempotency: required`): without it the write is 400 `idempotency-key-missing`."},
		"If-Match": {Name: "If-Match", In: openapi3.ParameterInHeader, Schema: ifMatchSchema(), Description: ifMatchDescription},
		"If-Match.required": {Name: "If-Match", In: openapi3.ParameterInHeader, Required: true, Schema: ifMatchSchema(),
			Description: ifMatchDescription + " This resource requires it (`concurrency: required`): without it the write is 428 `precondition-required`."},
		"If-None-Match": {Name: "If-None-Match", In: openapi3.ParameterInHeader, Schema: str(&openapi3.Schema{}),
			Description: "ETags the client holds: when one is the record's, the answer is 304 without a body."},
	}
	for name, p := range params {
		b.doc.Components.Parameters[name] = &openapi3.ParameterRef{Value: p}
	}
}

// header is a reference to a response header of the components, resolved.
func (b *builder) header(name string) *openapi3.HeaderRef {
	b.used["#/components/headers/"+name] = true
	return &openapi3.HeaderRef{Ref: "#/components/headers/" + name, Value: b.doc.Components.Headers[name].Value}
}

// param is a reference to a parameter of the components, resolved.
func (b *builder) param(name string) *openapi3.ParameterRef {
	b.used["#/components/parameters/"+name] = true
	return &openapi3.ParameterRef{Ref: "#/components/parameters/" + name, Value: b.doc.Components.Parameters[name].Value}
}

// prune drops the headers and parameters of the components that no operation uses, such as
// a required If-Match in a spec without `concurrency: required`.
func (b *builder) prune() {
	for name := range b.doc.Components.Headers {
		if !b.used["#/components/headers/"+name] {
			delete(b.doc.Components.Headers, name)
		}
	}
	for name := range b.doc.Components.Parameters {
		if !b.used["#/components/parameters/"+name] {
			delete(b.doc.Components.Parameters, name)
		}
	}
}

// security is the security of an operation that the rules of ops govern: a token is required
// when one of them refuses anonymous callers whatever the record; otherwise nil, and the
// document's security (anonymous, or a token) applies.
func security(r *spec.Resource, ops ...spec.Operation) *openapi3.SecurityRequirements {
	for _, op := range ops {
		if refusesAnonymous(r.Access[op]) {
			return adminSecurity()
		}
	}
	return nil
}

// adminSecurity is the security of an operation only a signed-in caller can pass.
func adminSecurity() *openapi3.SecurityRequirements {
	return &openapi3.SecurityRequirements{{bearerScheme: {}}}
}

// refusesAnonymous reports whether rule refuses every anonymous caller, whatever the record,
// as the engine decides before reading one. A missing rule admits role admin only; a rule
// that reads the clock is not decided here.
func refusesAnonymous(rule *spec.Rule) bool {
	switch {
	case rule == nil:
		return true
	case rule.Constant != nil:
		return !*rule.Constant
	case rule.Refs["now"]:
		return false
	}
	vars := map[string]any{"auth": engine.Principal{}.AuthValue()}
	if rule.Partial != nil {
		return rule.RefusesWhatever(vars)
	}
	out, _, err := rule.Program.Eval(vars)
	// A rule that fails denies.
	return err != nil || out.Value() == false
}

// denials adds forbidden to p when a rule of ops may refuse a signed-in caller: every rule but
// one that is always true.
func (b *builder) denials(p *problems, r *spec.Resource, ops ...spec.Operation) {
	for _, op := range ops {
		if rule := r.Access[op]; rule == nil || rule.Constant == nil || !*rule.Constant {
			p.add(fault.TypeForbidden)
		}
	}
}

// access says who may perform op on r, for an operation's description.
func access(r *spec.Resource, op spec.Operation) string {
	rule := r.Access[op]
	var text string
	switch {
	case rule == nil:
		text = fmt.Sprintf("**Access**: role admin only (the spec gives no %s rule).", op)
	case rule.Constant != nil && !*rule.Constant:
		text = fmt.Sprintf("**Access**: no one (the %s rule is `false`).", op)
	default:
		text = fmt.Sprintf("**Access**: the %s rule `%s`.", op, rule.Source)
	}
	if op == spec.OpUpdate || op == spec.OpDelete {
		text += " A record the caller may not read is 404, as a missing one."
	}
	return text
}

// tagDescriptions describe the tags of the routes that are not a resource's.
var tagDescriptions = map[string]string{
	"Batch":     "Several writes in one transaction: all of them, or none.",
	"Events":    "The change feed: every committed write, in commit order, resumable.",
	"Webhooks":  "Webhook administration, for role admin: status, dead letters, replay and discard.",
	"SLOs":      "The spec's service level objectives, for role admin: status, burn rates and error budget.",
	"Health":    "Liveness and readiness.",
	"Contract":  "This document.",
	"Profiling": "Go's profiler, for role admin.",
}

// tags lists every tag the operations use, in the order they first appear.
func (b *builder) tags() {
	for _, name := range b.tagNames {
		desc, ok := tagDescriptions[name]
		if !ok {
			r, _ := b.m.Resource(name)
			desc = strings.TrimSpace(r.Description + " The " + name + " records: list, create, read, change, replace and delete.")
		}
		b.doc.Tags = append(b.doc.Tags, &openapi3.Tag{Name: name, Description: desc})
	}
}
