package spec

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"cel.dev/cel-go/cel"
)

// Change is one difference between two specs, as plinth diff reports it.
type Change struct {
	// Kind names the change (field-removed, constraint-narrowed…); docs/contract.md lists
	// the kinds Diff reports. Other comparisons may add kinds of their own.
	Kind string
	// Breaking says whether a client written against the old spec can fail against the new.
	Breaking bool
	// Reason says what changed and what it does to clients, in a sentence.
	Reason string
	// Resource and Field name what changed, where a resource or a field did. Field is a path
	// inside the resource: note, items[].quantity for a field of an array's objects, tags[]
	// for the elements of an array of scalars, address.city for a field of an object.
	Resource string
	Field    string
	// Webhook names the webhook that changed, for the changes of webhooks.
	Webhook string
	// Old and New are the values before and after as the spec writes them (a max_length, an
	// enum value, a rule's source); empty where there is none.
	Old, New string
	// Note is advice beyond the verdict, such as what strict clients should know; often empty.
	Note string
	// Location is where the change is written: in the new spec for what was added or changed,
	// in the old one for what was removed.
	Location Pos
	// Source names the comparison that found the change: "spec" for Diff.
	Source string

	// shape marks a change to the records the resource's readers receive, which its
	// webhooks deliver too.
	shape bool
}

// changeKinds says, for every kind of change Diff reports, whether it is breaking.
// docs/contract.md has a row for each (TestEveryChangeKindIsDocumented) and diff_test.go a
// case (TestEveryChangeKindHasACase).
var changeKinds = map[string]bool{
	"version-raised":              true,
	"version-lowered":             true,
	"roles-restricted":            true,
	"roles-unrestricted":          false,
	"role-removed":                true,
	"role-added":                  false,
	"token-check-tightened":       true,
	"token-check-loosened":        false,
	"resource-removed":            true,
	"resource-added":              false,
	"field-removed":               true,
	"field-added":                 false,
	"required-field-added":        true,
	"field-retyped":               true,
	"field-made-required":         true,
	"field-made-non-nullable":     true,
	"field-made-nullable":         true,
	"default-removed":             true,
	"default-added":               false,
	"default-changed":             false,
	"field-made-read-only":        true,
	"field-made-writable":         false,
	"field-made-immutable":        true,
	"field-made-mutable":          false,
	"constraint-narrowed":         true,
	"constraint-widened":          false,
	"enum-value-removed":          true,
	"enum-value-added":            false,
	"transitions-added":           true,
	"transitions-removed":         false,
	"transition-removed":          true,
	"transition-added":            false,
	"initial-state-removed":       true,
	"initial-state-added":         false,
	"access-rule-changed":         true,
	"access-rule-loosened":        false,
	"idempotency-tightened":       true,
	"idempotency-loosened":        false,
	"concurrency-required":        true,
	"concurrency-optional":        false,
	"events-disabled":             true,
	"events-enabled":              false,
	"max-limit-lowered":           true,
	"max-limit-raised":            false,
	"default-limit-changed":       false,
	"guard-tightened":             true,
	"guard-loosened":              false,
	"webhook-removed":             true,
	"webhook-added":               false,
	"webhook-event-removed":       true,
	"webhook-event-added":         false,
	"webhook-condition-tightened": true,
	"webhook-condition-loosened":  false,
	"webhook-payload-changed":     true,
}

// Comparison finds the changes from one compiled spec to the next by one method. Diff is the
// spec-level one; a comparison of the two specs' OpenAPI documents is another, which builds
// the documents from the models and maps what it finds to Changes (Resource and Field as
// Change documents them, Location from the models' positions).
type Comparison func(old, new *Model) ([]Change, error)

// Report is the breaking-change gate's view of two specs.
type Report struct {
	OldVersion, NewVersion int
	Changes                []Change
}

// Compare runs Diff, then each of more, and merges what they find into one report. A change
// found by a later comparison is left out when an earlier one reported a change of the same
// field (a field removed is one change, though an OpenAPI comparison sees it in every
// operation), or reported its whole resource removed or added. The earlier verdict stands:
// Diff judges a field by the rules of docs/contract.md, while an OpenAPI comparison judges
// each place the field shows (a max_length raised is breaking in a response to oasdiff, as a
// client validating responses could fail, though the field accepts more). The error is the
// first comparison's that failed.
func Compare(old, new *Model, more ...Comparison) (Report, error) {
	rep := Report{OldVersion: old.Version, NewVersion: new.Version}
	for _, compare := range append([]Comparison{Diff}, more...) {
		found, err := compare(old, new)
		if err != nil {
			return Report{}, err
		}
		var fresh []Change
		for _, c := range found {
			if !slices.ContainsFunc(rep.Changes, c.coveredBy) {
				fresh = append(fresh, c)
			}
		}
		rep.Changes = append(rep.Changes, fresh...)
	}
	return rep, nil
}

