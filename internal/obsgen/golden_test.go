package obsgen_test

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/plinth-dev/plinth/internal/obsgen"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/shop")

// TestShopGolden fails when what obsgen writes for the shop changes without its golden files,
// so that a change to the rules or the dashboard is a reviewed diff:
// go test ./internal/obsgen -update rewrites them.
func TestShopGolden(t *testing.T) {
	dir := t.TempDir()
	if err := obsgen.Write(dir, compileShop(t), shopObjectives(t), obsgen.Options{}); err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "shop")
	for _, name := range []string{obsgen.RulesFile, obsgen.RuleTestsFile, obsgen.DashboardFile} {
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(golden, name)
		if *update {
			if err := os.MkdirAll(golden, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, got, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (go test ./internal/obsgen -update writes it)", err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from what obsgen writes; go test ./internal/obsgen -update rewrites it (review the diff)", path)
		}
	}
}

// TestObjectivesAreValidated: an objective that cannot become rules is refused with its name.
func TestObjectivesAreValidated(t *testing.T) {
	ok := obsgen.Objective{Name: "a", Routes: []string{"GET /v1/orders"}, Objective: 0.99}
	for _, tc := range []struct {
		name string
		edit func(*obsgen.Objective)
	}{
		{"bad name", func(o *obsgen.Objective) { o.Name = "A b" }},
		{"no route", func(o *obsgen.Objective) { o.Routes = nil }},
		{"objective 1", func(o *obsgen.Objective) { o.Objective = 1 }},
		{"objective 99.9", func(o *obsgen.Objective) { o.Objective = 99.9 }},
	} {
		o := ok
		tc.edit(&o)
		if _, err := obsgen.Rules([]obsgen.Objective{o}, obsgen.Options{}); err == nil {
			t.Errorf("%s: accepted", tc.name)
		}
	}
	if _, err := obsgen.Rules([]obsgen.Objective{ok, ok}, obsgen.Options{}); err == nil {
		t.Error("two objectives of one name: accepted")
	}
	if _, err := obsgen.Rules([]obsgen.Objective{ok}, obsgen.Options{}); err != nil {
		t.Errorf("a valid objective: %v", err)
	}
}

// TestRunbooksExist: every alert's runbook_url is a heading of docs/operations.md.
func TestRunbooksExist(t *testing.T) {
	doc, err := os.ReadFile("../../docs/operations.md")
	if err != nil {
		t.Fatal(err)
	}
	anchors := map[string]bool{}
	for line := range strings.Lines(string(doc)) {
		if heading, ok := strings.CutPrefix(line, "### "); ok {
			anchors[strings.ToLower(strings.TrimSpace(heading))] = true
		}
	}
	_, g := generate(t)
	for _, group := range g.rules.Groups {
		for _, r := range group.Rules {
			if r.Alert == "" {
				continue
			}
			anchor, ok := strings.CutPrefix(r.Annotations["runbook_url"], obsgen.DefaultRunbook+"#")
			if !ok || !anchors[anchor] {
				t.Errorf("alert %s: runbook %q is not a heading of docs/operations.md", r.Alert, r.Annotations["runbook_url"])
			}
		}
	}
}
