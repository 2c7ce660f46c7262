package fault

import (
	"cmp"
	"fmt"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strings"
)

// URNPrefix prefixes every problem type's slug. Types are URNs: stable identifiers for clients
// to switch on, not links.
const URNPrefix = "urn:plinth:problem:"

// Type is a problem type: what a client switches on. It fixes the HTTP status, the title and
// the members beyond RFC 9457's (type, title, status, detail, instance, request_id) of every
// problem document of its kind. Its fields are unexported, so the only Types are the
// catalogue's (the Type… variables) and the conflicts a spec names for its effects
// (EffectConflict): code cannot answer a type that the catalogue, and so docs/api.md, lacks.
// The zero Type stands for "the default type of the error's Code" (see Error.ProblemType).
type Type struct{ d *typeDef }

type typeDef struct {
	slug, title, when string
	status            int
	extra             []string
}

// Slug is the type's name, such as not-found.
func (t Type) Slug() string { return t.def().slug }

// URN is the problem document's type member, such as urn:plinth:problem:not-found.
func (t Type) URN() string { return URNPrefix + t.def().slug }

// Status is the HTTP status every problem of this type answers.
func (t Type) Status() int { return t.def().status }

// Title is the problem document's title: a short summary of the type, the same every time.
func (t Type) Title() string { return t.def().title }

// When says when Plinth answers this type, in the words of docs/api.md.
func (t Type) When() string { return t.def().when }

// Extra lists the members a problem of this type may carry beyond RFC 9457's, such as errors
// or current_version. The transport sends only these: a member the catalogue does not
// declare for the type is not sent.
func (t Type) Extra() []string { return slices.Clone(t.def().extra) }

// Carries reports whether problems of this type may carry the member name.
func (t Type) Carries(name string) bool { return slices.Contains(t.def().extra, name) }

// IsZero reports whether t is the zero Type, which names no type.
func (t Type) IsZero() bool { return t.d == nil }

func (t Type) String() string { return t.def().slug }

var zeroDef typeDef

func (t Type) def() *typeDef {
	if t.d == nil {
		return &zeroDef
	}
	return t.d
}

// slugStyle is the one spelling of problem types: lowercase words joined by hyphens.
var slugStyle = regexp.MustCompile(`^[a-z][a-z0-9]*(-[a-z0-9]+)*$`)

// catalogue holds every type in the order of definition; define fills it while the package
// initialises, and nothing changes it afterwards.
var catalogue []Type

// define adds a type to the catalogue. A slug in another style, a slug defined twice, a
// status that is not an error, or text that would break the table in docs/api.md is a bug
// that stops the program as it starts, so that no test run can miss it.
func define(slug string, status int, title, when string, extra ...string) Type {
	if !slugStyle.MatchString(slug) {
		panic(fmt.Sprintf("fault: problem type %q is not lowercase words joined by hyphens", slug))
	}
	if _, dup := Lookup(slug); dup {
		panic(fmt.Sprintf("fault: problem type %q is defined twice", slug))
	}
	if status < 400 || http.StatusText(status) == "" {
		panic(fmt.Sprintf("fault: problem type %q has status %d, which is not an HTTP error", slug, status))
	}
	if strings.Contains(title+when, "|") {
		panic(fmt.Sprintf("fault: problem type %q has a | in its title or description", slug))
	}
	t := Type{&typeDef{slug: slug, status: status, title: title, when: when, extra: extra}}
	catalogue = append(catalogue, t)
	return t
}

