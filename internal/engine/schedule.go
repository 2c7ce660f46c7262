package engine

import (
	"context"
	"fmt"

	"github.com/plinth-dev/plinth/internal/query"
	"github.com/plinth-dev/plinth/internal/spec"
)

// RunSchedule does one run of a schedule: it updates up to s.Limit records that match s.Where
// with s.Set, each in its own transaction, as the system rather than a caller: access rules do
// not apply, but validation, transitions, effects and events do. A record whose update fails
// (a transition no longer allowed, say) is logged and left; the others go on. It returns how
// many records it changed.
func (e *Engine) RunSchedule(ctx context.Context, s *spec.Schedule) (int, error) {
	r, err := e.resource(s.Resource)
	if err != nil {
		return 0, err
	}
	where, err := s.Where.Bind(e.bindVars(ctx))
	if err != nil {
		return 0, fmt.Errorf("schedule %s: %w", s.Name, err)
	}
	recs, err := e.store.List(ctx, r, query.Select{Where: where, Order: []query.Sort{{Field: "id"}}, Limit: s.Limit})
	if err != nil {
		return 0, fmt.Errorf("schedule %s: %w", s.Name, err)
	}
	sys := context.WithValue(ctx, systemKey{}, true)
	changed := 0
	for _, rec := range recs {
		body := make(map[string]any, len(s.Set))
		for k, v := range s.Set {
			body[k] = cloneValue(v)
		}
		_, err := e.applyOne(sys, Op{Kind: OpUpdate, Resource: r.Name, ID: rec["id"].(string), Body: body})
		if err != nil {
			e.log.WarnContext(ctx, "scheduled update failed", "schedule", s.Name, "record", rec["id"], "err", err)
			continue
		}
		changed++
	}
	return changed, nil
}
