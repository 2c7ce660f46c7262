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
// created_at, updated_at, version. only, when not nil, names the members to write (id is
// always written); a field the record does not hold is skipped.
func AppendRecord(b []byte, r *spec.Resource, rec *store.Record, only map[string]bool) []byte {
	b = append(b, `{"id":`...)
	b = jsonval.AppendString(b, rec.ID)
	for _, f := range r.Fields {
		if only != nil && !only[f.Name] {
			continue
		}
		if v, ok := rec.Fields[f.Name]; ok {
			b = appendMember(b, f.Name, v)
		}
	}
	if only == nil || only[store.MemberCreatedAt] {
		b = jsonval.AppendTime(append(b, `,"created_at":`...), rec.CreatedAt)
	}
	if only == nil || only[store.MemberUpdatedAt] {
		b = jsonval.AppendTime(append(b, `,"updated_at":`...), rec.UpdatedAt)
	}
	if only == nil || only[store.MemberVersion] {
		b = append(b, `,"version":`...)
		b = strconv.AppendInt(b, rec.Version, 10)
	}
	return append(b, '}')
}

// appendMember writes ,"name":value.
func appendMember(b []byte, name string, v any) []byte {
	b = append(b, ',')
	b = jsonval.AppendString(b, name)
	b = append(b, ':')
	return jsonval.AppendValue(b, v)
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
	b = appendRecordOrNull(b, res, ev.Record)
	b = append(b, `,"old":`...)
	b = appendRecordOrNull(b, res, ev.Old)
	return append(b, "}}"...)
}

// appendRecordOrNull writes rec, or null for none: the old record of a create, or the record
// of an outbox row whose body is damaged, which must not stop the feed or the webhooks.
func appendRecordOrNull(b []byte, res *spec.Resource, rec *store.Record) []byte {
	if rec == nil {
		return append(b, "null"...)
	}
	return AppendRecord(b, res, rec, nil)
}
