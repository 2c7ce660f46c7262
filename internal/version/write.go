package version

import (
	"encoding/json"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strings"

	"github.com/plinth-dev/plinth/internal/engine"
	"github.com/plinth-dev/plinth/internal/fault"
	"github.com/plinth-dev/plinth/internal/spec"
	"github.com/plinth-dev/plinth/internal/store/jsonval"
)

// Write is a write body of a version's client, translated for the engine.
type Write struct {
	// Body is in the current Model's names and values.
	Body map[string]any
	// Refused lists what the version refuses itself, in its own names: a member naming a
	// current field its clients do not have, a removed field sent with another value than the
	// one it reads as, an enum value it does not have. They go to the engine as
	// engine.Op.Refused, which reports them with the fields it refuses itself.
	Refused []fault.FieldError
	// Reconcile, for an update or a replace, keeps what the client cannot see or tell apart
	// (see engine.Op.Reconcile); nil when there is nothing to keep.
	Reconcile func(stored, input map[string]any)
}

// sentEnum is an enum value a client sent, for Reconcile.
type sentEnum struct {
	fm  *spec.FieldMap
	old string
}

// Translate translates the body of a write of kind to m's resource:
//   - a renamed field takes its current name, a mapped enum value its current value;
//   - a removed field is accepted only with the value it reads as, and then dropped: it is
//     what a client that read the record sends back;
//   - a create fills the current fields its clients cannot see that declare writes_as;
//   - an update or a replace keeps, inside the transaction, an enum value the client sent
//     back unchanged as it read it (the stored paid that reads as open stays paid when the
//     client sends open), and a replace keeps the current fields the client cannot see.
func (a *API) Translate(m *spec.ResourceMap, kind engine.OpKind, body map[string]any) Write {
	w := Write{Body: make(map[string]any, len(body)+len(m.Hidden))}
	var sent []sentEnum
	for name, v := range body {
		fm, ok := m.Field(name)
		switch {
		case !ok:
			if _, current := m.Current.Field(name); current {
				// The current version has it, this one does not: as unknown as any typo.
				w.Refused = append(w.Refused, fault.FieldError{Field: name, Code: "unknown", Message: "there is no field " + name})
				continue
			}
			w.Body[name] = v // the engine reports it, as it would for the current version
		case fm.Current == nil:
			if !sameJSON(v, fm.ReadsAs) {
				w.Refused = append(w.Refused, fault.FieldError{Field: name, Code: "removed", Message: fmt.Sprintf(
					"%s is no longer stored (v%d removed it): it reads as %s and takes no other value", name, a.model.Version, jsonval.AppendValue(nil, fm.ReadsAs))})
			}
		case fm.ToCurrent != nil:
			s, isString := v.(string)
			if !isString {
				w.Body[fm.Current.Name] = v // not a string: the engine says so
				continue
			}
			cur, ok := fm.ToCurrent[s]
			if !ok {
				for _, x := range fm.Old.CheckString(s) {
					w.Refused = append(w.Refused, fault.FieldError{Field: name, Code: x.Code, Message: x.Message})
				}
				continue
			}
			w.Body[fm.Current.Name] = cur
			sent = append(sent, sentEnum{fm, s})
		default:
			w.Body[fm.Current.Name] = v
		}
	}
	if kind == engine.OpCreate {
		for _, h := range m.Hidden {
			if h.Fills {
				w.Body[h.Field.Name] = h.WritesAs // the engine reads bodies and never changes them
			}
		}
	}
	w.Reconcile = reconcile(m, kind, sent)
	return w
}

// reconcile keeps, in an update or a replace, the stored value of an enum the client sent as
// it reads it, and in a replace the fields it cannot see.
func reconcile(m *spec.ResourceMap, kind engine.OpKind, sent []sentEnum) func(stored, input map[string]any) {
	keep := kind == engine.OpReplace && slices.ContainsFunc(m.Hidden, func(h spec.Hidden) bool { return h.Field.Computed == nil })
	if kind == engine.OpCreate || (len(sent) == 0 && !keep) {
		return nil
	}
	return func(stored, input map[string]any) {
		if keep {
			for _, h := range m.Hidden {
				if v, ok := stored[h.Field.Name]; ok && h.Field.Computed == nil {
					input[h.Field.Name] = v
				}
			}
		}
		for _, s := range sent {
			if cur, ok := stored[s.fm.Current.Name].(string); ok && s.fm.ToOld[cur] == s.old {
				input[s.fm.Current.Name] = cur
			}
		}
	}
}

