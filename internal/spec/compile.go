package spec

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Limits on what a spec may declare; they keep every derived artefact bounded.
const (
	maxNameLength   = 63
	defaultPageSize = 50
	maxPageSize     = 500
	maxNesting      = 4
)

var namePattern = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

var envRefPattern = regexp.MustCompile(`^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$`)

// compiler turns YAML into a Model, collecting every diagnostic instead of stopping at the first.
type compiler struct {
	reader
	model *Model
	// pending holds work that needs every resource's fields first (CEL, refs).
	pending []func()
	// fieldDecl keeps each field's option entries for the passes that need their positions.
	fieldDecl map[*Field]map[string]entry
	// lints are expressions for the null lint, which runs once every field is settled.
	lints []nullLint
	// rules are where each access rule was written, for the checks that read them.
	rules map[*Rule]site
	// root is the whole document, for the checks that read every value.
	root *yaml.Node
	// versionsN is the `versions:` section, compiled once the current Model is.
	versionsN *yaml.Node
}

// Compile parses and checks the spec in src, read from file (used in positions). It returns
// the model, or nil when any diagnostic is an error, and every diagnostic in file order.
func Compile(file string, src []byte) (*Model, Diagnostics) {
	c := &compiler{reader: reader{file: file}, model: &Model{byName: map[string]*Resource{}}, fieldDecl: map[*Field]map[string]entry{},
		rules: map[*Rule]site{}}
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil {
		c.diags = append(c.diags, yamlError(file, err))
		return nil, c.diags
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		c.errorf(nil, "the spec is empty")
		return nil, c.diags
	}
	c.root = doc.Content[0]
	c.top(c.root)
	for _, f := range c.pending {
		f()
	}
	c.references()
	c.renames()
	if c.versionsN != nil && !c.diags.HasErrors() {
		c.versions(c.versionsN) // derived from the current Model, which must be whole
	}
	reviewed := !c.diags.HasErrors()
	if reviewed {
		c.review()
	}
	c.suppress(src, reviewed)
	c.diags = c.diags.sorted()
	if c.diags.HasErrors() {
		return nil, c.diags
	}
	return c.model, c.diags
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

func yamlError(file string, err error) Diagnostic {
	msg := err.Error()
	pos := Pos{File: file}
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		pos.Line, _ = strconv.Atoi(m[1])
		msg = m[2]
	}
	return Diagnostic{Pos: pos, Severity: Error, Message: "invalid YAML: " + strings.TrimPrefix(msg, "yaml: ")}
}

func (c *compiler) top(n *yaml.Node) {
	entries, ok := c.mapping(n, "spec", "plinth", "name", "version", "versions", "auth", "resources", "webhooks", "schedules", "slos", "limits", "timeouts")
	if !ok {
		return
	}
	have := map[string]*yaml.Node{}
	var declared []entry
	for _, e := range entries {
		have[e.Key] = e.Value
		if e.Key == "version" || e.Key == "auth" {
			declared = append(declared, e)
		}
	}
	c.model.decl = c.declared(c.pos(n), declared, 2)
	if v, ok := have["plinth"]; !ok {
		c.errorf(n, "missing `plinth: 1` (the spec language version)")
	} else if i, ok := c.integer(v, "plinth"); ok && i != 1 {
		c.errorf(v, "plinth: unsupported spec language version %d (this build reads version 1)", i)
	}
	if v, ok := have["name"]; !ok {
		c.errorf(n, "missing `name`")
	} else if s, ok := c.str(v, "name"); ok {
		if !namePattern.MatchString(s) || len(s) > maxNameLength {
			c.errorf(v, "name %q must be lowercase letters, digits and underscores, starting with a letter", s)
		}
		c.model.Name = s
	}
	c.model.Version = 1
	if v, ok := have["version"]; ok {
		if i, ok := c.integer(v, "version"); ok {
			if i < 1 {
				c.errorf(v, "version must be 1 or more")
			}
			c.model.Version = i
		}
	}
	c.versionsN = have["versions"]
	c.model.Timeouts = Timeouts{Read: DefaultReadTimeout, Write: DefaultWriteTimeout}
	if v, ok := have["timeouts"]; ok {
		c.model.Timeouts = c.timeouts(v, "timeouts", c.model.Timeouts)
	}
	if v, ok := have["auth"]; ok {
		c.auth(v)
	}
	v, ok := have["resources"]
	if !ok {
		c.errorf(n, "missing `resources`: a spec declares at least one resource")
		return
	}
	resources, ok := c.mapping(v, "resources")
	if !ok {
		return
	}
	if len(resources) == 0 {
		c.errorf(v, "resources: declare at least one resource")
	}
	for _, e := range resources {
		c.resource(e)
	}
	if v, ok := have["webhooks"]; ok {
		c.webhooks(v)
	}
	if v, ok := have["schedules"]; ok {
		c.schedules(v)
	}
	if v, ok := have["slos"]; ok {
		c.slos(v)
	}
	c.limits(have["limits"])
}

