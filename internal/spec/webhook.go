package spec

import (
	"fmt"
	"net/url"
	"strings"
	"time"

	"cel.dev/cel-go/cel"
	"go.yaml.in/yaml/v3"
)

// Webhook is a subscription that delivers matching events to an HTTP endpoint.
type Webhook struct {
	Name string
	Pos  Pos
	// URL is the endpoint, or empty when it comes from URLEnv.
	URL    string
	URLEnv string
	// SecretEnv names the variable with the signing secret (Standard Webhooks, whsec_…);
	// PreviousSecretEnv, when set, names the secret being rotated out: both sign.
	SecretEnv         string
	PreviousSecretEnv string
	On                []string // event types, such as orders.updated
	When              *Expr    // optional condition over record and old
	MaxAttempts       int
	Initial           time.Duration // the first retry's delay
	Max               time.Duration // the longest delay between attempts
	Timeout           time.Duration // of one attempt
	// BreakerFailures consecutive failures open the destination's circuit breaker for
	// BreakerDelay, during which deliveries wait without spending attempts.
	BreakerFailures int
	BreakerDelay    time.Duration

	decl declared
}

// Matches reports whether the subscription wants events of type t.
func (w *Webhook) Matches(t string) bool {
	for _, on := range w.On {
		if on == t {
			return true
		}
	}
	return false
}

// Webhook defaults.
const (
	defaultMaxAttempts = 12
	defaultInitial     = time.Second
	defaultMaxDelay    = 10 * time.Minute
	defaultTimeout     = 10 * time.Second
	defaultBreakerN    = 5
	defaultBreakerWait = 30 * time.Second
)

var webhookKeys = []string{"url", "secret", "previous_secret", "on", "when", "retry", "timeout", "breaker"}

func (c *compiler) webhooks(n *yaml.Node) {
	entries, ok := c.mapping(n, "webhooks")
	if !ok {
		return
	}
	c.pending = append(c.pending, func() {
		env, err := ruleEnv()
		if err != nil {
			c.errorf(n, "%v", err)
			return
		}
		for _, e := range entries {
			if !namePattern.MatchString(e.Key) {
				c.errorf(e.KeyN, "webhook name %q must be lowercase letters, digits and underscores", e.Key)
				continue
			}
			if w := c.webhook(env, e); w != nil {
				c.model.Webhooks = append(c.model.Webhooks, w)
			}
		}
	})
}

func (c *compiler) webhook(env *cel.Env, e entry) *Webhook {
	what := "webhooks." + e.Key
	entries, ok := c.mapping(e.Value, what, webhookKeys...)
	if !ok {
		return nil
	}
	w := &Webhook{Name: e.Key, Pos: c.pos(e.KeyN), MaxAttempts: defaultMaxAttempts, Initial: defaultInitial,
		Max: defaultMaxDelay, Timeout: defaultTimeout, BreakerFailures: defaultBreakerN, BreakerDelay: defaultBreakerWait}
	by := indexByKey(entries)
	w.decl = c.declared(w.Pos, entries, 1)
	c.require(by, e.KeyN, what, "url", "secret", "on")
	if x, ok := by["url"]; ok {
		if s, ok := c.str(x.Value, what+".url"); ok {
			if m := envRefPattern.FindStringSubmatch(s); m != nil {
				w.URLEnv = m[1]
			} else if u, err := url.Parse(s); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				c.errorf(x.Value, "%s.url must be an http(s) URL or an environment variable reference like \"${HOOK_URL}\"", what)
			} else {
				w.URL = s
			}
		}
	}
	secret := func(key string) string {
		x, ok := by[key]
		if !ok {
			return ""
		}
		s, ok := c.str(x.Value, what+"."+key)
		if !ok {
			return ""
		}
		m := envRefPattern.FindStringSubmatch(s)
		if m == nil {
			env := strings.ToUpper(w.Name + "_" + key)
			c.refuse(x.Value, "secret-literal", fmt.Sprintf("`%s: \"${%s}\"`, with %s set where the server runs; rotate the secret written here", key, env, env),
				"%s.%s must reference an environment variable: secrets are never written in a spec", what, key)
			return ""
		}
		return m[1]
	}
	w.SecretEnv, w.PreviousSecretEnv = secret("secret"), secret("previous_secret")
	if x, ok := by["on"]; ok {
		types, _ := c.strings(x.Value, what+".on")
		for _, t := range types {
			if msg := c.checkEventType(t); msg != "" {
				c.errorf(x.Value, "%s.on: %s", what, msg)
				continue
			}
			w.On = append(w.On, t)
		}
	}
	if x, ok := by["when"]; ok {
		if s, ok := c.str(x.Value, what+".when"); ok {
			w.When, _ = c.compileExpr(env, x.Value, s, what+".when", cel.BoolType)
		}
	}
	if x, ok := by["retry"]; ok {
		c.retry(w, x.Value, what+".retry")
	}
	if x, ok := by["timeout"]; ok {
		w.Timeout = c.duration(x.Value, what+".timeout", 10*time.Millisecond, 5*time.Minute)
	}
	if x, ok := by["breaker"]; ok {
		c.breaker(w, x.Value, what+".breaker")
	}
	return w
}

