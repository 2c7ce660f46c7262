package httpapi

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/plinth-dev/plinth/internal/codec"
	"github.com/plinth-dev/plinth/internal/engine"
	"github.com/plinth-dev/plinth/internal/fault"
	"github.com/plinth-dev/plinth/internal/spec"
	"github.com/plinth-dev/plinth/internal/store"
	"github.com/plinth-dev/plinth/internal/store/jsonval"
	"github.com/plinth-dev/plinth/internal/version"
)

// resourceHandler serves one resource's routes in one version of the API.
type resourceHandler struct {
	api
	r   *spec.Resource    // as the version's clients see it
	cur *spec.Resource    // in the current Model, which the engine serves
	m   *spec.ResourceMap // how r maps onto cur; nil in the current version
}

// record is rec as the version's clients see it.
func (h resourceHandler) record(rec *store.Record) *store.Record {
	if h.m == nil {
		return rec
	}
	return version.Record(h.m, rec)
}

// fault is err in the version's names; refused are the field errors the version found itself.
func (h resourceHandler) fault(err error, refused []fault.FieldError) error {
	if h.m == nil {
		return err
	}
	return h.v.Fault(h.m, err, refused)
}

// listParams are the query parameters a list accepts; anything else is a 400, so that a
// typo such as ?filtr= does not silently return everything.
var listParams = map[string]bool{"filter": true, "sort": true, "limit": true, "cursor": true, "fields": true, "expand": true}

func (h resourceHandler) list(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	for k, v := range q {
		if !listParams[k] {
			h.s.simpleProblem(w, r, fault.TypeInvalidQuery, fmt.Sprintf("unknown query parameter %q; lists take filter, sort, limit, cursor, fields and expand", k))
			return
		}
		if len(v) > 1 {
			h.s.simpleProblem(w, r, fault.TypeInvalidQuery, fmt.Sprintf("the query parameter %q is given more than once", k))
			return
		}
	}
	p := engine.ListParams{Filter: q.Get("filter"), Sort: q.Get("sort"), Cursor: q.Get("cursor"),
		Fields: splitList(q.Get("fields")), Expand: splitList(q.Get("expand"))}
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil {
			h.s.simpleProblem(w, r, fault.TypeInvalidQuery, "limit must be a whole number")
			return
		}
		p.Limit = &n // its range is the engine's to check
	}
	var only map[string]bool
	if h.m != nil {
		// Checked in the version's names first, so that mistakes are told in them.
		err := h.s.engine.CheckList(r.Context(), h.cur.Name, h.r, p)
		if err == nil {
			p, only, err = h.v.List(h.m, p)
		}
		if err != nil {
			h.s.writeError(w, r, err)
			return
		}
	}
	page, err := h.s.engine.List(r.Context(), h.cur.Name, p)
	if err != nil {
		h.s.writeError(w, r, h.fault(err, nil))
		return
	}
	if h.m == nil {
		only = page.Fields
	}
	b := make([]byte, 0, 256*len(page.Items)+64)
	b = append(b, `{"items":[`...)
	for i, it := range page.Items {
		if i > 0 {
			b = append(b, ',')
		}
		b = h.appendItem(b, only, it)
	}
	b = append(b, `],"next_cursor":`...)
	if page.NextCursor == "" {
		b = append(b, "null"...)
	} else {
		b = jsonval.AppendString(b, page.NextCursor)
	}
	b = append(b, '}')
	w.Header().Set("Cache-Control", "private, no-cache")
	writeJSON(w, http.StatusOK, b)
}

