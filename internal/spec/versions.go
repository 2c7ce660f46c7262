package spec

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Version is an older major version of the API that the spec still serves beside the current
// one until its sunset. The spec declares it under `versions:` as the changes that lead from
// it to its successor; undoing them from the current Model (and from every version between)
// gives its View and the maps that translate its requests and responses.
type Version struct {
	Number int
	Pos    Pos
	// Deprecated is when the version was superseded, for the Deprecation header; Sunset is
	// when it stops being served: from then on its routes answer 410.
	Deprecated time.Time
	Sunset     time.Time
	// View is the version's own Model: its resources and fields with the names, values and
	// shapes its clients know, for its documentation and for checking its requests. Its access
	// rules are the current ones, which the engine enforces on the current Model; it has no
	// effects, webhooks or schedules.
	View *Model

	maps      []*ResourceMap // in View's resource order
	byOld     map[string]*ResourceMap
	byCurrent map[string]*ResourceMap
	sunsetAt  Pos
}

// Maps lists how each resource of the View maps onto the current Model, in the View's order.
func (v *Version) Maps() []*ResourceMap { return v.maps }

// Map returns the map of the View's resource with the given (old) name.
func (v *Version) Map(name string) (*ResourceMap, bool) {
	m, ok := v.byOld[name]
	return m, ok
}

// MapOf returns the map of the current resource with the given name; false when the version
// does not have the resource (it was added after it).
func (v *Version) MapOf(current string) (*ResourceMap, bool) {
	m, ok := v.byCurrent[current]
	return m, ok
}

// ResourceMap says how one resource of a version's View maps onto the current Model.
type ResourceMap struct {
	Old     *Resource // in the version's View
	Current *Resource
	// Fields maps every field of Old, in Old's order.
	Fields []*FieldMap
	// Hidden are the current fields that Old's clients cannot see: a replace from them keeps
	// their stored values, and a create fills those that declare a value to write.
	Hidden []Hidden

	byOld     map[string]*FieldMap
	byCurrent map[string]*FieldMap
}

// Field returns the map of Old's field with the given name.
func (m *ResourceMap) Field(old string) (*FieldMap, bool) {
	f, ok := m.byOld[old]
	return f, ok
}

// FieldOf returns the map of the old field that reads the current field with the given name;
// false when the version's clients cannot see the field.
func (m *ResourceMap) FieldOf(current string) (*FieldMap, bool) {
	f, ok := m.byCurrent[current]
	return f, ok
}

// FieldMap says how one field of a version's View maps onto a current field.
type FieldMap struct {
	Old *Field
	// Current is the field it reads and writes; nil when the field was removed: it then
	// always reads as ReadsAs.
	Current *Field
	ReadsAs any
	// ToCurrent and ToOld map enum values whose names differ between the versions: ToCurrent
	// is what a write of each old value stores, ToOld how each current value reads. Each is
	// total over its side's values; both are nil when the values are the same.
	ToCurrent map[string]string
	ToOld     map[string]string
}

// Hidden is a current field that a version's clients cannot see.
type Hidden struct {
	Field *Field
	// WritesAs is the value a create from the version's clients stores, when Fills says one
	// was declared (`writes_as`).
	WritesAs any
	Fills    bool
}

// versionChange is one kind of change a version may declare: its arguments and how it is undone
// to derive the older version's shape. Changes name resources and fields as the newer version
// has them (rename_field's from, remove_field's field and rename_resource's from name the
// older one), so the order in which a version lists them does not matter. A new kind of change
// is one entry here: the run-time translation works from the maps the entries build.
type versionChange struct {
	args     []string
	required []string
	undo     func(s *step, ch change)
}

var versionChanges = map[string]versionChange{
	"rename_field":    {args: []string{"resource", "from", "to"}, required: []string{"resource", "from", "to"}, undo: undoRenameField},
	"remove_field":    {args: []string{"resource", "field", "was", "reads_as"}, required: []string{"resource", "field", "reads_as"}, undo: undoRemoveField},
	"add_field":       {args: []string{"resource", "field", "writes_as"}, required: []string{"resource", "field"}, undo: undoAddField},
	"map_enum":        {args: []string{"resource", "field", "old_to_new", "new_to_old"}, required: []string{"resource", "field"}, undo: undoMapEnum},
	"rename_resource": {args: []string{"from", "to"}, required: []string{"from", "to"}, undo: undoRenameResource},
	"add_resource":    {args: []string{"resource"}, required: []string{"resource"}, undo: undoAddResource},
}

