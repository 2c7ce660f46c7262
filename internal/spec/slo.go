package spec

import (
	"cmp"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// SLO is a service level objective of the spec's `slos:` section: the share of the requests
// Routes answer that must be good over Window. A request is good when it is not answered 5xx
// or, when Latency is set, when it is answered within Latency.
type SLO struct {
	Name string
	Pos  Pos
	// Selector is how the spec names the requests, as written: the key (operation, resource
	// or route) and its value.
	Selector    string
	SelectorKey string
	// Routes are the ServeMux patterns of the current version's routes the objective covers,
	// as the router records them ("POST /v1/orders"); a request is counted by the pattern it
	// matched.
	Routes []string
	// Objective is the share of good requests, as a ratio in (0, 1): 99.9 in the spec is 0.999.
	Objective float64
	// Latency is the threshold of a latency objective; zero for an availability objective.
	Latency time.Duration
	// Window is the span the error budget is counted over: whole hours or days, default 28d.
	Window time.Duration
}

// WindowText renders Window as the spec writes it: 28d, or 12h when it is not whole days.
func (s *SLO) WindowText() string { return FormatWindow(s.Window) }

// FormatWindow renders a span of whole hours as days when it is whole days: 28d, 36h.
func FormatWindow(d time.Duration) string {
	if d%(24*time.Hour) == 0 {
		return strconv.FormatInt(int64(d/(24*time.Hour)), 10) + "d"
	}
	return strconv.FormatInt(int64(d/time.Hour), 10) + "h"
}

// Bounds of an objective's window: at least the longest burn-rate window a ticket reads
// (3d) makes sense, but shorter ones are allowed for tests and young services; the upper bound
// keeps the evaluator's memory per objective small (one bucket per hour).
const (
	DefaultSLOWindow = 28 * 24 * time.Hour
	MaxSLOWindow     = 90 * 24 * time.Hour
)

var (
	sloNamePattern   = regexp.MustCompile(`^[a-z][a-z0-9-]*$`)
	sloWindowPattern = regexp.MustCompile(`^([0-9]{1,4})(d|h)$`)
	sloKeys          = []string{"name", "operation", "resource", "route", "objective", "latency", "window"}
	sloSelectors     = []string{"operation", "resource", "route"}
	sloOperations    = []string{"list", "read", "create", "update", "delete"}
)

func (c *compiler) slos(n *yaml.Node) {
	n = deref(n)
	if n == nil || n.Kind != yaml.SequenceNode {
		c.errorf(n, "slos must be a list of objectives")
		return
	}
	seen := map[string]Pos{}
	for i, item := range n.Content {
		if s := c.slo(deref(item), i, seen); s != nil {
			c.model.SLOs = append(c.model.SLOs, s)
		}
	}
}

func (c *compiler) slo(n *yaml.Node, i int, seen map[string]Pos) *SLO {
	what := itemLabel("slos", n, i)
	entries, ok := c.mapping(n, what, sloKeys...)
	if !ok {
		return nil
	}
	by := indexByKey(entries)
	if !c.require(by, n, what, "name", "objective") {
		return nil
	}
	s := &SLO{Pos: c.pos(n), Window: DefaultSLOWindow}
	var good bool
	s.Name, good = c.itemName(by["name"].Value, what, "objective", seen)
	selectors := selectorEntries(by)
	if len(selectors) == 0 {
		c.errorf(n, "%s: name the requests with one of `operation`, `resource` or `route`", what)
		good = false
	} else if sel, ok := c.selection(by, what); ok {
		s.SelectorKey, s.Selector, s.Routes = sel.Key, sel.Value, sel.Routes
	} else {
		good = false
	}
	if v, ok := c.number(by["objective"].Value, what+".objective"); !ok {
		good = false
	} else if v <= 0 || v >= 100 {
		c.errorf(by["objective"].Value, "%s.objective is the percentage of good requests: more than 0 and less than 100, like 99.9", what)
		good = false
	} else {
		s.Objective = percentRatio(by["objective"].Value.Value, v)
	}
	if e, ok := by["latency"]; ok {
		d, err := time.ParseDuration(e.Value.Value)
		if e.Value.Kind != yaml.ScalarNode || err != nil || d <= 0 {
			c.errorf(e.Value, "%s.latency must be a positive duration, like 200ms", what)
			good = false
		}
		s.Latency = d
	}
	if e, ok := by["window"]; ok {
		d, ok := c.sloWindow(e.Value, what+".window")
		good = good && ok
		s.Window = d
	}
	if !good {
		return nil
	}
	return s
}

// itemName reads the name of a list section's item (an objective, a rate limit), unique
// among the kind's names seen so far.
func (c *compiler) itemName(n *yaml.Node, what, kind string, seen map[string]Pos) (string, bool) {
	name, ok := c.str(n, what+".name")
	if !ok {
		return "", false
	}
	if !sloNamePattern.MatchString(name) || len(name) > maxNameLength {
		c.errorf(n, "%s.name %q must be lowercase letters, digits and hyphens, starting with a letter", what, name)
		return "", false
	}
	if first, dup := seen[name]; dup {
		c.errorf(n, "%s.name: %q is already the name of the %s at line %d", what, name, kind, first.Line)
		return "", false
	}
	seen[name] = c.pos(n)
	return name, true
}

// percentRatio is the percentage v, written as src, as a ratio: 99.9 is 0.999, where v/100
// would be 0.9990000000000001, shifted in decimal so that it is the nearest float.
func percentRatio(src string, v float64) float64 {
	if r, err := strconv.ParseFloat(strings.ReplaceAll(src, "_", "")+"e-2", 64); err == nil && !strings.ContainsAny(src, "eE") {
		return r
	}
	return v / 100
}

// sloWindow reads a window of whole days or hours: 28d, 12h.
func (c *compiler) sloWindow(n *yaml.Node, what string) (time.Duration, bool) {
	var m []string
	if n.Kind == yaml.ScalarNode {
		m = sloWindowPattern.FindStringSubmatch(n.Value)
	}
	if m != nil {
		count, _ := strconv.Atoi(m[1])
		unit := time.Hour
		if m[2] == "d" {
			unit = 24 * time.Hour
		}
		if d := time.Duration(count) * unit; d >= time.Hour && d <= MaxSLOWindow {
			return d, true
		}
	}
	c.errorf(n, "%s must be whole days or hours, from 1h to %s, like 28d", what, FormatWindow(MaxSLOWindow))
	return 0, false
}

// Selection is the requests a section's item names (an objective's, a rate limit's): by
// operation, resource or route, and the routes of the current version they cover.
type Selection struct {
	// Key (operation, resource or route) and Value are the selector as written.
	Key, Value string
	// Routes are the ServeMux patterns of the current version's routes selected, as the
	// router records them ("POST /v1/orders"); a request is matched by the pattern it matched.
	Routes []string
}

// selectorEntries are the selector keys an item gives, in the order of sloSelectors.
func selectorEntries(by map[string]entry) []entry {
	var out []entry
	for _, k := range sloSelectors {
		if e, ok := by[k]; ok {
			out = append(out, e)
		}
	}
	return out
}

// selection resolves the one selector among an item's entries to the routes of the current
// version it covers; it reports more than one, and an unknown operation, resource or route.
// The caller reports none.
func (c *compiler) selection(by map[string]entry, what string) (Selection, bool) {
	selectors := selectorEntries(by)
	if len(selectors) > 1 {
		c.errorf(selectors[1].KeyN, "%s: give one of `operation`, `resource` or `route`, not both `%s` and `%s`",
			what, selectors[0].Key, selectors[1].Key)
		return Selection{}, false
	}
	sel := selectors[0]
	val, ok := c.str(sel.Value, what+"."+sel.Key)
	if !ok {
		return Selection{}, false
	}
	out := Selection{Key: sel.Key, Value: val}
	prefix := fmt.Sprintf("/v%d", c.model.Version)
	switch sel.Key {
	case "resource":
		r, ok := c.sloResource(sel.Value, what+".resource", val)
		if !ok {
			return Selection{}, false
		}
		for _, op := range sloOperations {
			out.Routes = append(out.Routes, operationRoutes(prefix, r.Name, Operation(op))...)
		}
	case "operation":
		res, op, found := strings.Cut(val, ".")
		if !found {
			c.errorf(sel.Value, "%s.operation %q must be resource.operation, like orders.create", what, val)
			return Selection{}, false
		}
		r, ok := c.sloResource(sel.Value, what+".operation", res)
		if !ok {
			return Selection{}, false
		}
		if !slices.Contains(sloOperations, op) {
			msg := fmt.Sprintf("%s.operation: %q is not an operation: write list, read, create, update or delete", what, op)
			if sug := cmp.Or(sloAliases[op], suggest(op, sloOperations)); sug != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", r.Name+"."+sug)
			}
			c.errorf(sel.Value, "%s", msg)
			return Selection{}, false
		}
		out.Routes = operationRoutes(prefix, r.Name, Operation(op))
	case "route":
		routes := c.modelRoutes(prefix)
		if !slices.Contains(routes, val) {
			msg := fmt.Sprintf("%s.route: %q is not a route of the API, written as METHOD /v%d/path", what, val, c.model.Version)
			if sug := suggest(val, routes); sug != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", sug)
			}
			c.errorf(sel.Value, "%s", msg)
			return Selection{}, false
		}
		out.Routes = []string{val}
	}
	return out, true
}