// The catalogue: every problem type Plinth answers, each with its status, title, when it is
// answered and the members it may carry beyond RFC 9457's. docs/api.md lists exactly these
// (a test compares them). To add a type, add one line here and its row in docs/api.md
// (`go test ./internal/fault -update` writes the row from this line).
var (
	TypeInvalid = define("invalid", http.StatusBadRequest, "Invalid request",
		"the request cannot be carried out as sent: a batch of the wrong size, a filter too large to run, text the database cannot store")
	TypeMalformedJSON = define("malformed-json", http.StatusBadRequest, "Malformed JSON",
		"the body is not one well-formed JSON object: a syntax error, invalid UTF-8, a duplicate key, trailing data, or nesting too deep")
	TypeInvalidQuery = define("invalid-query", http.StatusBadRequest, "Invalid query",
		"a query parameter is unknown, repeated or malformed, or a list's `filter`, `sort`, `fields`, `expand` or `cursor` is invalid (each listed in `errors`)",
		"errors")
	TypeInvalidPrecondition = define("invalid-precondition", http.StatusBadRequest, "Invalid If-Match",
		"`If-Match` is not one strong ETag from this API")
	TypeInvalidBatch = define("invalid-batch", http.StatusBadRequest, "Invalid batch",
		"the body of `POST /vN/batch` is not `{\"operations\": [...]}` with 1 to 100 well-formed operations")
	TypeInvalidReplay = define("invalid-replay", http.StatusBadRequest, "Invalid replay",
		"the body of `POST /vN/_webhooks/replay` is not `{\"ids\": [...]}` (1 to 1,000 ids) or `{\"all\": true}`")
	TypeInvalidDiscard = define("invalid-discard", http.StatusBadRequest, "Invalid discard",
		"the body of `POST /vN/_webhooks/discard` is not `{\"ids\": [...]}` (1 to 1,000 ids) or `{\"all\": true}`")
	TypeIdempotencyKeyMissing = define("idempotency-key-missing", http.StatusBadRequest, "Idempotency-Key missing",
		"a POST or PATCH to a resource with `idempotency: required` has no `Idempotency-Key`")
	TypeIdempotencyKeyInvalid = define("idempotency-key-invalid", http.StatusBadRequest, "Invalid Idempotency-Key",
		"`Idempotency-Key` is empty, longer than 255 characters, or holds control characters")
	TypeUnauthorized = define("unauthorized", http.StatusUnauthorized, "Unauthorized",
		"no credentials where the rule needs them, or a malformed, invalid or expired bearer token; with `WWW-Authenticate`")
	TypeForbidden = define("forbidden", http.StatusForbidden, "Forbidden",
		"the rule denies a caller who may know the record exists, or the route is for role admin")
	TypeNotFound = define("not-found", http.StatusNotFound, "Not found",
		"no such record (or one the read rule hides), resource or route")
	TypeMethodNotAllowed = define("method-not-allowed", http.StatusMethodNotAllowed, "Method not allowed",
		"the path exists, but not for this method; `Allow` lists the methods it takes")
	TypeConflict = define("conflict", http.StatusConflict, "Conflict",
		"the write raced with another change to the same record, or effects nest deeper than four levels; retry")
	TypeInvalidTransition = define("invalid-transition", http.StatusConflict, "Invalid transition",
		"a state machine field may not move from its current state to the one sent",
		"errors", "field", "from", "to", "allowed")
	TypeUnique = define("unique", http.StatusConflict, "Duplicate value",
		"another record already has this value of a unique field (listed in `errors`)",
		"errors")
	TypeReferenced = define("referenced", http.StatusConflict, "Record in use",
		"other records still refer to the record being deleted")
	TypeGuardFailed = define("guard-failed", http.StatusConflict, "Refused by an effect",
		"an effect's guard is false, its target is missing, or the change would make the target invalid; an effect that names its own type (`conflict: out-of-stock`) answers that type instead, with this status and these members",
		"effect", "resource", "id", "errors")
	TypeCascadeTooLarge = define("cascade-too-large", http.StatusConflict, "Cascade too large",
		"deleting the record would delete or change more records through `on_delete` than the limit (1,000, 32 levels deep); `found` counts those found before stopping",
		"found", "limit", "max_depth")
	TypeIdempotencyKeyInFlight = define("idempotency-key-in-flight", http.StatusConflict, "Request in flight",
		"a request with the same `Idempotency-Key` is still running; with `Retry-After`")
	TypeStaleVersion = define("stale-version", http.StatusPreconditionFailed, "Stale version",
		"`If-Match` names a version other than the record's",
		"current_version")
	TypeVersionSunset = define("version-sunset", http.StatusGone, "Version retired",
		"the path is under an older version of the API whose sunset has passed; `successor` is the same path under the current version, `sunset` when it was retired",
		"successor", "sunset")
	TypeTooLarge = define("too-large", http.StatusRequestEntityTooLarge, "Body too large",
		"the body is over the size limit (1 MiB unless configured otherwise)")
	TypeUnsupportedMediaType = define("unsupported-media-type", http.StatusUnsupportedMediaType, "Unsupported media type",
		"the body is not sent as `application/json` (or `application/merge-patch+json`, for PATCH)")
	TypeValidation = define("validation", http.StatusUnprocessableEntity, "Invalid fields",
		"fields of the body are invalid: every one is listed in `errors`",
		"errors")
	TypeExpressionFailed = define("expression-failed", http.StatusUnprocessableEntity, "Expression failed",
		"an expression of the spec (a default, a computed field, an effect's `when`, `for_each`, `id`, `guard` or `set`) could not be evaluated for this record; `expression` names its place in the spec, `id` the record (absent on a create); the cause is logged with the request id",
		"expression", "resource", "id")
	TypeIdempotencyKeyReused = define("idempotency-key-reused", http.StatusUnprocessableEntity, "Idempotency-Key reused",
		"the `Idempotency-Key` was used before with another body")
	TypePreconditionRequired = define("precondition-required", http.StatusPreconditionRequired, "Precondition required",
		"a PATCH, PUT or DELETE to a resource with `concurrency: required` has no `If-Match`")
	TypeRateLimited = define("rate-limited", http.StatusTooManyRequests, "Rate limited",
		"the caller has used its requests under a rate limit of the spec, which `detail` and `RateLimit-Policy` name; with `Retry-After` and `RateLimit`")
	TypeInternal = define("internal", http.StatusInternalServerError, "Internal error",
		"a bug or an unexpected failure: the document carries only the request id, and the cause is logged")
	TypeUnavailable = define("unavailable", http.StatusServiceUnavailable, "Unavailable",
		"the database is busy, slow or unreachable, the request was cancelled, or the server is shutting down; with `Retry-After`")
	TypeOverloaded = define("overloaded", http.StatusServiceUnavailable, "Overloaded",
		"the server is at its concurrency limit and its short queue is full: the request was refused before anything was read or done; with `Retry-After`")
	TypeTimeout = define("timeout", http.StatusServiceUnavailable, "Deadline passed",
		"the request did not finish within its route's deadline (`timeouts:` in the spec); its statements were cancelled and nothing was changed; with `Retry-After`")
)

