package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDiffGatesTheShopThroughTheBinary runs `plinth diff` as CI would, as its own process, on
// a copy of the shop with a field removed: it is refused at the removed field's line while the
// version stays, in text and in JSON, and allowed once the version rises. The shop against
// itself has no changes; a spec that does not compile is exit 2, apart from a refusal.
func TestDiffGatesTheShopThroughTheBinary(t *testing.T) {
	bin := buildBinary(t)
	shop, err := os.ReadFile(shopSpec)
	if err != nil {
		t.Fatal(err)
	}
	const noteLine = "      note: {type: string, max_length: 500, example: Leave it at the door}\n"
	if strings.Count(string(shop), noteLine) != 1 {
		t.Fatalf("the shop no longer declares orders.note as %q", noteLine)
	}
	line := strings.Count(string(shop[:strings.Index(string(shop), noteLine)]), "\n") + 1
	dir := t.TempDir()
	write := func(name, src string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	old := write("old.yaml", string(shop))
	removed := write("removed.yaml", strings.Replace(string(shop), noteLine, "", 1))
	major := write("major.yaml", strings.Replace(strings.Replace(string(shop), noteLine, "", 1), "\nversion: 1 ", "\nversion: 2 ", 1))

	removal := fmt.Sprintf("%s:%d:7: breaking: orders.note was removed: responses and events no longer carry it, and writes that send it are refused as unknown [field-removed]\n", old, line)
	code, out, errOut := runPlinth(t, bin, "diff", old, removed)
	if code != 1 || !strings.Contains(out, removal) || !strings.Contains(out, "[webhook-payload-changed]") ||
		!strings.HasSuffix(out, old+" -> "+removed+": 2 change(s), 2 breaking: refused; publishing a breaking change takes a version above 1\n") || errOut != "" {
		t.Errorf("a removed field: exit %d\n%s%s", code, out, errOut)
	}

	code, out, _ = runPlinth(t, bin, "diff", "--format", "json", old, removed)
	var rep struct {
		Old      struct{ Version int }
		Breaking int
		Refused  bool
		Changes  []map[string]any
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("--format json is not one JSON document: %v\n%s", err, out)
	}
	if code != 1 || !rep.Refused || rep.Breaking != 2 || rep.Old.Version != 1 || len(rep.Changes) != 2 {
		t.Fatalf("--format json: exit %d\n%s", code, out)
	}
	want := map[string]any{"kind": "field-removed", "breaking": true, "resource": "orders", "field": "note", "webhook": "",
		"old": "string", "new": "", "note": "", "source": "spec",
		"reason":   "orders.note was removed: responses and events no longer carry it, and writes that send it are refused as unknown",
		"location": map[string]any{"file": old, "line": float64(line), "column": 7.0}}
	got := rep.Changes[0]
	if len(got) != len(want) || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("--format json change:\n got %v\nwant %v", got, want)
	}

	code, out, _ = runPlinth(t, bin, "diff", old, major)
	if code != 0 || !strings.Contains(out, removal) ||
		!strings.Contains(out, "breaking: version rose from 1 to 2: the API moves from /v1 to /v2, so breaking changes are allowed [version-raised]\n"+
			"    note: /v1 is no longer served: its clients need the old major declared under `versions:` to keep working until they move\n") ||
		!strings.HasSuffix(out, ": 3 change(s), 3 breaking: allowed, since version rose from 1 to 2\n") {
		t.Errorf("a removed field in a new major: exit %d\n%s", code, out)
	}

	if code, out, _ := runPlinth(t, bin, "diff", old, old); code != 0 || out != old+" -> "+old+": no changes\n" {
		t.Errorf("the shop against itself: exit %d\n%s", code, out)
	}

	broken := write("broken.yaml", strings.Replace(string(shop), "type: integer,", "type: integr,", 1))
	code, out, errOut = runPlinth(t, bin, "diff", "--format", "json", old, broken)
	if code != 2 || out != "" || !strings.Contains(errOut, `unknown type "integr"`) || !strings.Contains(errOut, "broken.yaml does not compile") {
		t.Errorf("a spec that does not compile: exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	if code, _, errOut := runPlinth(t, bin, "diff", old); code != 2 || !strings.Contains(errOut, "give two spec files") {
		t.Errorf("one file: exit %d\n%s", code, errOut)
	}
}