func (c *compiler) auth(n *yaml.Node) {
	entries, ok := c.mapping(n, "auth", "roles", "jwt")
	if !ok {
		return
	}
	for _, e := range entries {
		switch e.Key {
		case "roles":
			roles, _ := c.strings(e.Value, "auth.roles")
			for _, r := range roles {
				if !namePattern.MatchString(r) {
					c.errorf(e.Value, "auth.roles: %q must be lowercase letters, digits and underscores", r)
				}
			}
			c.model.Auth.Roles = roles
		case "jwt":
			c.model.Auth.JWT = c.jwt(e.Value)
		}
	}
}

func (c *compiler) jwt(n *yaml.Node) *JWT {
	entries, ok := c.mapping(n, "auth.jwt", "issuer", "audience", "hs256_secret")
	if !ok {
		return nil
	}
	j := &JWT{}
	for _, e := range entries {
		s, ok := c.str(e.Value, "auth.jwt."+e.Key)
		if !ok {
			continue
		}
		switch e.Key {
		case "issuer":
			j.Issuer = s
		case "audience":
			j.Audience = s
		case "hs256_secret":
			m := envRefPattern.FindStringSubmatch(s)
			if m == nil {
				c.refuse(e.Value, "secret-literal", "`hs256_secret: \"${JWT_SECRET}\"`, with JWT_SECRET set where the server runs; rotate the key written here",
					"auth.jwt.hs256_secret must reference an environment variable: secrets are never written in a spec")
				continue
			}
			j.SecretEnv = m[1]
		}
	}
	return j
}

var resourceKeys = []string{"fields", "access", "idempotency", "concurrency", "events", "indexes", "list", "effects", "description", "renamed_from", "timeouts"}

func (c *compiler) resource(e entry) {
	if !namePattern.MatchString(e.Key) || len(e.Key) > maxNameLength {
		c.errorf(e.KeyN, "resource name %q must be lowercase letters, digits and underscores, starting with a letter", e.Key)
		return
	}
	if e.Key == "batch" || e.Key == "events" || strings.HasPrefix(e.Key, "_") {
		c.errorf(e.KeyN, "resource name %q is reserved", e.Key)
		return
	}
	r := &Resource{Name: e.Key, Pos: c.pos(e.KeyN), Idempotency: IdempotencyOptional, Events: true,
		DefaultLimit: defaultPageSize, MaxLimit: maxPageSize, Timeouts: c.model.Timeouts, byName: map[string]*Field{}}
	entries, ok := c.mapping(e.Value, "resource "+r.Name, resourceKeys...)
	if !ok {
		return
	}
	r.decl = c.declared(r.Pos, entries, 1)
	c.model.Resources = append(c.model.Resources, r)
	c.model.byName[r.Name] = r
	var accessN, indexesN, effectsN *yaml.Node
	hasFields := false
	for _, e := range entries {
		switch e.Key {
		case "fields":
			hasFields = true
			r.Fields = c.fields(e.Value, r.Name, 0)
			for _, f := range r.Fields {
				r.byName[f.Name] = f
			}
		case "access":
			accessN = e.Value
		case "idempotency":
			if s, ok := c.str(e.Value, "idempotency"); ok {
				switch Idempotency(s) {
				case IdempotencyOff, IdempotencyOptional, IdempotencyRequired:
					r.Idempotency = Idempotency(s)
				default:
					c.errorf(e.Value, "idempotency must be off, optional or required, not %q", s)
				}
			}
		case "concurrency":
			if s, ok := c.str(e.Value, "concurrency"); ok {
				switch s {
				case "required":
					r.ConcurrencyRequired = true
				case "optional":
				default:
					c.errorf(e.Value, "concurrency must be optional or required, not %q", s)
				}
			}
		case "events":
			r.Events, _ = c.boolean(e.Value, "events")
		case "indexes":
			indexesN = e.Value
		case "effects":
			effectsN = e.Value
		case "list":
			c.listOptions(r, e.Value)
		case "description":
			r.Description, _ = c.str(e.Value, "description")
		case "renamed_from":
			r.RenamedFrom = c.renamedFrom(e.Value, "resource "+r.Name)
		case "timeouts":
			r.Timeouts = c.timeouts(e.Value, "resource "+r.Name+".timeouts", c.model.Timeouts)
		}
	}
	if !hasFields {
		c.errorf(e.KeyN, "resource %s: missing `fields`", r.Name)
	}
	c.pending = append(c.pending, func() {
		env, err := filterEnv(r)
		if err != nil {
			c.errorf(e.KeyN, "resource %s: %v", r.Name, err)
		}
		r.filterEnv = env
		c.resolveFields(r, r.Fields, r.Name)
		c.access(r, accessN)
		c.indexes(r, indexesN)
		c.effects(r, effectsN)
	})
}