// sloAliases are the words for an operation that a reader of the HTTP routes may reach for.
var sloAliases = map[string]string{"get": "read", "replace": "update", "patch": "update", "post": "create"}

func (c *compiler) sloResource(n *yaml.Node, what, name string) (*Resource, bool) {
	r, ok := c.model.Resource(name)
	if !ok {
		msg := fmt.Sprintf("%s: unknown resource %q", what, name)
		if sug := suggest(name, c.resourceNames()); sug != "" {
			msg += fmt.Sprintf(" (did you mean %q?)", sug)
		}
		c.errorf(n, "%s", msg)
	}
	return r, ok
}

// operationRoutes are the routes that serve op on a resource: an update is a PATCH or a PUT.
func operationRoutes(prefix, resource string, op Operation) []string {
	base := prefix + "/" + resource
	switch op {
	case OpList:
		return []string{"GET " + base}
	case OpRead:
		return []string{"GET " + base + "/{id}"}
	case OpCreate:
		return []string{"POST " + base}
	case OpUpdate:
		return []string{"PATCH " + base + "/{id}", "PUT " + base + "/{id}"}
	default:
		return []string{"DELETE " + base + "/{id}"}
	}
}

// modelRoutes lists every route the current version serves from the model, as ServeMux
// patterns: each resource's, the batch and the change feed.
func (c *compiler) modelRoutes(prefix string) []string {
	var out []string
	for _, r := range c.model.Resources {
		for _, op := range sloOperations {
			out = append(out, operationRoutes(prefix, r.Name, Operation(op))...)
		}
	}
	return append(out, "POST "+prefix+"/batch", "GET "+prefix+"/events")
}
