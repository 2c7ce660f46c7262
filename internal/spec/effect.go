package spec

import (
	"fmt"
	"strings"

	"cel.dev/cel-go/cel"
	"go.yaml.in/yaml/v3"

	"github.com/plinth-dev/plinth/internal/fault"
)

// Effect is a change to other records that a write makes in its own transaction: stock
// reserved when an order is created and released when it is cancelled. It is declarative, so
// `plinth serve` runs it without custom code.
type Effect struct {
	Name     string
	Pos      Pos
	On       []Operation // create, update and/or delete of the declaring resource
	When     *Expr       // optional condition over record, old, auth, now
	ForEach  *Expr       // optional list; the effect runs once per element, bound to `item`
	Target   string      // the resource whose record changes
	ID       *Expr       // the id of the record to change
	Guard    *Expr       // optional condition over target; false aborts the write with a conflict
	Conflict fault.Type  // the problem type when the guard fails
	Message  string      // the problem detail when the guard fails
	// SkipMissing makes a target that no longer exists a no-op rather than a conflict: stock
	// cannot be returned to a product that was deleted, but the order can still be cancelled.
	SkipMissing bool
	// Set is the change to make; empty for an effect that only checks its guard (an order may
	// name only products that are on sale).
	Set []Assignment
}

// Assignment sets one field of an effect's target.
type Assignment struct {
	Field string
	Expr  *Expr
}

// Runs reports whether the effect applies to op.
func (e *Effect) Runs(op Operation) bool {
	for _, o := range e.On {
		if o == op {
			return true
		}
	}
	return false
}

var effectKeys = []string{"on", "when", "for_each", "target", "id", "guard", "conflict", "message", "missing", "set"}

// effectEnv is the rule environment plus `item` (the for_each element) and `target` (the
// record being changed, as it is before the change).
func effectEnv() (*cel.Env, error) {
	base, err := ruleEnv()
	if err != nil {
		return nil, err
	}
	return base.Extend(cel.Variable("item", cel.DynType), cel.Variable("target", cel.MapType(cel.StringType, cel.DynType)))
}

func (c *compiler) effects(r *Resource, n *yaml.Node) {
	if n == nil {
		return
	}
	entries, ok := c.mapping(n, r.Name+".effects")
	if !ok {
		return
	}
	env, err := effectEnv()
	if err != nil {
		c.errorf(n, "%v", err)
		return
	}
	for _, e := range entries {
		if !namePattern.MatchString(e.Key) {
			c.errorf(e.KeyN, "effect name %q must be lowercase letters, digits and underscores", e.Key)
			continue
		}
		if eff := c.effect(env, r, e); eff != nil {
			r.Effects = append(r.Effects, eff)
		}
	}
}

func (c *compiler) effect(env *cel.Env, r *Resource, e entry) *Effect {
	what := r.Name + ".effects." + e.Key
	entries, ok := c.mapping(e.Value, what, effectKeys...)
	if !ok {
		return nil
	}
	eff := &Effect{Name: e.Key, Pos: c.pos(e.KeyN), Conflict: fault.TypeGuardFailed}
	by := indexByKey(entries)
	if !c.require(by, e.KeyN, what, "on", "target", "id") {
		return nil
	}
	_, hasSet := by["set"]
	if _, hasGuard := by["guard"]; !hasSet && !hasGuard {
		c.errorf(e.KeyN, "%s: an effect needs `set` (the change to make), `guard` (the condition to check), or both", what)
		return nil
	}
	ops, _ := c.strings(by["on"].Value, what+".on")
	for _, o := range ops {
		switch op := Operation(o); op {
		case OpCreate, OpUpdate, OpDelete:
			eff.On = append(eff.On, op)
		default:
			c.errorf(by["on"].Value, "%s.on: %q is not create, update or delete", what, o)
		}
	}
	eff.Target, _ = c.str(by["target"].Value, what+".target")
	target, found := c.model.Resource(eff.Target)
	if !found {
		msg := fmt.Sprintf("%s.target: unknown resource %q", what, eff.Target)
		if s := suggest(eff.Target, c.resourceNames()); s != "" {
			msg += fmt.Sprintf(" (did you mean %q?)", s)
		}
		c.errorf(by["target"].Value, "%s", msg)
		return nil
	}
	scope := nullScope{vars: map[string][]*Field{"record": r.Fields, "old": r.Fields, "target": target.Fields}}
	if x, ok := by["for_each"]; ok {
		// item is an element of the list: its fields are known when it is an array of objects.
		if f, ok := r.Field(strings.TrimPrefix(x.Value.Value, "record.")); ok && f.Of != nil && f.Of.Type == TypeObject {
			scope.vars["item"] = f.Of.Fields
		}
	}
	compile := func(key string, want *cel.Type) *Expr {
		x, ok := by[key]
		if !ok {
			return nil
		}
		src, ok := c.str(x.Value, what+"."+key)
		if !ok {
			return nil
		}
		ex, checked := c.compileExpr(env, x.Value, src, what+"."+key, want)
		if ex != nil {
			c.checkRecordFields(r, x.Value, checked, what+"."+key)
			c.lintLater(checked, x.Value, what+"."+key, scope, false)
			if key == "when" {
				// The effect runs only when its condition holds: its null checks hold for the rest.
				scope.guards = []*cel.Ast{checked}
			}
		}
		return ex
	}
	eff.When = compile("when", cel.BoolType)
	eff.ForEach = compile("for_each", cel.ListType(cel.DynType))
	eff.ID = compile("id", cel.StringType)
	eff.Guard = compile("guard", cel.BoolType)
	if x, ok := by["conflict"]; ok {
		if s, ok := c.str(x.Value, what+".conflict"); ok {
			if t, err := fault.EffectConflict(s); err != nil {
				c.errorf(x.Value, "%s.conflict: %v", what, err)
			} else {
				eff.Conflict = t
			}
		}
	}
	if x, ok := by["message"]; ok {
		eff.Message, _ = c.str(x.Value, what+".message")
	}
	if x, ok := by["missing"]; ok {
		if s, ok := c.str(x.Value, what+".missing"); ok {
			switch s {
			case "skip":
				eff.SkipMissing = true
			case "fail":
			default:
				c.errorf(x.Value, "%s.missing must be fail or skip", what)
			}
		}
	}
	if !hasSet {
		return eff.checked()
	}
	sets, ok := c.mapping(by["set"].Value, what+".set")
	if !ok {
		return nil
	}
	if len(sets) == 0 {
		c.errorf(by["set"].Value, "%s.set: name at least one field to change", what)
	}
	for _, s := range sets {
		f, ok := target.Field(s.Key)
		if _, computed := c.fieldDecl[f]["computed"]; !ok || computed {
			c.errorf(s.KeyN, "%s.set: %q is not a writable field of %s", what, s.Key, target.Name)
			continue
		}
		src, ok := c.str(s.Value, what+".set."+s.Key)
		if !ok {
			continue
		}
		ex, checked := c.compileExpr(env, s.Value, src, what+".set."+s.Key, nil)
		c.lintLater(checked, s.Value, what+".set."+s.Key, scope, true)
		if ex != nil {
			eff.Set = append(eff.Set, Assignment{Field: s.Key, Expr: ex})
		}
	}
	return eff.checked()
}

// checked returns the effect, or nil when a part it cannot run without failed to compile
// (the error is reported already).
func (e *Effect) checked() *Effect {
	if e.ID == nil || len(e.On) == 0 {
		return nil
	}
	return e
}
