package sqlstore

import (
	"github.com/plinth-dev/plinth/internal/spec"
	"github.com/plinth-dev/plinth/internal/store"
	"github.com/plinth-dev/plinth/internal/store/jsonval"
)

// AppendEventData writes the stored body of an event, {"record":…,"old":…}, each record as one
// object of every member, exactly as jsonval.AppendExact writes values; old is left out when
// nil.
func AppendEventData(b []byte, record, old *store.Record) ([]byte, error) {
	b = append(b, `{"record":`...)
	b, err := jsonval.AppendExact(b, record.Map())
	if err == nil && old != nil {
		b = append(b, `,"old":`...)
		b, err = jsonval.AppendExact(b, old.Map())
	}
	return append(b, '}'), err
}

// ReadEventData reads what AppendEventData wrote: the record and the old record (nil when
// there is none), conformed to res (nil when the spec no longer has the resource: the values
// stay as decoded).
func ReadEventData(res *spec.Resource, data string) (record, old *store.Record, err error) {
	decoded, err := jsonval.Decode(data)
	if err != nil {
		return nil, nil, err
	}
	body, _ := decoded.(map[string]any)
	return eventRecord(res, body["record"]), eventRecord(res, body["old"]), nil
}

func eventRecord(res *spec.Resource, v any) *store.Record {
	m := res.Conform(v)
	if m == nil {
		return nil
	}
	return store.FromMap(m)
}
