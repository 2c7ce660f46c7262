package engine

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/plinth-dev/plinth/internal/query"
	"github.com/plinth-dev/plinth/internal/spec"
	"github.com/plinth-dev/plinth/internal/store"
)

// A cursor is the last row's sort values, signed together with the sort and the filter it
// belongs to: clients cannot forge one, nor carry one over to another query.

var errBadCursor = errors.New("bad cursor")

func (e *Engine) cursorMAC(resource string, order []query.Sort, filter string, payload []byte) []byte {
	m := hmac.New(sha256.New, e.cursorKey)
	m.Write([]byte(resource))
	m.Write([]byte{0})
	for _, s := range order {
		m.Write([]byte(s.Field))
		if s.Desc {
			m.Write([]byte{'-'})
		}
		m.Write([]byte{','})
	}
	m.Write([]byte{0})
	m.Write([]byte(filter))
	m.Write([]byte{0})
	m.Write(payload)
	return m.Sum(nil)[:16]
}

func (e *Engine) encodeCursor(r *spec.Resource, order []query.Sort, filter string, last *store.Record) string {
	vals := make([]any, len(order))
	for i, s := range order {
		v, _ := last.Value(s.Field)
		if t, ok := v.(time.Time); ok {
			v = t.Format(time.RFC3339Nano)
		}
		vals[i] = v
	}
	payload, _ := json.Marshal(vals)
	enc := base64.RawURLEncoding
	return enc.EncodeToString(payload) + "." + enc.EncodeToString(e.cursorMAC(r.Name, order, filter, payload))
}

// decodeCursor checks a cursor and turns it into the keyset condition "after this row".
// nonNull names fields that the rest of the query already requires to be set; their keyset
// conditions then need no NULL branch, which keeps them simple enough for an index seek.
func (e *Engine) decodeCursor(r *spec.Resource, order []query.Sort, filter, cursor string, nonNull map[string]bool) (query.Expr, error) {
	// Strict: a cursor has one spelling, so no other string passes for it.
	enc := base64.RawURLEncoding.Strict()
	p, m, ok := strings.Cut(cursor, ".")
	if !ok {
		return nil, errBadCursor
	}
	payload, err1 := enc.DecodeString(p)
	mac, err2 := enc.DecodeString(m)
	if err1 != nil || err2 != nil || !hmac.Equal(mac, e.cursorMAC(r.Name, order, filter, payload)) {
		return nil, errBadCursor
	}
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	var raw []any
	if err := dec.Decode(&raw); err != nil || len(raw) != len(order) {
		return nil, errBadCursor
	}
	fields := r.QueryFields()
	vals := make([]any, len(raw))
	for i, s := range order {
		v, err := cursorValue(fields[s.Field].Kind, raw[i])
		if err != nil {
			return nil, err
		}
		vals[i] = v
	}
	return keyset(order, vals, nonNull), nil
}

func cursorValue(k query.Kind, raw any) (any, error) {
	if raw == nil {
		return nil, nil
	}
	var ok bool
	var v any
	switch k {
	case query.KindString:
		v, ok = raw.(string)
	case query.KindInteger:
		v, ok = toInt(raw)
	case query.KindNumber:
		v, ok = toFloat(raw)
	case query.KindBool:
		v, ok = raw.(bool)
	case query.KindTimestamp:
		v, ok = toTime(raw)
	}
	if !ok {
		return nil, errBadCursor
	}
	return v, nil
}

// keyset is the condition for rows strictly after vals in order: for some i, the first i-1
// keys are equal and key i is past its value. NULLs sort first ascending, last descending.
//
// The disjunction is preceded by a bound on the first key alone (a >= v), which it implies:
// it lets the database seek in an index on a instead of scanning every row after the cursor.
func keyset(order []query.Sort, vals []any, nonNull map[string]bool) query.Expr {
	var or query.Or
	for i, s := range order {
		terms := make([]query.Expr, 0, i+1)
		for j := 0; j < i; j++ {
			terms = append(terms, equalTo(order[j].Field, vals[j]))
		}
		terms = append(terms, after(s, vals[i], nonNull[s.Field]))
		or.Terms = append(or.Terms, query.And{Terms: terms})
	}
	if lead := notBefore(order[0], vals[0], nonNull[order[0].Field]); lead != nil {
		return query.And{Terms: []query.Expr{lead, or}}
	}
	return or
}

// notBefore is "at or after v" on one key, or nil where that bounds nothing an index can use.
func notBefore(s query.Sort, v any, nonNull bool) query.Expr {
	switch {
	case v == nil:
		return nil
	case !s.Desc:
		return query.Compare{Field: s.Field, Op: query.Ge, Value: v}
	case nonNull:
		return query.Compare{Field: s.Field, Op: query.Le, Value: v}
	default:
		return query.Or{Terms: []query.Expr{query.Compare{Field: s.Field, Op: query.Le, Value: v}, query.IsNull{Field: s.Field}}}
	}
}

func equalTo(field string, v any) query.Expr {
	if v == nil {
		return query.IsNull{Field: field}
	}
	return query.Compare{Field: field, Op: query.Eq, Value: v}
}

func after(s query.Sort, v any, nonNull bool) query.Expr {
	switch {
	case !s.Desc && v == nil:
		return query.Not{X: query.IsNull{Field: s.Field}}
	case !s.Desc:
		return query.Compare{Field: s.Field, Op: query.Gt, Value: v}
	case v == nil:
		return query.Const(false)
	case nonNull:
		return query.Compare{Field: s.Field, Op: query.Lt, Value: v}
	default:
		return query.Or{Terms: []query.Expr{query.Compare{Field: s.Field, Op: query.Lt, Value: v}, query.IsNull{Field: s.Field}}}
	}
}

// nonNullFields names the fields that every row matching x has set: those its top-level
// conjuncts compare with a value. (x != v and null checks do not count: they admit nulls.)
func nonNullFields(x query.Expr, out map[string]bool) {
	switch t := x.(type) {
	case query.And:
		for _, term := range t.Terms {
			nonNullFields(term, out)
		}
	case query.Compare:
		if t.Op != query.Ne {
			out[t.Field] = true
		}
	case query.In:
		out[t.Field] = true
	case query.Match:
		out[t.Field] = true
	case query.Truth:
		out[t.Field] = true
	}
}