// change is one declared change being undone.
type change struct {
	kind string
	at   *yaml.Node // the change's key, where its findings are reported
	args map[string]entry
	what string // as in versions.1.changes[0].rename_field
}

var versionKeys = []string{"deprecated", "sunset", "changes"}

// versions compiles `versions:`, the older majors still served, each derived from its
// successor: the newest from the current Model, the next from that, and so on. It runs once
// the current Model compiled without errors.
func (c *compiler) versions(n *yaml.Node) {
	entries, ok := c.mapping(n, "versions")
	if !ok {
		return
	}
	type declared struct {
		number int
		e      entry
	}
	var decls []declared
	for _, e := range entries {
		num, err := strconv.Atoi(e.Key)
		switch {
		case err != nil || num < 1:
			c.errorf(e.KeyN, "versions: %q is not a version number (a whole number, 1 or more)", e.Key)
			continue
		case num >= c.model.Version:
			c.errorf(e.KeyN, "versions: %d is not older than the current version %d; list only the majors this one replaced", num, c.model.Version)
			continue
		}
		decls = append(decls, declared{num, e})
	}
	sort.Slice(decls, func(i, j int) bool { return decls[i].number > decls[j].number })
	newer := identity(c.model)
	for i, d := range decls {
		if want := c.model.Version - 1 - i; d.number != want {
			c.errorf(d.e.KeyN, "versions: %d is declared but %d is not: the changes of v%d lead to v%d, so declare v%d too (its changes may be empty)",
				d.number, want, d.number, d.number+1, want)
			return
		}
		v := c.version(d.number, d.e, newer)
		if v == nil {
			return // an older version is derived from this one
		}
		c.model.Versions = append(c.model.Versions, v)
		newer = v
	}
}

// version compiles one older version from its successor newer.
func (c *compiler) version(num int, e entry, newer *Version) *Version {
	what := fmt.Sprintf("versions.%d", num)
	entries, ok := c.mapping(e.Value, what, versionKeys...)
	if !ok {
		return nil
	}
	by := indexByKey(entries)
	v := &Version{Number: num, Pos: c.pos(e.KeyN)}
	before := len(c.diags.Errors())
	if c.require(by, e.KeyN, what, "deprecated", "sunset") {
		v.Deprecated, _ = c.date(by["deprecated"].Value, what+".deprecated")
		v.Sunset, _ = c.date(by["sunset"].Value, what+".sunset")
		v.sunsetAt = c.pos(by["sunset"].Value)
		if !v.Deprecated.IsZero() && !v.Sunset.IsZero() && !v.Deprecated.Before(v.Sunset) {
			c.errorf(by["sunset"].Value, "%s: the sunset (%s) must come after the deprecation (%s)", what,
				v.Sunset.Format(time.DateOnly), v.Deprecated.Format(time.DateOnly))
		}
	}
	s := newStep(c, num, newer)
	if ch, ok := by["changes"]; ok {
		c.changes(s, ch.Value, what+".changes")
	}
	view, maps := s.finish()
	if len(c.diags.Errors()) > before {
		return nil
	}
	v.View = view
	v.maps = maps
	v.byOld = make(map[string]*ResourceMap, len(maps))
	v.byCurrent = make(map[string]*ResourceMap, len(maps))
	for _, m := range maps {
		v.byOld[m.Old.Name] = m
		v.byCurrent[m.Current.Name] = m
	}
	return v
}

