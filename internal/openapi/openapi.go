// Package openapi builds the OpenAPI 3.1 document of the API a compiled spec serves: every
// route the server answers, with schemas that say exactly what the server accepts and
// writes, every status each operation can answer, one Problem schema for every error, and an
// example for every body. It is derived from the same *spec.Model the server runs, so the
// document cannot drift from the behaviour: the server serves it at /openapi.json and
// /openapi.yaml, and `plinth openapi` prints it.
//
// The document is a github.com/getkin/kin-openapi model (docs/decisions/0017-openapi-document.md):
// the library whose openapi3filter validates requests and responses against it, and whose
// model oasdiff compares. JSON and YAML render it with a stable key order, so the same spec
// always gives the same bytes.
//
// Names in the document, for code that reads it: a resource R's schemas are R (the record),
// R.item (a list's item), R.page, R.create, R.replace (only where it differs from R.create),
// R.patch and R.event; the shared ones are capitalised (Problem, FieldError, BatchRequest,
// BatchResponse, Event, EventsPage, …). Operation ids are R.list, R.create, R.read, R.patch,
// R.replace, R.delete, and batch, events, webhooks.status, healthz, readyz, openapi.json …
// Schemas carry x-plinth-ref (a ref's resource), x-plinth-transitions and x-plinth-initial
// (a state machine), and Problem carries x-plinth-problem-types (the problem types as data).
package openapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"go.yaml.in/yaml/v3"

	"github.com/plinth-dev/plinth/internal/fault"
	"github.com/plinth-dev/plinth/internal/spec"
)

// Version is the OpenAPI version of the documents this package writes.
const Version = "3.1.0"

// Options say what a server serves beyond the spec's own routes, which the document must
// list too. The zero Options describe a server without webhook administration or profiler.
type Options struct {
	// Webhooks documents the webhook administration under /vN/_webhooks, which a server with
	// a webhook worker serves (`plinth serve` always does).
	Webhooks bool
	// SLOs documents GET /vN/_slo, the evaluation of the spec's objectives, which a server
	// with an SLO evaluator serves (`plinth serve` always does, whatever the spec declares).
	SLOs bool
	// Pprof documents Go's profiler under /debug/pprof/ (`plinth serve --pprof`).
	Pprof bool
	// MaxBody is the largest request body the server reads, in bytes; zero leaves the number
	// out of the document.
	MaxBody int64
	// Retiring makes the document that of an older version of the API, served beside the
	// current one (the model is its spec.Version's View): its operations are deprecated, its
	// answers carry Deprecation, Sunset and Link, 410 version-sunset is among them, and the
	// document itself is served under the version's prefix. Nil for the current version.
	Retiring *Retiring
}

// Retiring says when an older version of the API was deprecated and when it sunsets, and
// where the current version serves each of its paths.
type Retiring struct {
	Deprecated, Sunset time.Time
	// Successor is the path of the current version that serves what a path of this one does.
	Successor func(path string) string
}

// Document builds the OpenAPI 3.1 document of the API the server serves for m with opts. Its
// references are resolved (each $ref's Value is set), so it can be validated and used for
// request validation as it is. It fails only when the problem catalogue declares a member
// this package has no schema for: a bug, which the package's tests catch.
func Document(m *spec.Model, opts Options) (*openapi3.T, error) {
	b := &builder{
		m:      m,
		opts:   opts,
		used:   map[string]bool{},
		prefix: "/v" + strconv.Itoa(m.Version),
		doc: &openapi3.T{
			OpenAPI: Version,
			Info: &openapi3.Info{
				Title:       m.Name,
				Version:     strconv.Itoa(m.Version),
				Description: infoDescription(m),
			},
			Servers: openapi3.Servers{{URL: "/", Description: "the server that serves this document"}},
			Paths:   openapi3.NewPaths(),
			Components: &openapi3.Components{
				Schemas:         openapi3.Schemas{},
				Parameters:      openapi3.ParametersMap{},
				Headers:         openapi3.Headers{},
				SecuritySchemes: openapi3.SecuritySchemes{},
			},
			// Anonymous callers are welcome wherever a rule admits them; operations that need a
			// token say so themselves.
			Security: openapi3.SecurityRequirements{{}, {bearerScheme: {}}},
		},
	}
	b.conflicts = effectConflicts(m)
	if err := b.problemSchema(); err != nil {
		return nil, err
	}
	b.common()
	b.records()
	for _, r := range m.Resources {
		b.resourceSchemas(r)
	}
	for _, r := range m.Resources {
		b.resourcePaths(r)
	}
	b.batch()
	b.events()
	if opts.Webhooks {
		b.webhooks()
	}
	if opts.SLOs {
		b.objectives()
	}
	b.health()
	b.contract()
	if opts.Pprof {
		b.profiler()
	}
	if opts.Retiring != nil {
		b.retiring()
	}
	b.tags()
	b.prune()
	return b.doc, nil
}

