package httpapi

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/plinth-dev/plinth/internal/fault"
	"github.com/plinth-dev/plinth/internal/worker"
)

// webhookStatus serves GET /vN/_webhooks: every webhook with its breaker and counts.
func (s *Server) webhookStatus(w http.ResponseWriter, r *http.Request) {
	list, err := s.webhooks.Status(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	type item struct {
		Name        string     `json:"name"`
		Enabled     bool       `json:"enabled"`
		DisabledAt  *time.Time `json:"disabled_at"`
		Destination string     `json:"destination"`
		Breaker     string     `json:"breaker"`
		Pending     int        `json:"pending"`
		Delivered   int        `json:"delivered"`
		Dead        int        `json:"dead"`
	}
	items := make([]item, len(list))
	for i, st := range list {
		items[i] = item{Name: st.Name, Enabled: st.Enabled, Destination: st.Destination, Breaker: st.Breaker,
			Pending: st.Pending, Delivered: st.Delivered, Dead: st.Dead}
		if !st.Disabled.IsZero() {
			items[i].DisabledAt = &st.Disabled
		}
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, marshal(map[string]any{"items": items}))
}

// deadLetters serves GET /vN/_webhooks/dead?limit=N: the dead-letter list, oldest first.
func (s *Server) deadLetters(w http.ResponseWriter, r *http.Request) {
	limit := worker.DefaultDeadLetters
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > worker.MaxDeadLetters {
			s.simpleProblem(w, r, fault.TypeInvalidQuery, fmt.Sprintf("limit must be between 1 and %d", worker.MaxDeadLetters))
			return
		}
		limit = n
	}
	list, err := s.webhooks.DeadLetters(r.Context(), limit)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	type item struct {
		ID         string    `json:"id"`
		Webhook    string    `json:"webhook"`
		EventID    string    `json:"event_id"`
		EventType  string    `json:"event_type"`
		RecordID   string    `json:"record_id"`
		Attempts   int       `json:"attempts"`
		LastStatus int       `json:"last_status"`
		LastError  string    `json:"last_error"`
		CreatedAt  time.Time `json:"created_at"`
		UpdatedAt  time.Time `json:"updated_at"`
	}
	items := make([]item, len(list))
	for i, d := range list {
		items[i] = item{ID: d.ID, Webhook: d.Subscription, EventID: d.EventID, EventType: d.EventType, RecordID: d.RecordID,
			Attempts: d.Attempts, LastStatus: d.LastStatus, LastError: d.LastError, CreatedAt: d.CreatedAt, UpdatedAt: d.UpdatedAt}
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, marshal(map[string]any{"items": items}))
}

// replay serves POST /vN/_webhooks/replay with {"ids": [...]} or {"all": true}.
func (s *Server) replay(w http.ResponseWriter, r *http.Request) {
	s.deadLetterAction(w, r, fault.TypeInvalidReplay, "replayed", s.webhooks.Replay)
}

// discard serves POST /vN/_webhooks/discard with {"ids": [...]} or {"all": true}.
func (s *Server) discard(w http.ResponseWriter, r *http.Request) {
	s.deadLetterAction(w, r, fault.TypeInvalidDiscard, "discarded", s.webhooks.Discard)
}

// deadLetterAction reads which dead deliveries a request names, acts on them and answers
// how many it acted on, under the member name done.
func (s *Server) deadLetterAction(w http.ResponseWriter, r *http.Request, problem fault.Type, done string,
	act func(ctx context.Context, ids []string) (int, error)) {
	if !s.jsonBody(w, r, false) {
		return
	}
	body, ok := s.readBody(w, r)
	if !ok {
		return
	}
	var ids []string
	all, _ := body["all"].(bool)
	list, isList := body["ids"].([]any)
	for _, v := range list {
		id, ok := v.(string)
		if !ok {
			isList = false
			break
		}
		ids = append(ids, id)
	}
	if len(body) != 1 || (!all && (!isList || len(ids) == 0 || len(ids) > worker.MaxSelected)) {
		s.writeError(w, r, &fault.Error{Code: fault.Invalid, Type: problem,
			Message: fmt.Sprintf(`send {"ids": ["…"]} (1 to %d delivery ids) or {"all": true}`, worker.MaxSelected)})
		return
	}
	n, err := act(r.Context(), ids)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, marshal(map[string]any{done: n}))
}

var _ Webhooks = (*worker.Worker)(nil)