// date reads a date (2027-06-30, the start of that day in UTC) or an RFC 3339 timestamp.
func (c *compiler) date(n *yaml.Node, what string) (time.Time, bool) {
	if n != nil && n.Kind == yaml.ScalarNode {
		if t, err := time.Parse(time.DateOnly, n.Value); err == nil {
			return t, true
		}
		if t, err := time.Parse(time.RFC3339, n.Value); err == nil {
			return t.UTC(), true
		}
	}
	c.errorf(n, "%s must be a date such as 2027-06-30 (the start of that day, UTC) or an RFC 3339 timestamp", what)
	return time.Time{}, false
}

// changes reads a version's list of changes and undoes each.
func (c *compiler) changes(s *step, n *yaml.Node, what string) {
	if n.Kind != yaml.SequenceNode {
		c.errorf(n, "%s must be a list of changes, such as - rename_field: {resource: products, from: price, to: price_cents}", what)
		return
	}
	kinds := slices.Sorted(maps.Keys(versionChanges))
	for i, item := range n.Content {
		at := fmt.Sprintf("%s[%d]", what, i)
		entries, ok := c.mapping(item, at)
		if !ok {
			continue
		}
		if len(entries) != 1 {
			c.errorf(item, "%s: a change is one of %s, with its arguments", at, strings.Join(kinds, ", "))
			continue
		}
		e := entries[0]
		kind, ok := versionChanges[e.Key]
		if !ok {
			msg := fmt.Sprintf("%s: unknown change %q; the changes are %s", at, e.Key, strings.Join(kinds, ", "))
			if sug := suggest(e.Key, kinds); sug != "" {
				msg = fmt.Sprintf("%s: unknown change %q (did you mean %q?)", at, e.Key, sug)
			}
			c.errorf(e.KeyN, "%s", msg)
			continue
		}
		ch := change{kind: e.Key, at: e.KeyN, what: at + "." + e.Key, args: map[string]entry{}}
		args, ok := c.mapping(e.Value, ch.what, kind.args...)
		if !ok {
			continue
		}
		for _, a := range args {
			ch.args[a.Key] = a
		}
		if c.require(ch.args, e.KeyN, ch.what, kind.required...) {
			kind.undo(s, ch)
		}
	}
}

// step derives one version from its successor: the successor's resources and fields, which
// the changes rename, add to or drop, each with its map onto the current Model.
type step struct {
	c         *compiler
	number    int // the version being derived
	resources []*stepResource
	byNewer   map[string]*stepResource
}

type stepResource struct {
	newer   *ResourceMap
	name    string // in the version being derived
	at      *yaml.Node
	fields  []*stepField
	byNewer map[string]*stepField
	hidden  []Hidden
	// changed names the changes already made to the resource, so that none is made twice.
	changed map[string]bool
}

type stepField struct {
	field   *Field // its declaration in the version being derived
	m       FieldMap
	newName string     // in the successor; empty for a field the successor no longer has
	at      *yaml.Node // where the change that named it is, for clashes
	changed map[string]bool
}

func newStep(c *compiler, number int, newer *Version) *step {
	s := &step{c: c, number: number, byNewer: map[string]*stepResource{}}
	for _, rm := range newer.maps {
		sr := &stepResource{newer: rm, name: rm.Old.Name, byNewer: map[string]*stepField{}, hidden: slices.Clone(rm.Hidden),
			changed: map[string]bool{}}
		for _, fm := range rm.Fields {
			sf := &stepField{field: fm.Old, m: *fm, newName: fm.Old.Name, changed: map[string]bool{}}
			sr.fields = append(sr.fields, sf)
			sr.byNewer[sf.newName] = sf
		}
		s.resources = append(s.resources, sr)
		s.byNewer[sr.name] = sr
	}
	return s
}

// newer is the successor's number, as messages name it.
func (s *step) newer() string { return "v" + strconv.Itoa(s.number+1) }

// resource returns the resource an argument names, as the successor has it.
func (s *step) resource(ch change, arg string) *stepResource {
	e := ch.args[arg]
	name, ok := s.c.str(e.Value, ch.what+"."+arg)
	if !ok {
		return nil
	}
	if sr, ok := s.byNewer[name]; ok {
		return sr
	}
	msg := fmt.Sprintf("%s: %s has no resource %q", ch.what, s.newer(), name)
	if sug := suggest(name, slices.Collect(maps.Keys(s.byNewer))); sug != "" {
		msg += fmt.Sprintf(" (did you mean %q?)", sug)
	}
	s.c.errorf(e.Value, "%s", msg)
	return nil
}

