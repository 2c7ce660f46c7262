package openapi

import (
	"bytes"
	"cmp"
	_ "embed"
	"encoding/json"
	"fmt"
	"html/template"
	"maps"
	"slices"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
)

//go:embed reference.html
var referenceSource string

// referenceTemplate is the page Reference renders. Its style and script are inline and its
// links point into the page, so it loads with no network (the server's Content-Security-Policy
// for /docs forbids anything else).
var referenceTemplate = template.Must(template.New("reference").Parse(referenceSource))

// Reference renders doc as one self-contained HTML page, the human reference served at
// /docs: every operation grouped by tag, with its parameters, request body, responses (with
// their headers) and examples, every named schema, and a box that filters operations by
// text. It needs nothing but the page: no script, style or font from elsewhere. Operations
// are anchored by operationId (#op-orders.create) and schemas by name (#schema-orders). The
// same document gives the same bytes. It fails only when an example cannot be encoded.
func Reference(doc *openapi3.T) ([]byte, error) {
	page, err := referenceView(doc)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := referenceTemplate.Execute(&buf, page); err != nil {
		return nil, fmt.Errorf("openapi: render the reference: %w", err)
	}
	return buf.Bytes(), nil
}

// refPage and the types below are the page as the template reads it.
type refPage struct {
	Title, Version, Description, Security string
	Tags                                  []refTag
	Schemas                               []refSchema
}

type refTag struct {
	Name, Description string
	Ops               []refOp
}

type refOp struct {
	ID, Method, Path, Summary, Description, Security string
	Params                                           []refParam
	Body                                             *refBody
	Responses                                        []refResponse
}

type refParam struct {
	Name, In, Description, Schema, Example string
	Required                               bool
}

type refBody struct {
	Description string
	Required    bool
	Contents    []refContent
}

type refContent struct {
	Media, SchemaName, Schema string
	Examples                  []refExample
}

type refExample struct{ Name, Value string }

type refResponse struct {
	Status, Description string
	Headers             []refParam
	Contents            []refContent
}

type refSchema struct{ Name, Description, JSON string }

func referenceView(doc *openapi3.T) (refPage, error) {
	page := refPage{Title: doc.Info.Title, Version: doc.Info.Version, Description: doc.Info.Description}
	if doc.Components != nil {
		for _, name := range sortedKeys(doc.Components.SecuritySchemes) {
			page.Security += name + ": " + doc.Components.SecuritySchemes[name].Value.Description
		}
	}
	byTag := map[string]*refTag{}
	for _, t := range doc.Tags {
		page.Tags = append(page.Tags, refTag{Name: t.Name, Description: t.Description})
	}
	for i := range page.Tags {
		byTag[page.Tags[i].Name] = &page.Tags[i]
	}
	for _, path := range sortedKeys(doc.Paths.Map()) {
		item := doc.Paths.Value(path)
		for _, method := range slices.SortedFunc(maps.Keys(item.Operations()), byMethod) {
			op := item.Operations()[method]
			v, err := operationView(doc, path, method, op)
			if err != nil {
				return refPage{}, err
			}
			tag := "Other"
			if len(op.Tags) > 0 {
				tag = op.Tags[0]
			}
			if byTag[tag] == nil {
				page.Tags = append(page.Tags, refTag{Name: tag})
				for i := range page.Tags {
					byTag[page.Tags[i].Name] = &page.Tags[i]
				}
			}
			byTag[tag].Ops = append(byTag[tag].Ops, v)
		}
	}
	if doc.Components != nil {
		for _, name := range sortedKeys(doc.Components.Schemas) {
			s := doc.Components.Schemas[name].Value
			raw, err := indent(s)
			if err != nil {
				return refPage{}, err
			}
			page.Schemas = append(page.Schemas, refSchema{Name: name, Description: s.Description, JSON: raw})
		}
	}
	return page, nil
}

