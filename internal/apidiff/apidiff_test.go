package apidiff_test

import (
	"os"
	"strings"
	"testing"

	"github.com/plinth-dev/plinth/internal/apidiff"
	"github.com/plinth-dev/plinth/internal/spec"
)

const shopSpec = "../../examples/shop/plinth.yaml"

// shopWith compiles the shop and a copy of it with one replacement.
func shopWith(t *testing.T, from, to string) (old, new *spec.Model) {
	t.Helper()
	src, err := os.ReadFile(shopSpec)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(string(src), from) != 1 {
		t.Fatalf("the shop no longer holds %q once", from)
	}
	old, diags := spec.Compile("old.yaml", src)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	new, diags = spec.Compile("new.yaml", []byte(strings.Replace(string(src), from, to, 1)))
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	return old, new
}

// TestSpecFindingsAreNotRepeated: a change the spec-level diff reports is reported once, in
// its words and with its verdict, though oasdiff sees it in every operation and status that
// carries the field, and judges some of those places otherwise.
func TestSpecFindingsAreNotRepeated(t *testing.T) {
	for _, c := range []struct {
		name, from, to, kind string
		breaking             bool
	}{
		{"removed", "      note: {type: string, max_length: 500, example: Leave it at the door}\n", "", "field-removed", true},
		{"narrowed", "max_length: 500", "max_length: 400", "constraint-narrowed", true},
		// oasdiff calls a response maxLength raised breaking; the field accepts more.
		{"widened", "max_length: 500", "max_length: 600", "constraint-widened", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			old, new := shopWith(t, c.from, c.to)
			alone, err := apidiff.Compare(old, new)
			if err != nil {
				t.Fatal(err)
			}
			seen := 0
			for _, ch := range alone {
				if ch.Resource == "orders" && ch.Field == "note" && ch.Source == apidiff.Source {
					seen++
				}
			}
			if seen == 0 {
				t.Fatalf("oasdiff alone does not see orders.note change: %+v", alone)
			}
			rep, err := spec.Compare(old, new, apidiff.Compare)
			if err != nil {
				t.Fatal(err)
			}
			var onNote []spec.Change
			for _, ch := range rep.Changes {
				if ch.Field == "note" {
					onNote = append(onNote, ch)
				}
				if ch.Source == apidiff.Source && ch.Breaking {
					t.Errorf("a breaking finding beyond the spec's: %s: %s", ch.Kind, ch.Reason)
				}
			}
			if len(onNote) != 1 || onNote[0].Source != "spec" || onNote[0].Kind != c.kind || onNote[0].Breaking != c.breaking {
				t.Errorf("orders.note is reported as %+v, want once as %s", onNote, c.kind)
			}
			if rep.Refused() != c.breaking {
				t.Errorf("refused = %v, want %v", rep.Refused(), c.breaking)
			}
		})
	}
}

// TestOnlyTheDocumentsShow: renaming the conflict an effect refuses with is no change to the
// spec-level diff (it compares no effect's workings), but clients switch on problem types:
// the documents show a problem type added to every error response that may carry it, which
// oasdiff calls breaking, and the old one gone.
func TestOnlyTheDocumentsShow(t *testing.T) {
	old, new := shopWith(t, "conflict: out-of-stock", "conflict: sold-out")
	specOnly, err := spec.Compare(old, new)
	if err != nil || len(specOnly.Changes) != 0 {
		t.Fatalf("the spec-level diff now sees the renamed conflict (%v): %+v; find another change only the documents show", err, specOnly.Changes)
	}
	rep, err := spec.Compare(old, new, apidiff.Compare)
	if err != nil {
		t.Fatal(err)
	}
	var added, removed bool
	for _, ch := range rep.Changes {
		if ch.Source != apidiff.Source || ch.Location.File != "new.yaml" {
			t.Errorf("a change from elsewhere: %+v", ch)
		}
		switch {
		case ch.Kind == "response-property-enum-value-added" && ch.Breaking && strings.Contains(ch.Reason, "urn:plinth:problem:sold-out"):
			added = true
		case ch.Kind == "response-property-enum-value-removed" && !ch.Breaking && strings.Contains(ch.Reason, "urn:plinth:problem:out-of-stock"):
			removed = true
		}
	}
	if !added || !removed || !rep.Refused() {
		t.Errorf("the renamed problem type: added %v, removed %v, refused %v: %+v", added, removed, rep.Refused(), rep.Changes)
	}
}