// field returns the field an argument names, as the successor has it, unless a change of a
// kind that excludes kind made it already.
func (s *step) field(sr *stepResource, ch change, arg string) *stepField {
	e := ch.args[arg]
	name, ok := s.c.str(e.Value, ch.what+"."+arg)
	if !ok {
		return nil
	}
	sf, ok := sr.byNewer[name]
	if !ok {
		msg := fmt.Sprintf("%s: %s.%s has no field %q", ch.what, s.newer(), sr.newer.Old.Name, name)
		if sug := suggest(name, slices.Collect(maps.Keys(sr.byNewer))); sug != "" {
			msg += fmt.Sprintf(" (did you mean %q?)", sug)
		}
		s.c.errorf(e.Value, "%s", msg)
		return nil
	}
	if sf.changed[ch.kind] || sf.changed["add_field"] || (ch.kind == "add_field" && len(sf.changed) > 0) {
		s.c.errorf(e.Value, "%s: %s.%s is changed twice; a field takes one change of each kind, and add_field alone", ch.what, sr.newer.Old.Name, name)
		return nil
	}
	sf.changed[ch.kind] = true
	return sf
}

// name reads an argument that names a field or a resource of the version being derived.
func (s *step) name(ch change, arg string) (string, bool) {
	e := ch.args[arg]
	name, ok := s.c.str(e.Value, ch.what+"."+arg)
	if ok && (!namePattern.MatchString(name) || len(name) > maxNameLength) {
		s.c.errorf(e.Value, "%s.%s: %q must be lowercase letters, digits and underscores, starting with a letter", ch.what, arg, name)
		return "", false
	}
	return name, ok
}

func undoRenameField(s *step, ch change) {
	sr := s.resource(ch, "resource")
	if sr == nil {
		return
	}
	from, ok := s.name(ch, "from")
	sf := s.field(sr, ch, "to")
	if !ok || sf == nil {
		return
	}
	if reservedNames[from] {
		s.c.errorf(ch.args["from"].Value, "%s.from: %q is reserved: every record has id, created_at, updated_at and version", ch.what, from)
		return
	}
	f := *sf.field
	f.Name = from
	sf.field, sf.at = &f, ch.args["from"].Value
}

func undoRemoveField(s *step, ch change) {
	sr := s.resource(ch, "resource")
	if sr == nil {
		return
	}
	name, ok := s.name(ch, "field")
	if !ok {
		return
	}
	if _, still := sr.byNewer[name]; still {
		s.c.errorf(ch.args["field"].Value, "%s: %s still has %s.%s; remove_field is for a field it no longer has", ch.what, s.newer(), sr.newer.Old.Name, name)
		return
	}
	if reservedNames[name] {
		s.c.errorf(ch.args["field"].Value, "%s.field: %q is reserved: every record has id, created_at, updated_at and version", ch.what, name)
		return
	}
	f := s.removedField(ch, name)
	if f == nil {
		return
	}
	readsAs := ch.args["reads_as"].Value
	var v any
	if readsAs.Kind == yaml.ScalarNode && readsAs.Tag == "!!null" {
		if !f.Nullable() {
			s.c.errorf(readsAs, "%s.reads_as: %s was required, so its clients never saw null; give the value it reads as", ch.what, name)
			return
		}
	} else {
		var ok bool
		if v, ok = s.c.literal(f, readsAs, ch.what+".reads_as"); !ok {
			return
		}
		for _, msg := range f.literalViolations(v, ch.what+".reads_as") {
			s.c.errorf(readsAs, "%s (it must be a value the field accepted)", msg)
		}
	}
	sr.fields = append(sr.fields, &stepField{field: f, m: FieldMap{ReadsAs: v}, at: ch.args["field"].Value, changed: map[string]bool{ch.kind: true}})
}