// coveredBy reports whether earlier, found by another comparison, already reports c.
func (c Change) coveredBy(earlier Change) bool {
	if c.Resource == "" || c.Resource != earlier.Resource {
		return false
	}
	if earlier.Kind == "resource-removed" || earlier.Kind == "resource-added" {
		return true
	}
	return c.Field != "" && c.Field == earlier.Field
}

// Breaking counts the breaking changes.
func (r Report) Breaking() int {
	n := 0
	for _, c := range r.Changes {
		if c.Breaking {
			n++
		}
	}
	return n
}

// VersionRose reports whether the new spec's version is higher than the old one's, which
// allows breaking changes: clients of the old major are on other routes.
func (r Report) VersionRose() bool { return r.NewVersion > r.OldVersion }

// Refused reports whether the gate refuses the new spec: it has a breaking change and its
// version did not rise.
func (r Report) Refused() bool { return r.Breaking() > 0 && !r.VersionRose() }

// Diff is the spec-level Comparison: it lists every change from old to new that a client of
// the API, or a receiver of its webhooks, could notice, each classified breaking or not
// (docs/contract.md says what each kind means). It compares resources, fields and webhooks
// by name, so a renamed one is a removal and an addition. Changes come in the order of the
// specs: version, auth, then each resource and its fields, then webhooks. It fails only if
// CEL cannot make a parser.
func Diff(old, new *Model) ([]Change, error) {
	env, err := cel.NewEnv()
	if err != nil {
		return nil, fmt.Errorf("compare rules: %w", err)
	}
	d := &differ{old: old, new: new, env: env}
	d.version()
	d.auth()
	d.resources()
	d.webhooks()
	return d.changes, nil
}

// differ is one run of Diff.
type differ struct {
	old, new *Model
	env      *cel.Env
	changes  []Change
}

func (d *differ) add(c Change) {
	c.Breaking = changeKinds[c.Kind]
	c.Source = "spec"
	d.changes = append(d.changes, c)
}

// where is the position of the first of keys in the new declaration, or in the old one when
// the new one does not write it (an option removed), or else the new declaration itself.
func where(old, new declared, keys ...string) Pos {
	for _, k := range keys {
		if p, ok := new[k]; ok {
			return p
		}
	}
	for _, k := range keys {
		if p, ok := old[k]; ok {
			return p
		}
	}
	return new[""]
}

func (d *differ) version() {
	o, n := d.old.Version, d.new.Version
	at := where(d.old.decl, d.new.decl, "version")
	old, new := strconv.Itoa(o), strconv.Itoa(n)
	switch {
	case n > o:
		note := fmt.Sprintf("/v%d is no longer served: its clients need the old major declared under `versions:` to keep working until they move", o)
		if i := slices.IndexFunc(d.new.Versions, func(v *Version) bool { return v.Number == o }); i >= 0 {
			note = fmt.Sprintf("/v%d is still served, translated through `versions:`, until its sunset on %s", o,
				d.new.Versions[i].Sunset.UTC().Format(time.RFC3339))
		}
		d.add(Change{Kind: "version-raised", Old: old, New: new, Location: at,
			Reason: fmt.Sprintf("version rose from %d to %d: the API moves from /v%d to /v%d, so breaking changes are allowed", o, n, o, n),
			Note:   note})
	case n < o:
		d.add(Change{Kind: "version-lowered", Old: old, New: new, Location: at,
			Reason: fmt.Sprintf("version fell from %d to %d: the API moves from /v%d to /v%d, and its clients lose it", o, n, o, n)})
	}
}