// byCode is the type of an error that names none: the one table from codes to types, and so
// to statuses. Every Code has a row.
var byCode = map[Code]Type{
	Invalid:            TypeInvalid,
	Unauthorized:       TypeUnauthorized,
	Forbidden:          TypeForbidden,
	NotFound:           TypeNotFound,
	Conflict:           TypeConflict,
	PreconditionFailed: TypeStaleVersion,
	PreconditionNeeded: TypePreconditionRequired,
	Unavailable:        TypeUnavailable,
	Internal:           TypeInternal,
}

// Catalogue returns every problem type Plinth answers, in the order of definition. The
// conflicts a spec names for its effects are TypeGuardFailed under other names.
func Catalogue() []Type { return slices.Clone(catalogue) }

// Lookup returns the catalogue's type with the slug, if there is one.
func Lookup(slug string) (Type, bool) {
	for _, t := range catalogue {
		if t.d.slug == slug {
			return t, true
		}
	}
	return Type{}, false
}

// Codes returns every Code, in the order of their types' statuses.
func Codes() []Code {
	codes := slices.Collect(maps.Keys(byCode))
	slices.SortFunc(codes, func(a, b Code) int {
		return cmp.Or(cmp.Compare(byCode[a].Status(), byCode[b].Status()), cmp.Compare(a, b))
	})
	return codes
}

// DefaultType returns the type of an error of the code that names none; TypeInternal for a
// code without a row.
func DefaultType(c Code) Type {
	if t, ok := byCode[c]; ok {
		return t
	}
	return TypeInternal
}

// TypeOf returns the type clients see for err: TypeInternal for anything unclassified.
func TypeOf(err error) Type {
	if e := As(err); e != nil {
		return e.ProblemType()
	}
	return TypeInternal
}

// EffectConflict returns the type a spec names for an effect's conflict (`conflict:
// out-of-stock`): TypeGuardFailed in all but its slug. It fails for a slug in another style
// than the catalogue's, and for a slug of the catalogue other than guard-failed, since a
// client switching on, say, not-found would be misled by a 409.
func EffectConflict(slug string) (Type, error) {
	if slug == TypeGuardFailed.Slug() {
		return TypeGuardFailed, nil
	}
	if !slugStyle.MatchString(slug) {
		return Type{}, fmt.Errorf("%q is not lowercase words joined by hyphens, such as out-of-stock", slug)
	}
	if _, builtin := Lookup(slug); builtin {
		return Type{}, fmt.Errorf("%q is a built-in problem type with its own meaning; name the conflict, such as out-of-stock", slug)
	}
	d := *TypeGuardFailed.d
	d.slug = slug
	return Type{&d}, nil
}