// removedField is the declaration of a field the successor removed: `was`, or for a scalar
// reads_as without one, a field of the type reads_as is written in.
func (s *step) removedField(ch change, name string) *Field {
	what := fmt.Sprintf("%s.%s", ch.what, name)
	was, ok := ch.args["was"]
	if !ok {
		n := ch.args["reads_as"].Value
		types := map[string]Type{"!!str": TypeString, "!!int": TypeInteger, "!!float": TypeNumber, "!!bool": TypeBoolean}
		t, scalar := types[n.Tag]
		if n.Kind != yaml.ScalarNode || !scalar {
			s.c.errorf(ch.at, "%s: say what the field was with `was: {type: ...}`; only a string, number or boolean reads_as tells it", ch.what)
			return nil
		}
		return &Field{Name: name, Pos: s.c.pos(ch.args["field"].Value), Type: t}
	}
	f := s.c.field(name, ch.args["field"].Value, was.Value, what, 0)
	if f == nil {
		return nil
	}
	for _, k := range []string{"default", "computed", "unique", "immutable", "transitions", "initial", "on_delete"} {
		if d, ok := s.c.fieldDecl[f][k]; ok {
			s.c.errorf(d.KeyN, "%s.was: a removed field has no %s: it only reads as reads_as", ch.what, k)
			return nil
		}
	}
	return f
}

func undoAddField(s *step, ch change) {
	sr := s.resource(ch, "resource")
	if sr == nil {
		return
	}
	sf := s.field(sr, ch, "field")
	if sf == nil {
		return
	}
	w, fills := ch.args["writes_as"]
	cur := sf.m.Current
	switch {
	case fills && (cur == nil || cur.Computed != nil):
		s.c.errorf(w.KeyN, "%s.writes_as: %s.%s is not written by clients, so there is nothing to fill", ch.what, sr.newer.Old.Name, sf.newName)
		return
	case !fills && cur != nil && cur.Required && cur.Default == nil && cur.Computed == nil:
		s.c.errorf(ch.args["field"].Value, "%s: %s requires %s.%s, which the clients of v%d cannot send: give it `writes_as`, the value their creates store",
			ch.what, s.newer(), sr.newer.Old.Name, sf.newName, s.number)
		return
	}
	sf.newName = ""
	if cur == nil {
		return
	}
	h := Hidden{Field: cur}
	if fills {
		v, ok := s.c.literal(sf.field, w.Value, ch.what+".writes_as")
		if !ok {
			return
		}
		for _, msg := range sf.field.literalViolations(v, ch.what+".writes_as") {
			s.c.errorf(w.Value, "%s (it must be a value the field accepts)", msg)
		}
		if str, isStr := v.(string); isStr && sf.m.ToCurrent != nil {
			v = sf.m.ToCurrent[str]
		}
		h.WritesAs, h.Fills = v, true
	}
	sr.hidden = append(sr.hidden, h)
}

