package sqlstore

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/plinth-dev/plinth/internal/spec"
	"github.com/plinth-dev/plinth/internal/store"
	"github.com/plinth-dev/plinth/internal/store/jsonval"
)

// AppendEventData writes the stored body of an event, {"record":…,"old":…}, each record as one
// object of every member, exactly as jsonval.AppendExact writes values; old is left out when
// nil.
func AppendEventData(b []byte, record, old *store.Record) ([]byte, error) {
	b = append(b, `{"record":`...)
	b, err := appendExactRecord(b, record)
	if err == nil && old != nil {
		b = append(b, `,"old":`...)
		b, err = appendExactRecord(b, old)
	}
	return append(b, '}'), err
}

// appendExactRecord writes rec exactly as jsonval.AppendExact writes rec.Map() — every member,
// sorted by name — without building the map: a write stores one or two records per event.
func appendExactRecord(b []byte, rec *store.Record) ([]byte, error) {
	keys := make([]string, 0, len(rec.Fields)+4)
	for k := range rec.Fields {
		keys = append(keys, k)
	}
	keys = append(keys, store.MemberID, store.MemberVersion, store.MemberCreatedAt, store.MemberUpdatedAt)
	slices.Sort(keys)
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = jsonval.AppendString(b, k)
		b = append(b, ':')
		v, _ := rec.Value(k)
		var err error
		if b, err = jsonval.AppendExact(b, v); err != nil {
			return b, err
		}
	}
	return append(b, '}'), nil
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

// Changes implements store.Store: which record each event after a sequence number is of.
func (q *Queue) Changes(ctx context.Context, after int64, limit int) ([]store.Change, error) {
	query := `SELECT "seq", "resource", "record_id" FROM ` + q.events + ` WHERE "seq" > ` + q.p(1) + ` ORDER BY "seq" LIMIT ` + q.p(2)
	var out []store.Change
	err := q.run.Read.Query(ctx, func(rows Rows) error {
		for rows.Next() {
			var c store.Change
			if err := rows.Scan(&c.Seq, &c.Resource, &c.RecordID); err != nil {
				return err
			}
			out = append(out, c)
		}
		return rows.Err()
	}, query, after, q.d.Limit(limit))
	return out, err
}

// Events implements store.Store: the events after a sequence number, of some resources or
// all, with their records conformed to the model.
func (q *Queue) Events(ctx context.Context, after int64, resources []string, limit int) ([]store.Event, error) {
	query := `SELECT "seq", "id", "type", "resource", "record_id", "time", "actor", "data", "trace" FROM ` + q.events + ` WHERE "seq" > ` + q.p(1)
	args := []any{after}
	if len(resources) > 0 {
		query += ` AND ` + q.d.In(`"resource"`, 2)
		args = append(args, q.list(resources))
	}
	query += ` ORDER BY "seq" LIMIT ` + q.p(len(args)+1)
	args = append(args, q.d.Limit(limit))
	// The bodies are read once the rows are: an error of theirs is not the database's.
	var out []store.Event
	var bodies [][]byte
	err := q.run.Read.Query(ctx, func(rows Rows) error {
		for rows.Next() {
			var ev store.Event
			var body []byte
			if err := rows.Scan(&ev.Seq, &ev.ID, &ev.Type, &ev.Resource, &ev.RecordID, q.scanTime(&ev.Time), &ev.Actor, &body, nullText{&ev.Trace}); err != nil {
				return err
			}
			out, bodies = append(out, ev), append(bodies, body)
		}
		return rows.Err()
	}, query, args...)
	if err != nil {
		return nil, err
	}
	for i := range out {
		res, _ := q.model.Resource(out[i].Resource)
		if out[i].Record, out[i].Old, err = ReadEventData(res, string(bodies[i])); err != nil {
			return nil, fmt.Errorf("event %d: %w", out[i].Seq, err)
		}
	}
	return out, nil
}

// SweepEvents implements store.Store: it deletes up to limit events older than before, oldest
// first.
func (q *Queue) SweepEvents(ctx context.Context, before time.Time, limit int) (int, error) {
	var n int64
	err := q.run.Write(ctx, func(c Conn) (err error) {
		n, err = c.Exec(ctx, `DELETE FROM `+q.events+` WHERE "seq" IN (
			SELECT "seq" FROM `+q.events+` WHERE "time" < `+q.p(1)+` ORDER BY "seq" LIMIT `+q.p(2)+q.d.SkipLocked+`)`,
			q.d.Time(before), q.d.Limit(limit))
		return err
	})
	return int(n), err
}

// AppendEventSQL is the statement that appends an event to the outbox, with EventArgs'
// parameters. Sequence numbers are the database's.
func (d *Dialect) AppendEventSQL() string {
	return `INSERT INTO ` + d.Table(Events) + ` ("id", "type", "resource", "record_id", "time", "actor", "data", "trace")
VALUES (` + params(d, 8) + `)`
}

// EventArgs are the parameters of AppendEventSQL for ev, whose body data is (see
// AppendEventData).
func (d *Dialect) EventArgs(ev store.Event, data string) []any {
	return []any{ev.ID, ev.Type, ev.Resource, ev.RecordID, d.Time(ev.Time), ev.Actor, data, textOrNull(ev.Trace)}
}

// TraceColumn is the outbox's and the deliveries' column of the W3C traceparent of the write
// that made the event (store.Event.Trace): nullable, and added to the tables of databases
// made before it, so that they upgrade on start; NULL for a write not traced.
const TraceColumn = "trace"

// textOrNull is s as a parameter of a nullable text column: NULL for "".
func textOrNull(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// nullText scans a nullable text column into s: "" for NULL.
type nullText struct{ s *string }

func (t nullText) Scan(v any) error {
	switch v := v.(type) {
	case nil:
		*t.s = ""
	case string:
		*t.s = v
	case []byte:
		*t.s = string(v)
	default:
		return fmt.Errorf("a text column holds %T", v)
	}
	return nil
}
