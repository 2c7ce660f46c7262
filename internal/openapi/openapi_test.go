package openapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"go.yaml.in/yaml/v3"

	"github.com/plinth-dev/plinth/internal/fault"
	"github.com/plinth-dev/plinth/internal/httpapi"
	"github.com/plinth-dev/plinth/internal/openapi"
	"github.com/plinth-dev/plinth/internal/spec"
)

var update = flag.Bool("update", false, "rewrite the golden documents in testdata")

// servedOptions are the options of the document `plinth serve` serves (and `plinth openapi`
// prints): webhook administration and the SLO status on, the default body limit.
var servedOptions = openapi.Options{Webhooks: true, SLOs: true, MaxBody: httpapi.DefaultMaxBody}

const shopSpec = "../../examples/shop/plinth.yaml"

func init() {
	// kin-openapi checks only some formats unless told; the document uses these too.
	openapi3.DefineStringFormatValidator("uuid", openapi3.NewRegexpFormatValidator(openapi3.FormatOfStringForUUIDOfRFC9562))
}

func compile(t *testing.T, path string) *spec.Model {
	t.Helper()
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	m, diags := spec.Compile(filepath.Base(path), src)
	if diags.HasErrors() {
		t.Fatalf("%s: %s", path, diags.Error())
	}
	return m
}

func render(t *testing.T, m *spec.Model, opts openapi.Options) []byte {
	t.Helper()
	doc, err := openapi.Document(m, opts)
	if err != nil {
		t.Fatal(err)
	}
	out, err := openapi.JSON(doc)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestShopDocumentGolden fails when the shop's document changes without its golden file:
// a change to the contract is then a reviewed diff. go test ./internal/openapi -update
// rewrites it.
func TestShopDocumentGolden(t *testing.T) {
	got := render(t, compile(t, shopSpec), servedOptions)
	path := filepath.Join("testdata", "shop.openapi.json")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test ./internal/openapi -update writes it)", err)
	}
	if !bytes.Equal(got, want) {
		gotLines, wantLines := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
		for i := range min(len(gotLines), len(wantLines)) {
			if gotLines[i] != wantLines[i] {
				t.Fatalf("%s differs from the document at line %d:\n got: %s\nwant: %s\n(go test ./internal/openapi -update rewrites it; review the diff)",
					path, i+1, gotLines[i], wantLines[i])
			}
		}
		t.Fatalf("%s differs from the document in length (%d lines, want %d); go test ./internal/openapi -update rewrites it", path, len(gotLines), len(wantLines))
	}
}

// specs are the specs whose documents the tests check: the shop and every valid spec of the
// compiler's tests, which between them use every field type and option.
func specs(t *testing.T) map[string]*spec.Model {
	paths, _ := filepath.Glob("../spec/testdata/valid/*.yaml")
	out := map[string]*spec.Model{"shop": compile(t, shopSpec)}
	for _, p := range paths {
		out[strings.TrimSuffix(filepath.Base(p), ".yaml")] = compile(t, p)
	}
	if len(out) < 4 {
		t.Fatalf("found only %d specs", len(out))
	}
	return out
}

// load reads a rendered document as a client would, resolving every reference.
func load(t *testing.T, raw []byte) *openapi3.T {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromData(raw)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	return doc
}

// TestDocumentsAreValidOpenAPI31 validates every document with kin-openapi, as OpenAPI 3.1
// (JSON Schema 2020-12), as a client loads it from the JSON, and the shop's as Document
// builds it too (code such as a diff takes it as it is); with every option on, so that the
// optional routes are checked too.
func TestDocumentsAreValidOpenAPI31(t *testing.T) {
	ctx := context.Background()
	for name, m := range specs(t) {
		t.Run(name, func(t *testing.T) {
			doc, err := openapi.Document(m, openapi.Options{Webhooks: true, SLOs: true, Pprof: true, MaxBody: 1 << 20})
			if err != nil {
				t.Fatal(err)
			}
			if doc.OpenAPI != "3.1.0" || !doc.IsOpenAPI31OrLater() {
				t.Fatalf("openapi %q", doc.OpenAPI)
			}
			if name == "shop" {
				if err := doc.Validate(ctx, openapi3.EnableMultiError()); err != nil {
					t.Fatalf("as built: %v", err)
				}
			}
			raw, err := openapi.JSON(doc)
			if err != nil {
				t.Fatal(err)
			}
			if err := load(t, raw).Validate(ctx, openapi3.EnableMultiError()); err != nil {
				t.Fatalf("as loaded: %v", err)
			}
		})
	}
}

