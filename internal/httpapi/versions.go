package httpapi

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/plinth-dev/plinth/internal/fault"
	"github.com/plinth-dev/plinth/internal/spec"
	"github.com/plinth-dev/plinth/internal/version"
)

// olderVersion is the older version whose routes path is under, or nil.
func (s *Server) olderVersion(path string) *version.API {
	for _, a := range s.apis[1:] {
		if p := a.prefix; strings.HasPrefix(path, p) && (len(path) == len(p) || path[len(p)] == '/') {
			return a.v
		}
	}
	return nil
}

// deprecated marks a response of an older version as deprecated, with when it was (RFC 9745
// Deprecation), when it stops (RFC 8594 Sunset) and where the current version serves the same
// (a successor-version Link). Once the sunset has come, by the engine's clock, it answers
// 410 itself, naming the successor, and reports false.
func (s *Server) deprecated(w http.ResponseWriter, r *http.Request, v *version.API) bool {
	h := w.Header()
	successor := v.Successor(r.URL.Path)
	h.Set("Link", "<"+successor+`>; rel="successor-version"`)
	if v.Retired(s.engine.Now()) {
		s.writeProblem(w, r, problem{Type: fault.TypeVersionSunset,
			Detail: fmt.Sprintf("%s was retired on %s; the current version serves this at %s", v, v.Sunset.Format(time.RFC3339), successor),
			Extra:  map[string]any{"successor": successor, "sunset": v.Sunset.Format(time.RFC3339)}})
		return false
	}
	h.Set("Deprecation", "@"+strconv.FormatInt(v.Deprecated.Unix(), 10))
	h.Set("Sunset", v.Sunset.UTC().Format(http.TimeFormat))
	return true
}

// deprecatedFieldsHeader names the deprecated fields a write's body sent.
const deprecatedFieldsHeader = "Plinth-Deprecated-Fields"

// hasDeprecated reports whether any of fields, at any depth, is marked `deprecated: true`.
func hasDeprecated(fields []*spec.Field) bool {
	for _, f := range fields {
		if f.Deprecated || hasDeprecated(f.Fields) || (f.Of != nil && hasDeprecated([]*spec.Field{f.Of})) {
			return true
		}
	}
	return false
}

// deprecatedFields lists the fields marked `deprecated: true` that body sends, at any depth
// (items[].code for a member of an array's objects), sorted; nil when it sends none. A
// resource without deprecated fields, nearly every one, costs its writes one map look-up.
func (h resourceHandler) deprecatedFields(body map[string]any) []string {
	if !h.s.deprecating[h.r] {
		return nil
	}
	var out []string
	var walk func(fields []*spec.Field, obj map[string]any, path string)
	walk = func(fields []*spec.Field, obj map[string]any, path string) {
		for _, f := range fields {
			v, sent := obj[f.Name]
			if !sent {
				continue
			}
			name := path + f.Name
			if f.Deprecated && !slices.Contains(out, name) {
				out = append(out, name)
			}
			switch x := v.(type) {
			case map[string]any:
				walk(f.Fields, x, name+".")
			case []any:
				if f.Of != nil && f.Of.Type == spec.TypeObject {
					for _, item := range x {
						if m, ok := item.(map[string]any); ok {
							walk(f.Of.Fields, m, name+"[].")
						}
					}
				}
			}
		}
	}
	walk(h.r.Fields, body, "")
	slices.Sort(out)
	return out
}