// builder holds the document while Document fills it.
type builder struct {
	m      *spec.Model
	opts   Options
	prefix string // the API's path prefix, /v1
	doc    *openapi3.T
	// conflicts are the problem types the spec's effects name beyond the catalogue's.
	conflicts []fault.Type
	// tagNames are the tags operations use, in the order they were first used.
	tagNames []string
	// used holds the references to headers and parameters of the components made so far.
	used map[string]bool
}

// component registers a named schema and returns a reference to it, resolved.
func (b *builder) component(name string, s *openapi3.Schema) *openapi3.SchemaRef {
	b.doc.Components.Schemas[name] = &openapi3.SchemaRef{Value: s}
	return b.ref(name)
}

// ref is a reference to the named schema, resolved.
func (b *builder) ref(name string) *openapi3.SchemaRef {
	return &openapi3.SchemaRef{Ref: "#/components/schemas/" + name, Value: b.doc.Components.Schemas[name].Value}
}

// add puts op at method and path, with its tag.
func (b *builder) add(path, method string, op *openapi3.Operation) {
	item := b.doc.Paths.Value(path)
	if item == nil {
		item = &openapi3.PathItem{}
		b.doc.Paths.Set(path, item)
	}
	item.SetOperation(method, op)
	for _, t := range op.Tags {
		if !slices.Contains(b.tagNames, t) {
			b.tagNames = append(b.tagNames, t)
		}
	}
}

// JSON renders doc as indented JSON with sorted keys, ending in a newline: the same bytes for
// the same document.
func JSON(doc *openapi3.T) ([]byte, error) {
	tree, err := generic(doc)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(tree); err != nil {
		return nil, fmt.Errorf("openapi: encode JSON: %w", err)
	}
	return buf.Bytes(), nil
}

// YAML renders doc as YAML with sorted keys: the same bytes for the same document.
func YAML(doc *openapi3.T) ([]byte, error) {
	tree, err := generic(doc)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(numbers(tree)); err != nil {
		return nil, fmt.Errorf("openapi: encode YAML: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("openapi: encode YAML: %w", err)
	}
	return buf.Bytes(), nil
}

// generic is doc as decoded JSON (maps, slices, json.Number): the library's own encoding, which
// JSON and YAML then write in one key order.
func generic(doc *openapi3.T) (any, error) {
	raw, err := json.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("openapi: encode: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var tree any
	if err := dec.Decode(&tree); err != nil {
		return nil, fmt.Errorf("openapi: decode: %w", err)
	}
	return tree, nil
}

// numbers replaces the json.Numbers of a decoded tree with int64 or float64, which YAML
// writes as numbers rather than strings.
func numbers(v any) any {
	switch x := v.(type) {
	case json.Number:
		if n, err := x.Int64(); err == nil {
			return n
		}
		f, _ := x.Float64()
		return f
	case []any:
		for i := range x {
			x[i] = numbers(x[i])
		}
	case map[string]any:
		for k := range x {
			x[k] = numbers(x[k])
		}
	}
	return v
}