func (c *compiler) breaker(w *Webhook, n *yaml.Node, what string) {
	entries, ok := c.mapping(n, what, "failures", "delay")
	if !ok {
		return
	}
	for _, e := range entries {
		if e.Key == "failures" {
			if v, ok := c.integer(e.Value, what+".failures"); ok {
				if v < 1 || v > 1000 {
					c.errorf(e.Value, "%s.failures must be between 1 and 1000", what)
				}
				w.BreakerFailures = v
			}
		} else {
			w.BreakerDelay = c.duration(e.Value, what+".delay", 10*time.Millisecond, time.Hour)
		}
	}
}

func (c *compiler) retry(w *Webhook, n *yaml.Node, what string) {
	entries, ok := c.mapping(n, what, "max_attempts", "initial", "max")
	if !ok {
		return
	}
	for _, e := range entries {
		switch e.Key {
		case "max_attempts":
			if v, ok := c.integer(e.Value, what+".max_attempts"); ok {
				if v < 1 || v > 100 {
					c.errorf(e.Value, "%s.max_attempts must be between 1 and 100", what)
				}
				w.MaxAttempts = v
			}
		case "initial":
			w.Initial = c.duration(e.Value, what+".initial", 10*time.Millisecond, 24*time.Hour)
		case "max":
			w.Max = c.duration(e.Value, what+".max", 10*time.Millisecond, 7*24*time.Hour)
		}
	}
	if w.Initial > w.Max {
		c.errorf(n, "%s.initial is longer than %s.max", what, what)
	}
}

// duration reads a Go duration such as 500ms, 10s or 10m, within bounds.
func (c *compiler) duration(n *yaml.Node, what string, lo, hi time.Duration) time.Duration {
	s, ok := c.str(n, what)
	if !ok {
		return 0
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < lo || d > hi {
		c.errorf(n, "%s must be a duration between %s and %s, like 10s", what, lo, hi)
		return 0
	}
	return d
}

// checkEventType returns why t is not an event type of the model, or "".
func (c *compiler) checkEventType(t string) string {
	res, kind, ok := strings.Cut(t, ".")
	if !ok || (kind != "created" && kind != "updated" && kind != "deleted") {
		return fmt.Sprintf("%q is not an event type: write resource.created, resource.updated or resource.deleted", t)
	}
	r, ok := c.model.Resource(res)
	if !ok {
		msg := fmt.Sprintf("%q names no resource", t)
		if s := suggest(res, c.resourceNames()); s != "" {
			msg += fmt.Sprintf(" (did you mean %q?)", s+"."+kind)
		}
		return msg
	}
	if !r.Events {
		return fmt.Sprintf("%s has `events: false`, so it emits no %s events", res, kind)
	}
	return ""
}
