package spec

import (
	"strconv"

	"cel.dev/cel-go/cel"
	celast "cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/common/operators"
	"cel.dev/cel-go/parser"
)

// condition is a boolean CEL expression taken apart at its && and ||, so that plinth diff
// can prove that a new rule admits everything the old one did. Leaves are compared by their
// canonical text: two spellings of one condition (extra spaces, parentheses) are equal.
type condition struct {
	op    string // operators.LogicalAnd or operators.LogicalOr; "" for a leaf
	text  string // the canonical source of the whole condition
	parts []*condition
}

// adminOnly is what a missing access rule means: only role admin may act.
const adminOnly = `auth.role == "admin"`

// parseCondition reads src with env, which needs no declarations: parsing is enough to
// compare. A source that does not parse (the spec compiled, so it does) is one opaque leaf.
func parseCondition(env *cel.Env, src string) *condition {
	parsed, iss := env.Parse(src)
	if iss != nil && iss.Err() != nil {
		return &condition{text: src}
	}
	rep := parsed.NativeRep()
	return splitCondition(rep.Expr(), rep.SourceInfo())
}

func splitCondition(e celast.Expr, info *celast.SourceInfo) *condition {
	text, err := parser.Unparse(e, info)
	c := &condition{text: text}
	if err != nil {
		c.text = ""
	}
	if e.Kind() != celast.CallKind {
		return c
	}
	call := e.AsCall()
	if fn := call.FunctionName(); fn == operators.LogicalAnd || fn == operators.LogicalOr {
		c.op = fn
		for _, arg := range call.Args() {
			part := splitCondition(arg, info)
			if part.op == fn { // a && (b && c) is one conjunction of three
				c.parts = append(c.parts, part.parts...)
			} else {
				c.parts = append(c.parts, part)
			}
		}
	}
	return c
}

// is reports whether the condition is the literal b.
func (c *condition) is(b bool) bool {
	return c.op == "" && c.text == strconv.FormatBool(b)
}

// implies reports whether every evaluation that makes a true makes b true too: b admits all
// a admits. It is sound but not complete: true means proven, false means not proven. It knows
// that a condition implies itself and true, that false implies anything, and how && and ||
// combine (a || b implies c when both do; a implies b && c when it implies both; a implies
// b || c when it implies either; a && b implies c when either does).
func (a *condition) implies(b *condition) bool {
	if (a.text != "" && a.text == b.text) || b.is(true) || a.is(false) {
		return true
	}
	if a.op == operators.LogicalOr {
		return allParts(a.parts, func(p *condition) bool { return p.implies(b) })
	}
	if b.op == operators.LogicalAnd {
		return allParts(b.parts, func(p *condition) bool { return a.implies(p) })
	}
	if b.op == operators.LogicalOr && !allParts(b.parts, func(p *condition) bool { return !a.implies(p) }) {
		return true
	}
	return a.op == operators.LogicalAnd && !allParts(a.parts, func(p *condition) bool { return !p.implies(b) })
}

func allParts(parts []*condition, ok func(*condition) bool) bool {
	for _, p := range parts {
		if !ok(p) {
			return false
		}
	}
	return true
}