// TestEveryRouteIsDocumented compares the document's operations with the routes a server
// for the shop answers (internal/httpapi/server.go), option by option.
func TestEveryRouteIsDocumented(t *testing.T) {
	m := compile(t, shopSpec)
	resourceRoutes := func(r string) []string {
		return []string{"GET /v1/" + r, "POST /v1/" + r, "GET /v1/" + r + "/{id}", "PATCH /v1/" + r + "/{id}", "PUT /v1/" + r + "/{id}", "DELETE /v1/" + r + "/{id}"}
	}
	base := []string{"POST /v1/batch", "GET /v1/events", "GET /healthz", "GET /readyz", "GET /openapi.json", "GET /openapi.yaml", "GET /docs"}
	for _, r := range m.Resources {
		base = append(base, resourceRoutes(r.Name)...)
	}
	webhooks := []string{"GET /v1/_webhooks", "GET /v1/_webhooks/dead", "POST /v1/_webhooks/replay", "POST /v1/_webhooks/discard"}
	pprof := []string{"GET /debug/pprof/", "GET /debug/pprof/{profile}"}
	for _, c := range []struct {
		opts openapi.Options
		want []string
	}{
		{openapi.Options{}, base},
		{openapi.Options{Webhooks: true}, append(append([]string{}, base...), webhooks...)},
		{openapi.Options{Pprof: true}, append(append([]string{}, base...), pprof...)},
		{openapi.Options{SLOs: true}, append(append([]string{}, base...), "GET /v1/_slo")},
	} {
		doc, err := openapi.Document(m, c.opts)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]bool{}
		for path, item := range doc.Paths.Map() {
			for method := range item.Operations() {
				got[method+" "+path] = true
			}
		}
		for _, route := range c.want {
			if !got[route] {
				t.Errorf("%+v: %s is not documented", c.opts, route)
			}
			delete(got, route)
		}
		for route := range got {
			t.Errorf("%+v: %s is documented but not served", c.opts, route)
		}
	}
}

// example is one example of a document, with the schema it must satisfy.
type example struct {
	where   string
	schema  *openapi3.Schema
	value   any
	request bool
}

// examples lists every example of doc: of the component schemas, of every request body and
// response body, and of the parameters.
func examples(doc *openapi3.T) []example {
	var out []example
	requestSchemas := map[string]bool{"BatchRequest": true, "DeadLetterSelection": true}
	for name, s := range doc.Components.Schemas {
		request := requestSchemas[name] || strings.HasSuffix(name, ".create") || strings.HasSuffix(name, ".patch") || strings.HasSuffix(name, ".replace")
		for i, v := range s.Value.Examples {
			out = append(out, example{fmt.Sprintf("components.schemas[%s].examples[%d]", name, i), s.Value, v, request})
		}
	}
	content := func(where string, c openapi3.Content, request bool) {
		for media, mt := range c {
			if mt.Schema == nil {
				continue
			}
			if mt.Example != nil {
				out = append(out, example{where + " " + media, mt.Schema.Value, mt.Example, request})
			}
			for name, ex := range mt.Examples {
				out = append(out, example{where + " " + media + " " + name, mt.Schema.Value, ex.Value.Value, request})
			}
		}
	}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			where := method + " " + path
			if op.RequestBody != nil {
				content(where+" request", op.RequestBody.Value.Content, true)
			}
			for status, resp := range op.Responses.Map() {
				content(where+" "+status, resp.Value.Content, false)
			}
			for _, p := range append(item.Parameters, op.Parameters...) {
				if p.Value.Example != nil {
					out = append(out, example{where + " parameter " + p.Value.Name, p.Value.Schema.Value, p.Value.Example, true})
				}
			}
		}
	}
	return out
}