func (c *compiler) listOptions(r *Resource, n *yaml.Node) {
	entries, ok := c.mapping(n, "list", "default_limit", "max_limit")
	if !ok {
		return
	}
	for _, e := range entries {
		v, ok := c.integer(e.Value, "list."+e.Key)
		if !ok {
			continue
		}
		if v < 1 || v > maxPageSize {
			c.errorf(e.Value, "list.%s must be between 1 and %d", e.Key, maxPageSize)
			continue
		}
		if e.Key == "default_limit" {
			r.DefaultLimit = v
		} else {
			r.MaxLimit = v
		}
	}
	if r.DefaultLimit > r.MaxLimit {
		c.errorf(n, "list.default_limit (%d) is above list.max_limit (%d)", r.DefaultLimit, r.MaxLimit)
	}
}

var fieldKeys = []string{"type", "required", "unique", "immutable", "min_length", "max_length", "pattern",
	"format", "min", "max", "values", "transitions", "initial", "resource", "of", "min_items", "max_items", "fields",
	"default", "computed", "description", "on_delete", "example", "renamed_from", "deprecated"}

// fields parses a mapping of field name to field declaration.
func (c *compiler) fields(n *yaml.Node, owner string, depth int) []*Field {
	entries, ok := c.mapping(n, owner+" fields")
	if !ok {
		return nil
	}
	if len(entries) == 0 {
		c.errorf(n, "%s: declare at least one field", owner)
	}
	out := make([]*Field, 0, len(entries))
	for _, e := range entries {
		if !namePattern.MatchString(e.Key) || len(e.Key) > maxNameLength {
			c.errorf(e.KeyN, "field name %q must be lowercase letters, digits and underscores, starting with a letter", e.Key)
			continue
		}
		if depth == 0 && reservedNames[e.Key] {
			c.errorf(e.KeyN, "field name %q is reserved: every record has id, created_at, updated_at and version", e.Key)
			continue
		}
		if f := c.field(e.Key, e.KeyN, e.Value, owner, depth); f != nil {
			out = append(out, f)
		}
	}
	return out
}

// field parses one field declaration: a type name alone, or a mapping of options.
func (c *compiler) field(name string, keyN, n *yaml.Node, owner string, depth int) *Field {
	f := &Field{Name: name, Pos: c.pos(keyN)}
	what := owner + "." + name
	if depth > maxNesting {
		c.errorf(keyN, "%s: nesting deeper than %d levels", what, maxNesting)
		return nil
	}
	if n.Kind == yaml.ScalarNode {
		c.declareField(f, map[string]entry{"type": {Key: "type", KeyN: keyN, Value: n}})
		f.Type = c.typeName(n, what)
		if f.Type == TypeEnum || f.Type == TypeRef || f.Type == TypeArray || f.Type == TypeObject {
			c.errorf(n, "%s: type %s needs options; write it as a mapping", what, f.Type)
		}
		return f
	}
	entries, ok := c.mapping(n, what, fieldKeys...)
	if !ok {
		return nil
	}
	keyed := indexByKey(entries)
	t, ok := keyed["type"]
	if !ok {
		c.errorf(keyN, "%s: missing `type` (one of %s)", what, strings.Join(allTypes, ", "))
		return nil
	}
	f.Type = c.typeName(t.Value, what)
	if f.Type == "" {
		return nil
	}
	for _, e := range entries {
		c.fieldOption(f, e, what, owner, depth)
	}
	c.checkFieldShape(f, keyN, what, keyed)
	return f
}

