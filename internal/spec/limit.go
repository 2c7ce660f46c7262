package spec

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Limit is a rate limit of the spec's `limits:` section, or one of Plinth's defaults: a token
// bucket per caller that holds Burst requests and refills at Count per Period, over the
// requests of Routes made by callers in Roles.
type Limit struct {
	Name string
	Pos  Pos // zero for a default
	// Default says the limit is one of DefaultLimits, which the spec did not override.
	Default bool
	// Roles are the callers the limit applies to: role names, RoleAnonymous (no token) and
	// RoleAuthenticated (any token). Empty is every caller.
	Roles []string
	// Per is what tells callers apart: each has a bucket of its own.
	Per Caller
	// Count requests per Period is the rate the bucket refills at.
	Count  int
	Period time.Duration
	// Burst is how many requests the full bucket holds.
	Burst int
	// Selection is the requests limited; its zero value (no selector) is every request but
	// those of /healthz, /readyz and /metrics, which are never limited.
	Selection Selection
}

// Caller is what tells one caller's bucket from another's. An API key will be a third.
type Caller string

// The callers a limit tells apart.
const (
	// CallerSubject is the subject (`sub`) of the caller's token.
	CallerSubject Caller = "subject"
	// CallerAddress is the IP address the request came from.
	CallerAddress Caller = "address"
)

// The roles a limit names beside the spec's own.
const (
	RoleAnonymous     = "anonymous"     // a request without a token
	RoleAuthenticated = "authenticated" // a request with a valid token, whatever its role
)

// PerSecond is the rate the bucket refills at, in requests per second.
func (l *Limit) PerSecond() float64 { return float64(l.Count) / l.Period.Seconds() }

// Window is the time an empty bucket takes to fill: the window of the RateLimit-Policy
// header, over which Burst requests are the quota. At least one second.
func (l *Limit) Window() time.Duration {
	return max(time.Duration(float64(l.Burst)/l.PerSecond()*float64(time.Second)).Round(time.Second), time.Second)
}

// RateText renders the rate as the spec writes it: 20/minute.
func (l *Limit) RateText() string {
	return strconv.Itoa(l.Count) + "/" + periodWords[l.Period]
}

// Applies says whether the limit applies to a caller of role (empty for a token without
// one) that is anonymous or not.
func (l *Limit) Applies(anonymous bool, role string) bool {
	if len(l.Roles) == 0 {
		return true
	}
	for _, r := range l.Roles {
		switch r {
		case RoleAnonymous:
			if anonymous {
				return true
			}
		case RoleAuthenticated:
			if !anonymous {
				return true
			}
		default:
			if !anonymous && r == role {
				return true
			}
		}
	}
	return false
}

// DefaultLimits are the limits every spec has unless its `limits:` section overrides one by
// name or turns them off with `defaults: false`: anonymous callers 100 requests a second per
// address (bursts of 200), callers with a token 500 a second per subject (bursts of 1,000: a backend job on one service token must not meet a limit meant for abuse).
func DefaultLimits() []*Limit {
	return []*Limit{
		{Name: RoleAnonymous, Default: true, Roles: []string{RoleAnonymous}, Per: CallerAddress, Count: 100, Period: time.Second, Burst: 200},
		{Name: RoleAuthenticated, Default: true, Roles: []string{RoleAuthenticated}, Per: CallerSubject, Count: 500, Period: time.Second, Burst: 1000},
	}
}

// maxBurst bounds a bucket; more is no limit at all.
const maxBurst = 1_000_000

var (
	limitKeys      = []string{"redis", "defaults", "rules"}
	limitRuleKeys  = []string{"name", "roles", "per", "rate", "burst", "operation", "resource", "route"}
	limitCallers   = []string{string(CallerSubject), string(CallerAddress)}
	limitRateShape = regexp.MustCompile(`^([0-9]{1,9})/([a-z]+)$`)
	periods        = map[string]time.Duration{"second": time.Second, "minute": time.Minute, "hour": time.Hour}
	periodWords    = map[time.Duration]string{time.Second: "second", time.Minute: "minute", time.Hour: "hour"}
)

// limits compiles the `limits:` section; without one, the model has the defaults.
func (c *compiler) limits(n *yaml.Node) {
	defaults := true
	var rules []*Limit
	if n != nil {
		entries, ok := c.mapping(n, "limits", limitKeys...)
		if !ok {
			return
		}
		for _, e := range entries {
			switch e.Key {
			case "redis":
				s, ok := c.str(e.Value, "limits.redis")
				if ok && !envRefPattern.MatchString(s) && !strings.HasPrefix(s, "redis://") && !strings.HasPrefix(s, "rediss://") {
					c.errorf(e.Value, "limits.redis must be a redis:// or rediss:// URL, or a reference to one like ${REDIS_URL}")
					ok = false
				}
				if ok {
					c.model.LimitsRedis = s
				}
			case "defaults":
				if e.Value.Kind != yaml.ScalarNode || (e.Value.Value != "true" && e.Value.Value != "false") {
					c.errorf(e.Value, "limits.defaults must be true or false")
					continue
				}
				defaults = e.Value.Value == "true"
			case "rules":
				rules = c.limitRules(e.Value)
			}
		}
	}
	c.model.Limits = rules
	if !defaults {
		return
	}
	for _, d := range DefaultLimits() {
		if !slices.ContainsFunc(rules, func(l *Limit) bool { return l.Name == d.Name }) {
			c.model.Limits = append(c.model.Limits, d)
		}
	}
}

