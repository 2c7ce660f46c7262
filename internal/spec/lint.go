package spec

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"cel.dev/cel-go/cel"
	celast "cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/common/types"
	"go.yaml.in/yaml/v3"
)

// check is one finding plinth check can make beyond the errors: the code its warnings carry,
// and the function that looks for it.
type check struct {
	code string
	run  func(*review)
}

// checks are the questions plinth check asks of a spec that compiles, in the order it asks
// them. A new check is one function added here, a case in lint_test.go and a section of
// docs/lint.md (TestEveryCheckIsDocumented holds the two in step).
var checks = []check{
	{"resource-without-access", resourceWithoutAccess},
	{"string-without-max-length", stringWithoutMaxLength},
	{"array-without-max-items", arrayWithoutMaxItems},
	{"null-unchecked", nullUnchecked},
	{"anonymous-empty-string", anonymousEmptyString},
	{"anonymous-default", anonymousDefault},
	{"status-without-transitions", statusWithoutTransitions},
	{"money-as-number", moneyAsNumber},
	{"timestamp-as-string", timestampAsString},
	{"negative-allowed", negativeAllowed},
	{"identifier-not-unique", identifierNotUnique},
	{"credential-field", credentialField},
	{"credential-in-spec", credentialInSpec},
	{"list-without-read", listWithoutRead},
	{"list-looser-than-read", listLooserThanRead},
	{"list-rule-unindexed", listRuleUnindexed},
	{"anonymous-write", anonymousWrite},
	{"owner-field-mutable", ownerFieldMutable},
	{"effects-without-idempotency", effectsWithoutIdempotency},
	{"example-not-derivable", exampleNotDerivable},
	{"version-past-sunset", versionPastSunset},
}

// review is one run of the checks over a spec that compiled without errors.
type review struct {
	*compiler
	// code is the running check's, which its warnings carry.
	code string
}

// review asks every check's question of the compiled spec. It runs only when the spec has no
// errors: a half-built model would answer wrongly (a rule that did not compile looks absent).
func (c *compiler) review() {
	v := &review{compiler: c}
	for _, ch := range checks {
		v.code = ch.code
		ch.run(v)
	}
}

// warn records a finding of the running check: what is wrong, and what to write instead. A
// rule written once for several operations (write:) is checked once per operation; its
// findings are reported once.
func (v *review) warn(at Pos, fix, format string, args ...any) {
	d := Diagnostic{Pos: at, Severity: Warning, Code: v.code, Message: fmt.Sprintf(format, args...), Fix: fix}
	if slices.ContainsFunc(v.diags, func(o Diagnostic) bool { return o.Pos == d.Pos && o.Code == d.Code && o.Fix == d.Fix }) {
		return
	}
	v.diags = append(v.diags, d)
}

// inExpr is the position of e inside the expression compiled from node n.
func (v *review) inExpr(s site, e celast.Expr) Pos {
	loc := s.ast.NativeRep().SourceInfo().GetStartLocation(e.ID())
	return exprPos(v.pos(s.n), s.n, loc.Line(), loc.Column())
}

// site is where an access rule was written and what it compiled to, for the checks that
// read its expression.
type site struct {
	ast *cel.Ast
	n   *yaml.Node
}

// fieldVisit is one field seen by eachField. Name is the name the field is known by: its
// own, or for the element of an array, the array's. Path is its place in messages, as in
// orders.items[].quantity.
type fieldVisit struct {
	Resource *Resource
	Field    *Field
	Name     string
	Path     string
	Top      bool // a top-level field, with a column of its own
}

// eachField calls fn for every field of every resource, nested ones and array elements
// included, outer before inner.
func (v *review) eachField(fn func(fieldVisit)) {
	var walk func(r *Resource, f *Field, name, path string, top bool)
	walk = func(r *Resource, f *Field, name, path string, top bool) {
		fn(fieldVisit{Resource: r, Field: f, Name: name, Path: path, Top: top})
		for _, sub := range f.Fields {
			walk(r, sub, sub.Name, path+"."+sub.Name, false)
		}
		if f.Of == nil {
			return
		}
		if f.Of.Type == TypeObject {
			for _, sub := range f.Of.Fields {
				walk(r, sub, sub.Name, path+"[]."+sub.Name, false)
			}
			return
		}
		walk(r, f.Of, name, path+"[]", false)
	}
	for _, r := range v.model.Resources {
		for _, f := range r.Fields {
			walk(r, f, f.Name, r.Name+"."+f.Name, true)
		}
	}
}

// words splits a field name at its underscores: unit_price_cents is unit, price, cents.
func words(name string) []string { return strings.Split(name, "_") }

func last(ws []string) string { return ws[len(ws)-1] }