func (d *differ) auth() {
	od, nd := d.old.decl, d.new.decl
	o, n := d.old.Auth.Roles, d.new.Auth.Roles
	switch {
	case len(o) == 0 && len(n) > 0:
		d.add(Change{Kind: "roles-restricted", New: strings.Join(n, ", "), Location: nd.at("auth.roles"),
			Reason: fmt.Sprintf("auth.roles now lists %s: tokens with any other role, accepted before, are refused", strings.Join(n, ", "))})
	case len(o) > 0 && len(n) == 0:
		d.add(Change{Kind: "roles-unrestricted", Old: strings.Join(o, ", "), Location: od.at("auth.roles"),
			Reason: "auth.roles was removed: tokens with any role are accepted"})
	default:
		for _, r := range o {
			if !slices.Contains(n, r) {
				d.add(Change{Kind: "role-removed", Old: r, Location: od.at("auth.roles=" + r),
					Reason: fmt.Sprintf("role %s was removed from auth.roles: tokens that carry it are refused", r)})
			}
		}
		for _, r := range n {
			if !slices.Contains(o, r) {
				d.add(Change{Kind: "role-added", New: r, Location: nd.at("auth.roles=" + r),
					Reason: fmt.Sprintf("role %s was added to auth.roles: tokens that carry it are accepted", r)})
			}
		}
	}
	claims := func(m *Model) (issuer, audience string) {
		if m.Auth.JWT == nil {
			return "", ""
		}
		return m.Auth.JWT.Issuer, m.Auth.JWT.Audience
	}
	oi, oa := claims(d.old)
	ni, na := claims(d.new)
	for _, c := range []struct{ key, claim, old, new string }{{"issuer", "iss", oi, ni}, {"audience", "aud", oa, na}} {
		key := "auth.jwt." + c.key
		switch {
		case c.old == c.new:
		case c.new == "":
			d.add(Change{Kind: "token-check-loosened", Old: c.old, Location: od.at(key),
				Reason: fmt.Sprintf("%s was removed: a token's %s claim is no longer checked", key, c.claim)})
		default:
			d.add(Change{Kind: "token-check-tightened", Old: c.old, New: c.new, Location: nd.at(key),
				Reason: fmt.Sprintf("%s is now %q: tokens whose %s claim is not %q, accepted before, are refused", key, c.new, c.claim, c.new)})
		}
	}
}

func (d *differ) resources() {
	for _, o := range d.old.Resources {
		if n, ok := d.new.Resource(o.Name); ok {
			d.resource(o, n)
			continue
		}
		d.add(Change{Kind: "resource-removed", Resource: o.Name, Old: o.Name, Location: o.Pos,
			Reason: fmt.Sprintf("resource %s was removed: every route of /v%d/%s answers 404, and its events stop", o.Name, d.old.Version, o.Name)})
	}
	for _, n := range d.new.Resources {
		if _, ok := d.old.Resource(n.Name); !ok {
			d.add(Change{Kind: "resource-added", Resource: n.Name, New: n.Name, Location: n.Pos,
				Reason: fmt.Sprintf("resource %s was added, with routes under /v%d/%s", n.Name, d.new.Version, n.Name)})
		}
	}
}

func (d *differ) resource(o, n *Resource) {
	d.fields(n.Name, "", o.Fields, n.Fields)
	d.access(o, n)
	d.writes(o, n)
	d.lists(o, n)
	d.guards(o, n)
}

// fieldPair is one field in both specs; path is its place in its resource (Change.Field).
type fieldPair struct {
	resource, path string
	old, new       *Field
}

func (p fieldPair) name() string { return p.resource + "." + p.path }

func (p fieldPair) change(kind, old, new string, at Pos, format string, args ...any) Change {
	return Change{Kind: kind, Resource: p.resource, Field: p.path, Old: old, New: new, Location: at,
		Reason: p.name() + " " + fmt.Sprintf(format, args...)}
}

// fields compares one level of fields; prefix is the path of the level (items[]. for the
// objects of an array).
func (d *differ) fields(resource, prefix string, old, new []*Field) {
	find := func(fs []*Field, name string) *Field {
		i := slices.IndexFunc(fs, func(f *Field) bool { return f.Name == name })
		if i < 0 {
			return nil
		}
		return fs[i]
	}
	for _, o := range old {
		p := fieldPair{resource: resource, path: prefix + o.Name, old: o, new: find(new, o.Name)}
		if p.new != nil {
			d.field(p)
			continue
		}
		c := p.change("field-removed", o.Signature(), "", o.Pos,
			"was removed: responses and events no longer carry it, and writes that send it are refused as unknown")
		c.shape = true
		d.add(c)
	}
	for _, n := range new {
		if find(old, n.Name) != nil {
			continue
		}
		p := fieldPair{resource: resource, path: prefix + n.Name, new: n}
		switch {
		case n.Required && n.Default == nil:
			d.add(p.change("required-field-added", "", n.Signature(), n.Pos,
				"was added, required and without a default: creates and replacements (PUT) that omit it, accepted before, are refused"))
		case n.Computed != nil:
			d.add(p.change("field-added", "", n.Signature(), n.Pos, "was added, computed by the server: responses carry it"))
		default:
			d.add(p.change("field-added", "", n.Signature(), n.Pos, "was added; writes may omit it"))
		}
	}
}

