package httpapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/routers/legacy"

	"github.com/plinth-dev/plinth"
	"github.com/plinth-dev/plinth/internal/auth"
	"github.com/plinth-dev/plinth/internal/fault"
	"github.com/plinth-dev/plinth/internal/httpapi"
	"github.com/plinth-dev/plinth/internal/spec"
)

// problemSpec has a resource for every kind of refusal: unique values, references, a state
// machine, required keys and preconditions, and effects with the default and a named conflict.
const problemSpec = `plinth: 1
name: problems
auth:
  roles: [admin, member]
resources:
  authors:
    fields:
      name: {type: string, required: true, unique: true, max_length: 50}
    access: {list: "true", read: "true", write: 'auth.role == "admin"'}
  books:
    idempotency: required
    concurrency: required
    fields:
      author: {type: ref, resource: authors}
      status: {type: enum, values: [draft, published], default: draft, transitions: {draft: [published]}}
      copies: {type: integer, default: 1, min: 0}
    access: {list: "true", read: "true", write: 'auth.sub != ""'}
  loans:
    fields:
      book: {type: ref, resource: books, required: true}
      kind: {type: enum, values: [lend, refuse], required: true}
    access: {list: "true", read: "true", write: "true"}
    effects:
      lend:
        on: [create]
        when: record.kind == "lend"
        target: books
        id: record.book
        guard: target.copies > 0
        conflict: no-copies-left
        set: {copies: target.copies - 1}
      refuse:
        on: [create]
        when: record.kind == "refuse"
        target: books
        id: record.book
        guard: "false"
        set: {copies: target.copies}
`

// rfc9457 are the members every problem document may carry, whatever its type.
var rfc9457 = []string{"type", "title", "status", "detail", "instance", "request_id"}

// oneStyle is the one spelling of problem types.
var oneStyle = regexp.MustCompile(`^urn:plinth:problem:[a-z][a-z0-9]*(-[a-z0-9]+)*$`)

// problemServer is the problem spec served on 127.0.0.1:0, with tokens and a client.
type problemServer struct {
	t             *testing.T
	url           string
	admin, member string
}

type answer struct {
	status int
	header http.Header
	doc    map[string]any
	raw    []byte
}

