package httpapi

import (
	"fmt"
	"net/http"
	"strconv"

	"github.com/plinth-dev/plinth/internal/codec"
	"github.com/plinth-dev/plinth/internal/engine"
	"github.com/plinth-dev/plinth/internal/fault"
)

// eventParams are the query parameters of the change feed.
var eventParams = map[string]bool{"after": true, "resource": true, "limit": true}

// events serves GET /vN/events?after=SEQ&resource=orders&limit=N: the durable, resumable
// change feed, {"items": [event, ...], "next_after": SEQ}.
func (a api) events(w http.ResponseWriter, r *http.Request) {
	s := a.s
	q := r.URL.Query()
	var p engine.EventParams
	for k, vs := range q {
		if !eventParams[k] {
			s.simpleProblem(w, r, fault.TypeInvalidQuery, fmt.Sprintf("unknown query parameter %q; the feed takes after, resource and limit", k))
			return
		}
		if k == "resource" {
			for _, v := range vs {
				p.Resources = append(p.Resources, splitList(v)...)
			}
			continue
		}
		if len(vs) > 1 {
			s.simpleProblem(w, r, fault.TypeInvalidQuery, fmt.Sprintf("the query parameter %q is given more than once", k))
			return
		}
		n, err := strconv.ParseInt(vs[0], 10, 64)
		if err != nil {
			s.simpleProblem(w, r, fault.TypeInvalidQuery, k+" must be a whole number")
			return
		}
		if k == "after" {
			p.After = n
		} else {
			limit := int(n) // its range is the engine's to check
			p.Limit = &limit
		}
	}
	if a.v != nil {
		var unknown string
		if p.Resources, unknown = a.v.Resources(p.Resources); unknown != "" {
			s.writeError(w, r, &fault.Error{Code: fault.Invalid, Type: fault.TypeInvalidQuery, Message: "the event parameters are invalid",
				Fields: []fault.FieldError{{Field: "resource", Code: "unknown", Message: fmt.Sprintf("%q is not a resource with events", unknown)}}})
			return
		}
	}
	page, err := s.engine.Events(r.Context(), p)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	b := make([]byte, 0, 512*len(page.Items)+64)
	b = append(b, `{"items":[`...)
	first := true
	for _, ev := range page.Items {
		res := s.resource(ev.Resource)
		if a.v != nil {
			var ok bool
			if ev, res, ok = a.v.Event(ev); !ok {
				continue // of a resource the version does not have
			}
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = codec.AppendEvent(b, res, ev)
	}
	b = append(b, `],"next_after":`...)
	b = strconv.AppendInt(b, page.NextAfter, 10)
	b = append(b, '}')
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, b)
}
