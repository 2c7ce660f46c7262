package httpapi

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/plinth-dev/plinth/internal/engine"
	"github.com/plinth-dev/plinth/internal/fault"
)

// problemTypeBase prefixes every problem type slug. Types are URNs: stable identifiers for
// clients to switch on, not links.
const problemTypeBase = "urn:plinth:problem:"

// statusOf is the one table from error codes to HTTP statuses.
var statusOf = map[fault.Code]int{
	fault.Invalid:            http.StatusBadRequest,
	fault.Unauthorized:       http.StatusUnauthorized,
	fault.Forbidden:          http.StatusForbidden,
	fault.NotFound:           http.StatusNotFound,
	fault.Conflict:           http.StatusConflict,
	fault.PreconditionFailed: http.StatusPreconditionFailed,
	fault.PreconditionNeeded: http.StatusPreconditionRequired,
	fault.Unavailable:        http.StatusServiceUnavailable,
	fault.Internal:           http.StatusInternalServerError,
}

// statusOfType overrides the code's status for some problem types.
var statusOfType = map[string]int{
	"validation":             http.StatusUnprocessableEntity,
	"idempotency-key-reused": http.StatusUnprocessableEntity,
	"expression-failed":      http.StatusUnprocessableEntity,
}

// problem is an RFC 9457 problem document.
type problem struct {
	Type      string             `json:"type"`
	Title     string             `json:"title"`
	Status    int                `json:"status"`
	Detail    string             `json:"detail,omitempty"`
	Instance  string             `json:"instance,omitempty"`
	RequestID string             `json:"request_id,omitempty"`
	Errors    []fault.FieldError `json:"errors,omitempty"`
	Extra     map[string]any     `json:"-"`
}

func (p problem) document() map[string]any {
	doc := map[string]any{"type": p.Type, "title": p.Title, "status": p.Status}
	for k, v := range p.Extra {
		doc[k] = v
	}
	if p.Detail != "" {
		doc["detail"] = p.Detail
	}
	if p.Instance != "" {
		doc["instance"] = p.Instance
	}
	if p.RequestID != "" {
		doc["request_id"] = p.RequestID
	}
	if len(p.Errors) > 0 {
		doc["errors"] = p.Errors
	}
	return doc
}

// writeError answers with the problem document for err.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	writeResponse(w, s.errorResponse(r, err))
}

// errorResponse renders the problem document for err. Anything that is not a classified
// fault is logged with its cause and answered with a generic 500: no internal text leaks.
func (s *Server) errorResponse(r *http.Request, err error) engine.Response {
	f := fault.As(err)
	if f == nil || f.Code == fault.Internal {
		s.log.ErrorContext(r.Context(), "request failed", "err", err, "request_id", requestID(r.Context()))
		f = &fault.Error{Code: fault.Internal, Message: "something went wrong on our side; the request id helps us find it"}
	} else if f.Err != nil && f.Code == fault.Unavailable {
		s.log.WarnContext(r.Context(), "request unavailable", "err", err, "request_id", requestID(r.Context()))
	}
	status := statusOf[f.Code]
	if st, ok := statusOfType[f.Type]; ok {
		status = st
	}
	typ := f.Type
	if typ == "" {
		typ = string(f.Code)
	}
	resp := s.problemResponse(r, problem{
		Type:   problemTypeBase + typ,
		Title:  http.StatusText(status),
		Status: status,
		Detail: f.Message,
		Errors: f.Fields,
		Extra:  f.Extra,
	})
	switch {
	case f.Code == fault.Unauthorized:
		resp.Header["WWW-Authenticate"] = `Bearer realm="plinth"`
	case f.Code == fault.Unavailable || typ == "idempotency-key-in-flight":
		resp.Header["Retry-After"] = "1"
	}
	return resp
}

// writeProblem sends p, filling in the instance and request id.
func (s *Server) writeProblem(w http.ResponseWriter, r *http.Request, p problem) {
	writeResponse(w, s.problemResponse(r, p))
}

func (s *Server) problemResponse(r *http.Request, p problem) engine.Response {
	p.Instance = r.URL.Path
	p.RequestID = requestID(r.Context())
	return engine.Response{Status: p.Status, Body: marshal(p.document()),
		Header: map[string]string{"Content-Type": "application/problem+json", "Cache-Control": "no-store"}}
}

// writeResponse sends a rendered response.
func writeResponse(w http.ResponseWriter, resp engine.Response) {
	for k, v := range resp.Header {
		w.Header().Set(k, v)
	}
	w.WriteHeader(resp.Status)
	w.Write(resp.Body)
}

// simpleProblem answers with a problem of the transport's own making (bad JSON, wrong method).
func (s *Server) simpleProblem(w http.ResponseWriter, r *http.Request, status int, typ, detail string) {
	s.writeProblem(w, r, problem{Type: problemTypeBase + typ, Title: http.StatusText(status), Status: status, Detail: detail})
}

func requestID(ctx context.Context) string { return engine.RequestIDFrom(ctx) }

// logAttrs are the request attributes every log line of a request carries.
func logAttrs(r *http.Request) []any {
	return []any{slog.String("request_id", requestID(r.Context())), slog.String("method", r.Method), slog.String("path", r.URL.Path)}
}
