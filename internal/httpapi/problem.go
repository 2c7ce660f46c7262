package httpapi

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

	"github.com/plinth-dev/plinth/internal/engine"
	"github.com/plinth-dev/plinth/internal/fault"
)

// problem is an RFC 9457 problem document. Its type, from the catalogue, fixes its title,
// its status and which further members it may carry.
type problem struct {
	Type      fault.Type
	Detail    string
	Instance  string
	RequestID string
	Errors    []fault.FieldError
	Extra     map[string]any
	// Index is the failed operation's position, for a batch.
	Index *int
}

func (p problem) document() map[string]any {
	doc := map[string]any{"type": p.Type.URN(), "title": p.Type.Title(), "status": p.Type.Status()}
	for k, v := range p.Extra {
		if p.Type.Carries(k) {
			doc[k] = v
		}
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
	if len(p.Errors) > 0 && p.Type.Carries("errors") {
		doc["errors"] = p.Errors
	}
	if p.Index != nil {
		doc["index"] = *p.Index
	}
	return doc
}

// writeError answers with the problem document for err.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	writeResponse(w, s.errorResponse(r, err))
}

// errorResponse renders the problem document for err.
func (s *Server) errorResponse(r *http.Request, err error) response {
	return s.problemResponse(r, s.problemFor(r, err))
}

// problemFor is the problem a client sees for err. Anything that is not a classified fault is
// logged with its cause and answered as a generic 500: no internal text leaks.
func (s *Server) problemFor(r *http.Request, err error) problem {
	f := fault.As(err)
	if f == nil || f.Code == fault.Internal || f.ProblemType() == fault.TypeInternal {
		s.log.ErrorContext(r.Context(), "request failed", "err", err, "request_id", requestID(r.Context()))
		f = &fault.Error{Code: fault.Internal, Message: "something went wrong on our side; the request id helps us find it"}
	} else if f.Err != nil && f.Code == fault.Unavailable {
		s.log.WarnContext(r.Context(), "request unavailable", "err", err, "request_id", requestID(r.Context()))
		if errors.Is(err, context.DeadlineExceeded) && r.Context().Err() != nil {
			return problem{Type: fault.TypeTimeout, Detail: "the request did not finish within its deadline; nothing was changed"}
		}
	}
	return problem{Type: f.ProblemType(), Detail: f.Message, Errors: f.Fields, Extra: f.Extra}
}

// writeProblem sends p, filling in the instance and request id.
func (s *Server) writeProblem(w http.ResponseWriter, r *http.Request, p problem) {
	writeResponse(w, s.problemResponse(r, p))
}

// problemResponse renders p, with the instance, the request id and the headers its type calls
// for: a challenge with a 401, Retry-After where trying again later may succeed.
func (s *Server) problemResponse(r *http.Request, p problem) response {
	p.Instance = r.URL.Path
	p.RequestID = requestID(r.Context())
	resp := response{status: p.Type.Status(), body: marshal(p.document()),
		header: map[string]string{"Content-Type": "application/problem+json", "Cache-Control": "no-store"}}
	switch p.Type {
	case fault.TypeUnauthorized:
		resp.header["WWW-Authenticate"] = `Bearer realm="plinth"`
	case fault.TypeUnavailable, fault.TypeOverloaded, fault.TypeTimeout, fault.TypeIdempotencyKeyInFlight:
		resp.header["Retry-After"] = "1"
	}
	return resp
}

// simpleProblem answers with a problem of the transport's own making (bad JSON, wrong method).
func (s *Server) simpleProblem(w http.ResponseWriter, r *http.Request, typ fault.Type, detail string) {
	s.writeProblem(w, r, problem{Type: typ, Detail: detail})
}

func requestID(ctx context.Context) string { return engine.RequestIDFrom(ctx) }

// logAttrs are the request attributes every log line of a request carries.
func logAttrs(r *http.Request) []any {
	return []any{slog.String("request_id", requestID(r.Context())), slog.String("method", r.Method), slog.String("path", r.URL.Path)}
}