// field compares a field present in both specs, and what is nested in it.
func (d *differ) field(p fieldPair) {
	o, n := p.old, p.new
	if o.Type != n.Type || o.Ref != n.Ref {
		c := p.change("field-retyped", o.Signature(), n.Signature(), n.decl.at("type"),
			"changed type from %s to %s: clients read and send values of the old type", o.Signature(), n.Signature())
		c.shape = true
		d.add(c)
		return
	}
	d.presence(p)
	switch {
	case !o.Immutable && n.Immutable:
		d.add(p.change("field-made-immutable", "false", "true", n.decl.at("immutable"),
			"became immutable: updates that change it, accepted before, are refused"))
	case o.Immutable && !n.Immutable:
		d.add(p.change("field-made-mutable", "true", "false", o.decl.at("immutable"), "is no longer immutable: updates may change it"))
	}
	d.constraints(p)
	d.enum(p)
	switch {
	case o.Type == TypeObject:
		d.fields(p.resource, p.path+".", o.Fields, n.Fields)
	case o.Of != nil && n.Of != nil && o.Of.Type == TypeObject && n.Of.Type == TypeObject:
		d.fields(p.resource, p.path+"[].", o.Of.Fields, n.Of.Fields)
	case o.Of != nil && n.Of != nil:
		d.field(fieldPair{resource: p.resource, path: p.path + "[]", old: o.Of, new: n.Of})
	}
}

// presence compares what a field holds when a write omits it: whether it is computed,
// required, defaulted or nullable, the things that decide whether a client must send it
// and whether it may read null.
func (d *differ) presence(p fieldPair) {
	o, n := p.old, p.new
	switch {
	case !o.ReadOnly() && n.ReadOnly():
		d.add(p.change("field-made-read-only", "", n.Computed.Source, n.decl.at("computed"),
			"is now computed by the server: writes that send it, accepted before, are refused as read-only"))
		return
	case o.ReadOnly() && !n.ReadOnly():
		d.add(p.change("field-made-writable", o.Computed.Source, "", o.decl.at("computed"),
			"is no longer computed: clients may write it"))
		if n.Nullable() {
			c := p.change("field-made-nullable", "", "", n.decl.at(""),
				"is neither computed nor required nor defaulted any more: responses may hold null where clients always got a value")
			c.shape = true
			d.add(c)
		}
		return
	}
	od, nd := d.defaultText(o.Default), d.defaultText(n.Default)
	switch {
	case o.Default != nil && n.Default == nil && n.Required:
		d.add(p.change("default-removed", od, "", o.decl.at("default"),
			"lost its default and is required: creates that omit it, accepted before, are refused"))
	case o.Default != nil && n.Default == nil:
		c := p.change("default-removed", od, "", o.decl.at("default"),
			"lost its default: creates that omit it store null, and responses may hold null where clients always got a value")
		c.shape = true
		d.add(c)
	case o.Default == nil && n.Default != nil && !o.Nullable():
		d.add(p.change("default-added", "", nd, n.decl.at("default"),
			"gained the default %s: creates may omit it", nd))
	case o.Default == nil && n.Default != nil:
		d.add(p.change("field-made-non-nullable", "", nd, n.decl.at("default"),
			"gained the default %s, so it may no longer hold null: writes that set it to null, accepted before, are refused", nd))
	case o.Default != nil && od != nd:
		d.add(p.change("default-changed", od, nd, n.decl.at("default"),
			"has its default changed from %s to %s: creates that omit it store the new value", od, nd))
	case o.Default != nil:
	case !o.Required && n.Required:
		d.add(p.change("field-made-required", "false", "true", n.decl.at("required"),
			"became required without a default: creates and replacements that omit it, and writes that set it to null, accepted before, are refused"))
	case o.Required && !n.Required:
		c := p.change("field-made-nullable", "true", "false", o.decl.at("required"),
			"is no longer required and has no default: responses may hold null where clients always got a value")
		c.shape = true
		d.add(c)
	}
}

// defaultText renders a default as the spec would write it: a literal as JSON, an expression
// as its canonical CEL. Empty without a default.
func (d *differ) defaultText(def *Default) string {
	switch {
	case def == nil:
		return ""
	case def.Expr != nil:
		return d.cond(def.Expr.Source).text
	}
	b, err := json.Marshal(def.Literal)
	if err != nil {
		return fmt.Sprint(def.Literal)
	}
	return string(b)
}

