package openapi

import (
	"time"

	"github.com/plinth-dev/plinth/internal/spec"
)

// jsonValue is a record value as the server writes it in JSON: timestamps in UTC with
// microseconds, nested values alike.
func jsonValue(v any) any {
	switch x := v.(type) {
	case time.Time:
		return x.UTC().Format("2006-01-02T15:04:05.000000Z")
	case []any:
		out := make([]any, len(x))
		for i := range x {
			out[i] = jsonValue(x[i])
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, val := range x {
			out[k] = jsonValue(val)
		}
		return out
	}
	return v
}

// sampleTimestamp is the time examples show for created_at and updated_at.
var sampleTimestamp = jsonValue((&spec.Field{Type: spec.TypeTimestamp}).Sample())

// sampleRecord is an example of a resource's record as the server writes it.
func sampleRecord(r *spec.Resource) map[string]any {
	rec := map[string]any{"id": spec.SampleID(r.Name), "created_at": sampleTimestamp, "updated_at": sampleTimestamp, "version": 1}
	for _, f := range r.Fields {
		rec[f.Name] = jsonValue(filled(f, f.Sample()))
	}
	return rec
}

// sampleCreate is an example of a create's body: every member a client may write, but those
// the server fills from the caller or the clock (an expression default) when left out.
func sampleCreate(r *spec.Resource) map[string]any {
	body := map[string]any{}
	for _, f := range r.Fields {
		if f.ReadOnly() || f.Default != nil && f.Default.Expr != nil {
			continue
		}
		body[f.Name] = jsonValue(initialState(f, writable(f, f.Sample())))
	}
	return body
}

// samplePatch is an example of a merge patch: the first member that an update may change,
// moved along its state machine when it has one. It is empty for a resource whose members
// are all immutable or computed.
func samplePatch(r *spec.Resource) map[string]any {
	for _, f := range r.Fields {
		if f.ReadOnly() || f.Immutable {
			continue
		}
		v := writable(f, f.Sample())
		if f.Transitions != nil {
			from, _ := initialState(f, v).(string)
			if next := f.Transitions[from]; len(next) > 0 {
				v = next[0]
			}
		}
		return map[string]any{f.Name: jsonValue(v)}
	}
	return map[string]any{}
}