// do sends a request; headers come in name, value pairs. A string body is sent as it is.
func (p *problemServer) do(method, path, token, body string, headers ...string) answer {
	p.t.Helper()
	req, err := http.NewRequest(method, p.url+path, strings.NewReader(body))
	if err != nil {
		p.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		p.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	a := answer{status: res.StatusCode, header: res.Header, raw: raw}
	json.Unmarshal(raw, &a.doc)
	return a
}

// documentedProblems reads the server's OpenAPI document and returns a check that a problem
// the server answered to a request is one the document lists for the request's operation:
// its status, and its type among that status's examples. Requests to routes the document
// does not have (an unknown path or method) are not checked.
func (p *problemServer) documentedProblems() func(what, method, path string, a answer) {
	p.t.Helper()
	res, err := http.Get(p.url + "/openapi.json")
	if err != nil {
		p.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	doc, err := openapi3.NewLoader().LoadFromData(raw)
	if err != nil {
		p.t.Fatal(err)
	}
	doc.Servers = openapi3.Servers{{URL: p.url}}
	router, err := legacy.NewRouter(doc)
	if err != nil {
		p.t.Fatal(err)
	}
	return func(what, method, path string, a answer) {
		p.t.Helper()
		req, _ := http.NewRequest(method, p.url+path, nil)
		route, params, err := router.FindRoute(req)
		if err != nil || slices.Contains(slices.Collect(maps.Values(params)), "") {
			return // kin-openapi's router takes /v1/authors for /v1/authors/{id} with an empty id
		}
		resp := route.Operation.Responses.Value(strconv.Itoa(a.status))
		slug := strings.TrimPrefix(fmt.Sprint(a.doc["type"]), fault.URNPrefix)
		if resp == nil || resp.Value.Content["application/problem+json"].Examples[slug] == nil {
			p.t.Errorf("%s: %s %s answered %d %s, which the document does not list for %s", what, method, path, a.status, slug, route.Operation.OperationID)
		}
	}
}

// created sends a write that must succeed and returns the record's id.
func (p *problemServer) created(path, token, body string, headers ...string) string {
	p.t.Helper()
	a := p.do("POST", path, token, body, headers...)
	if a.status != http.StatusCreated {
		p.t.Fatalf("POST %s: %d %s", path, a.status, a.raw)
	}
	return a.doc["id"].(string)
}

// checkProblem fails unless a is a problem document of the type want, spelled in the one
// style, listed in the catalogue, with the catalogue's status and title and no member the
// catalogue does not declare for it.
func checkProblem(t *testing.T, what string, a answer, want fault.Type) {
	t.Helper()
	typ, _ := a.doc["type"].(string)
	slug := strings.TrimPrefix(typ, fault.URNPrefix)
	switch listed, ok := fault.Lookup(slug); {
	case !oneStyle.MatchString(typ):
		t.Errorf("%s: type %q is not urn:plinth:problem: and lowercase words joined by hyphens: %s", what, typ, a.raw)
	case !ok && want.Status() != http.StatusConflict:
		t.Errorf("%s: type %q is not in the catalogue: %s", what, typ, a.raw)
	case ok && (a.status != listed.Status() || a.doc["title"] != listed.Title()):
		t.Errorf("%s: %s answers %d %q, but the catalogue says %d %q", what, typ, a.status, a.doc["title"], listed.Status(), listed.Title())
	}
	if typ != want.URN() || a.status != want.Status() || a.doc["status"] != float64(want.Status()) || a.doc["title"] != want.Title() {
		t.Errorf("%s: %d %s, want %d %s: %s", what, a.status, typ, want.Status(), want.URN(), a.raw)
	}
	if ct := a.header.Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("%s: Content-Type %q", what, ct)
	}
	for k := range a.doc {
		if !slices.Contains(rfc9457, k) && !want.Carries(k) {
			t.Errorf("%s: member %q is not declared for %s in the catalogue: %s", what, k, want, a.raw)
		}
	}
}

func startProblems(t *testing.T) (*problemServer, *httpapi.Server) {
	p, app := serveApp(t, plinth.Options{Spec: []byte(problemSpec)}, "member")
	return p, app.Handler().(*httpapi.Server)
}

// serveApp serves an App made with opts, in a temporary data folder, on real HTTP, with
// tokens it accepts for an admin and for a member of role memberRole.
func serveApp(t *testing.T, opts plinth.Options, memberRole string) (*problemServer, *plinth.App) {
	t.Helper()
	opts.DataDir = t.TempDir()
	app, err := plinth.New(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { app.Close() })
	srv := httptest.NewServer(app.Handler())
	t.Cleanup(srv.Close)
	signer, _, err := auth.ForModel(&spec.Model{}, opts.DataDir, nil)
	if err != nil {
		t.Fatal(err)
	}
	admin, _ := signer.Sign("root", "admin", 3600e9)
	member, _ := signer.Sign("mia", memberRole, 3600e9)
	return &problemServer{t: t, url: srv.URL, admin: admin, member: member}, app
}

// TestEveryProblemIsCatalogued walks the errors of the router, the transport, the engine and
// the drivers through the real server: each answers a type of the catalogue, spelled in the
// one style, with the catalogue's status, title and members.
func TestEveryProblemIsCatalogued(t *testing.T) {
	p, api := startProblems(t)
	author := p.created("/v1/authors", p.admin, `{"name":"Ann"}`)
	book := p.created("/v1/books", p.member, `{"author":"`+author+`"}`, "Idempotency-Key", "k1")
	published := p.created("/v1/books", p.member, `{"copies":0}`, "Idempotency-Key", "k2")
	if a := p.do("PATCH", "/v1/books/"+published, p.member, `{"status":"published"}`, "If-Match", `"1"`, "Idempotency-Key", "k3"); a.status != 200 {
		t.Fatalf("publish: %d %s", a.status, a.raw)
	}
	missing := "0190c1d2-7b3a-7def-8123-456789abcdef"
	big := `{"name":"` + strings.Repeat("x", httpapi.DefaultMaxBody) + `"}`
	longKey := strings.Repeat("k", 256)

	cases := []struct {
		what                string
		method, path, token string
		body                string
		headers             []string
		want                fault.Type
	}{
		{"unknown route", "GET", "/nowhere", "", "", nil, fault.TypeNotFound},
		{"unknown resource", "GET", "/v1/nothing/" + missing, "", "", nil, fault.TypeNotFound},
		{"missing record", "GET", "/v1/authors/" + missing, "", "", nil, fault.TypeNotFound},
		{"wrong method", "DELETE", "/v1/authors", p.admin, "", nil, fault.TypeMethodNotAllowed},
		{"malformed JSON", "POST", "/v1/authors", p.admin, `{"name":`, nil, fault.TypeMalformedJSON},
		{"not an object", "POST", "/v1/authors", p.admin, `[1]`, nil, fault.TypeMalformedJSON},
		{"oversized body", "POST", "/v1/authors", p.admin, big, nil, fault.TypeTooLarge},
		{"unsupported media type", "POST", "/v1/authors", p.admin, `{"name":"x"}`, []string{"Content-Type", "text/plain"}, fault.TypeUnsupportedMediaType},
		{"unknown list parameter", "GET", "/v1/authors?nope=1", "", "", nil, fault.TypeInvalidQuery},
		{"bad limit", "GET", "/v1/authors?limit=x", "", "", nil, fault.TypeInvalidQuery},
		{"bad filter", "GET", "/v1/authors?filter=((", "", "", nil, fault.TypeInvalidQuery},
		{"bad feed parameter", "GET", "/v1/events?after=x", p.admin, "", nil, fault.TypeInvalidQuery},
		{"bad feed limit", "GET", "/v1/events?limit=0", p.admin, "", nil, fault.TypeInvalidQuery},
		{"bad dead-letter limit", "GET", "/v1/_webhooks/dead?limit=0", p.admin, "", nil, fault.TypeInvalidQuery},
		{"bad If-Match", "PATCH", "/v1/books/" + book, p.member, `{"copies":2}`, []string{"If-Match", `W/"1"`}, fault.TypeInvalidPrecondition},
		{"bad Authorization scheme", "GET", "/v1/authors", "", "", []string{"Authorization", "Basic Zm9vOmJhcg=="}, fault.TypeUnauthorized},
		{"bad token", "GET", "/v1/authors", "", "", []string{"Authorization", "Bearer abc.def.ghi"}, fault.TypeUnauthorized},
		{"anonymous write", "POST", "/v1/authors", "", `{"name":"x"}`, nil, fault.TypeUnauthorized},
		{"denied write", "POST", "/v1/authors", p.member, `{"name":"x"}`, nil, fault.TypeForbidden},
		{"admin route", "GET", "/v1/_webhooks", p.member, "", nil, fault.TypeForbidden},
		{"invalid fields", "POST", "/v1/authors", p.admin, `{"name":7,"nope":1}`, nil, fault.TypeValidation},
		{"unique value", "POST", "/v1/authors", p.admin, `{"name":"Ann"}`, nil, fault.TypeUnique},
		{"referenced record", "DELETE", "/v1/authors/" + author, p.admin, "", nil, fault.TypeReferenced},
		{"invalid transition", "PATCH", "/v1/books/" + published, p.member, `{"status":"draft"}`, []string{"If-Match", `"2"`, "Idempotency-Key", "k4"}, fault.TypeInvalidTransition},
		{"stale version", "PATCH", "/v1/books/" + book, p.member, `{"copies":2}`, []string{"If-Match", `"7"`, "Idempotency-Key", "k5"}, fault.TypeStaleVersion},
		{"no If-Match", "DELETE", "/v1/books/" + book, p.member, "", nil, fault.TypePreconditionRequired},
		{"no Idempotency-Key", "POST", "/v1/books", p.member, `{}`, nil, fault.TypeIdempotencyKeyMissing},
		{"bad Idempotency-Key", "POST", "/v1/books", p.member, `{}`, []string{"Idempotency-Key", longKey}, fault.TypeIdempotencyKeyInvalid},
		{"reused Idempotency-Key", "POST", "/v1/books", p.member, `{"copies":5}`, []string{"Idempotency-Key", "k1"}, fault.TypeIdempotencyKeyReused},
		{"bad batch", "POST", "/v1/batch", p.admin, `{"operations":[]}`, nil, fault.TypeInvalidBatch},
		{"bad replay", "POST", "/v1/_webhooks/replay", p.admin, `{}`, nil, fault.TypeInvalidReplay},
		{"bad discard", "POST", "/v1/_webhooks/discard", p.admin, `{"ids":[]}`, nil, fault.TypeInvalidDiscard},
		{"effect guard", "POST", "/v1/loans", "", `{"book":"` + book + `","kind":"refuse"}`, nil, fault.TypeGuardFailed},
	}
	listed := p.documentedProblems()
	for _, c := range cases {
		a := p.do(c.method, c.path, c.token, c.body, c.headers...)
		checkProblem(t, c.what, a, c.want)
		listed(c.what, c.method, c.path, a)
	}

	// An effect's own conflict answers as guard-failed does, under the spec's name.
	noCopies, err := fault.EffectConflict("no-copies-left")
	if err != nil {
		t.Fatal(err)
	}
	lend := p.do("POST", "/v1/loans", "", `{"book":"`+published+`","kind":"lend"}`)
	checkProblem(t, "effect conflict", lend, noCopies)
	listed("effect conflict", "POST", "/v1/loans", lend)
	if lend.doc["effect"] != "lend" || lend.doc["id"] != published {
		t.Errorf("effect conflict: %s", lend.raw)
	}

	// Every code, and every type, as the engine and the drivers return them, including those
	// that only a lost database, a race or a bug produce.
	for _, c := range fault.Codes() {
		path := "/_test/code/" + string(c)
		api.ServeError(path, &fault.Error{Code: c, Message: "m"})
		checkProblem(t, "code "+string(c), p.do("GET", path, "", ""), fault.DefaultType(c))
	}
	for _, typ := range fault.Catalogue() {
		extra := map[string]any{"undeclared": true}
		for _, m := range typ.Extra() {
			extra[m] = 1
		}
		path := "/_test/type/" + typ.Slug()
		api.ServeError(path, &fault.Error{Code: fault.Invalid, Type: typ, Message: "m", Extra: extra,
			Fields: []fault.FieldError{{Field: "f", Code: "c", Message: "m"}}})
		a := p.do("GET", path, "", "")
		checkProblem(t, "type "+typ.Slug(), a, typ)
		for _, m := range typ.Extra() {
			if _, ok := a.doc[m]; !ok && typ != fault.TypeInternal {
				t.Errorf("type %s: declared member %q is missing: %s", typ, m, a.raw)
			}
		}
	}
	api.ServeError("/_test/unclassified", errors.New("a bug"))
	checkProblem(t, "unclassified error", p.do("GET", "/_test/unclassified", "", ""), fault.TypeInternal)
}
