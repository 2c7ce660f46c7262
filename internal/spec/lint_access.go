package spec

import (
	"fmt"
	"slices"
	"strings"

	celast "cel.dev/cel-go/common/ast"
)

// The checks of access rules and write paths: who may do what, and what it costs.

// resourceWithoutAccess: without rules a resource is open to role admin only, which is safe
// but rarely what its author meant.
func resourceWithoutAccess(v *review) {
	for _, r := range v.model.Resources {
		if len(r.Access) == 0 {
			v.warn(r.Pos, `give it rules, as in `+"`"+`access: {list: "auth.sub != null", read: "auth.sub != null", write: 'auth.role == "admin"'}`+"`",
				"resource %s has no access rules: it is denied by default, and only role admin can reach it", r.Name)
		}
	}
}

// listWithoutRead: a caller the list rule admits sees records in a page that answer 404 when
// fetched by id, because without a read rule only role admin may read.
func listWithoutRead(v *review) {
	for _, r := range v.model.Resources {
		list := r.Access[OpList]
		if list == nil || r.Access[OpRead] != nil {
			continue
		}
		v.warn(v.pos(v.rules[list].n), fmt.Sprintf("add a read rule that admits the same records: `read: '%s'`", list.Source),
			"%s has a list rule but no read rule, so only role admin may read: everyone else gets 404 for the records the list shows them", r.Name)
	}
}

// listLooserThanRead: when the list rule admits every record for some caller and the read rule
// does not, lists show that caller records their read rule hides — the list runs in the
// database with the list rule alone.
func listLooserThanRead(v *review) {
	for _, r := range v.model.Resources {
		list, read := r.Access[OpList], r.Access[OpRead]
		if list == nil || read == nil {
			continue
		}
		for _, c := range v.callers() {
			if judge(list, c.auth) != always || judge(read, c.auth) == always {
				continue
			}
			v.warn(v.pos(v.rules[list].n),
				fmt.Sprintf("make them agree: if %s may see every record, `read: '%s'`; if not, `list: '%s'`", c.who, list.Source, read.Source),
				"%s: the list rule admits every record for %s, but the read rule only some: lists show them records the read rule hides", r.Name, c.who)
			break
		}
	}
}

// listRuleUnindexed: a list rule that compares a field with the caller (record.owner ==
// auth.sub) narrows every non-admin list to that caller's records; without an index on the
// field the database finds them by reading the whole table, on every page.
func listRuleUnindexed(v *review) {
	for _, r := range v.model.Resources {
		list := r.Access[OpList]
		if list == nil {
			continue
		}
		s := v.rules[list]
		warned := map[string]bool{}
		for _, cmp := range callerComparisons(s) {
			name := cmp.field.AsSelect().FieldName()
			f, ok := r.Field(name)
			if !ok || !f.Type.Scalar() || warned[name] || indexed(r, name) {
				continue
			}
			warned[name] = true
			v.warn(v.inExpr(s, cmp.field.AsSelect().Operand()), fmt.Sprintf("index it: `indexes: [[%s]]` on %s (or add `[%s]` to its indexes)", name, r.Name, name),
				"%s.access.list compares record.%s with the caller, but %s has no index: each list of a caller the rule narrows reads the whole table", r.Name, name, name)
		}
	}
}

// indexed reports whether an index of r begins with the field, so that the database can find
// a value of it without reading the table.
func indexed(r *Resource, name string) bool {
	return name == "id" || slices.ContainsFunc(r.Indexes, func(ix Index) bool { return ix.Fields[0] == name })
}

// comparison is record.<field> compared with a value of the caller's, as in record.owner ==
// auth.sub or record.team in auth.claims.teams.
type comparison struct {
	field  celast.Expr // the record.<field> selection
	callee string      // what it is compared with: auth.sub, auth.claims.team…
}

// callerComparisons finds the comparisons of a record field with the caller in a rule.
func callerComparisons(s site) []comparison {
	var out []comparison
	for _, e := range celast.MatchDescendants(celast.NavigateAST(s.ast.NativeRep()), celast.KindMatcher(celast.CallKind)) {
		call := e.AsCall()
		args := call.Args()
		if len(args) != 2 {
			continue
		}
		var pairs [][2]celast.Expr
		switch call.FunctionName() {
		case "_==_":
			pairs = [][2]celast.Expr{{args[0], args[1]}, {args[1], args[0]}}
		case "@in":
			pairs = [][2]celast.Expr{{args[0], args[1]}}
		}
		for _, p := range pairs {
			if recordField(p[0], "record") != "" && mentions(s, p[1], "auth") && !mentions(s, p[1], "record") {
				out = append(out, comparison{field: p[0], callee: path(p[1])})
			}
		}
	}
	return out
}

// recordField returns the field e selects from the variable named v (record.owner gives
// owner), or "".
func recordField(e celast.Expr, v string) string {
	if e.Kind() != celast.SelectKind || e.AsSelect().IsTestOnly() {
		return ""
	}
	op := e.AsSelect().Operand()
	if op.Kind() != celast.IdentKind || op.AsIdent() != v {
		return ""
	}
	return e.AsSelect().FieldName()
}

// mentions reports whether the variable named v occurs in e, a part of the rule at s.
func mentions(s site, e celast.Expr, v string) bool {
	return len(celast.MatchDescendants(celast.NavigateExpr(s.ast.NativeRep(), e), func(x celast.NavigableExpr) bool {
		return x.Kind() == celast.IdentKind && x.AsIdent() == v
	})) > 0
}

