package httpapi

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/plinth-dev/plinth/internal/engine"
)

// eventParams are the query parameters of the change feed.
var eventParams = map[string]bool{"after": true, "resource": true, "limit": true}

// events serves GET /vN/events?after=SEQ&resource=orders&limit=N: the durable, resumable
// change feed, {"items": [event, ...], "next_after": SEQ}.
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var p engine.EventParams
	for k, vs := range q {
		if !eventParams[k] {
			s.simpleProblem(w, r, http.StatusBadRequest, "invalid-query", fmt.Sprintf("unknown query parameter %q; the feed takes after, resource and limit", k))
			return
		}
		if k == "resource" {
			for _, v := range vs {
				p.Resources = append(p.Resources, splitList(v)...)
			}
			continue
		}
		if len(vs) > 1 {
			s.simpleProblem(w, r, http.StatusBadRequest, "invalid-query", fmt.Sprintf("the query parameter %q is given more than once", k))
			return
		}
		n, err := strconv.ParseInt(vs[0], 10, 64)
		if err != nil {
			s.simpleProblem(w, r, http.StatusBadRequest, "invalid-query", k+" must be a whole number")
			return
		}
		if k == "after" {
			p.After = n
		} else {
			p.Limit = int(min(n, engine.MaxEventLimit+1))
			if n < 1 {
				p.Limit = -1 // an explicit 0 is out of range, not "the default"
			}
		}
	}
	page, err := s.engine.Events(r.Context(), p)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	b := make([]byte, 0, 512*len(page.Items)+64)
	b = append(b, `{"items":[`...)
	for i, ev := range page.Items {
		if i > 0 {
			b = append(b, ',')
		}
		b = s.appendEvent(b, ev)
	}
	b = append(b, `],"next_after":`...)
	b = strconv.AppendInt(b, page.NextAfter, 10)
	b = append(b, '}')
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, b)
}

// appendEvent writes the event document that the feed and (later) webhooks share.
func (s *Server) appendEvent(b []byte, ev engine.Event) []byte {
	res, _ := s.engine.Model().Resource(ev.Resource)
	b = append(b, `{"id":`...)
	b = appendString(b, ev.ID)
	b = append(b, `,"seq":`...)
	b = strconv.AppendInt(b, ev.Seq, 10)
	b = append(b, `,"type":`...)
	b = appendString(b, ev.Type)
	b = append(b, `,"resource":`...)
	b = appendString(b, ev.Resource)
	b = append(b, `,"record_id":`...)
	b = appendString(b, ev.RecordID)
	b = append(b, `,"time":`...)
	b = appendValue(b, ev.Time.UTC().Truncate(time.Microsecond))
	b = append(b, `,"actor":`...)
	b = appendString(b, ev.Actor)
	b = append(b, `,"data":{"record":`...)
	b = appendRecord(b, res, ev.Record)
	b = append(b, `,"old":`...)
	if ev.Old != nil {
		b = appendRecord(b, res, ev.Old)
	} else {
		b = append(b, "null"...)
	}
	return append(b, "}}"...)
}