func (e example) check() error {
	opts := []openapi3.SchemaValidationOption{openapi3.EnableJSONSchema2020(), openapi3.EnableFormatValidation()}
	if e.request {
		opts = append(opts, openapi3.VisitAsRequest())
	} else {
		opts = append(opts, openapi3.VisitAsResponse())
	}
	return e.schema.VisitJSON(e.value, opts...)
}

// TestExamplesValidateAgainstTheirSchemas checks every example of every document against
// its own schema, as a client loads the document, and that a broken example is caught.
func TestExamplesValidateAgainstTheirSchemas(t *testing.T) {
	for name, m := range specs(t) {
		t.Run(name, func(t *testing.T) {
			doc := load(t, render(t, m, openapi.Options{Webhooks: true, SLOs: true, Pprof: true}))
			list := examples(doc)
			if len(list) < 50 {
				t.Fatalf("found only %d examples", len(list))
			}
			for _, e := range list {
				if err := e.check(); err != nil {
					t.Errorf("%s: %v", e.where, err)
				}
			}
		})
	}
	t.Run("a broken example is caught", func(t *testing.T) {
		doc := load(t, render(t, compile(t, shopSpec), servedOptions))
		mt := doc.Paths.Value("/v1/products").Post.RequestBody.Value.Content["application/json"]
		mt.Example.(map[string]any)["sku"] = "lower case"
		caught := false
		for _, e := range examples(doc) {
			if e.where == "POST /v1/products request application/json" {
				caught = e.check() != nil
			}
		}
		if !caught {
			t.Fatal("an example breaking the sku pattern passed")
		}
	})
}

// TestEveryOperationAnswersProblems checks that every error response of every operation is
// a problem document of the shared schema, with an example of each type it lists, and that
// every type of the catalogue and every effect conflict of the spec is in the schema.
func TestEveryOperationAnswersProblems(t *testing.T) {
	m := compile(t, shopSpec)
	doc := load(t, render(t, m, servedOptions))
	problem := doc.Components.Schemas["Problem"].Value
	enum := map[any]bool{}
	for _, v := range problem.Properties["type"].Value.Enum {
		enum[v] = true
	}
	for _, typ := range fault.Catalogue() {
		if !enum[typ.URN()] {
			t.Errorf("the Problem schema lacks %s", typ.URN())
		}
		for _, member := range typ.Extra() {
			if problem.Properties[member] == nil {
				t.Errorf("the Problem schema lacks %s's member %s", typ.Slug(), member)
			}
		}
	}
	for _, r := range m.Resources {
		for _, eff := range r.Effects {
			if !enum[eff.Conflict.URN()] {
				t.Errorf("the Problem schema lacks the conflict %s of %s.%s", eff.Conflict.URN(), r.Name, eff.Name)
			}
		}
	}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			for status, resp := range op.Responses.Map() {
				if status[0] != '4' && status[0] != '5' {
					continue
				}
				mt := resp.Value.Content["application/problem+json"]
				if mt == nil || mt.Schema.Ref != "#/components/schemas/Problem" || len(mt.Examples) == 0 {
					t.Errorf("%s %s %s: not a problem document with examples", method, path, status)
					continue
				}
				for name, ex := range mt.Examples {
					typ, _ := ex.Value.Value.(map[string]any)["type"].(string)
					if typ != fault.URNPrefix+name || fmt.Sprint(ex.Value.Value.(map[string]any)["status"]) != status {
						t.Errorf("%s %s %s: example %s is of type %s", method, path, status, name, typ)
					}
				}
			}
		}
	}
	if post := doc.Paths.Value("/v1/orders").Post; post.Responses.Value("409").Value.Content["application/problem+json"].Examples["out-of-stock"] == nil {
		t.Error("POST /v1/orders does not list its effect's conflict out-of-stock")
	}
}

