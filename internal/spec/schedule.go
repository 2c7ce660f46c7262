package spec

import (
	"fmt"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/plinth-dev/plinth/internal/query"
)

// Schedule is periodic work done through the engine: every Every, the records of Resource
// that match Where are updated with Set, so that transitions, effects and events apply.
type Schedule struct {
	Name     string
	Pos      Pos
	Every    time.Duration
	Resource string
	Where    *query.Plan // over the resource's fields by name, like the list filter
	WhereSrc string
	Set      map[string]any // field → literal value
	Limit    int            // records per run
}

const defaultScheduleLimit = 100

var scheduleKeys = []string{"every", "resource", "where", "set", "limit"}

func (c *compiler) schedules(n *yaml.Node) {
	entries, ok := c.mapping(n, "schedules")
	if !ok {
		return
	}
	c.pending = append(c.pending, func() {
		for _, e := range entries {
			if !namePattern.MatchString(e.Key) {
				c.errorf(e.KeyN, "schedule name %q must be lowercase letters, digits and underscores", e.Key)
				continue
			}
			if s := c.schedule(e); s != nil {
				c.model.Schedules = append(c.model.Schedules, s)
			}
		}
	})
}

func (c *compiler) schedule(e entry) *Schedule {
	what := "schedules." + e.Key
	entries, ok := c.mapping(e.Value, what, scheduleKeys...)
	if !ok {
		return nil
	}
	s := &Schedule{Name: e.Key, Pos: c.pos(e.KeyN), Limit: defaultScheduleLimit}
	by := indexByKey(entries)
	if !c.require(by, e.KeyN, what, "every", "resource", "where", "set") {
		return nil
	}
	s.Every = c.duration(by["every"].Value, what+".every", time.Second, 24*time.Hour)
	s.Resource, _ = c.str(by["resource"].Value, what+".resource")
	r, ok := c.model.Resource(s.Resource)
	if !ok {
		msg := fmt.Sprintf("%s.resource: unknown resource %q", what, s.Resource)
		if sug := suggest(s.Resource, c.resourceNames()); sug != "" {
			msg += fmt.Sprintf(" (did you mean %q?)", sug)
		}
		c.errorf(by["resource"].Value, "%s", msg)
		return nil
	}
	if x, ok := by["limit"]; ok {
		if v, ok := c.integer(x.Value, what+".limit"); ok {
			if v < 1 || v > 1000 {
				c.errorf(x.Value, "%s.limit must be between 1 and 1000", what)
			}
			s.Limit = v
		}
	}
	if src, ok := c.str(by["where"].Value, what+".where"); ok {
		plan, err := r.CompileFilter(src)
		if err != nil {
			c.errorf(by["where"].Value, "%s.where: %v", what, err)
		}
		s.Where, s.WhereSrc = plan, src
	}
	sets, ok := c.mapping(by["set"].Value, what+".set")
	if !ok {
		return nil
	}
	s.Set = map[string]any{}
	for _, x := range sets {
		f, ok := r.Field(x.Key)
		if _, computed := c.fieldDecl[f]["computed"]; !ok || computed {
			c.errorf(x.KeyN, "%s.set: %q is not a writable field of %s", what, x.Key, r.Name)
			continue
		}
		if x.Value.Kind == yaml.ScalarNode && x.Value.Tag == "!!null" {
			// The one rule for null holds here too (see Field.Nullable).
			if f.Nullable() {
				s.Set[x.Key] = nil
			} else {
				c.errorf(x.Value, "%s.set.%s: the field may not be null: it is required or has a default", what, x.Key)
			}
			continue
		}
		if v, ok := c.literal(f, x.Value, what+".set."+x.Key); ok {
			s.Set[x.Key] = v
		}
	}
	if s.Every == 0 || s.Where == nil || len(s.Set) == 0 {
		return nil
	}
	return s
}
