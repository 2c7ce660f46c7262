package spec

import (
	"strings"
	"testing"
)

// compileResource compiles a spec with one resource `a` whose fields (and anything after them)
// are given, open to everyone.
func compileResource(fields string) Diagnostics {
	src := "plinth: 1\nname: x\nresources:\n  a:\n    fields:\n" + fields +
		"    access: {list: \"true\", read: \"true\", write: \"true\"}\n"
	_, diags := Compile("plinth.yaml", []byte(src))
	return diags
}

// TestCheckRefusesDefaultsTheFieldRefuses: a literal default that breaks its own field's
// constraints is stored by every create that omits the field (a stock of -5 under min: 0),
// so plinth check must refuse it, as it refuses an enum default outside the values.
func TestCheckRefusesDefaultsTheFieldRefuses(t *testing.T) {
	for name, field := range map[string]string{
		"min":        "      k: {type: integer, min: 0, default: -5}\n",
		"max":        "      k: {type: number, max: 1, default: 2.5}\n",
		"max_length": "      l: {type: string, max_length: 2, default: toolong}\n",
		"pattern":    "      m: {type: string, max_length: 3, pattern: '^a$', default: b}\n",
		"format":     "      f: {type: string, format: email, default: nope}\n",
		"max_items":  "      arr: {type: array, of: integer, max_items: 1, default: [1, 2]}\n",
		"element":    "      arr: {type: array, of: {type: integer, min: 0}, max_items: 5, default: [-1]}\n",
	} {
		t.Run(name, func(t *testing.T) {
			if diags := compileResource(field); !diags.HasErrors() {
				t.Errorf("plinth check accepts a default its field refuses: %s\n%v", strings.TrimSpace(field), diags)
			}
		})
	}
}

// TestCheckRefusesComputedCycles: two computed fields that read each other fail on every
// write (expression-failed), so no record can ever be created; plinth check must say so.
func TestCheckRefusesComputedCycles(t *testing.T) {
	diags := compileResource("      n: {type: integer, computed: 'q + 1'}\n      q: {type: integer, computed: 'n + 1'}\n")
	if !diags.HasErrors() {
		t.Errorf("plinth check accepts computed fields that depend on each other:\n%v", diags)
	}
}

// TestNullLintSeesTheEffectsWhen: an effect whose `when` checks a field for null runs only
// when it is set, so its `id` reading that field needs no null check of its own.
func TestNullLintSeesTheEffectsWhen(t *testing.T) {
	diags := compileResource("      other: {type: ref, resource: a}\n" +
		"      n: {type: integer, default: 0}\n" +
		"    effects:\n      touch:\n        on: [delete]\n        when: record.other != null\n" +
		"        target: a\n        id: record.other\n        set: {n: target.n + 1}\n")
	for _, d := range diags {
		if d.Severity == Warning && strings.Contains(d.Message, "touch.id") {
			t.Errorf("a null check in the effect's when does not count: %s", d)
		}
	}
}
