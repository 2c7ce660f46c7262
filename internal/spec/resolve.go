package spec

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"cel.dev/cel-go/cel"
	celast "cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/common/types"
	"go.yaml.in/yaml/v3"

	"github.com/plinth-dev/plinth/internal/query"
)

// resolveFields checks what depends on other resources and compiles the CEL of one nesting
// level: refs, defaults and computed fields. owner names the level in messages.
func (c *compiler) resolveFields(r *Resource, level []*Field, owner string) {
	env, err := fieldEnv(level)
	if err != nil {
		c.errorf(nil, "resource %s: %v", r.Name, err)
		return
	}
	for _, f := range level {
		decl := c.fieldDecl[f]
		what := owner + "." + f.Name
		if f.Type == TypeRef {
			if _, ok := c.model.Resource(f.Ref); !ok && f.Ref != "" {
				msg := fmt.Sprintf("%s: unknown resource %q", what, f.Ref)
				if s := suggest(f.Ref, c.resourceNames()); s != "" {
					msg += fmt.Sprintf(" (did you mean %q?)", s)
				}
				c.errorf(decl["resource"].Value, "%s", msg)
			}
		}
		scope := nullScope{bare: level, vars: map[string][]*Field{"record": r.Fields}}
		if e, ok := decl["default"]; ok {
			f.Default = c.defaultValue(env, f, e.Value, what+".default", scope)
			if f.Default != nil && f.Default.Literal != nil {
				for _, msg := range f.literalViolations(f.Default.Literal, what+".default") {
					c.errorf(e.Value, "%s (a default must be a value the field accepts)", msg)
				}
			}
		}
		if e, ok := decl["example"]; ok {
			f.Example = c.example(f, e.Value, what+".example")
		}
		if f.Type == TypeEnum && slices.Contains(r.Fields, f) { // nested transitions are refused already
			c.stateMachine(f, decl, what)
		}
		if e, ok := decl["computed"]; ok {
			if s, ok := c.str(e.Value, what+".computed"); ok {
				var checked *cel.Ast
				f.Computed, checked = c.compileExpr(env, e.Value, s, what+".computed", f.celType())
				c.lintLater(checked, e.Value, what+".computed", scope, false)
			}
		}
		if f.Of != nil && f.Of.Type == TypeObject {
			c.resolveFields(r, f.Of.Fields, what+"[]")
		} else if f.Of != nil {
			c.resolveFields(r, []*Field{f.Of}, what)
		}
		if f.Type == TypeObject {
			c.resolveFields(r, f.Fields, what)
		}
	}
	c.computedCycles(level, owner)
}

// stateMachine settles where an enum with transitions may start (its `initial` states, else
// its literal default) and refuses a machine with no start or with states no path reaches:
// such a state could only be entered by a create, which would bypass the machine.
func (c *compiler) stateMachine(f *Field, decl map[string]entry, what string) {
	initialN, hasInitial := decl["initial"]
	if f.Transitions == nil {
		if hasInitial {
			c.errorf(initialN.KeyN, "%s: initial applies only to an enum with transitions", what)
		}
		return
	}
	if hasInitial {
		if len(f.Initial) == 0 {
			c.errorf(initialN.Value, "%s.initial: name at least one state", what)
		}
		for _, s := range f.Initial {
			if !slices.Contains(f.Values, s) {
				c.errorf(initialN.Value, "%s.initial: %q is not one of the values", what, s)
			}
		}
	} else if f.Default != nil && f.Default.Literal != nil {
		f.Initial = []string{f.Default.Literal.(string)}
	}
	if len(f.Initial) == 0 {
		c.errorf(decl["transitions"].KeyN, "%s: a state machine needs a start: give the field a literal default or list its `initial` states", what)
		return
	}
	if f.Default != nil && f.Default.Literal != nil && !slices.Contains(f.Initial, f.Default.Literal.(string)) {
		c.errorf(decl["default"].Value, "%s.default: %q is not one of the initial states (%s)", what, f.Default.Literal, strings.Join(f.Initial, ", "))
	}
	reached := map[string]bool{}
	queue := slices.Clone(f.Initial)
	for len(queue) > 0 {
		s := queue[0]
		queue = queue[1:]
		if reached[s] {
			continue
		}
		reached[s] = true
		queue = append(queue, f.Transitions[s]...)
	}
	var unreached []string
	for _, v := range f.Values {
		if !reached[v] {
			unreached = append(unreached, v)
		}
	}
	if len(unreached) > 0 {
		c.errorf(decl["transitions"].KeyN, "%s: no path from the initial states (%s) reaches %s; add a transition to it or list it in `initial`",
			what, strings.Join(f.Initial, ", "), strings.Join(unreached, ", "))
	}
}