func (c *compiler) typeName(n *yaml.Node, what string) Type {
	s, ok := c.str(n, what+".type")
	if !ok {
		return ""
	}
	if !slices.Contains(allTypes, s) {
		msg := fmt.Sprintf("%s: unknown type %q", what, s)
		if sug := suggest(s, allTypes); sug != "" {
			msg += fmt.Sprintf(" (did you mean %q?)", sug)
		}
		c.errorf(n, "%s", msg)
		return ""
	}
	return Type(s)
}

// appliesTo lists, per option, the types it is valid on.
var appliesTo = map[string][]Type{
	"min_length":  {TypeString},
	"max_length":  {TypeString},
	"pattern":     {TypeString},
	"format":      {TypeString},
	"min":         {TypeInteger, TypeNumber},
	"max":         {TypeInteger, TypeNumber},
	"values":      {TypeEnum},
	"transitions": {TypeEnum},
	"initial":     {TypeEnum},
	"resource":    {TypeRef},
	"on_delete":   {TypeRef},
	"of":          {TypeArray},
	"min_items":   {TypeArray},
	"max_items":   {TypeArray},
	"fields":      {TypeObject},
	"unique":      {TypeString, TypeInteger, TypeNumber, TypeBoolean, TypeEnum, TypeTimestamp, TypeRef},
}

func (c *compiler) fieldOption(f *Field, e entry, what, owner string, depth int) {
	if types, ok := appliesTo[e.Key]; ok && !slices.Contains(types, f.Type) {
		c.errorf(e.KeyN, "%s: %s does not apply to a field of type %s", what, e.Key, f.Type)
		return
	}
	v := e.Value
	switch e.Key {
	case "type":
	case "description":
		f.Description, _ = c.str(v, what+".description")
	case "deprecated":
		f.Deprecated, _ = c.boolean(v, what+".deprecated")
	case "required":
		f.Required, _ = c.boolean(v, what+".required")
	case "unique":
		f.Unique, _ = c.boolean(v, what+".unique")
		if f.Unique && depth > 0 {
			c.errorf(e.KeyN, "%s: unique applies to top-level fields only", what)
		}
	case "immutable":
		f.Immutable, _ = c.boolean(v, what+".immutable")
		if f.Immutable && depth > 0 {
			c.errorf(e.KeyN, "%s: immutable applies to top-level fields only; make the whole object immutable", what)
		}
	case "min_length":
		f.MinLength, _ = c.nonNegative(v, what+".min_length")
	case "max_length":
		f.MaxLength, _ = c.nonNegative(v, what+".max_length")
	case "min_items":
		f.MinItems, _ = c.nonNegative(v, what+".min_items")
	case "max_items":
		f.MaxItems, _ = c.nonNegative(v, what+".max_items")
	case "min", "max":
		x, ok := c.number(v, what+"."+e.Key)
		if ok && f.Type == TypeInteger && x != float64(int64(x)) {
			c.errorf(v, "%s.%s must be a whole number for an integer field", what, e.Key)
		}
		if ok && e.Key == "min" {
			f.Min = &x
		} else if ok {
			f.Max = &x
		}
	case "pattern":
		if s, ok := c.str(v, what+".pattern"); ok {
			re, err := regexp.Compile(s)
			if err != nil {
				c.errorf(v, "%s.pattern is not a valid regular expression: %v", what, err)
				return
			}
			f.Pattern = re
		}
	case "format":
		if s, ok := c.str(v, what+".format"); ok {
			if !slices.Contains(formats, s) {
				c.errorf(v, "%s.format must be one of %s", what, strings.Join(formats, ", "))
				return
			}
			f.Format = s
		}
	case "values":
		f.Values, _ = c.strings(v, what+".values")
	case "resource":
		f.Ref, _ = c.str(v, what+".resource")
	case "on_delete":
		c.onDelete(f, e, what, depth)
	case "of":
		f.Of = c.arrayElement(v, what, depth)
	case "fields":
		f.Fields = c.fields(v, what, depth+1)
	case "initial":
		f.Initial, _ = c.strings(v, what+".initial")
	case "transitions":
		f.Transitions = c.transitions(v, what)
		if depth > 0 {
			c.errorf(e.KeyN, "%s: transitions apply to top-level fields only", what)
		}
	case "default", "computed", "example":
		// read once every resource is known, in resolveFields
	case "renamed_from":
		if depth > 0 {
			c.errorf(e.KeyN, "%s: renamed_from applies to top-level fields only: a nested field is part of its parent's stored value", what)
			return
		}
		f.RenamedFrom = c.renamedFrom(v, what)
	}
}

