package httpapi

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/plinth-dev/plinth/internal/codec"
	"github.com/plinth-dev/plinth/internal/engine"
	"github.com/plinth-dev/plinth/internal/fault"
	"github.com/plinth-dev/plinth/internal/spec"
	"github.com/plinth-dev/plinth/internal/store"
	"github.com/plinth-dev/plinth/internal/store/jsonval"
)

// batchOp is one parsed operation of a batch, kept for rendering its result.
type batchOp struct {
	op     engine.Op
	r      *spec.Resource
	method string
}

// batch serves POST /vN/batch: up to engine.MaxBatch writes in one transaction, all or none.
//
//	{"operations": [{"method": "POST", "path": "/v1/products", "body": {...}},
//	                {"method": "PATCH", "path": "/v1/orders/ID", "body": {...}, "if_match": "\"3\""}]}
//
// Success is 200 with {"results": [{"status", "body"}...]} in order; failure is the failing
// operation's problem document with its "index", and nothing is written.
func (s *Server) batch(w http.ResponseWriter, r *http.Request) {
	if !s.jsonBody(w, r, false) {
		return
	}
	doc, ok := s.readBody(w, r)
	if !ok {
		return
	}
	ops, err := s.parseBatch(doc)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	engineOps := make([]engine.Op, len(ops))
	for i, o := range ops {
		engineOps[i] = o.op
	}
	s.write(w, r, engineOps, doc, s.batchRenderer(r, ops))
}

func (s *Server) parseBatch(doc map[string]any) ([]batchOp, error) {
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
		o, err := s.parseBatchOp(m)
		if err != nil {
			return nil, invalid("operation %d: %s", i, err.Error())
		}
		out[i] = o
	}
	return out, nil
}

var batchOpKeys = map[string]bool{"method": true, "path": true, "body": true, "if_match": true}

func (s *Server) parseBatchOp(m map[string]any) (batchOp, error) {
	for k := range m {
		if !batchOpKeys[k] {
			return batchOp{}, fmt.Errorf("unknown member %q (an operation has method, path, body and if_match)", k)
		}
	}
	method, _ := m["method"].(string)
	path, _ := m["path"].(string)
	rest, ok := strings.CutPrefix(path, s.prefix+"/")
	if !ok {
		return batchOp{}, fmt.Errorf("path must start with %s/", s.prefix)
	}
	name, id, hasID := strings.Cut(rest, "/")
	res, found := s.engine.Model().Resource(name)
	if !found || strings.Contains(id, "/") || (hasID && id == "") {
		return batchOp{}, fmt.Errorf("there is no resource at %s", path)
	}
	o := batchOp{r: res, method: method, op: engine.Op{Resource: name, ID: id}}
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
	o.op.Body = body
	if v, given := m["if_match"]; given {
		tag, _ := v.(string)
		pre, ok := parseIfMatch(tag)
		if !ok || o.op.Kind == engine.OpCreate {
			return batchOp{}, errors.New(`if_match must be one ETag, like "\"3\"", on PATCH, PUT or DELETE`)
		}
		o.op.Pre = pre
	}
	return o, nil
}

// batchRenderer renders a batch's outcome: every result, or the failing operation's problem.
func (s *Server) batchRenderer(r *http.Request, ops []batchOp) renderer {
	return func(recs []*store.Record, err error) response {
		if err != nil {
			var be *engine.BatchError
			if !errors.As(err, &be) {
				return s.errorResponse(r, err)
			}
			p := s.problemFor(r, be.Err)
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
				b = codec.AppendRecord(b, ops[i].r, rec, nil)
			}
			b = append(b, '}')
		}
		b = append(b, "]}"...)
		return response{status: http.StatusOK, body: b, header: map[string]string{"Content-Type": "application/json"}}
	}
}
