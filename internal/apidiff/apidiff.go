// Package apidiff compares the OpenAPI documents of two specs with oasdiff's checker, the
// second comparison of `plinth diff` (docs/contract.md, decision 20). The spec-level diff
// (spec.Diff) knows what each spec says; this one knows what the documents say, which includes
// what the compiler derives (the problem types an operation can answer, the statuses, the
// parameters), and reports what only the documents show.
package apidiff

import (
	"bytes"
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/oasdiff/oasdiff/checker"
	"github.com/oasdiff/oasdiff/diff"
	"github.com/oasdiff/oasdiff/load"

	"github.com/plinth-dev/plinth/internal/openapi"
	"github.com/plinth-dev/plinth/internal/spec"
)

// Source is the Change.Source of the changes Compare finds.
const Source = "openapi"

var _ spec.Comparison = Compare

// Compare is a spec.Comparison: it builds the OpenAPI documents of old and new as `plinth
// serve` serves them and runs every check of oasdiff's checker over them. Each finding is a
// Change whose Kind is oasdiff's id (response-property-enum-value-added…), Breaking its
// verdict (oasdiff's levels error and warning are breaking, info is not), Reason its text
// with the operations it was found in, Resource the resource of those operations' paths,
// Field the property it names as spec.Change writes fields, and Location the resource's
// place in the spec (in old for what was removed). A finding repeated over several
// operations is one Change. It fails only when a document cannot be built or read back.
func Compare(old, new *spec.Model) ([]spec.Change, error) {
	var infos [2]*load.SpecInfo
	for i, m := range []*spec.Model{old, new} {
		doc, err := openapi.Document(m, openapi.Options{Webhooks: true, SLOs: true})
		if err != nil {
			return nil, fmt.Errorf("apidiff: %w", err)
		}
		// oasdiff reads documents as its loader leaves them; the JSON the server serves is
		// the document exactly, so it goes through that.
		raw, err := openapi.JSON(doc)
		if err != nil {
			return nil, fmt.Errorf("apidiff: %w", err)
		}
		if i == 0 && old.Version != new.Version {
			// A version rise moves every route from /v1 to /v2, which the spec-level diff
			// reports once (version-raised); compared as they are, the documents would share
			// no path. Old's document is compared as it reads under new's prefix.
			raw = bytes.ReplaceAll(raw, []byte("/v"+strconv.Itoa(old.Version)+"/"), []byte("/v"+strconv.Itoa(new.Version)+"/"))
		}
		loader := openapi3.NewLoader()
		loader.IsExternalRefsAllowed = false
		info, err := load.NewSpecInfoFromData(loader, raw, m.Name)
		if err != nil {
			return nil, fmt.Errorf("apidiff: read the document of %s: %w", m.Name, err)
		}
		infos[i] = info
	}
	report, sources, err := diff.GetWithOperationsSourcesMap(diff.NewConfig(), infos[0], infos[1])
	if err != nil {
		return nil, fmt.Errorf("apidiff: compare the documents: %w", err)
	}
	found := checker.CheckBackwardCompatibilityUntilLevel(checker.NewConfig(checker.GetAllChecks()), report, sources, checker.INFO)
	return changes(old, new, found), nil
}

// changes maps oasdiff's findings to Changes: one per kind of finding, resource, field and
// subject (the property, value or status it names first), however many operations and
// statuses show it, in a stable order.
func changes(old, new *spec.Model, found checker.Changes) []spec.Change {
	l := checker.NewDefaultLocalizer()
	type key struct{ kind, resource, field, subject string }
	var order []key
	text := map[key]string{}
	ops := map[key][]string{}
	verdict := map[key]bool{}
	for _, c := range found {
		if listMembership(c.GetId()) {
			continue
		}
		k := key{kind: c.GetId()}
		k.resource, k.field = fieldOf(old, new, resourceOf(old, new, c.GetPath()), c)
		if args := c.GetArgs(); len(args) > 0 {
			k.subject = fmt.Sprint(args[0])
		}
		if _, seen := text[k]; !seen {
			order = append(order, k)
			text[k] = c.GetUncolorizedText(l)
		}
		if op := strings.TrimSpace(c.GetOperation() + " " + c.GetPath()); op != "" && !slices.Contains(ops[k], op) {
			ops[k] = append(ops[k], op)
		}
		verdict[k] = verdict[k] || c.GetLevel() >= checker.WARN
	}
	out := make([]spec.Change, 0, len(order))
	for _, k := range order {
		reason := text[k]
		if len(ops[k]) > 0 {
			reason += ", in " + strings.Join(ops[k], ", ")
		}
		out = append(out, spec.Change{Kind: k.kind, Breaking: verdict[k], Reason: reason, Resource: k.resource, Field: k.field,
			Location: location(old, new, k.resource), Source: Source})
	}
	slices.SortStableFunc(out, func(a, b spec.Change) int {
		return cmp.Or(cmp.Compare(a.Resource, b.Resource), cmp.Compare(a.Field, b.Field), cmp.Compare(a.Kind, b.Kind))
	})
	return out
}