func (c *compiler) limitRules(n *yaml.Node) []*Limit {
	n = deref(n)
	if n == nil || n.Kind != yaml.SequenceNode {
		c.errorf(n, "limits.rules must be a list of rate limits")
		return nil
	}
	seen := map[string]Pos{}
	var out []*Limit
	for i, item := range n.Content {
		if l := c.limitRule(deref(item), i, seen); l != nil {
			out = append(out, l)
		}
	}
	return out
}

func (c *compiler) limitRule(n *yaml.Node, i int, seen map[string]Pos) *Limit {
	what := itemLabel("limits.rules", n, i)
	entries, ok := c.mapping(n, what, limitRuleKeys...)
	if !ok {
		return nil
	}
	by := indexByKey(entries)
	if !c.require(by, n, what, "name", "rate") {
		return nil
	}
	l := &Limit{Pos: c.pos(n)}
	var good bool
	l.Name, good = c.itemName(by["name"].Value, what, "rate limit", seen)
	if e, ok := by["roles"]; ok {
		good = c.limitRoles(l, e.Value, what+".roles") && good
	}
	anonymous := l.Applies(true, "")
	l.Per = CallerSubject
	if anonymous {
		l.Per = CallerAddress
	}
	if e, ok := by["per"]; ok {
		if s, ok := c.str(e.Value, what+".per"); !ok {
			good = false
		} else if !slices.Contains(limitCallers, s) {
			msg := fmt.Sprintf("%s.per: %q is not a caller: write subject or address", what, s)
			if sug := suggest(s, limitCallers); sug != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", sug)
			}
			c.errorf(e.Value, "%s", msg)
			good = false
		} else if Caller(s) == CallerSubject && anonymous {
			c.errorf(e.Value, "%s.per: anonymous callers have no subject; limit them per address, or name roles without anonymous", what)
			good = false
		} else {
			l.Per = Caller(s)
		}
	}
	if count, period, ok := c.limitRate(by["rate"].Value, what+".rate"); ok {
		l.Count, l.Period, l.Burst = count, period, min(count, maxBurst)
	} else {
		good = false
	}
	if e, ok := by["burst"]; ok {
		if b, ok := c.integer(e.Value, what+".burst"); !ok {
			good = false
		} else if b < 1 || b > maxBurst {
			c.errorf(e.Value, "%s.burst is how many requests a full bucket holds: from 1 to %d", what, maxBurst)
			good = false
		} else {
			l.Burst = b
		}
	}
	if len(selectorEntries(by)) > 0 {
		if sel, ok := c.selection(by, what); ok {
			l.Selection = sel
		} else {
			good = false
		}
	}
	if !good {
		return nil
	}
	return l
}

// limitRoles reads the roles a rule applies to: the spec's roles (any name when it declares
// none), anonymous and authenticated.
func (c *compiler) limitRoles(l *Limit, n *yaml.Node, what string) bool {
	roles, ok := c.strings(n, what)
	if !ok {
		return false
	}
	if len(roles) == 0 {
		c.errorf(n, "%s: name at least one role, or leave roles out to limit every caller", what)
		return false
	}
	known := append([]string{RoleAnonymous, RoleAuthenticated}, c.model.Auth.Roles...)
	good := true
	for _, r := range roles {
		switch {
		case slices.Contains(known, r):
		case len(c.model.Auth.Roles) == 0 && namePattern.MatchString(r):
		default:
			msg := fmt.Sprintf("%s: %q is not a role of auth.roles, anonymous or authenticated", what, r)
			if sug := suggest(r, known); sug != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", sug)
			}
			c.errorf(n, "%s", msg)
			good = false
		}
	}
	l.Roles = roles
	return good
}

// limitRate reads a rate: a count per second, minute or hour, like 20/minute.
func (c *compiler) limitRate(n *yaml.Node, what string) (int, time.Duration, bool) {
	if n.Kind == yaml.ScalarNode {
		if m := limitRateShape.FindStringSubmatch(n.Value); m != nil {
			count, _ := strconv.Atoi(m[1])
			if p, ok := periods[m[2]]; ok && count > 0 {
				return count, p, true
			}
		}
	}
	c.errorf(n, "%s must be a positive count per second, minute or hour, like 20/minute", what)
	return 0, 0, false
}

// itemLabel names the i-th item of a list section in messages: by its name when it has a
// well-formed one.
func itemLabel(section string, n *yaml.Node, i int) string {
	if n != nil && n.Kind == yaml.MappingNode {
		for j := 0; j+1 < len(n.Content); j += 2 {
			if v := deref(n.Content[j+1]); n.Content[j].Value == "name" && v.Kind == yaml.ScalarNode && sloNamePattern.MatchString(v.Value) {
				return section + "." + v.Value
			}
		}
	}
	return fmt.Sprintf("%s[%d]", section, i)
}