// constraints compares the bounds and checks on a field's values: narrowing one refuses
// values that were accepted, widening one accepts more.
func (d *differ) constraints(p fieldPair) {
	o, n := p.old, p.new
	count := func(v *int) *float64 { // min_length and min_items of 0 bound nothing
		if v == nil || *v == 0 {
			return nil
		}
		x := float64(*v)
		return &x
	}
	limit := func(v *int) *float64 {
		if v == nil {
			return nil
		}
		x := float64(*v)
		return &x
	}
	d.bound(p, "min_length", false, count(o.MinLength), count(n.MinLength))
	d.bound(p, "max_length", true, limit(o.MaxLength), limit(n.MaxLength))
	d.bound(p, "min", false, o.Min, n.Min)
	d.bound(p, "max", true, o.Max, n.Max)
	d.bound(p, "min_items", false, count(o.MinItems), count(n.MinItems))
	d.bound(p, "max_items", true, limit(o.MaxItems), limit(n.MaxItems))
	pattern := func(f *Field) string {
		if f.Pattern == nil {
			return ""
		}
		return f.Pattern.String()
	}
	d.check(p, "pattern", pattern(o), pattern(n))
	d.check(p, "format", o.Format, n.Format)
	if !o.Unique && n.Unique {
		d.add(p.change("constraint-narrowed", "false", "true", n.decl.at("unique"),
			"became unique: writes that repeat a stored value, accepted before, are refused"))
	} else if o.Unique && !n.Unique {
		d.add(p.change("constraint-widened", "true", "false", o.decl.at("unique"), "is no longer unique: writes may repeat a stored value"))
	}
}

// bound compares one bound, nil when there is none. A lower bound narrows when it rises, an
// upper one when it falls.
func (d *differ) bound(p fieldPair, option string, upper bool, old, new *float64) {
	num := func(x *float64) string {
		if x == nil {
			return ""
		}
		return strconv.FormatFloat(*x, 'f', -1, 64)
	}
	ov, nv := num(old), num(new)
	switch {
	case ov == nv:
	case old == nil:
		d.add(p.change("constraint-narrowed", "", nv, p.new.decl.at(option),
			"gained %s: %s: values beyond it, accepted before, are refused", option, nv))
	case new == nil:
		d.add(p.change("constraint-widened", ov, "", p.old.decl.at(option), "lost %s: %s: it accepts more values", option, ov))
	case (*new < *old) == upper:
		verb := map[bool]string{true: "lowered", false: "raised"}[upper]
		d.add(p.change("constraint-narrowed", ov, nv, p.new.decl.at(option),
			"has its %s %s from %s to %s: values beyond the new bound, accepted before, are refused", option, verb, ov, nv))
	default:
		verb := map[bool]string{true: "raised", false: "lowered"}[upper]
		d.add(p.change("constraint-widened", ov, nv, p.new.decl.at(option),
			"has its %s %s from %s to %s: it accepts more values", option, verb, ov, nv))
	}
}

// check compares a check on text values (pattern, format): adding or changing one narrows,
// since no one can prove a new pattern accepts all the old one did; removing one widens.
func (d *differ) check(p fieldPair, option, old, new string) {
	switch {
	case old == new:
	case old == "":
		d.add(p.change("constraint-narrowed", "", new, p.new.decl.at(option),
			"gained %s %q: values it does not accept, accepted before, are refused", option, new))
	case new == "":
		d.add(p.change("constraint-widened", old, "", p.old.decl.at(option), "lost %s %q: it accepts more values", option, old))
	default:
		d.add(p.change("constraint-narrowed", old, new, p.new.decl.at(option),
			"has its %s changed from %q to %q: values only the old one accepts are refused", option, old, new))
	}
}