func undoMapEnum(s *step, ch change) {
	sr := s.resource(ch, "resource")
	if sr == nil {
		return
	}
	sf := s.field(sr, ch, "field")
	if sf == nil {
		return
	}
	if sf.field.Type != TypeEnum || sf.m.Current == nil {
		s.c.errorf(ch.args["field"].Value, "%s: %s.%s is not an enum the clients write", ch.what, sr.newer.Old.Name, sf.newName)
		return
	}
	toNew := s.valueMap(ch, "old_to_new")
	toOld := s.valueMap(ch, "new_to_old")
	if toNew == nil && toOld == nil {
		s.c.errorf(ch.at, "%s: give old_to_new, new_to_old or both", ch.what)
		return
	}
	newer := sf.field.Values
	for n := range toOld {
		if !slices.Contains(newer, n) {
			s.c.errorf(ch.args["new_to_old"].Value, "%s.new_to_old: %q is not a value of %s.%s in %s", ch.what, n, sr.newer.Old.Name, sf.newName, s.newer())
		}
	}
	for o, n := range toNew {
		if !slices.Contains(newer, n) {
			s.c.errorf(ch.args["old_to_new"].Value, "%s.old_to_new.%s: %q is not a value of %s.%s in %s", ch.what, o, n, sr.newer.Old.Name, sf.newName, s.newer())
		}
	}
	read := func(n string) string {
		if o, ok := toOld[n]; ok {
			return o
		}
		return n
	}
	var old []string
	for _, n := range newer {
		if o := read(n); !slices.Contains(old, o) {
			old = append(old, o)
		}
	}
	if e, ok := ch.args["old_to_new"]; ok {
		for _, o := range orderedKeys(e.Value) {
			if !slices.Contains(old, o) {
				old = append(old, o)
			}
		}
	}
	write := map[string]string{}
	for _, o := range old {
		switch n, ok := toNew[o]; {
		case ok:
			write[o] = n
		case slices.Contains(newer, o):
			write[o] = o
		default: // only new_to_old names values neither side writes
			s.c.errorf(ch.args["new_to_old"].Value, "%s: the clients of v%d read %s as %q but have no %s value to write for it: add %s to old_to_new",
				ch.what, s.number, sf.newName, o, s.newer(), o)
		}
	}
	f := *sf.field
	f.Values = old
	if f.Default != nil && f.Default.Literal != nil {
		f.Default = &Default{Literal: read(f.Default.Literal.(string))}
	}
	if f.Initial != nil {
		f.Initial = nil
		for _, n := range sf.field.Initial {
			if o := read(n); !slices.Contains(f.Initial, o) {
				f.Initial = append(f.Initial, o)
			}
		}
	}
	if sf.field.Transitions != nil {
		f.Transitions = map[string][]string{}
		for _, from := range newer { // in the values' order, so that the result is stable
			for _, to := range sf.field.Transitions[from] {
				if o := read(to); o != read(from) && !slices.Contains(f.Transitions[read(from)], o) {
					f.Transitions[read(from)] = append(f.Transitions[read(from)], o)
				}
			}
		}
	}
	sf.field = &f
	// Composed with the successor's maps: a write goes old → successor → current, a read
	// current → successor → old.
	m := &sf.m
	toCurrent, toOldest := make(map[string]string, len(old)), make(map[string]string, len(m.Current.Values))
	for o, n := range write {
		toCurrent[o] = mapped(m.ToCurrent, n)
	}
	for _, cur := range m.Current.Values {
		toOldest[cur] = read(mapped(m.ToOld, cur))
	}
	m.ToCurrent, m.ToOld = toCurrent, toOldest
}

// mapped is m[v], or v itself where m is nil (the values are the same).
func mapped(m map[string]string, v string) string {
	if m == nil {
		return v
	}
	return m[v]
}

// valueMap reads old_to_new or new_to_old: enum values to enum values.
func (s *step) valueMap(ch change, arg string) map[string]string {
	e, ok := ch.args[arg]
	if !ok {
		return nil
	}
	entries, ok := s.c.mapping(e.Value, ch.what+"."+arg)
	if !ok {
		return nil
	}
	out := make(map[string]string, len(entries))
	for _, x := range entries {
		if v, ok := s.c.str(x.Value, ch.what+"."+arg+"."+x.Key); ok {
			out[x.Key] = v
		}
	}
	return out
}

// orderedKeys lists a mapping's keys in the order written.
func orderedKeys(n *yaml.Node) []string {
	var out []string
	for i := 0; i+1 < len(n.Content); i += 2 {
		out = append(out, n.Content[i].Value)
	}
	return out
}

func undoRenameResource(s *step, ch change) {
	sr := s.resource(ch, "to")
	from, ok := s.name(ch, "from")
	if sr == nil || !ok {
		return
	}
	if sr.changed[ch.kind] || sr.changed["add_resource"] {
		s.c.errorf(ch.args["to"].Value, "%s: %s is changed twice", ch.what, sr.newer.Old.Name)
		return
	}
	if from == "batch" || from == "events" || strings.HasPrefix(from, "_") {
		s.c.errorf(ch.args["from"].Value, "%s.from: resource name %q is reserved", ch.what, from)
		return
	}
	sr.changed[ch.kind] = true
	sr.name, sr.at = from, ch.args["from"].Value
}