// appendItem writes a page's record with the members only names (all for nil) and, when the
// list expanded refs, an expand member holding the records they point to (null for none).
func (h resourceHandler) appendItem(b []byte, only map[string]bool, it engine.Item) []byte {
	b = codec.AppendRecord(b, h.r, h.record(it.Record), only)
	if it.Expand == nil {
		return b
	}
	b = append(b[:len(b)-1], `,"expand":{`...)
	first := true
	for _, f := range h.r.Fields {
		cur := f
		if h.m != nil {
			fm, _ := h.m.Field(f.Name)
			if cur = fm.Current; cur == nil {
				continue // removed: refers to nothing, and List refuses to expand it
			}
		}
		rec, ok := it.Expand[cur.Name]
		if !ok {
			continue
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = jsonval.AppendString(b, f.Name)
		b = append(b, ':')
		if rec == nil {
			b = append(b, "null"...)
			continue
		}
		b = h.appendTarget(b, cur.Ref, rec)
	}
	return append(b, '}', '}')
}

// appendTarget writes rec, a record of the current resource named current, as the version's
// clients see it.
func (h resourceHandler) appendTarget(b []byte, current string, rec *store.Record) []byte {
	if h.v == nil {
		target, _ := h.s.engine.Model().Resource(current)
		return codec.AppendRecord(b, target, rec, nil)
	}
	m, _ := h.v.MapOf(current) // a ref of the version names a resource it has
	return codec.AppendRecord(b, m.Old, version.Record(m, rec), nil)
}

func splitList(s string) []string {
	if s == "" {
		return nil
	}
	parts := strings.Split(s, ",")
	for i := range parts {
		parts[i] = strings.TrimSpace(parts[i])
	}
	return parts
}

func (h resourceHandler) get(w http.ResponseWriter, r *http.Request) {
	rec, err := h.s.engine.Get(r.Context(), h.cur.Name, r.PathValue("id"))
	if err != nil {
		h.s.writeError(w, r, h.fault(err, nil))
		return
	}
	etag := etagOf(rec)
	w.Header().Set("ETag", etag)
	w.Header().Set("Cache-Control", "private, no-cache")
	if matchesETag(r.Header.Get("If-None-Match"), etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	writeJSON(w, http.StatusOK, codec.AppendRecord(nil, h.r, h.record(rec), nil))
}

func (h resourceHandler) create(w http.ResponseWriter, r *http.Request) {
	body, ok := h.body(w, r, false)
	if !ok {
		return
	}
	op, refused := h.op(engine.Op{Kind: engine.OpCreate}, body)
	h.s.write(w, r, []engine.Op{op}, body, h.recordRenderer(r, body, refused))
}

// op completes a write of the resource with body: as it is in the current version, and
// translated in an older one, with what the version refused itself.
func (h resourceHandler) op(op engine.Op, body map[string]any) (engine.Op, []fault.FieldError) {
	op.Resource, op.Body = h.cur.Name, body
	if h.m == nil || op.Kind == engine.OpDelete {
		return op, nil
	}
	t := h.v.Translate(h.m, op.Kind, body)
	op.Body, op.Refused, op.Reconcile = t.Body, t.Refused, t.Reconcile
	return op, t.Refused
}

func (h resourceHandler) patch(w http.ResponseWriter, r *http.Request) {
	h.update(w, r, engine.OpUpdate)
}

func (h resourceHandler) put(w http.ResponseWriter, r *http.Request) {
	h.update(w, r, engine.OpReplace)
}

func (h resourceHandler) update(w http.ResponseWriter, r *http.Request, kind engine.OpKind) {
	pre, ok := h.precondition(w, r)
	if !ok {
		return
	}
	body, ok := h.body(w, r, kind == engine.OpUpdate)
	if !ok {
		return
	}
	op, refused := h.op(engine.Op{Kind: kind, ID: r.PathValue("id"), Pre: pre}, body)
	h.s.write(w, r, []engine.Op{op}, body, h.recordRenderer(r, body, refused))
}

func (h resourceHandler) delete(w http.ResponseWriter, r *http.Request) {
	pre, ok := h.precondition(w, r)
	if !ok {
		return
	}
	op, _ := h.op(engine.Op{Kind: engine.OpDelete, ID: r.PathValue("id"), Pre: pre}, nil)
	h.s.write(w, r, []engine.Op{op}, nil, h.recordRenderer(r, nil, nil))
}

// recordRenderer renders a single write: the record with its ETag (and Location, for a
// create), 204 for a delete, or the problem document; with the deprecated fields body sent,
// and in the version's names, keeping refused (the version's own field errors) as they are.
func (h resourceHandler) recordRenderer(r *http.Request, body map[string]any, refused []fault.FieldError) renderer {
	deprecated := h.deprecatedFields(body)
	return func(recs []*store.Record, err error) response {
		resp := h.recordResponse(r, recs, err, refused)
		if deprecated != nil {
			resp.header[deprecatedFieldsHeader] = strings.Join(deprecated, ", ")
		}
		return resp
	}
}

func (h resourceHandler) recordResponse(r *http.Request, recs []*store.Record, err error, refused []fault.FieldError) response {
	var be *engine.BatchError
	if errors.As(err, &be) {
		err = be.Err // one operation alone has no index to report
	}
	if err != nil {
		return h.s.errorResponse(r, h.fault(err, refused))
	}
	rec := recs[0]
	if rec == nil {
		return response{status: http.StatusNoContent, header: map[string]string{}}
	}
	resp := response{status: http.StatusOK, body: codec.AppendRecord(nil, h.r, h.record(rec), nil),
		header: map[string]string{"Content-Type": "application/json", "ETag": etagOf(rec)}}
	if r.Method == http.MethodPost {
		resp.status = http.StatusCreated
		resp.header["Location"] = h.prefix + "/" + h.r.Name + "/" + rec.ID
	}
	return resp
}

// write applies ops, under the request's Idempotency-Key when it has one. The key is scoped to
// the operation "METHOD path", the request's own path rather than its route, so that a key
// sent to one record never answers for another.
func (s *Server) write(w http.ResponseWriter, r *http.Request, ops []engine.Op, body map[string]any, render renderer) {
	key := r.Header.Get("Idempotency-Key")
	if key == "" {
		recs, err := s.engine.Apply(r.Context(), ops)
		writeResponse(w, render(recs, err))
		return
	}
	sum := sha256.Sum256(jsonval.AppendValue(nil, body))
	// fresh is the response rendered for the write stored last: when the write happens now,
	// it is sent as it is, and only a replay reads the stored envelope.
	var fresh response
	stored, replayed, err := s.engine.ApplyIdempotent(r.Context(), ops, engine.IdempotencyKey{
		Key: key, Operation: r.Method + " " + r.URL.Path, Fingerprint: hex.EncodeToString(sum[:]),
	}, func(recs []*store.Record, err error) []byte {
		fresh = render(recs, err)
		return fresh.encode()
	})
	resp := fresh
	if err == nil && replayed {
		resp, err = decodeResponse(stored)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if replayed {
		w.Header().Set("Idempotent-Replayed", "true")
	}
	writeResponse(w, resp)
}

// body reads a JSON object body: the right media type, within the size limit, well formed.
func (h resourceHandler) body(w http.ResponseWriter, r *http.Request, patch bool) (map[string]any, bool) {
	if !h.s.jsonBody(w, r, patch) {
		return nil, false
	}
	return h.s.readBody(w, r)
}

// jsonBody checks the media type; merge patches may also say application/merge-patch+json.
func (s *Server) jsonBody(w http.ResponseWriter, r *http.Request, patch bool) bool {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err == nil && (mt == "application/json" || (patch && mt == "application/merge-patch+json")) {
		return true
	}
	accepted := "application/json"
	if patch {
		accepted += " or application/merge-patch+json"
		w.Header().Set("Accept-Patch", "application/json, application/merge-patch+json")
	}
	s.simpleProblem(w, r, fault.TypeUnsupportedMediaType, "send the body as "+accepted)
	return false
}

// readBody decodes a JSON object within the size limit.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) (map[string]any, bool) {
	obj, err := decodeObject(http.MaxBytesReader(w, r.Body, s.maxBody))
	var tooLarge *http.MaxBytesError
	var syntax *errSyntax
	switch {
	case errors.As(err, &tooLarge):
		s.simpleProblem(w, r, fault.TypeTooLarge, fmt.Sprintf("the body is larger than %d bytes", s.maxBody))
		return nil, false
	case errors.As(err, &syntax):
		s.simpleProblem(w, r, fault.TypeMalformedJSON, syntax.msg)
		return nil, false
	case err != nil:
		s.simpleProblem(w, r, fault.TypeMalformedJSON, "the body could not be read")
		return nil, false
	}
	return obj, true
}

// precondition reads If-Match.
func (h resourceHandler) precondition(w http.ResponseWriter, r *http.Request) (engine.Precondition, bool) {
	pre, ok := parseIfMatch(r.Header.Get("If-Match"))
	if !ok {
		h.s.simpleProblem(w, r, fault.TypeInvalidPrecondition, `If-Match must be one ETag from this API, like "3"`)
	}
	return pre, ok
}

// parseIfMatch reads an If-Match value: empty or * means no precondition. A list of ETags,
// or a weak one, cannot name one version.
func parseIfMatch(v string) (engine.Precondition, bool) {
	v = strings.TrimSpace(v)
	if v == "" || v == "*" {
		return engine.Precondition{}, true
	}
	n, err := strconv.ParseInt(strings.Trim(v, `"`), 10, 64)
	if err != nil || n < 1 || len(v) < 3 || v[0] != '"' || v[len(v)-1] != '"' {
		return engine.Precondition{}, false
	}
	return engine.Precondition{Version: n}, true
}

func etagOf(rec *store.Record) string {
	return `"` + strconv.FormatInt(rec.Version, 10) + `"`
}

// matchesETag implements If-None-Match's weak comparison over a list of tags.
func matchesETag(header, etag string) bool {
	if header == "" {
		return false
	}
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == "*" || t == etag {
			return true
		}
	}
	return false
}