func operationView(doc *openapi3.T, path, method string, op *openapi3.Operation) (refOp, error) {
	v := refOp{ID: op.OperationID, Method: method, Path: path, Summary: op.Summary, Description: op.Description, Security: securityText(doc, op)}
	for _, p := range op.Parameters {
		pv, err := paramView(p.Value, p.Value.Name, p.Value.In)
		if err != nil {
			return refOp{}, err
		}
		v.Params = append(v.Params, pv)
	}
	if rb := op.RequestBody; rb != nil && rb.Value != nil {
		contents, err := contentViews(rb.Value.Content)
		if err != nil {
			return refOp{}, err
		}
		v.Body = &refBody{Description: rb.Value.Description, Required: rb.Value.Required, Contents: contents}
	}
	for _, status := range sortedKeys(op.Responses.Map()) {
		r := op.Responses.Value(status).Value
		rv := refResponse{Status: status}
		if r.Description != nil {
			rv.Description = *r.Description
		}
		for _, name := range sortedKeys(r.Headers) {
			hv, err := paramView(&r.Headers[name].Value.Parameter, name, "header")
			if err != nil {
				return refOp{}, err
			}
			rv.Headers = append(rv.Headers, hv)
		}
		contents, err := contentViews(r.Content)
		if err != nil {
			return refOp{}, err
		}
		rv.Contents = contents
		v.Responses = append(v.Responses, rv)
	}
	return v, nil
}

// securityText says who may call op, from its requirements or the document's.
func securityText(doc *openapi3.T, op *openapi3.Operation) string {
	reqs := doc.Security
	if op.Security != nil {
		reqs = *op.Security
	}
	var ways []string
	for _, r := range reqs {
		if len(r) == 0 {
			ways = append(ways, "anonymous")
			continue
		}
		ways = append(ways, strings.Join(sortedKeys(r), " and ")+" token")
	}
	if len(ways) == 0 {
		return "anonymous"
	}
	return strings.Join(ways, " or ")
}

func paramView(p *openapi3.Parameter, name, in string) (refParam, error) {
	v := refParam{Name: name, In: in, Description: p.Description, Required: p.Required}
	if p.Schema != nil {
		s, err := schemaText(p.Schema)
		if err != nil {
			return refParam{}, err
		}
		v.Schema = s
	}
	if p.Example != nil {
		ex, err := indent(p.Example)
		if err != nil {
			return refParam{}, err
		}
		v.Example = ex
	}
	return v, nil
}

func contentViews(content openapi3.Content) ([]refContent, error) {
	var out []refContent
	for _, media := range sortedKeys(content) {
		mt := content[media]
		c := refContent{Media: media}
		if mt.Schema != nil {
			if name, ok := strings.CutPrefix(mt.Schema.Ref, "#/components/schemas/"); ok {
				c.SchemaName = name
			} else {
				s, err := indent(mt.Schema)
				if err != nil {
					return nil, err
				}
				c.Schema = s
			}
		}
		if mt.Example != nil {
			ex, err := indent(mt.Example)
			if err != nil {
				return nil, err
			}
			c.Examples = append(c.Examples, refExample{Value: ex})
		}
		for _, name := range sortedKeys(mt.Examples) {
			ex := mt.Examples[name].Value
			raw, err := indent(ex.Value)
			if err != nil {
				return nil, err
			}
			label := name
			if ex.Summary != "" {
				label += ": " + ex.Summary
			}
			c.Examples = append(c.Examples, refExample{Name: label, Value: raw})
		}
		out = append(out, c)
	}
	return out, nil
}

// schemaText is a schema in one line where it is short: a parameter's or a header's.
func schemaText(s *openapi3.SchemaRef) (string, error) {
	if name, ok := strings.CutPrefix(s.Ref, "#/components/schemas/"); ok {
		return name, nil
	}
	raw, err := json.Marshal(s)
	if err != nil {
		return "", fmt.Errorf("openapi: encode a schema for the reference: %w", err)
	}
	return string(raw), nil
}

// indent is v as indented JSON; a string that is not JSON, such as a YAML example, is shown
// as it is.
func indent(v any) (string, error) {
	if s, ok := v.(string); ok && strings.Contains(s, "\n") {
		return s, nil
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return "", fmt.Errorf("openapi: encode an example for the reference: %w", err)
	}
	return strings.TrimSuffix(buf.String(), "\n"), nil
}

func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }

// methodOrder is the order of a path's operations on the page: reads first, deletes last.
var methodOrder = []string{"GET", "POST", "PATCH", "PUT", "DELETE"}

func byMethod(a, b string) int {
	return cmp.Compare(methodRank(a), methodRank(b))
}

func methodRank(m string) int {
	if i := slices.Index(methodOrder, m); i >= 0 {
		return i
	}
	return len(methodOrder)
}