// computedCycles refuses computed fields of one level that read each other (or themselves):
// no order computes them, so every write would fail.
func (c *compiler) computedCycles(level []*Field, owner string) {
	done := map[*Field]bool{}
	var path []*Field
	// walk follows what f reads, depth first, and returns the cycle it closes, if any.
	var walk func(f *Field) []*Field
	walk = func(f *Field) []*Field {
		if i := slices.Index(path, f); i >= 0 {
			return append(slices.Clone(path[i:]), f)
		}
		if done[f] {
			return nil
		}
		path = append(path, f)
		for _, g := range level {
			if g.Computed != nil && f.Computed.Refs[g.Name] {
				if cycle := walk(g); cycle != nil {
					return cycle
				}
			}
		}
		path, done[f] = path[:len(path)-1], true
		return nil
	}
	for _, f := range level {
		if f.Computed == nil || done[f] {
			continue
		}
		path = nil
		if cycle := walk(f); cycle != nil {
			names := make([]string, len(cycle))
			for i, g := range cycle {
				names[i], done[g] = g.Name, true
			}
			c.errorf(c.fieldDecl[cycle[0]]["computed"].Value, "%s.%s.computed: computed fields read each other (%s), so no order computes them",
				owner, cycle[0].Name, strings.Join(names, " → "))
		}
	}
}

func (c *compiler) resourceNames() []string {
	names := make([]string, len(c.model.Resources))
	for i, r := range c.model.Resources {
		names[i] = r.Name
	}
	return names
}

// defaultValue reads a default: a string that compiles to CEL mentioning a variable (auth,
// now, record or a field) is an expression; anything else is a literal of the field's type.
func (c *compiler) defaultValue(env *cel.Env, f *Field, n *yaml.Node, what string, scope nullScope) *Default {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		c.errorf(n, "%s: null is no default; leave the default out for a field that may be null", what)
		return nil
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!str" {
		if checked, iss := env.Compile(n.Value); iss == nil || iss.Err() == nil {
			if len(checked.NativeRep().ReferenceMap()) > 0 && mentionsVariable(checked) {
				if e, checked := c.compileExpr(env, n, n.Value, what, f.celType()); e != nil {
					c.lintLater(checked, n, what, scope, true)
					return &Default{Expr: e}
				}
				return nil
			}
		}
	}
	v, ok := c.literal(f, n, what)
	if !ok {
		return nil
	}
	return &Default{Literal: v}
}

func mentionsVariable(checked *cel.Ast) bool {
	for _, ref := range checked.NativeRep().ReferenceMap() {
		if ref.Name != "" {
			return true
		}
	}
	return false
}

// literal converts a YAML value to the Go value of the field's type.
func (c *compiler) literal(f *Field, n *yaml.Node, what string) (any, bool) {
	switch f.Type {
	case TypeString, TypeRef:
		return c.str(n, what)
	case TypeEnum:
		s, ok := c.str(n, what)
		if ok && !slices.Contains(f.Values, s) {
			c.errorf(n, "%s: %q is not one of the values", what, s)
			return nil, false
		}
		return s, ok
	case TypeInteger:
		if n.Kind == yaml.ScalarNode && n.Tag == "!!int" {
			var v int64
			if err := n.Decode(&v); err == nil {
				return v, true
			}
		}
		c.errorf(n, "%s must be a whole number", what)
		return nil, false
	case TypeNumber:
		v, ok := c.number(n, what)
		return v, ok
	case TypeBoolean:
		return c.boolean(n, what)
	case TypeTimestamp:
		s, ok := c.str(n, what)
		if !ok {
			return nil, false
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			c.errorf(n, "%s must be an RFC 3339 timestamp or an expression such as now", what)
			return nil, false
		}
		return t.UTC(), true
	default:
		var v any
		if err := n.Decode(&v); err != nil {
			c.errorf(n, "%s: %v", what, err)
			return nil, false
		}
		return normalizeYAML(v), true
	}
}