// anonymousWrite: an update or delete rule that holds for anonymous callers whatever the
// record lets anyone on the network change or erase every record. Create is left out: a
// sign-up or contact form is meant for anonymous callers.
func anonymousWrite(v *review) {
	anonymous := v.callers()[0].auth
	for _, r := range v.model.Resources {
		var order []Pos
		ops := map[Pos][]string{} // rules written once (write:) are reported once
		for _, op := range []Operation{OpUpdate, OpDelete} {
			rule := r.Access[op]
			if rule == nil || judge(rule, anonymous) != always {
				continue
			}
			at := v.pos(v.rules[rule].n)
			if _, ok := ops[at]; !ok {
				order = append(order, at)
			}
			ops[at] = append(ops[at], string(op))
		}
		who := `'auth.role == "admin"'`
		if owner := ownerField(r); owner != "" {
			who = fmt.Sprintf(`'auth.role == "admin" || record.%s == auth.sub'`, owner)
		}
		for _, at := range order {
			v.warn(at, "say who may: "+who+", or at least `auth.sub != null` for any signed-in caller",
				"%s: anyone, signed in or not, may %s every record", r.Name, strings.Join(ops[at], " and "))
		}
	}
}

// ownerField returns the name of the field a resource records its creator in (default:
// auth.sub), or "".
func ownerField(r *Resource) string {
	for _, f := range r.Fields {
		if f.Default != nil && f.Default.Expr != nil && strings.Contains(f.Default.Expr.Source, "auth.sub") {
			return f.Name
		}
	}
	return ""
}

// ownerFieldMutable: a field that says who owns a record must not change on an update unless
// the rule checks who owns it now. Two shapes go wrong: a field filled with auth.sub that the
// update rule does not check at all (a caller may update may hand the record to anyone), and
// an update rule that checks only the new owner (record.owner == auth.sub) where the read rule
// shows every record (anyone may claim anyone's record by writing their own name in it).
func ownerFieldMutable(v *review) {
	for _, r := range v.model.Resources {
		update := r.Access[OpUpdate]
		if update == nil {
			continue
		}
		var users []caller // signed-in callers who are not admins and whom the update rule may admit
		for _, c := range v.callers() {
			if !c.admin && c.auth["sub"] != nil && judge(update, c.auth) != never {
				users = append(users, c)
			}
		}
		if len(users) == 0 {
			continue
		}
		us := v.rules[update]
		for _, f := range r.Fields {
			if f.Immutable || f.Computed != nil || comparesOld(us, f.Name) {
				continue
			}
			fix := fmt.Sprintf("add `immutable: true` to %s; or, if records change hands, check the owner as stored: `update: 'old.%s == auth.sub && …'`", f.Name, f.Name)
			switch {
			case !comparesWithCaller(us, f.Name) && (ownerField(r) == f.Name || v.ownerInRules(r, f.Name)):
				v.warn(f.Pos, fix, "%s.%s says who owns a record, but it is not immutable and the update rule does not check it: %s the rule admits may give a record to someone else",
					r.Name, f.Name, users[0].who)
			case comparesWithCaller(us, f.Name) && r.Access[OpRead] != nil && slices.ContainsFunc(users, func(c caller) bool { return judge(r.Access[OpRead], c.auth) == always }):
				v.warn(f.Pos, fix, "%s.%s says who owns a record, but it is not immutable and the update rule checks only its new value: whoever may read every record may claim any of them by writing their own subject in %s",
					r.Name, f.Name, f.Name)
			}
		}
	}
}

// ownerInRules reports whether the list or read rule of r compares the field with the caller.
func (v *review) ownerInRules(r *Resource, name string) bool {
	for _, op := range []Operation{OpList, OpRead} {
		if rule := r.Access[op]; rule != nil && comparesWithCaller(v.rules[rule], name) {
			return true
		}
	}
	return false
}

// comparesWithCaller reports whether the rule compares record.<name> with auth.sub.
func comparesWithCaller(s site, name string) bool {
	return slices.ContainsFunc(callerComparisons(s), func(c comparison) bool {
		return c.callee == "auth.sub" && c.field.AsSelect().FieldName() == name
	})
}

// comparesOld reports whether the rule reads old.<name>: it checks the stored value.
func comparesOld(s site, name string) bool {
	return len(celast.MatchDescendants(celast.NavigateAST(s.ast.NativeRep()), func(x celast.NavigableExpr) bool {
		return recordField(x, "old") == name
	})) > 0
}

// effectsWithoutIdempotency: a create whose effect changes other records (stock reserved) is
// not safe to retry without an Idempotency-Key: the retry creates a second record and runs the
// effect again.
func effectsWithoutIdempotency(v *review) {
	for _, r := range v.model.Resources {
		if r.Idempotency == IdempotencyRequired {
			continue
		}
		for _, eff := range r.Effects {
			if !eff.Runs(OpCreate) || len(eff.Set) == 0 {
				continue
			}
			v.warn(eff.Pos, fmt.Sprintf("add `idempotency: required` to %s, so that every create carries an Idempotency-Key and a retry gets the first answer", r.Name),
				"%s.effects.%s changes %s on every create, but a create without an Idempotency-Key is not deduplicated: a client that retries after a lost response creates a second record and runs the effect twice",
				r.Name, eff.Name, eff.Target)
		}
	}
}