// enum compares an enum's values and its state machine.
func (d *differ) enum(p fieldPair) {
	o, n := p.old, p.new
	for _, v := range o.Values {
		if !slices.Contains(n.Values, v) {
			c := p.change("enum-value-removed", v, "", o.decl.at("values="+v, "values"),
				"lost the value %q: writes that send it, accepted before, are refused", v)
			d.add(c)
		}
	}
	for _, v := range n.Values {
		if !slices.Contains(o.Values, v) {
			c := p.change("enum-value-added", "", v, n.decl.at("values="+v, "values"), "gained the value %q: writes may send it", v)
			c.Note = "responses may now hold it: a strict client (a generated enum, an exhaustive switch) may fail on a value it does not know, so tell client teams before records hold it"
			d.add(c)
		}
	}
	switch {
	case o.Transitions == nil && n.Transitions != nil:
		d.add(p.change("transitions-added", "", "", n.decl.at("transitions"),
			"gained transitions: updates that move it other than the transitions allow, accepted before, are refused"))
		return
	case o.Transitions != nil && n.Transitions == nil:
		d.add(p.change("transitions-removed", "", "", o.decl.at("transitions"), "lost its transitions: updates may set any value"))
		return
	case o.Transitions == nil:
		return
	}
	for _, from := range o.Values {
		for _, to := range o.Transitions[from] {
			if slices.Contains(n.Values, from) && slices.Contains(n.Values, to) && !slices.Contains(n.Transitions[from], to) {
				d.add(p.change("transition-removed", from+" -> "+to, "", o.decl.at("transitions."+from+"="+to, "transitions."+from, "transitions"),
					"no longer moves from %s to %s: updates that do, accepted before, are refused", from, to))
			}
		}
	}
	for _, from := range n.Values {
		for _, to := range n.Transitions[from] {
			if !slices.Contains(o.Transitions[from], to) {
				d.add(p.change("transition-added", "", from+" -> "+to, n.decl.at("transitions."+from+"="+to, "transitions."+from, "transitions"),
					"may move from %s to %s", from, to))
			}
		}
	}
	for _, s := range o.Initial {
		if slices.Contains(n.Values, s) && !slices.Contains(n.Initial, s) {
			d.add(p.change("initial-state-removed", s, "", o.decl.at("initial="+s, "initial", "default"),
				"may no longer start as %q: creates that set it, accepted before, are refused", s))
		}
	}
	for _, s := range n.Initial {
		if !slices.Contains(o.Initial, s) {
			d.add(p.change("initial-state-added", "", s, n.decl.at("initial="+s, "initial", "default"), "may start as %q", s))
		}
	}
}

func (d *differ) cond(src string) *condition { return parseCondition(d.env, src) }

// rule is a rule's condition, where a missing access rule admits role admin alone.
func (d *differ) rule(r *Rule) *condition {
	if r == nil {
		return d.cond(adminOnly)
	}
	return d.cond(r.Source)
}

func ruleText(r *Rule) string {
	if r == nil {
		return "no rule (role admin only)"
	}
	return "`" + r.Source + "`"
}

func (d *differ) access(o, n *Resource) {
	for _, op := range Operations {
		or, nr := o.Access[op], n.Access[op]
		oc, nc := d.rule(or), d.rule(nr)
		looser := oc.implies(nc)
		if looser && nc.implies(oc) {
			continue
		}
		c := Change{Resource: n.Name, Location: n.Pos}
		if or != nil {
			c.Old, c.Location = or.Source, or.Pos
		}
		if nr != nil {
			c.New, c.Location = nr.Source, nr.Pos
		}
		what := fmt.Sprintf("%s.access.%s changed from %s to %s", n.Name, op, ruleText(or), ruleText(nr))
		if looser {
			c.Kind, c.Reason = "access-rule-loosened", what+": it admits every caller and record the old rule did"
		} else {
			c.Kind, c.Reason = "access-rule-changed", what+", and Plinth cannot prove it admits every caller and record the old rule did: requests that passed may be refused"
		}
		d.add(c)
	}
}

// writes compares what writes must carry (Idempotency-Key, If-Match) and whether they emit
// events.
func (d *differ) writes(o, n *Resource) {
	at := func(key string) Pos { return where(o.decl, n.decl, key) }
	mk := func(kind, key, old, new, why string) Change {
		return Change{Kind: kind, Resource: n.Name, Old: old, New: new, Location: at(key),
			Reason: fmt.Sprintf("%s.%s changed from %s to %s: %s", n.Name, key, old, new, why)}
	}
	switch oi, ni := o.Idempotency, n.Idempotency; {
	case oi == ni:
	case ni == IdempotencyRequired:
		d.add(mk("idempotency-tightened", "idempotency", string(oi), string(ni),
			"creates and updates without an Idempotency-Key, accepted before, are refused"))
	case ni == IdempotencyOff:
		d.add(mk("idempotency-tightened", "idempotency", string(oi), string(ni),
			"Idempotency-Key is ignored, so a client's retry is no longer answered from the first response and may write twice"))
	default:
		d.add(mk("idempotency-loosened", "idempotency", string(oi), string(ni), "keys are honoured and no longer demanded"))
	}
	mode := map[bool]string{true: "required", false: "optional"}
	switch {
	case !o.ConcurrencyRequired && n.ConcurrencyRequired:
		d.add(mk("concurrency-required", "concurrency", mode[false], mode[true],
			"updates and deletes without If-Match, accepted before, are refused (428)"))
	case o.ConcurrencyRequired && !n.ConcurrencyRequired:
		d.add(mk("concurrency-optional", "concurrency", mode[true], mode[false], "If-Match is checked when sent, and no longer demanded"))
	}
	switch {
	case o.Events && !n.Events:
		d.add(mk("events-disabled", "events", "true", "false",
			"its writes no longer append events, so GET /v"+strconv.Itoa(d.new.Version)+"/events and the change feeds stop showing them"))
	case !o.Events && n.Events:
		d.add(mk("events-enabled", "events", "false", "true", "its writes append events"))
	}
}