// normalizeYAML turns decoded YAML into the JSON-shaped values records hold.
func normalizeYAML(v any) any {
	switch x := v.(type) {
	case int:
		return int64(x)
	case uint64:
		if x <= math.MaxInt64 {
			return int64(x)
		}
		return float64(x)
	case []any:
		for i := range x {
			x[i] = normalizeYAML(x[i])
		}
		return x
	case map[string]any:
		for k := range x {
			x[k] = normalizeYAML(x[k])
		}
		return x
	default:
		return v
	}
}

// checkLookups requires lookup's first argument to be a resource name written as a string
// literal, so that a typo fails at check time rather than at the first write.
func (c *compiler) checkLookups(checked *cel.Ast) string {
	calls := celast.MatchDescendants(celast.NavigateAST(checked.NativeRep()), celast.FunctionMatcher(LookupFunction))
	for _, call := range calls {
		args := call.AsCall().Args()
		if len(args) != 2 || args[0].Kind() != celast.LiteralKind {
			return "lookup() takes a resource name in quotes and an id, like lookup(\"products\", product_id)"
		}
		name, ok := args[0].AsLiteral().(types.String)
		if !ok {
			return "lookup(): the resource name must be a string"
		}
		if _, ok := c.model.Resource(string(name)); !ok {
			msg := fmt.Sprintf("lookup(): unknown resource %q", string(name))
			if s := suggest(string(name), c.resourceNames()); s != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", s)
			}
			return msg
		}
	}
	return ""
}

var accessKeys = []string{"list", "read", "create", "update", "delete", "write"}

// access compiles the per-operation rules. A missing rule denies everyone but role admin.
func (c *compiler) access(r *Resource, n *yaml.Node) {
	r.Access = map[Operation]*Rule{}
	if n == nil {
		return
	}
	entries, ok := c.mapping(n, "access", accessKeys...)
	if !ok {
		return
	}
	env, err := ruleEnv()
	if err != nil {
		c.errorf(n, "%v", err)
		return
	}
	set := map[Operation]bool{}
	var write *entry
	for i, e := range entries {
		if e.Key == "write" {
			write = &entries[i]
			continue
		}
		op := Operation(e.Key)
		set[op] = true
		r.Access[op] = c.rule(env, r, op, e.Value)
	}
	if write != nil {
		for _, op := range []Operation{OpCreate, OpUpdate, OpDelete} {
			if !set[op] {
				r.Access[op] = c.rule(env, r, op, write.Value)
			}
		}
	}
	for op, rule := range r.Access {
		if rule == nil { // it did not compile; the error is reported
			delete(r.Access, op)
		}
	}
}

func (c *compiler) rule(env *cel.Env, r *Resource, op Operation, n *yaml.Node) *Rule {
	what := fmt.Sprintf("%s.access.%s", r.Name, op)
	src, ok := c.str(n, what)
	if !ok {
		return nil
	}
	e, checked := c.compileExpr(env, n, src, what, cel.BoolType)
	if e == nil {
		return nil
	}
	if e.Refs["old"] && op != OpUpdate {
		c.errorf(n, "%s: `old` exists only in update rules", what)
		return nil
	}
	c.checkRecordFields(r, n, checked, what)
	c.lintLater(checked, n, what, nullScope{vars: map[string][]*Field{"record": r.Fields, "old": r.Fields}}, false)
	rule := &Rule{Expr: *e}
	c.rules[rule] = site{ast: checked, n: n}
	if e.Refs["record"] || e.Refs["old"] {
		prg, err := env.Program(checked, cel.EvalOptions(cel.OptPartialEval), cel.CostLimit(exprCostLimit))
		if err != nil {
			c.errorf(n, "%s: %v", what, err)
			return nil
		}
		rule.Partial = prg
	}
	if len(e.Refs) == 0 {
		if out, _, err := e.Program.Eval(map[string]any{}); err == nil {
			if b, ok := out.Value().(bool); ok {
				rule.Constant = &b
			}
		}
	}
	if op == OpList {
		plan, err := query.Compile(env, checked, r.QueryFields(), query.Options{RecordVar: "record"})
		if err != nil {
			c.listRuleNotSQL(n, src, what, err)
			return nil
		}
		rule.Plan = plan
	}
	return rule
}

