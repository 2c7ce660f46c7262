// Package version serves an older major version of the API over the current Model. The spec
// declares each older version as changes onto the current one (spec.Version); this package
// translates its clients' requests — bodies, list parameters, paths — into the current names,
// values and shapes, and the engine's answers — records, pages, events, problems — back into
// theirs. Every translation works from the maps spec derives (spec.ResourceMap,
// spec.FieldMap), so a new kind of change in the spec language needs nothing here as long as
// it can be said with those maps.
//
// The engine sees only current-shaped requests: access rules, validation, idempotency, ETags
// and events hold for an older version exactly as for the current one.
package version

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/plinth-dev/plinth/internal/openapi"
	"github.com/plinth-dev/plinth/internal/spec"
	"github.com/plinth-dev/plinth/internal/store"
)

// API is an older version as it is served, beside the current version of the same Model.
type API struct {
	*spec.Version
	model *spec.Model // the current Model
}

// New returns the served form of v, an older version of the model m.
func New(m *spec.Model, v *spec.Version) *API {
	return &API{Version: v, model: m}
}

// Prefix is the path under which the version is served, as in /v1.
func (a *API) Prefix() string { return "/v" + strconv.Itoa(a.Number) }

// CurrentPrefix is the path under which its successor, the current version, is served.
func (a *API) CurrentPrefix() string { return "/v" + strconv.Itoa(a.model.Version) }

// Retired reports whether the version's sunset has come at now.
func (a *API) Retired(now time.Time) bool { return !now.Before(a.Sunset) }

// Successor is path, a path of this version, as the current version serves it: the prefix
// and a renamed resource's name translated (/v1/items/ID → /v2/products/ID). A path under no
// resource keeps its rest (/v1/events → /v2/events).
func (a *API) Successor(path string) string {
	rest := strings.TrimPrefix(path, a.Prefix())
	name, tail, _ := strings.Cut(strings.TrimPrefix(rest, "/"), "/")
	if m, ok := a.Map(name); ok {
		rest = "/" + m.Current.Name
		if tail != "" {
			rest += "/" + tail
		}
	}
	return a.CurrentPrefix() + rest
}

// Record is rec, a record of m's current resource, as the version's clients see it: their
// field names, their enum values, and each removed field with the value it reads as. A field
// rec lacks (a list asked for some fields only) is left out, except removed fields.
func Record(m *spec.ResourceMap, rec *store.Record) *store.Record {
	if rec == nil {
		return nil
	}
	out := &store.Record{ID: rec.ID, Version: rec.Version, CreatedAt: rec.CreatedAt, UpdatedAt: rec.UpdatedAt,
		Fields: make(map[string]any, len(m.Fields))}
	for _, fm := range m.Fields {
		if fm.Current == nil {
			out.Fields[fm.Old.Name] = fm.ReadsAs
			continue
		}
		v, ok := rec.Fields[fm.Current.Name]
		if !ok {
			continue
		}
		out.Fields[fm.Old.Name] = readValue(fm, v)
	}
	return out
}

// readValue is a stored value of fm's current field as the version's clients read it.
func readValue(fm *spec.FieldMap, v any) any {
	if s, ok := v.(string); ok && fm.ToOld != nil {
		return fm.ToOld[s]
	}
	return v
}

// Event is ev, an event of the current Model, as the version's clients see it, with the
// version's resource its records belong to; false when the version does not have the
// event's resource.
func (a *API) Event(ev store.Event) (store.Event, *spec.Resource, bool) {
	m, ok := a.MapOf(ev.Resource)
	if !ok {
		return ev, nil, false
	}
	_, kind, _ := strings.Cut(ev.Type, ".")
	ev.Type, ev.Resource = m.Old.Name+"."+kind, m.Old.Name
	ev.Record, ev.Old = Record(m, ev.Record), Record(m, ev.Old)
	return ev, m.Old, true
}

// Resources translates resource names of the version (the change feed's resource parameter)
// into the current Model's; a name the version lacks is returned as unknown. Given no names,
// it names the version's resources with events when the current Model has others, so that
// the database leaves theirs out of the version's feed (Event drops any that remain).
func (a *API) Resources(names []string) (current []string, unknown string) {
	if len(names) == 0 {
		if len(a.Maps()) == len(a.model.Resources) {
			return nil, ""
		}
		for _, m := range a.Maps() {
			if m.Current.Events {
				current = append(current, m.Current.Name)
			}
		}
		return current, ""
	}
	current = make([]string, len(names))
	for i, n := range names {
		m, ok := a.Map(n)
		if !ok {
			return nil, n
		}
		current[i] = m.Current.Name
	}
	return current, ""
}

func (a *API) String() string { return fmt.Sprintf("v%d", a.Number) }

// Document is the version's OpenAPI document, built from its View: every operation
// deprecated, with the Deprecation, Sunset and Link headers its answers carry and its 410;
// maxBody is the server's body limit (zero leaves it out).
func (a *API) Document(maxBody int64) (*openapi3.T, error) {
	return openapi.Document(a.View, openapi.Options{MaxBody: maxBody,
		Retiring: &openapi.Retiring{Deprecated: a.Deprecated, Sunset: a.Sunset, Successor: a.Successor}})
}