// listMembership reports whether a finding is about the members of an anyOf or oneOf list.
// The document's lists (a batch's operations, the feed's events, an expanded ref) hold one
// inline member per resource and operation; oasdiff matches inline members by position, so
// a change inside one member reads as a member removed and another added, which is not what
// happened. The change inside is reported through the resource's own schemas, and a member
// truly added or removed comes with its resource, which the spec-level diff reports.
func listMembership(id string) bool {
	for _, suffix := range []string{"-any-of-added", "-any-of-removed", "-one-of-added", "-one-of-removed"} {
		if strings.HasSuffix(id, suffix) {
			return true
		}
	}
	return false
}

// resourceOf is the resource whose routes path is (/v1/orders, /v1/orders/{id}), or "".
func resourceOf(old, new *spec.Model, path string) string {
	parts := strings.Split(strings.TrimPrefix(path, "/"), "/")
	if len(parts) < 2 || !strings.HasPrefix(parts[0], "v") {
		return ""
	}
	if resourceNamed(old, new, parts[1]) == nil {
		return ""
	}
	return parts[1]
}

// fieldOf is the resource and field a property finding names, the field as spec.Change
// writes it (items[].quantity), or "" where it names none. oasdiff names a property by its
// path from the body: / between levels, items for an array's elements, and
// anyOf[#/components/schemas/orders] where a member of a list of schemas is a resource's
// record. The record after the last such member is the resource's; otherwise the path is
// read inside the resource of the operation, from the longest tail that is a field (a
// page's items/items/note is the record's note).
func fieldOf(old, new *spec.Model, resource string, c checker.Change) (string, string) {
	if !strings.Contains(c.GetId(), "property") || len(c.GetArgs()) == 0 {
		return resource, ""
	}
	path, ok := c.GetArgs()[0].(string)
	if !ok {
		return resource, ""
	}
	if i := strings.LastIndex(path, "[#/components/schemas/"); i >= 0 {
		name, rest, _ := strings.Cut(path[i+len("[#/components/schemas/"):], "]")
		name, _, _ = strings.Cut(name, ".")
		if resourceNamed(old, new, name) == nil {
			return resource, ""
		}
		resource, path = name, strings.TrimPrefix(rest, "/")
	}
	if path == "" {
		return resource, ""
	}
	names := strings.Split(path, "/")
	for _, m := range []*spec.Model{new, old} {
		r, ok := m.Resource(resource)
		if !ok {
			continue
		}
		for i := range names {
			if f := fieldPath(r.Fields, names[i:]); f != "" {
				return resource, f
			}
		}
	}
	return resource, ""
}

// resourceNamed is the resource of new, else of old, with the name, or nil.
func resourceNamed(old, new *spec.Model, name string) *spec.Resource {
	for _, m := range []*spec.Model{new, old} {
		if r, ok := m.Resource(name); ok {
			return r
		}
	}
	return nil
}

// fieldPath walks names down fields and writes the path as spec.Change does, or "" when a
// name is not a field. After an array, an items segment stands for its elements.
func fieldPath(fields []*spec.Field, names []string) string {
	i := slices.IndexFunc(fields, func(f *spec.Field) bool { return f.Name == names[0] })
	if i < 0 {
		return ""
	}
	f := fields[i]
	written, inner, rest := f.Name, f.Fields, names[1:]
	if f.Of != nil {
		written += "[]"
		inner = f.Of.Fields
		if len(rest) > 0 && rest[0] == "items" {
			rest = rest[1:]
		}
	}
	if len(rest) == 0 {
		return written
	}
	if deeper := fieldPath(inner, rest); deeper != "" {
		return written + "." + deeper
	}
	return ""
}

// location is where resource is written: in new, else in old (it was removed). A finding
// about no resource (a shared schema, the batch) points at the top of the new spec, which is
// where what it derives from is spread.
func location(old, new *spec.Model, resource string) spec.Pos {
	if r := resourceNamed(old, new, resource); r != nil {
		return r.Pos
	}
	for _, r := range new.Resources {
		return spec.Pos{File: r.Pos.File, Line: 1, Col: 1}
	}
	return spec.Pos{}
}