// lists compares the page sizes of a resource's list.
func (d *differ) lists(o, n *Resource) {
	at := func(key string) Pos { return where(o.decl, n.decl, "list."+key, "list") }
	ov, nv := strconv.Itoa(o.MaxLimit), strconv.Itoa(n.MaxLimit)
	switch {
	case n.MaxLimit < o.MaxLimit:
		d.add(Change{Kind: "max-limit-lowered", Resource: n.Name, Old: ov, New: nv, Location: at("max_limit"),
			Reason: fmt.Sprintf("%s.list.max_limit lowered from %s to %s: lists asking for more, accepted before, are refused", n.Name, ov, nv)})
	case n.MaxLimit > o.MaxLimit:
		d.add(Change{Kind: "max-limit-raised", Resource: n.Name, Old: ov, New: nv, Location: at("max_limit"),
			Reason: fmt.Sprintf("%s.list.max_limit raised from %s to %s: lists may ask for more", n.Name, ov, nv)})
	}
	if o.DefaultLimit != n.DefaultLimit {
		ov, nv := strconv.Itoa(o.DefaultLimit), strconv.Itoa(n.DefaultLimit)
		d.add(Change{Kind: "default-limit-changed", Resource: n.Name, Old: ov, New: nv, Location: at("default_limit"),
			Reason: fmt.Sprintf("%s.list.default_limit changed from %s to %s: lists without a limit get pages of the new size, and next_cursor still walks every record", n.Name, ov, nv)})
	}
}

// guards compares the effects' guards, the conditions that refuse a write with a conflict.
// A guard counts as no looser unless the effect runs on no more operations and its when,
// for_each, target and id read the same.
func (d *differ) guards(o, n *Resource) {
	find := func(effects []*Effect, name string) *Effect {
		i := slices.IndexFunc(effects, func(e *Effect) bool { return e.Name == name && e.Guard != nil })
		if i < 0 {
			return nil
		}
		return effects[i]
	}
	text := func(e *Expr) string {
		if e == nil {
			return ""
		}
		return d.cond(e.Source).text
	}
	scope := func(e *Effect) string {
		return fmt.Sprint(e.Target, "|", text(e.When), "|", text(e.ForEach), "|", text(e.ID))
	}
	within := func(inner, outer []Operation) bool {
		return !slices.ContainsFunc(inner, func(op Operation) bool { return !slices.Contains(outer, op) })
	}
	for _, oe := range o.Effects {
		if oe.Guard != nil && find(n.Effects, oe.Name) == nil {
			d.add(Change{Kind: "guard-loosened", Resource: n.Name, Old: oe.Guard.Source, Location: oe.Guard.Pos,
				Reason: fmt.Sprintf("%s.effects.%s no longer guards writes: the writes it refused are accepted", n.Name, oe.Name)})
		}
	}
	for _, ne := range n.Effects {
		if ne.Guard == nil {
			continue
		}
		name := n.Name + ".effects." + ne.Name
		oe := find(o.Effects, ne.Name)
		if oe == nil {
			d.add(Change{Kind: "guard-tightened", Resource: n.Name, New: ne.Guard.Source, Location: ne.Guard.Pos,
				Reason: fmt.Sprintf("%s guards writes with `%s`: writes it refuses, accepted before, fail with %d %s", name, ne.Guard.Source, ne.Conflict.Status(), ne.Conflict)})
			continue
		}
		oc, nc := d.cond(oe.Guard.Source), d.cond(ne.Guard.Source)
		same := scope(oe) == scope(ne)
		switch {
		case same && oc.implies(nc) && nc.implies(oc) && within(oe.On, ne.On) && within(ne.On, oe.On):
		case same && oc.implies(nc) && within(ne.On, oe.On):
			d.add(Change{Kind: "guard-loosened", Resource: n.Name, Old: oe.Guard.Source, New: ne.Guard.Source, Location: ne.Guard.Pos,
				Reason: fmt.Sprintf("%s's guard was loosened: it refuses no write the old one accepted", name)})
		default:
			d.add(Change{Kind: "guard-tightened", Resource: n.Name, Old: oe.Guard.Source, New: ne.Guard.Source, Location: ne.Guard.Pos,
				Reason: fmt.Sprintf("%s's guard changed, and Plinth cannot prove it refuses no write the old one accepted: such writes fail with %d %s", name, ne.Conflict.Status(), ne.Conflict)})
		}
	}
}

