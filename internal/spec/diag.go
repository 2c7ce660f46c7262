package spec

import (
	"fmt"
	"sort"
	"strings"
)

// Pos is a position in a spec file. Line and Col are 1-based; zero means unknown.
type Pos struct {
	File string
	Line int
	Col  int
}

func (p Pos) String() string {
	switch {
	case p.Line == 0:
		return p.File
	case p.Col == 0:
		return fmt.Sprintf("%s:%d", p.File, p.Line)
	}
	return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col)
}

// declared maps the options of one declaration (a field, a resource, a webhook, the spec's
// top level) to where they are written, so that a finding about an option can point at it:
// "max_length" is that option's value, "values=paid" an item of a list, "transitions.paid" a
// member of a mapping and "transitions.paid=shipped" an item of its list. "" is the
// declaration itself.
type declared map[string]Pos

// at is the position of the first of keys that is written, or of the declaration itself.
func (d declared) at(keys ...string) Pos {
	for _, k := range keys {
		if p, ok := d[k]; ok {
			return p
		}
	}
	return d[""]
}

// Severity says whether a diagnostic stops the spec from being served.
type Severity int

// Severities, from least to most serious.
const (
	Warning Severity = iota + 1
	Error
)

func (s Severity) String() string {
	if s == Error {
		return "error"
	}
	return "warning"
}

// Diagnostic is one finding about a spec, tied to the place that caused it.
type Diagnostic struct {
	Pos      Pos
	Severity Severity
	// Code names the finding (money-as-number), so that a comment can silence it and a
	// machine can act on it; every warning has one, errors only where docs/lint.md lists
	// them.
	Code    string
	Message string
	// Fix is what to write in the spec instead; empty when Message says it.
	Fix string
}

// String renders the diagnostic as `file:line:column: severity: message [code]`, with the
// fix on a second, indented line.
func (d Diagnostic) String() string {
	s := fmt.Sprintf("%s: %s: %s", d.Pos, d.Severity, d.Message)
	if d.Code != "" {
		s += " [" + d.Code + "]"
	}
	if d.Fix != "" {
		s += "\n    fix: " + d.Fix
	}
	return s
}

// Diagnostics is every finding of one compilation, in file order.
type Diagnostics []Diagnostic

// HasErrors reports whether any diagnostic is an error.
func (ds Diagnostics) HasErrors() bool {
	for _, d := range ds {
		if d.Severity == Error {
			return true
		}
	}
	return false
}

// Errors returns only the errors.
func (ds Diagnostics) Errors() Diagnostics {
	var out Diagnostics
	for _, d := range ds {
		if d.Severity == Error {
			out = append(out, d)
		}
	}
	return out
}

// Strict returns the diagnostics with every warning made an error, for a CI that lets no
// ambiguity through.
func (ds Diagnostics) Strict() Diagnostics {
	out := make(Diagnostics, len(ds))
	for i, d := range ds {
		d.Severity = Error
		out[i] = d
	}
	return out
}

// Error makes Diagnostics usable as an error: it lists every error, one per line.
func (ds Diagnostics) Error() string {
	var b strings.Builder
	for i, d := range ds.Errors() {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(d.String())
	}
	return b.String()
}

func (ds Diagnostics) sorted() Diagnostics {
	sort.SliceStable(ds, func(i, j int) bool {
		a, b := ds[i].Pos, ds[j].Pos
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Col < b.Col
	})
	return ds
}

// suggest returns the candidate closest to word, if it is close enough to be a likely typo.
func suggest(word string, candidates []string) string {
	best, bestDist := "", len(word)/2+2
	for _, c := range candidates {
		if d := editDistance(word, c); d < bestDist {
			best, bestDist = c, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