// listRuleNotSQL refuses a list rule the database cannot run, at the part it cannot: a list
// filters rows in the query, never in memory after reading them all, so such a rule would
// have no exact place to run.
func (c *compiler) listRuleNotSQL(n *yaml.Node, src, what string, err error) {
	at, msg := c.pos(n), err.Error()
	var qe *query.Error
	if errors.As(err, &qe) {
		runes := []rune(src)
		line, col := 1, 0
		for _, r := range runes[:min(qe.Offset, len(runes))] {
			if r == '\n' {
				line, col = line+1, 0
			} else {
				col++
			}
		}
		at, msg = exprPos(at, n, line, col), qe.Message
	}
	c.diags = append(c.diags, Diagnostic{Pos: at, Severity: Error, Code: "list-rule-not-sql",
		Message: fmt.Sprintf("%s: %s", what, msg),
		Fix: "list rules run inside the database query, so use only comparisons of a record field with a value, &&, ||, !, in, startsWith, endsWith, contains and null checks (on arrays of scalars: in, exists(), all() and size()); " +
			"for anything else, such as arithmetic, two fields compared or lookup(), keep the answer in a computed field (`over_budget: {type: boolean, computed: 'spent > budget'}`) and test that (`record.over_budget`)"})
}

// checkRecordFields reports record.x and old.x where x is not a field of the resource.
func (c *compiler) checkRecordFields(r *Resource, n *yaml.Node, checked *cel.Ast, what string) {
	fields := r.QueryFields()
	sels := celast.MatchDescendants(celast.NavigateAST(checked.NativeRep()), celast.KindMatcher(celast.SelectKind))
	for _, s := range sels {
		sel := s.AsSelect()
		op := sel.Operand()
		if op.Kind() != celast.IdentKind || (op.AsIdent() != "record" && op.AsIdent() != "old") {
			continue
		}
		if _, ok := fields[sel.FieldName()]; !ok {
			msg := fmt.Sprintf("%s: %s has no field %q", what, r.Name, sel.FieldName())
			names := make([]string, 0, len(fields))
			for name := range fields {
				names = append(names, name)
			}
			if sug := suggest(sel.FieldName(), names); sug != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", sug)
			}
			c.errorf(n, "%s", msg)
		}
	}
}

// indexes gathers the explicit indexes and derives one per unique field and per ref field.
func (c *compiler) indexes(r *Resource, n *yaml.Node) {
	seen := map[string]bool{}
	add := func(ix Index) {
		key := fmt.Sprint(ix.Fields, ix.Unique)
		if !seen[key] {
			seen[key] = true
			r.Indexes = append(r.Indexes, ix)
		}
	}
	for _, f := range r.Fields {
		if f.Unique {
			add(Index{Fields: []string{f.Name}, Unique: true})
		}
	}
	for _, f := range r.Fields {
		if f.Type == TypeRef {
			add(Index{Fields: []string{f.Name}})
		}
	}
	// Newest-first lists are the commonest sort after the default id order.
	add(Index{Fields: []string{"created_at"}})
	if n == nil {
		return
	}
	if n.Kind != yaml.SequenceNode {
		c.errorf(n, "%s.indexes must be a list", r.Name)
		return
	}
	for _, item := range n.Content {
		item = deref(item)
		var ix Index
		switch item.Kind {
		case yaml.SequenceNode:
			ix.Fields, _ = c.strings(item, r.Name+".indexes")
		case yaml.MappingNode:
			entries, _ := c.mapping(item, r.Name+".indexes", "fields", "unique")
			for _, e := range entries {
				if e.Key == "fields" {
					ix.Fields, _ = c.strings(e.Value, r.Name+".indexes.fields")
				} else {
					ix.Unique, _ = c.boolean(e.Value, r.Name+".indexes.unique")
				}
			}
		default:
			c.errorf(item, "%s.indexes: each index is a list of fields or {fields: [...], unique: true}", r.Name)
			continue
		}
		if len(ix.Fields) == 0 {
			c.errorf(item, "%s.indexes: an index needs at least one field", r.Name)
			continue
		}
		ok := true
		for _, name := range ix.Fields {
			if slices.Contains([]string{"id", "created_at", "updated_at", "version"}, name) {
				continue
			}
			f, found := r.Field(name)
			if !found || !f.Type.Scalar() {
				c.errorf(item, "%s.indexes: %q is not a scalar field of %s", r.Name, name, r.Name)
				ok = false
			}
		}
		if ok {
			add(ix)
		}
	}
}
