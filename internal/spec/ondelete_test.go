package spec

import (
	"os"
	"slices"
	"testing"
)

// TestReferencedBy checks what the engine relies on to find the records a delete reaches:
// every top-level ref of the model, indexed by its target, restrict unless declared, and no
// nested ref among them.
func TestReferencedBy(t *testing.T) {
	src, err := os.ReadFile("testdata/valid/blog.yaml")
	if err != nil {
		t.Fatal(err)
	}
	m, diags := Compile("blog.yaml", src)
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	names := func(name string) []string {
		var out []string
		for _, ref := range m.ReferencedBy(name) {
			out = append(out, ref.Resource.Name+"."+ref.Field.Name+":"+string(ref.Field.OnDelete))
		}
		return out
	}
	for target, want := range map[string][]string{
		"posts":    {"comments.post:cascade", "pins.post:restrict"},
		"comments": {"comments.parent:cascade", "comments.quotes:set_null", "pins.comment:restrict"},
		"pins":     nil,
	} {
		if got := names(target); !slices.Equal(got, want) {
			t.Errorf("ReferencedBy(%s) = %v, want %v", target, got, want)
		}
	}
}
