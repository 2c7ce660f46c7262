package spec

import (
	"fmt"
	"slices"
	"strings"
)

// OnDelete says what deleting a record does to the records whose ref field refers to it.
type OnDelete string

// The on_delete policies of a top-level ref field.
const (
	// OnDeleteRestrict refuses the delete while the reference remains (409 referenced); the
	// default.
	OnDeleteRestrict OnDelete = "restrict"
	// OnDeleteCascade deletes the referring records too, in the same transaction.
	OnDeleteCascade OnDelete = "cascade"
	// OnDeleteSetNull sets the referring field to null, in the same transaction.
	OnDeleteSetNull OnDelete = "set_null"
)

var onDeletes = []string{string(OnDeleteRestrict), string(OnDeleteCascade), string(OnDeleteSetNull)}

// Referrer is a top-level ref field of Resource: the records that deleting a record of the
// referenced resource reaches through Field.OnDelete.
type Referrer struct {
	Resource *Resource
	Field    *Field
}

// ReferencedBy lists the top-level ref fields that refer to the resource name, in
// declaration order (resources, then their fields).
func (m *Model) ReferencedBy(name string) []Referrer { return m.referrers[name] }

// onDelete parses a field's on_delete option (appliesTo has checked that the field is a ref).
func (c *compiler) onDelete(f *Field, e entry, what string, depth int) {
	s, ok := c.str(e.Value, what+".on_delete")
	if !ok {
		return
	}
	if depth > 0 {
		c.errorf(e.KeyN, "%s: on_delete applies to top-level ref fields only: a reference inside an array or object has no foreign key, and deleting its target leaves it as it is", what)
		return
	}
	if !slices.Contains(onDeletes, s) {
		msg := fmt.Sprintf("%s.on_delete must be one of %s, not %q", what, strings.Join(onDeletes, ", "), s)
		if sug := suggest(s, onDeletes); sug != "" {
			msg += fmt.Sprintf(" (did you mean %q?)", sug)
		}
		c.errorf(e.Value, "%s", msg)
		return
	}
	f.OnDelete = OnDelete(s)
}

// checkOnDelete refuses set_null where null cannot be stored: a field may hold null only when
// it is neither required nor has a default, and an update never changes an immutable or
// computed field.
func (c *compiler) checkOnDelete(f *Field, what string, byKey map[string]entry) {
	if f.OnDelete != OnDeleteSetNull {
		return
	}
	var why []string
	if f.Required {
		why = append(why, "is required")
	}
	if f.Immutable {
		why = append(why, "is immutable")
	}
	if _, ok := byKey["default"]; ok {
		why = append(why, "has a default")
	}
	if _, ok := byKey["computed"]; ok {
		why = append(why, "is computed")
	}
	if len(why) > 0 {
		c.errorf(byKey["on_delete"].Value, "%s: on_delete: set_null needs a field that may be set to null, and this one %s; use cascade or restrict", what, strings.Join(why, " and "))
	}
}

// references runs once every resource is known: it makes restrict the policy of every
// top-level ref that declares none, indexes the refs by the resource they refer to, and refuses
// cascades that go round a cycle of resources.
func (c *compiler) references() {
	for _, r := range c.model.Resources {
		for _, f := range r.Fields {
			if f.Type == TypeRef && f.OnDelete == "" {
				f.OnDelete = OnDeleteRestrict
			}
		}
	}
	c.model.indexReferrers(func(*Resource, *Field) bool { return true })
	for _, r := range c.model.Resources {
		for _, f := range r.Fields {
			if f.OnDelete != OnDeleteCascade || f.Ref == r.Name {
				continue
			}
			if path := c.cascadePath(r.Name, f.Ref); path != nil {
				cycle := append([]string{f.Ref}, path...)
				c.errorf(c.fieldDecl[f]["on_delete"].Value, "%s.%s: on_delete: cascade makes a cycle (%s): deleting a record could cascade back to its own resource; use restrict or set_null on one of these refs (only a resource's reference to itself may cascade)",
					r.Name, f.Name, strings.Join(cycle, " → "))
			}
		}
	}
}

// indexReferrers indexes the top-level ref fields of m for which stored holds by the
// resource they refer to (ReferencedBy).
func (m *Model) indexReferrers(stored func(*Resource, *Field) bool) {
	m.referrers = map[string][]Referrer{}
	for _, r := range m.Resources {
		for _, f := range r.Fields {
			if _, ok := m.Resource(f.Ref); ok && f.Type == TypeRef && stored(r, f) {
				m.referrers[f.Ref] = append(m.referrers[f.Ref], Referrer{Resource: r, Field: f})
			}
		}
	}
}

// cascadePath returns the resources a delete of a record of from cascades through to reach
// to, from first to to, or nil when it cannot. References of a resource to itself are left
// out: they stay within the resource.
func (c *compiler) cascadePath(from, to string) []string {
	prev := map[string]string{from: ""}
	queue := []string{from}
	for len(queue) > 0 {
		cur := queue[0]
		queue = queue[1:]
		for _, ref := range c.model.referrers[cur] {
			next := ref.Resource.Name
			if ref.Field.OnDelete != OnDeleteCascade || next == cur {
				continue
			}
			if _, seen := prev[next]; seen {
				continue
			}
			prev[next] = cur
			if next == to {
				var path []string
				for n := to; n != ""; n = prev[n] {
					path = append([]string{n}, path...)
				}
				return path
			}
			queue = append(queue, next)
		}
	}
	return nil
}