var formats = []string{"email", "uri", "uuid", "date"}

// arrayElement parses `of`: a type name, an element declaration (a mapping with a scalar
// `type`), or a mapping of object fields.
func (c *compiler) arrayElement(n *yaml.Node, what string, depth int) *Field {
	if n.Kind == yaml.ScalarNode {
		return c.field("[]", n, n, what, depth+1)
	}
	if n.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == "type" && deref(n.Content[i+1]).Kind == yaml.ScalarNode {
				el := c.field("[]", n, n, what, depth+1)
				if el != nil && el.Type == TypeArray {
					c.errorf(n, "%s: arrays of arrays are not supported; use an array of objects", what)
				}
				return el
			}
		}
		el := &Field{Name: "[]", Pos: c.pos(n), Type: TypeObject, Fields: c.fields(n, what+"[]", depth+1)}
		el.decl = declared{"": el.Pos}
		return el
	}
	c.errorf(n, "%s.of must be a type name or a mapping", what)
	return nil
}

func (c *compiler) transitions(n *yaml.Node, what string) map[string][]string {
	entries, ok := c.mapping(n, what+".transitions")
	if !ok {
		return nil
	}
	out := make(map[string][]string, len(entries))
	for _, e := range entries {
		to, _ := c.strings(e.Value, what+".transitions."+e.Key)
		out[e.Key] = to
	}
	return out
}

// checkFieldShape checks what needs several options at once.
func (c *compiler) checkFieldShape(f *Field, keyN *yaml.Node, what string, byKey map[string]entry) {
	switch f.Type {
	case TypeEnum:
		if len(f.Values) == 0 {
			c.errorf(keyN, "%s: an enum needs `values`", what)
		}
		seen := map[string]bool{}
		for _, v := range f.Values {
			if seen[v] {
				c.errorf(byKey["values"].Value, "%s: value %q is listed twice", what, v)
			}
			seen[v] = true
		}
		for from, tos := range f.Transitions {
			if !seen[from] {
				c.errorf(byKey["transitions"].Value, "%s.transitions: %q is not one of the values", what, from)
			}
			for _, to := range tos {
				if !seen[to] {
					c.errorf(byKey["transitions"].Value, "%s.transitions.%s: %q is not one of the values", what, from, to)
				}
			}
		}
	case TypeRef:
		if f.Ref == "" {
			c.errorf(keyN, "%s: a ref needs `resource`", what)
		}
	case TypeArray:
		if f.Of == nil {
			c.errorf(keyN, "%s: an array needs `of`", what)
		}
		if f.MinItems != nil && f.MaxItems != nil && *f.MinItems > *f.MaxItems {
			c.errorf(keyN, "%s: min_items is above max_items", what)
		}
	case TypeObject:
		if len(f.Fields) == 0 {
			c.errorf(keyN, "%s: an object needs `fields`", what)
		}
	}
	if f.MinLength != nil && f.MaxLength != nil && *f.MinLength > *f.MaxLength {
		c.errorf(keyN, "%s: min_length is above max_length", what)
	}
	if f.Min != nil && f.Max != nil && *f.Min > *f.Max {
		c.errorf(keyN, "%s: min is above max", what)
	}
	if _, ok := byKey["computed"]; ok {
		for _, k := range []string{"required", "default", "immutable", "unique"} {
			if _, ok := byKey[k]; ok {
				c.errorf(byKey[k].KeyN, "%s: a computed field cannot be %s", what, k)
			}
		}
	}
	c.checkOnDelete(f, what, byKey)
	c.declareField(f, byKey)
}

// declareField keeps where f's options are written: the entries for the passes of this
// compilation, their positions for what reads the model later (plinth diff).
func (c *compiler) declareField(f *Field, byKey map[string]entry) {
	c.fieldDecl[f] = byKey
	entries := make([]entry, 0, len(byKey))
	for _, e := range byKey {
		entries = append(entries, e)
	}
	f.decl = c.declared(f.Pos, entries, 1)
}
