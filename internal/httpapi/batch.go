package httpapi

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/plinth-dev/plinth/internal/codec"
	"github.com/plinth-dev/plinth/internal/engine"
	"github.com/plinth-dev/plinth/internal/fault"
	"github.com/plinth-dev/plinth/internal/store"
	"github.com/plinth-dev/plinth/internal/store/jsonval"
)

// batchOp is one parsed operation of a batch, kept for rendering its result.
type batchOp struct {
	op      engine.Op
	h       resourceHandler // the resource it writes, in the batch's version
	body    map[string]any  // as the client sent it
	refused []fault.FieldError
}

// batch serves POST /vN/batch: up to engine.MaxBatch writes in one transaction, all or none.
//
//	{"operations": [{"method": "POST", "path": "/v1/products", "body": {...}},
//	                {"method": "PATCH", "path": "/v1/orders/ID", "body": {...}, "if_match": "\"3\""}]}
//
// Success is 200 with {"results": [{"status", "body"}...]} in order; failure is the failing
// operation's problem document with its "index", and nothing is written.
func (a api) batch(w http.ResponseWriter, r *http.Request) {
	s := a.s
	if !s.jsonBody(w, r, false) {
		return
	}
	doc, ok := s.readBody(w, r)
	if !ok {
		return
	}
	ops, err := a.parseBatch(doc)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	engineOps := make([]engine.Op, len(ops))
	for i, o := range ops {
		engineOps[i] = o.op
	}
	s.write(w, r, engineOps, doc, a.batchRenderer(r, ops))
}

func (a api) parseBatch(doc map[string]any) ([]batchOp, error) {
	invalid := func(format string, args ...any) error {
		return &fault.Error{Code: fault.Invalid, Type: fault.TypeInvalidBatch, Message: fmt.Sprintf(format, args...)}
	}
	for k := range doc {
		if k != "operations" {
			return nil, invalid("unknown member %q; a batch is {\"operations\": [...]}", k)
		}
	}
	list, ok := doc["operations"].([]any)
	if !ok {
		return nil, invalid("operations must be a list") // how many it may hold is the engine's to say
	}
	out := make([]batchOp, len(list))
	for i, item := range list {
		m, ok := item.(map[string]any)
		if !ok {
			return nil, invalid("operation %d must be an object", i)
		}
		o, err := a.parseBatchOp(m)
		if err != nil {
			return nil, invalid("operation %d: %s", i, err.Error())
		}
		out[i] = o
	}
	return out, nil
}

var batchOpKeys = map[string]bool{"method": true, "path": true, "body": true, "if_match": true}

func (a api) parseBatchOp(m map[string]any) (batchOp, error) {
	for k := range m {
		if !batchOpKeys[k] {
			return batchOp{}, fmt.Errorf("unknown member %q (an operation has method, path, body and if_match)", k)
		}
	}
	method, _ := m["method"].(string)
	path, _ := m["path"].(string)
	rest, ok := strings.CutPrefix(path, a.prefix+"/")
	if !ok {
		return batchOp{}, fmt.Errorf("path must start with %s/", a.prefix)
	}
	name, id, hasID := strings.Cut(rest, "/")
	h, found := a.handler(name)
	if !found || strings.Contains(id, "/") || (hasID && id == "") {
		return batchOp{}, fmt.Errorf("there is no resource at %s", path)
	}
	o := batchOp{h: h, op: engine.Op{ID: id}}
	switch {
	case method == http.MethodPost && !hasID:
		o.op.Kind = engine.OpCreate
	case method == http.MethodPatch && hasID:
		o.op.Kind = engine.OpUpdate
	case method == http.MethodPut && hasID:
		o.op.Kind = engine.OpReplace
	case method == http.MethodDelete && hasID:
		o.op.Kind = engine.OpDelete
	default:
		return batchOp{}, fmt.Errorf("%q on %s is not a write; use POST on a collection, or PATCH, PUT or DELETE on a record", method, path)
	}
	body, hasBody := m["body"].(map[string]any)
	if o.op.Kind == engine.OpDelete {
		if _, given := m["body"]; given {
			return batchOp{}, errors.New("a DELETE takes no body")
		}
	} else if !hasBody {
		return batchOp{}, errors.New("body must be a JSON object")
	}
	if v, given := m["if_match"]; given {
		tag, _ := v.(string)
		pre, ok := parseIfMatch(tag)
		if !ok || o.op.Kind == engine.OpCreate {
			return batchOp{}, errors.New(`if_match must be one ETag, like "\"3\"", on PATCH, PUT or DELETE`)
		}
		o.op.Pre = pre
	}
	o.body = body
	o.op, o.refused = h.op(o.op, body)
	return o, nil
}

// handler is the handler of the version's resource called name.
func (a api) handler(name string) (resourceHandler, bool) {
	if a.v == nil {
		r, ok := a.s.engine.Model().Resource(name)
		return resourceHandler{api: a, r: r, cur: r}, ok
	}
	m, ok := a.v.Map(name)
	if !ok {
		return resourceHandler{}, false
	}
	return resourceHandler{api: a, r: m.Old, cur: m.Current, m: m}, true
}

// batchRenderer renders a batch's outcome: every result, or the failing operation's problem;
// with the deprecated fields the operations' bodies sent.
func (a api) batchRenderer(r *http.Request, ops []batchOp) renderer {
	var deprecated []string
	for _, o := range ops {
		for _, name := range o.h.deprecatedFields(o.body) {
			if !slices.Contains(deprecated, name) {
				deprecated = append(deprecated, name)
			}
		}
	}
	slices.Sort(deprecated)
	return func(recs []*store.Record, err error) response {
		resp := a.batchResponse(r, ops, recs, err)
		if deprecated != nil {
			resp.header[deprecatedFieldsHeader] = strings.Join(deprecated, ", ")
		}
		return resp
	}
}

func (a api) batchResponse(r *http.Request, ops []batchOp, recs []*store.Record, err error) response {
	s := a.s
	if err != nil {
		var be *engine.BatchError
		if !errors.As(err, &be) {
			return s.errorResponse(r, err)
		}
		o := ops[be.Index]
		p := s.problemFor(r, o.h.fault(be.Err, o.refused))
		p.Index = &be.Index
		p.Detail = fmt.Sprintf("operation %d failed, so nothing was written: %s", be.Index, p.Detail)
		return s.problemResponse(r, p)
	}
	b := []byte(`{"results":[`)
	for i, rec := range recs {
		if i > 0 {
			b = append(b, ',')
		}
		status := http.StatusOK
		switch {
		case ops[i].op.Kind == engine.OpCreate:
			status = http.StatusCreated
		case rec == nil:
			status = http.StatusNoContent
		}
		b = append(b, `{"status":`...)
		b = append(b, fmt.Sprint(status)...)
		if rec != nil {
			b = append(b, `,"etag":`...)
			b = jsonval.AppendString(b, etagOf(rec))
			b = append(b, `,"body":`...)
			b = codec.AppendRecord(b, ops[i].h.r, ops[i].h.record(rec), nil)
		}
		b = append(b, '}')
	}
	b = append(b, "]}"...)
	return response{status: http.StatusOK, body: b, header: map[string]string{"Content-Type": "application/json"}}
}
