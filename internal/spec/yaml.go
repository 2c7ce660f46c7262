package spec

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// reader walks YAML nodes and records diagnostics with positions. It never panics on
// malformed input: every accessor reports what it expected and returns ok=false.
type reader struct {
	file  string
	diags Diagnostics
}

func (r *reader) pos(n *yaml.Node) Pos {
	if n == nil {
		return Pos{File: r.file}
	}
	return Pos{File: r.file, Line: n.Line, Col: n.Column}
}

func (r *reader) errorf(n *yaml.Node, format string, args ...any) {
	r.diags = append(r.diags, Diagnostic{Pos: r.pos(n), Severity: Error, Message: fmt.Sprintf(format, args...)})
}

// refuse records an error that docs/lint.md lists under its code, with the fix to apply.
func (r *reader) refuse(n *yaml.Node, code, fix, format string, args ...any) {
	r.diags = append(r.diags, Diagnostic{Pos: r.pos(n), Severity: Error, Code: code, Message: fmt.Sprintf(format, args...), Fix: fix})
}

// errorAt records an error at a position kept from an earlier pass.
func (r *reader) errorAt(p Pos, format string, args ...any) {
	r.diags = append(r.diags, Diagnostic{Pos: p, Severity: Error, Message: fmt.Sprintf(format, args...)})
}

// entry is one key of a mapping, with both nodes for positions.
type entry struct {
	Key   string
	KeyN  *yaml.Node
	Value *yaml.Node
}

// mapping returns the entries of a mapping node in order. Keys not in allowed are errors
// with a suggestion; when allowed is empty every key is accepted. Duplicate keys are errors.
func (r *reader) mapping(n *yaml.Node, what string, allowed ...string) ([]entry, bool) {
	n = deref(n)
	if n == nil || n.Kind != yaml.MappingNode {
		r.errorf(n, "%s must be a mapping", what)
		return nil, false
	}
	seen := make(map[string]bool, len(n.Content)/2)
	out := make([]entry, 0, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			r.errorf(k, "%s: keys must be plain names", what)
			continue
		}
		if seen[k.Value] {
			r.errorf(k, "%s: duplicate key %q", what, k.Value)
			continue
		}
		seen[k.Value] = true
		if len(allowed) > 0 && !slices.Contains(allowed, k.Value) {
			msg := fmt.Sprintf("%s: unknown key %q", what, k.Value)
			if s := suggest(k.Value, allowed); s != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", s)
			}
			r.errorf(k, "%s", msg)
			continue
		}
		out = append(out, entry{Key: k.Value, KeyN: k, Value: deref(v)})
	}
	return out, true
}

// declared notes where each of entries is written, and inside it, the items of lists and,
// depth levels down, the members of mappings (see declared). self is the declaration's own
// position.
func (r *reader) declared(self Pos, entries []entry, depth int) declared {
	d := declared{"": self}
	for _, e := range entries {
		r.note(d, e.Key, e.Value, depth)
	}
	return d
}

func (r *reader) note(d declared, path string, n *yaml.Node, depth int) {
	n = deref(n)
	if n == nil {
		return
	}
	d[path] = r.pos(n)
	switch n.Kind {
	case yaml.SequenceNode:
		for _, item := range n.Content {
			if item = deref(item); item.Kind == yaml.ScalarNode {
				d[path+"="+item.Value] = r.pos(item)
			}
		}
	case yaml.MappingNode:
		for i := 0; depth > 0 && i+1 < len(n.Content); i += 2 {
			r.note(d, path+"."+n.Content[i].Value, n.Content[i+1], depth-1)
		}
	}
}

func deref(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

func (r *reader) str(n *yaml.Node, what string) (string, bool) {
	if n == nil || n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		r.errorf(n, "%s must be a string", what)
		return "", false
	}
	return n.Value, true
}

func (r *reader) boolean(n *yaml.Node, what string) (bool, bool) {
	if n == nil || n.Kind != yaml.ScalarNode || n.Tag != "!!bool" {
		r.errorf(n, "%s must be true or false", what)
		return false, false
	}
	return n.Value == "true", true
}

func (r *reader) integer(n *yaml.Node, what string) (int, bool) {
	if n != nil && n.Kind == yaml.ScalarNode && n.Tag == "!!int" {
		if v, err := strconv.ParseInt(n.Value, 0, 32); err == nil {
			return int(v), true
		}
	}
	r.errorf(n, "%s must be a whole number", what)
	return 0, false
}

func (r *reader) nonNegative(n *yaml.Node, what string) (*int, bool) {
	v, ok := r.integer(n, what)
	if ok && v < 0 {
		r.errorf(n, "%s must not be negative", what)
		return nil, false
	}
	return &v, ok
}

func (r *reader) number(n *yaml.Node, what string) (float64, bool) {
	if n != nil && n.Kind == yaml.ScalarNode && (n.Tag == "!!int" || n.Tag == "!!float") {
		if v, err := strconv.ParseFloat(strings.ReplaceAll(n.Value, "_", ""), 64); err == nil && !math.IsInf(v, 0) && !math.IsNaN(v) {
			return v, true
		}
	}
	r.errorf(n, "%s must be a number", what)
	return 0, false
}

func (r *reader) strings(n *yaml.Node, what string) ([]string, bool) {
	n = deref(n)
	if n == nil || n.Kind != yaml.SequenceNode {
		r.errorf(n, "%s must be a list", what)
		return nil, false
	}
	out := make([]string, 0, len(n.Content))
	ok := true
	for _, item := range n.Content {
		s, good := r.str(deref(item), what+" entries")
		ok = ok && good
		out = append(out, s)
	}
	return out, ok
}

// require reports each of keys that by lacks, at the declaration's key node; it says whether
// all are present.
func (r *reader) require(by map[string]entry, at *yaml.Node, what string, keys ...string) bool {
	ok := true
	for _, k := range keys {
		if _, present := by[k]; !present {
			r.errorf(at, "%s: missing `%s`", what, k)
			ok = false
		}
	}
	return ok
}

// indexByKey indexes a mapping's entries by their keys.
func indexByKey(entries []entry) map[string]entry {
	by := make(map[string]entry, len(entries))
	for _, e := range entries {
		by[e.Key] = e
	}
	return by
}