// TestYAMLIsTheSameDocument reads the YAML rendering back and compares it with the JSON one.
func TestYAMLIsTheSameDocument(t *testing.T) {
	doc, err := openapi.Document(compile(t, shopSpec), servedOptions)
	if err != nil {
		t.Fatal(err)
	}
	rawJSON, err := openapi.JSON(doc)
	if err != nil {
		t.Fatal(err)
	}
	rawYAML, err := openapi.YAML(doc)
	if err != nil {
		t.Fatal(err)
	}
	var fromJSON, fromYAML any
	if err := json.Unmarshal(rawJSON, &fromJSON); err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(rawYAML, &fromYAML); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(fromJSON, numbersAsFloats(fromYAML)) {
		t.Fatal("the YAML document differs from the JSON one")
	}
	load(t, rawYAML)
}

// numbersAsFloats makes a decoded YAML tree comparable with a decoded JSON one.
func numbersAsFloats(v any) any {
	switch x := v.(type) {
	case int:
		return float64(x)
	case []any:
		for i := range x {
			x[i] = numbersAsFloats(x[i])
		}
	case map[string]any:
		for k := range x {
			x[k] = numbersAsFloats(x[k])
		}
	}
	return v
}

// TestDocumentIsDeterministic builds the document twice: the same spec gives the same bytes,
// whatever the order of Go's maps.
func TestDocumentIsDeterministic(t *testing.T) {
	m := compile(t, shopSpec)
	first := render(t, m, servedOptions)
	for range 5 {
		if !bytes.Equal(render(t, m, servedOptions), first) {
			t.Fatal("two documents of one spec differ")
		}
	}
}

