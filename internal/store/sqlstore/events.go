package sqlstore

import (
	"github.com/plinth-dev/plinth/internal/spec"
	"github.com/plinth-dev/plinth/internal/store/jsonval"
)

// AppendEventData writes the stored body of an event, {"record":…,"old":…}, exactly as
// jsonval.AppendExact writes values; old is left out when nil.
func AppendEventData(b []byte, record, old map[string]any) ([]byte, error) {
	b = append(b, `{"record":`...)
	b, err := jsonval.AppendExact(b, record)
	if err == nil && old != nil {
		b = append(b, `,"old":`...)
		b, err = jsonval.AppendExact(b, old)
	}
	return append(b, '}'), err
}

// ReadEventData reads what AppendEventData wrote: the record and the old record, conformed to
// res (nil when the spec no longer has the resource: the values stay as decoded).
func ReadEventData(res *spec.Resource, data string) (record, old map[string]any, err error) {
	decoded, err := jsonval.Decode(data)
	if err != nil {
		return nil, nil, err
	}
	body, _ := decoded.(map[string]any)
	return res.Conform(body["record"]), res.Conform(body["old"]), nil
}