func undoAddResource(s *step, ch change) {
	sr := s.resource(ch, "resource")
	if sr == nil {
		return
	}
	if len(sr.changed) > 0 {
		s.c.errorf(ch.args["resource"].Value, "%s: %s is changed twice", ch.what, sr.newer.Old.Name)
		return
	}
	sr.changed[ch.kind] = true
	sr.at = ch.args["resource"].Value
}

// finish builds the derived version's View and maps, refusing names that clash and refs to
// resources the version does not have.
func (s *step) finish() (*Model, []*ResourceMap) {
	c := s.c
	names := map[string]string{} // the successor's resource names → this version's
	seen := map[string]bool{}
	// Renamed resources come second, so that a clash is reported at the rename.
	for _, renamed := range []bool{false, true} {
		for _, sr := range s.resources {
			if sr.changed["add_resource"] || sr.changed["rename_resource"] != renamed {
				continue
			}
			if seen[sr.name] {
				c.errorf(sr.at, "v%d would have two resources named %s", s.number, sr.name)
			}
			seen[sr.name] = true
			names[sr.newer.Old.Name] = sr.name
		}
	}
	view := &Model{Name: c.model.Name, Version: s.number, Auth: c.model.Auth, byName: map[string]*Resource{}}
	var out []*ResourceMap
	for _, sr := range s.resources {
		if sr.changed["add_resource"] {
			continue
		}
		rm := &ResourceMap{Current: sr.newer.Current, Hidden: sr.hidden, byOld: map[string]*FieldMap{}, byCurrent: map[string]*FieldMap{}}
		old := &Resource{Name: sr.name, Pos: sr.newer.Old.Pos, Access: sr.newer.Old.Access, Idempotency: sr.newer.Old.Idempotency,
			ConcurrencyRequired: sr.newer.Old.ConcurrencyRequired, DefaultLimit: sr.newer.Old.DefaultLimit, MaxLimit: sr.newer.Old.MaxLimit,
			Events: sr.newer.Old.Events, byName: map[string]*Field{}}
		declared := map[string]*yaml.Node{} // where each field of the view was named, if a change did
		for _, sf := range sr.fields {
			if sf.changed["add_field"] {
				continue
			}
			f, dangling := retarget(sf.field, names)
			if sf.changed["remove_field"] {
				// Its declaration is written in this version's names already.
				f, dangling = sf.field, unknownRef(sf.field, seen)
				if dangling != "" {
					c.errorf(sf.at, "%s.%s refers to %s, which v%d does not have", sr.name, f.Name, dangling, s.number)
					continue
				}
			}
			if dangling != "" {
				c.errorf(s.byNewer[dangling].at, "v%d has no resource %s (add_resource), but %s.%s refers to it: add_field %s too", s.number, dangling, sr.name, f.Name, f.Name)
				continue
			}
			if first, dup := declared[f.Name]; dup {
				c.errorf(cmp.Or(sf.at, first), "v%d would have two fields named %s.%s", s.number, sr.name, f.Name)
				continue
			}
			declared[f.Name] = sf.at
			fm := sf.m
			fm.Old = f
			old.Fields = append(old.Fields, f)
			old.byName[f.Name] = f
			rm.Fields = append(rm.Fields, &fm)
			rm.byOld[f.Name] = &fm
			if fm.Current != nil {
				rm.byCurrent[fm.Current.Name] = &fm
			}
		}
		old.Indexes = s.indexes(sr, old)
		old.Effects = retargetEffects(sr.newer.Old.Effects, names)
		env, err := filterEnv(old)
		if err != nil {
			c.errorf(sr.at, "v%d resource %s: %v", s.number, sr.name, err)
		}
		old.filterEnv = env
		rm.Old = old
		view.Resources = append(view.Resources, old)
		view.byName[old.Name] = old
		out = append(out, rm)
	}
	// Removed fields store nothing, so deleting what they name reaches no record.
	view.indexReferrers(func(r *Resource, f *Field) bool {
		i := slices.Index(view.Resources, r)
		return out[i].byOld[f.Name].Current != nil
	})
	return view, out
}