func (d *differ) webhooks() {
	find := func(ws []*Webhook, name string) *Webhook {
		i := slices.IndexFunc(ws, func(w *Webhook) bool { return w.Name == name })
		if i < 0 {
			return nil
		}
		return ws[i]
	}
	for _, o := range d.old.Webhooks {
		if n := find(d.new.Webhooks, o.Name); n != nil {
			d.webhook(o, n)
			continue
		}
		d.add(Change{Kind: "webhook-removed", Webhook: o.Name, Old: o.Name, Location: o.Pos,
			Reason: fmt.Sprintf("webhook %s was removed: its receiver gets no more deliveries", o.Name)})
	}
	for _, n := range d.new.Webhooks {
		if find(d.old.Webhooks, n.Name) == nil {
			d.add(Change{Kind: "webhook-added", Webhook: n.Name, New: n.Name, Location: n.Pos,
				Reason: fmt.Sprintf("webhook %s was added", n.Name)})
		}
	}
}

func (d *differ) webhook(o, n *Webhook) {
	for _, t := range o.On {
		if !slices.Contains(n.On, t) {
			d.add(Change{Kind: "webhook-event-removed", Webhook: n.Name, Old: t, Location: o.decl.at("on="+t, "on"),
				Reason: fmt.Sprintf("webhook %s no longer delivers %s: its receiver stops getting them", n.Name, t)})
		}
	}
	for _, t := range n.On {
		if !slices.Contains(o.On, t) {
			d.add(Change{Kind: "webhook-event-added", Webhook: n.Name, New: t, Location: n.decl.at("on="+t, "on"),
				Reason: fmt.Sprintf("webhook %s delivers %s too", n.Name, t),
				Note:   "a receiver that does not expect this type should acknowledge and ignore it"})
		}
	}
	when := func(e *Expr) (*condition, string) {
		if e == nil {
			return d.cond("true"), "no condition"
		}
		return d.cond(e.Source), "`" + e.Source + "`"
	}
	oc, ot := when(o.When)
	nc, nt := when(n.When)
	if looser := oc.implies(nc); !looser || !nc.implies(oc) {
		c := Change{Webhook: n.Name, Location: n.decl.at("when")}
		if o.When != nil {
			c.Old = o.When.Source
		}
		if n.When != nil {
			c.New = n.When.Source
		} else {
			c.Location = o.decl.at("when")
		}
		what := fmt.Sprintf("webhook %s's condition changed from %s to %s", n.Name, ot, nt)
		if looser {
			c.Kind, c.Reason = "webhook-condition-loosened", what+": it delivers every event it did, and maybe more"
		} else {
			c.Kind, c.Reason = "webhook-condition-tightened", what+", and Plinth cannot prove it delivers every event the old one did"
		}
		d.add(c)
	}
	d.payload(o, n)
}

// payload reports, per resource whose events a webhook keeps delivering, the changes to the
// records it sends.
func (d *differ) payload(o, n *Webhook) {
	var seen []string
	for _, t := range n.On {
		resource, _, _ := strings.Cut(t, ".")
		if slices.Contains(seen, resource) || !slices.ContainsFunc(o.On, func(ot string) bool { return strings.HasPrefix(ot, resource+".") }) {
			continue
		}
		seen = append(seen, resource)
		var what []string
		for _, c := range d.changes {
			if c.shape && c.Resource == resource {
				what = append(what, c.Field+" ("+c.Kind+")")
			}
		}
		if len(what) > 0 {
			d.add(Change{Kind: "webhook-payload-changed", Webhook: n.Name, Resource: resource, Location: n.decl.at("on="+t, "on"),
				Reason: fmt.Sprintf("webhook %s delivers %s records, whose shape changed: %s; its receiver reads the old shape", n.Name, resource, strings.Join(what, ", "))})
		}
	}
}
