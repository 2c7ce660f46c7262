// Package codec writes records and events as JSON, the one representation every transport
// and every webhook shares: members in spec order, timestamps in UTC with microseconds.
package codec

import (
	"strconv"
	"time"

	"github.com/plinth-dev/plinth/internal/spec"
	"github.com/plinth-dev/plinth/internal/store"
	"github.com/plinth-dev/plinth/internal/store/jsonval"
)

// AppendRecord writes a record as JSON with its members in spec order: id, the fields,
// created_at, updated_at, version, then expand. Absent members (after projection) are skipped.
func AppendRecord(b []byte, r *spec.Resource, rec map[string]any) []byte {
	b = append(b, '{')
	first := true
	member := func(name string) {
		v, ok := rec[name]
		if !ok {
			return
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = jsonval.AppendString(b, name)
		b = append(b, ':')
		b = jsonval.AppendValue(b, v)
	}
	member("id")
	for _, f := range r.Fields {
		member(f.Name)
	}
	member("created_at")
	member("updated_at")
	member("version")
	member("expand")
	return append(b, '}')
}

// AppendEvent writes the event document that the change feed and webhooks share; res is the
// event's resource.
func AppendEvent(b []byte, res *spec.Resource, ev store.Event) []byte {
	b = append(b, `{"id":`...)
	b = jsonval.AppendString(b, ev.ID)
	b = append(b, `,"seq":`...)
	b = strconv.AppendInt(b, ev.Seq, 10)
	b = append(b, `,"type":`...)
	b = jsonval.AppendString(b, ev.Type)
	b = append(b, `,"resource":`...)
	b = jsonval.AppendString(b, ev.Resource)
	b = append(b, `,"record_id":`...)
	b = jsonval.AppendString(b, ev.RecordID)
	b = append(b, `,"time":`...)
	b = jsonval.AppendValue(b, ev.Time.UTC().Truncate(time.Microsecond))
	b = append(b, `,"actor":`...)
	b = jsonval.AppendString(b, ev.Actor)
	b = append(b, `,"data":{"record":`...)
	b = AppendRecord(b, res, ev.Record)
	b = append(b, `,"old":`...)
	if ev.Old != nil {
		b = AppendRecord(b, res, ev.Old)
	} else {
		b = append(b, "null"...)
	}
	return append(b, "}}"...)
}