// caller is a kind of caller a rule is judged for.
type caller struct {
	who   string // as messages name it: "anonymous callers", "callers with role customer"
	auth  map[string]any
	admin bool
}

// callers are the kinds of caller that rules are judged for: anonymous, signed in without a
// role, and signed in with each declared role.
func (v *review) callers() []caller {
	out := []caller{
		{who: "anonymous callers", auth: map[string]any{"sub": nil, "role": nil, "claims": map[string]any{}}},
		{who: "signed-in callers without a role", auth: map[string]any{"sub": "someone", "role": nil, "claims": map[string]any{}}},
	}
	for _, role := range v.model.Auth.Roles {
		out = append(out, caller{who: "callers with role " + role, admin: role == "admin",
			auth: map[string]any{"sub": "someone", "role": role, "claims": map[string]any{}}})
	}
	return out
}

// verdict is what a rule answers a kind of caller whatever the record.
type verdict int

const (
	depends verdict = iota // on the record (or the rule fails)
	always
	never
)

// judge evaluates rule for a caller with the record unknown.
func judge(rule *Rule, auth map[string]any) verdict {
	if rule.Constant != nil {
		if *rule.Constant {
			return always
		}
		return never
	}
	out := rule.whatever(map[string]any{"auth": auth, "now": time.Now()})
	switch {
	case out == types.True:
		return always
	case out == types.False, types.IsError(out): // a rule that fails denies
		return never
	}
	return depends
}

// ignorePattern is a comment that silences findings: `# plinth:ignore code[,code] reason`.
var ignorePattern = regexp.MustCompile(`#\s*plinth:ignore\s+([a-z0-9,-]+)`)

// ignore is one plinth:ignore comment: the line it silences and the codes it names.
type ignore struct {
	at    Pos // the comment
	line  int // the line it applies to
	codes []string
	used  map[string]bool
}

// suppress drops the warnings that a plinth:ignore comment names, on the comment's own line
// or, for a comment alone on its line, on the next line that is neither blank nor a comment. An ignore that
// silences nothing is itself a warning (unused-ignore), so that none outlives its reason.
// Errors cannot be silenced.
func (c *compiler) suppress(src []byte, reviewed bool) {
	var ignores []*ignore
	var pending []*ignore // comments alone on their lines, waiting for the line they precede
	for i, line := range strings.Split(string(src), "\n") {
		lineNo := i + 1
		trimmed := strings.TrimSpace(line)
		if trimmed != "" && !strings.HasPrefix(trimmed, "#") {
			for _, ig := range pending {
				ig.line = lineNo
			}
			pending = nil
		}
		m := ignorePattern.FindStringSubmatchIndex(line)
		if m == nil {
			continue
		}
		ig := &ignore{at: Pos{File: c.file, Line: lineNo, Col: len([]rune(line[:m[0]])) + 1}, line: lineNo,
			codes: strings.Split(strings.Trim(line[m[2]:m[3]], ","), ","), used: map[string]bool{}}
		if strings.TrimSpace(line[:m[0]]) == "" {
			pending = append(pending, ig)
		}
		ignores = append(ignores, ig)
	}
	kept := c.diags[:0]
	for _, d := range c.diags {
		if !silenced(d, ignores) {
			kept = append(kept, d)
		}
	}
	c.diags = kept
	if !reviewed { // the checks did not run, so no ignore can have been used
		return
	}
	known := make([]string, len(checks))
	for i, ch := range checks {
		known[i] = ch.code
	}
	for _, ig := range ignores {
		for _, code := range ig.codes {
			if ig.used[code] {
				continue
			}
			d := Diagnostic{Pos: ig.at, Severity: Warning, Code: "unused-ignore",
				Message: fmt.Sprintf("this comment silences %s, but there is no such finding on line %d", code, ig.line),
				Fix:     "remove the comment, or move it to the line of the finding (or the line above it)"}
			if !slices.Contains(known, code) {
				d.Message = fmt.Sprintf("this comment silences %s, which is not a code of plinth check", code)
				d.Fix = "name a code from docs/lint.md"
				if s := suggest(code, known); s != "" {
					d.Fix = fmt.Sprintf("did you mean %s?", s)
				}
			}
			c.diags = append(c.diags, d)
		}
	}
}

// silenced reports whether an ignore comment names d's code on d's line, and marks it used.
func silenced(d Diagnostic, ignores []*ignore) bool {
	if d.Severity != Warning || d.Code == "" {
		return false
	}
	for _, ig := range ignores {
		if ig.line != d.Pos.Line {
			continue
		}
		for _, code := range ig.codes {
			if code == d.Code {
				ig.used[code] = true
				return true
			}
		}
	}
	return false
}
