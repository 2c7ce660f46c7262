package spec

import "go.yaml.in/yaml/v3"

// renamedFrom reads a `renamed_from:` value: the name a resource or field had before.
func (c *compiler) renamedFrom(n *yaml.Node, what string) string {
	s, ok := c.str(n, what+".renamed_from")
	if !ok {
		return ""
	}
	if !namePattern.MatchString(s) || len(s) > maxNameLength {
		c.errorf(n, "%s.renamed_from: %q is not a name a resource or field could have had", what, s)
		return ""
	}
	return s
}

// renames checks that each rename names one old thing unambiguously: not a name the spec still
// uses (its table or column would be both kept and renamed), not the thing's own name, and not
// the old name of another.
func (c *compiler) renames() {
	olds := map[string]*Resource{}
	for _, r := range c.model.Resources {
		if r.RenamedFrom == "" {
			continue
		}
		switch other, taken := c.model.Resource(r.RenamedFrom); {
		case r.RenamedFrom == r.Name:
			c.errorAt(r.Pos, "resource %s: renamed_from names the resource itself", r.Name)
		case taken:
			c.errorAt(r.Pos, "resource %s: renamed_from: %s is still a resource of the spec; a rename takes a name the spec no longer uses", r.Name, other.Name)
		case olds[r.RenamedFrom] != nil:
			c.errorAt(r.Pos, "resource %s: renamed_from: %s is renamed to %s already", r.Name, r.RenamedFrom, olds[r.RenamedFrom].Name)
		default:
			olds[r.RenamedFrom] = r
		}
	}
	for _, r := range c.model.Resources {
		fields := map[string]*Field{}
		for _, f := range r.Fields {
			if f.RenamedFrom == "" {
				continue
			}
			what, at := r.Name+"."+f.Name, c.pos(c.fieldDecl[f]["renamed_from"].Value)
			switch _, taken := r.Field(f.RenamedFrom); {
			case f.RenamedFrom == f.Name:
				c.errorAt(at, "%s: renamed_from names the field itself", what)
			case reservedNames[f.RenamedFrom]:
				c.errorAt(at, "%s: renamed_from: %s is a name every record has, never a field's", what, f.RenamedFrom)
			case taken:
				c.errorAt(at, "%s: renamed_from: %s is still a field of %s; a rename takes a name the resource no longer uses", what, f.RenamedFrom, r.Name)
			case fields[f.RenamedFrom] != nil:
				c.errorAt(at, "%s: renamed_from: %s is renamed to %s already", what, f.RenamedFrom, fields[f.RenamedFrom].Name)
			default:
				fields[f.RenamedFrom] = f
			}
		}
	}
}
