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
// (a transition no longer allowed, or a change since it was listed) is logged and passed over;
// the others go on. It returns how many records it changed.
func (e *Engine) RunSchedule(ctx context.Context, s *spec.Schedule) (int, error) {
	r, err := e.resource(s.Resource)
	if err != nil {
		return 0, err
	}
	sys := context.WithValue(ctx, systemKey{}, true)
	changed, after := 0, ""
	// Records whose update fails are passed over within the run, so that a few that always
	// fail cannot starve the rest; a run reads at most a few pages.
	for range maxSchedulePages {
		where, err := s.Where.Bind(e.bindVars(ctx))
		if err != nil {
			return changed, fmt.Errorf("schedule %s: %w", s.Name, err)
		}
		if after != "" {
			where = query.And{Terms: []query.Expr{where, query.Compare{Field: "id", Op: query.Gt, Value: after}}}
		}
		recs, err := e.db.List(ctx, r, query.Select{Where: where, Order: []query.Sort{{Field: "id"}}, Limit: s.Limit})
		if err != nil {
			return changed, fmt.Errorf("schedule %s: %w", s.Name, err)
		}
		for _, rec := range recs {
			after = rec.ID
			body := make(map[string]any, len(s.Set))
			for k, v := range s.Set {
				body[k] = cloneValue(v)
			}
			// The precondition makes the update apply only to the record as it was listed: one
			// that changed since (an order paid a moment ago) is left for the next run, which
			// checks where again.
			_, err := e.applyOne(sys, Op{Kind: OpUpdate, Resource: r.Name, ID: after, Body: body,
				Pre: Precondition{Version: rec.Version}})
			if err != nil {
				e.log.WarnContext(ctx, "scheduled update failed", "schedule", s.Name, "record", after, "err", err)
				continue
			}
			changed++
			if changed == s.Limit {
				return changed, nil
			}
		}
		if len(recs) < s.Limit {
			return changed, nil
		}
	}
	return changed, nil
}

// maxSchedulePages bounds how many pages of matches one run of a schedule reads.
const maxSchedulePages = 5