// TestSchemasSayWhatTheServerEnforces checks, on the compiler's kitchen-sink spec, that each
// body's schema says what the engine enforces for it: which members a create, a replace and a
// patch must hold, where null is allowed, what a state machine may start as, which members
// are the server's, and the bounds of a list's parameters.
func TestSchemasSayWhatTheServerEnforces(t *testing.T) {
	doc := load(t, render(t, compile(t, "../spec/testdata/valid/kitchen.yaml"), servedOptions))
	schema := func(name string) *openapi3.Schema {
		t.Helper()
		s := doc.Components.Schemas[name]
		if s == nil {
			t.Fatalf("no schema %s", name)
		}
		return s.Value
	}
	typesOf := func(s *openapi3.Schema) string {
		if s.Type == nil {
			return "any"
		}
		return strings.Join(*s.Type, ",")
	}
	check := func(what string, got, want any) {
		t.Helper()
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: %v, want %v", what, got, want)
		}
	}
	record, create, patch, replace := schema("books"), schema("books.create"), schema("books.patch"), schema("books.replace")

	check("a create requires what has no default", create.Required, []string{"title", "author"})
	check("a replace requires the same (no immutable field is required)", replace.Required, []string{"title", "author"})
	check("a patch requires nothing", len(patch.Required), 0)
	check("a record holds every member", len(record.Required), len(record.Properties))
	for _, s := range []*openapi3.Schema{create, patch, replace} {
		for _, readOnly := range []string{"id", "version", "page_total", "label"} {
			if s.Properties[readOnly] != nil {
				t.Errorf("a request body may hold %s, which the server refuses as read_only", readOnly)
			}
		}
		check("request bodies are closed", *s.AdditionalProperties.Has, false)
	}
	check("a computed field is the server's", record.Properties["page_total"].Value.ReadOnly, true)
	check("a computed field is null in records older than it", typesOf(record.Properties["page_total"].Value), "integer,null")
	check("an optional field may be null", typesOf(create.Properties["genre"].Value), "string,null")
	check("a nullable enum lists null", create.Properties["genre"].Value.Enum, []any{"fiction", "science", "history", nil})
	check("a field with a default may not be null", typesOf(create.Properties["in_print"].Value), "boolean")
	check("the default is stated", create.Properties["in_print"].Value.Default, true)
	check("a state machine starts at its initial states", create.Properties["state"].Value.Enum, []any{"draft"})
	check("a patch may move it to any state", patch.Properties["state"].Value.Enum, []any{"draft", "review", "live", "retired"})
	check("a timestamp", record.Properties["release_at"].Value.Format, "date-time")
	check("a ref is an id", record.Properties["author"].Value.Format, "uuid")
	check("a uri", create.Properties["site"].Value.Format, "uri")
	check("an email is checked as the server does", schema("authors.create").Properties["email"].Value.Pattern, `^[^@\s]+@[^@\s]+\.[^@\s]+$`)
	chapters := create.Properties["chapters"].Value.Items.Value
	check("array items are never null", typesOf(chapters), "object")
	check("an item requires what has no default", chapters.Required, []string{"title"})
	check("a record's item holds its defaults", record.Properties["chapters"].Value.Items.Value.Required, []string{"title", "words"})
	check("the pattern is the field's", create.Properties["isbn"].Value.Pattern, "^[0-9-]{10,17}$")
	check("lengths are the field's", *create.Properties["title"].Value.MaxLength, uint64(300))
	check("bounds are the field's", *create.Properties["rating"].Value.Max, 5.0)

	list := doc.Paths.Value("/v2/books").Get
	param := func(name string) *openapi3.Schema {
		t.Helper()
		if p := list.Parameters.GetByInAndName("query", name); p != nil {
			return p.Schema.Value
		}
		t.Fatalf("the list has no parameter %s", name)
		return nil
	}
	check("limit's bounds are the resource's", []any{*param("limit").Min, *param("limit").Max, param("limit").Default}, []any{1.0, 100.0, 20.0})
	check("expand names the ref fields", param("expand").Items.Value.Enum, []any{"author"})
	sortable := regexp.MustCompile(param("sort").Items.Value.Pattern)
	for field, ok := range map[string]bool{"-rating": true, "title": true, "created_at": true, "tags": false, "chapters": false, "nope": false} {
		check("sort by "+field, sortable.MatchString(field), ok)
	}

	key := func(op *openapi3.Operation) string {
		for _, p := range op.Parameters {
			if p.Value.Name == "Idempotency-Key" {
				return fmt.Sprint(p.Value.Required)
			}
		}
		return "absent"
	}
	books := doc.Paths.Value("/v2/books/{id}")
	check("idempotency: required on POST", key(doc.Paths.Value("/v2/books").Post), "true")
	check("idempotency: required on PATCH", key(books.Patch), "true")
	check("idempotency: optional on PUT", key(books.Put), "false")
	check("idempotency: optional on DELETE", key(books.Delete), "false")
	check("an admin-only resource needs a token", doc.Paths.Value("/v2/logs").Get.Security != nil, true)
	check("a public list needs none", doc.Paths.Value("/v2/authors").Get.Security == nil, true)
	check("no 403 where the rule admits everyone", doc.Paths.Value("/v2/authors").Get.Responses.Value("403") == nil, true)
	check("a unique index may clash", books.Patch.Responses.Value("409").Value.Content["application/problem+json"].Examples["unique"] != nil, true)
}

// TestFilterExamplesCompile: the filter a list's document shows is one the resource's filter
// language accepts.
func TestFilterExamplesCompile(t *testing.T) {
	for name, m := range specs(t) {
		doc, err := openapi.Document(m, servedOptions)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range m.Resources {
			filter := doc.Paths.Value(fmt.Sprintf("/v%d/%s", m.Version, r.Name)).Get.Parameters.GetByInAndName("query", "filter")
			if _, err := r.CompileFilter(filter.Example.(string)); err != nil {
				t.Errorf("%s.%s: the example filter %q does not compile: %v", name, r.Name, filter.Example, err)
			}
		}
	}
}