// indexes are the successor's indexes of sr under this version's field names; an index over a
// field this version lacks is left out.
func (s *step) indexes(sr *stepResource, old *Resource) []Index {
	var out []Index
next:
	for _, ix := range sr.newer.Old.Indexes {
		fields := make([]string, len(ix.Fields))
		for i, n := range ix.Fields {
			if isSystem(n) {
				fields[i] = n
				continue
			}
			sf, ok := sr.byNewer[n]
			if !ok || sf.newName == "" {
				continue next
			}
			fields[i] = sf.field.Name
		}
		out = append(out, Index{Fields: fields, Unique: ix.Unique})
	}
	return out
}

func isSystem(name string) bool {
	return slices.ContainsFunc(SystemFields, func(s SystemField) bool { return s.Name == name })
}

// retarget is f with its refs, at every nesting level, naming resources as names says; it
// returns a resource a ref names that names lacks.
func retarget(f *Field, names map[string]string) (*Field, string) {
	out, fieldsCloned := f, false
	clone := func() {
		if out == f {
			cp := *f
			out = &cp
		}
	}
	if f.Type == TypeRef {
		to, ok := names[f.Ref]
		if !ok {
			return f, f.Ref
		}
		if to != f.Ref {
			clone()
			out.Ref = to
		}
	}
	if f.Of != nil {
		of, dangling := retarget(f.Of, names)
		if dangling != "" {
			return f, dangling
		}
		if of != f.Of {
			clone()
			out.Of = of
		}
	}
	for i, sub := range f.Fields {
		g, dangling := retarget(sub, names)
		if dangling != "" {
			return f, dangling
		}
		if g != sub {
			clone()
			if !fieldsCloned {
				out.Fields, fieldsCloned = slices.Clone(f.Fields), true
			}
			out.Fields[i] = g
		}
	}
	return out, ""
}

// unknownRef returns a resource that a ref of f, at any nesting level, names and known lacks.
func unknownRef(f *Field, known map[string]bool) string {
	if f.Type == TypeRef && !known[f.Ref] {
		return f.Ref
	}
	if f.Of != nil {
		if r := unknownRef(f.Of, known); r != "" {
			return r
		}
	}
	for _, sub := range f.Fields {
		if r := unknownRef(sub, known); r != "" {
			return r
		}
	}
	return ""
}

// retargetEffects are effects as a version's view has them: with their targets under the
// version's names. An effect whose target the version lacks keeps its name; it still runs.
func retargetEffects(effects []*Effect, names map[string]string) []*Effect {
	out := make([]*Effect, len(effects))
	for i, eff := range effects {
		out[i] = eff
		if to, ok := names[eff.Target]; ok && to != eff.Target {
			cp := *eff
			cp.Target = to
			out[i] = &cp
		}
	}
	return out
}

// identity is the current Model seen as a version: each resource and field maps to itself.
func identity(m *Model) *Version {
	v := &Version{Number: m.Version, View: m, byOld: map[string]*ResourceMap{}, byCurrent: map[string]*ResourceMap{}}
	for _, r := range m.Resources {
		rm := &ResourceMap{Old: r, Current: r, byOld: map[string]*FieldMap{}, byCurrent: map[string]*FieldMap{}}
		for _, f := range r.Fields {
			fm := &FieldMap{Old: f, Current: f}
			rm.Fields = append(rm.Fields, fm)
			rm.byOld[f.Name], rm.byCurrent[f.Name] = fm, fm
		}
		v.maps = append(v.maps, rm)
		v.byOld[r.Name], v.byCurrent[r.Name] = rm, rm
	}
	return v
}

// versionPastSunset warns about a version whose sunset has passed: it answers only 410. It
// reads the clock of the machine that checks the spec: the one question whose answer changes
// with the day, and a warning, so a spec still serves the day after.
func versionPastSunset(v *review) {
	now := time.Now()
	for _, ver := range v.model.Versions {
		if !ver.Sunset.After(now) {
			v.warn(ver.sunsetAt, fmt.Sprintf("remove versions.%d once its clients have moved, or move its sunset if they need longer", ver.Number),
				"v%d's sunset (%s) has passed: its routes answer only 410 Gone", ver.Number, ver.Sunset.Format(time.RFC3339))
		}
	}
}