// sameJSON reports whether a body's value (numbers as json.Number) and a value of the spec
// are the same JSON value: 5, 5.0 and 5e0 alike.
func sameJSON(a, b any) bool {
	var x, y any
	return json.Unmarshal(jsonval.AppendValue(nil, a), &x) == nil && json.Unmarshal(jsonval.AppendValue(nil, b), &y) == nil &&
		reflect.DeepEqual(x, y)
}

// Fault is err, an error of the engine about m's current resource, in the version's names:
// its field errors' paths and messages, and the members of its problem document that name
// fields, resources or enum values. The field errors of refused, which the version found
// itself and wrote in its names already (Write.Refused), stay as they are. Anything but a
// *fault.Error is returned as it is.
func (a *API) Fault(m *spec.ResourceMap, err error, refused []fault.FieldError) error {
	f := fault.As(err)
	if f == nil {
		return err
	}
	out := *f
	out.Message = a.rename(m, f.Message)
	if f.Fields != nil {
		out.Fields = make([]fault.FieldError, len(f.Fields))
		for i, fe := range f.Fields {
			if !slices.Contains(refused, fe) {
				fe.Field = fieldPath(m, fe.Field)
				fe.Message = a.rename(m, fe.Message)
			}
			out.Fields[i] = fe
		}
	}
	if f.Extra != nil {
		out.Extra = make(map[string]any, len(f.Extra))
		for k, v := range f.Extra {
			out.Extra[k] = v
		}
		a.extra(m, out.Extra)
	}
	if f.Type == fault.TypeInvalidTransition {
		// Its sentences name the states, which the version may call otherwise.
		from, to := orNull(out.Extra["from"]), orNull(out.Extra["to"])
		out.Message = fmt.Sprintf("%s cannot change from %s to %s", out.Extra["field"], from, to)
		for i := range out.Fields {
			out.Fields[i].Message = fmt.Sprintf("cannot change from %s to %s", from, to)
		}
	}
	return &out
}

// orNull is a state as the sentences about transitions write it.
func orNull(v any) any {
	if v == nil {
		return "null"
	}
	return v
}

// extra translates the members of a problem document that name a field, a resource or an
// enum value: those of invalid-transition (field, from, to, allowed) and of guard-failed and
// expression-failed (resource).
func (a *API) extra(m *spec.ResourceMap, x map[string]any) {
	if name, ok := x["field"].(string); ok {
		if fm, ok := m.FieldOf(name); ok {
			x["field"] = fm.Old.Name
			for _, k := range []string{"from", "to"} {
				if s, ok := x[k].(string); ok {
					x[k] = readValue(fm, s)
				}
			}
			if allowed, ok := x["allowed"].([]string); ok {
				var old []string
				for _, s := range allowed {
					if o := readValue(fm, s).(string); !slices.Contains(old, o) {
						old = append(old, o)
					}
				}
				x["allowed"] = append([]string{}, old...)
			}
		}
	}
	if name, ok := x["resource"].(string); ok {
		if rm, ok := a.MapOf(name); ok {
			x["resource"] = rm.Old.Name
		}
	}
}

// fieldPath is a field error's path (items[0].quantity) with its top-level field's name in
// the version's names.
func fieldPath(m *spec.ResourceMap, path string) string {
	end := strings.IndexAny(path, ".[")
	if end < 0 {
		end = len(path)
	}
	if fm, ok := m.FieldOf(path[:end]); ok {
		return fm.Old.Name + path[end:]
	}
	return path
}

// rename writes the version's names for the current names of renamed fields of m and of
// renamed resources, where a message names them as words.
func (a *API) rename(m *spec.ResourceMap, msg string) string {
	for _, fm := range m.Fields {
		if fm.Current != nil && fm.Current.Name != fm.Old.Name {
			msg = replaceWord(msg, fm.Current.Name, fm.Old.Name)
		}
	}
	for _, rm := range a.Maps() {
		if rm.Current.Name != rm.Old.Name {
			msg = replaceWord(msg, rm.Current.Name, rm.Old.Name)
		}
	}
	return msg
}

// replaceWord replaces word in s where it stands as a whole word (names are [a-z0-9_]).
func replaceWord(s, word, with string) string {
	if !strings.Contains(s, word) {
		return s
	}
	return regexp.MustCompile(`\b`+regexp.QuoteMeta(word)+`\b`).ReplaceAllLiteralString(s, with)
}
