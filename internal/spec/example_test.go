package spec

import (
	"path/filepath"
	"regexp"
	"testing"

	"github.com/google/uuid"
)

// TestSamplesSatisfyTheirFields checks that the value documentation shows for every field of
// every valid spec, nested ones included, is one the field accepts.
func TestSamplesSatisfyTheirFields(t *testing.T) {
	specs, _ := filepath.Glob("testdata/valid/*.yaml")
	specs = append(specs, "../../examples/shop/plinth.yaml")
	var walk func(t *testing.T, f *Field, path string)
	walk = func(t *testing.T, f *Field, path string) {
		if bad := f.literalViolations(f.Sample(), path); len(bad) > 0 {
			t.Errorf("the sample %#v breaks %v", f.Sample(), bad)
		}
		if f.Of != nil {
			walk(t, f.Of, path+"[]")
		}
		for _, sub := range f.Fields {
			walk(t, sub, path+"."+sub.Name)
		}
	}
	for _, path := range specs {
		m, diags := compileFile(t, path)
		if diags.HasErrors() {
			t.Fatalf("%s: %s", path, diags.Error())
		}
		for _, r := range m.Resources {
			for _, f := range r.Fields {
				walk(t, f, r.Name+"."+f.Name)
			}
		}
	}
}

// TestPatternSamples checks that strings derived from patterns match them, within the
// field's lengths where a matching string of that length exists.
func TestPatternSamples(t *testing.T) {
	intp := func(n int) *int { return &n }
	for _, c := range []struct {
		pattern  string
		min, max *int
	}{
		{pattern: `^[A-Z0-9-]{3,32}$`},
		{pattern: `^\d{4}-\d{2}$`},
		{pattern: `(foo|bar)+baz`},
		{pattern: `^[^@\s]+@[^@\s]+\.[^@\s]+$`},
		{pattern: `\bword\b`},
		{pattern: `^(?i)abc$`},
		{pattern: `^\p{Greek}+$`},
		{pattern: `^[^a-z0-9]{2}$`},
		{pattern: `^x*$`, min: intp(5)},
		{pattern: `^(ab)+$`, min: intp(7), max: intp(9)},
		{pattern: `^[a-f]{2,}$`, max: intp(4)},
	} {
		f := &Field{Name: "code", Type: TypeString, Pattern: regexp.MustCompile(c.pattern), MinLength: c.min, MaxLength: c.max}
		s := f.Sample().(string)
		if bad := f.CheckString(s); len(bad) > 0 {
			t.Errorf("%s (lengths %v, %v): sample %q breaks %v", c.pattern, c.min, c.max, s, bad)
		}
	}
}

func TestSampleID(t *testing.T) {
	a, b := SampleID("products"), SampleID("orders")
	if a == b || a != SampleID("products") {
		t.Fatalf("SampleID gives %s and %s", a, b)
	}
	id, err := uuid.Parse(a)
	if err != nil || id.Version() != 7 || id.Variant() != uuid.RFC4122 {
		t.Fatalf("%s is not a UUIDv7: %v", a, err)
	}
	if ms, _ := id.Time().UnixTime(); ms != sampleTime.Unix() {
		t.Errorf("%s holds the time %d, want %d", a, ms, sampleTime.Unix())
	}
}
