package main

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// pricedSpec has one finding: a price in a float, on line 14, column 21 (the README shows it).
const pricedSpec = `# A spec with one question for its author.
plinth: 1
name: priced
version: 1

auth:
  roles: [admin, customer]

resources:
  products:
    fields:
      sku:   {type: string, required: true, unique: true, max_length: 32}
      name:  {type: string, required: true, max_length: 200}
      price: {type: number, min: 0}
    access:
      list: "true"
      read: "true"
      write: 'auth.role == "admin"'
`

// runCheck runs the real plinth binary's check command and returns its exit status and output.
func runCheck(t *testing.T, bin string, args ...string) (int, string) {
	t.Helper()
	code, out, errOut := runPlinth(t, bin, append([]string{"check"}, args...)...)
	return code, out + errOut
}

// runPlinth runs the real plinth binary and returns its exit status, stdout and stderr.
func runPlinth(t *testing.T, bin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut strings.Builder
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, out.String(), errOut.String()
	case errors.As(err, &ee):
		return ee.ExitCode(), out.String(), errOut.String()
	}
	t.Fatalf("plinth %s: %v", args[0], err)
	return 0, "", ""
}

// TestCheckStrictThroughTheBinary runs `plinth check` as CI would, as its own process: a
// warning passes without --strict and fails with it, in text and in JSON; the shop passes
// --strict; a silenced finding passes it too.
func TestCheckStrictThroughTheBinary(t *testing.T) {
	bin := buildBinary(t)
	dir := t.TempDir()
	spec := filepath.Join(dir, "plinth.yaml")
	if err := os.WriteFile(spec, []byte(pricedSpec), 0o644); err != nil {
		t.Fatal(err)
	}
	finding := spec + ":14:21: %s: products.price looks like money but is a number"
	fix := "\n    fix: count it in cents (the currency's minor unit) with an integer: `price_cents: {type: integer, min: 0}`\n"

	code, out := runCheck(t, bin, "--spec", spec)
	if code != 0 || !strings.Contains(out, strings.Replace(finding, "%s", "warning", 1)) || !strings.Contains(out, "[money-as-number]"+fix) ||
		!strings.HasSuffix(out, spec+": 0 error(s), 1 warning(s)\n") {
		t.Errorf("without --strict: exit %d\n%s", code, out)
	}

	code, out = runCheck(t, bin, "--strict", "--spec", spec)
	if code != 1 || !strings.Contains(out, strings.Replace(finding, "%s", "error", 1)) || !strings.Contains(out, "[money-as-number]"+fix) ||
		!strings.HasSuffix(out, spec+": 1 error(s), 0 warning(s)\n") {
		t.Errorf("with --strict: exit %d\n%s", code, out)
	}

	code, out = runCheck(t, bin, "--strict", "--format", "json", "--spec", spec)
	var got []map[string]any
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("--format json is not one JSON document: %v\n%s", err, out)
	}
	want := map[string]any{"file": spec, "line": 14.0, "column": 21.0, "severity": "error", "code": "money-as-number",
		"message": "products.price looks like money but is a number, a binary float that holds no exact cent: 0.10 + 0.20 is 0.30000000000000004, and sums drift",
		"fix":     "count it in cents (the currency's minor unit) with an integer: `price_cents: {type: integer, min: 0}`"}
	if code != 1 || len(got) != 1 || len(got[0]) != len(want) {
		t.Fatalf("--strict --format json: exit %d\n%s", code, out)
	}
	for k, v := range want {
		if got[0][k] != v {
			t.Errorf("--format json: %s is %v, want %v", k, got[0][k], v)
		}
	}

	if code, out := runCheck(t, bin, "--strict", "--spec", "../../examples/shop/plinth.yaml"); code != 0 || !strings.HasSuffix(out, "0 error(s), 0 warning(s)\n") {
		t.Errorf("the shop fails --strict: exit %d\n%s", code, out)
	}
	if code, out := runCheck(t, bin, "--strict", "--format", "json", "--spec", "../../examples/shop/plinth.yaml"); code != 0 || out != "[]\n" {
		t.Errorf("the shop's JSON: exit %d\n%s", code, out)
	}

	silenced := strings.Replace(pricedSpec, "price: {type: number, min: 0}", "price: {type: number, min: 0}  # plinth:ignore money-as-number  estimates only", 1)
	if err := os.WriteFile(spec, []byte(silenced), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, out := runCheck(t, bin, "--strict", "--spec", spec); code != 0 || !strings.HasSuffix(out, "0 error(s), 0 warning(s)\n") {
		t.Errorf("a silenced finding fails --strict: exit %d\n%s", code, out)
	}

	if code, out := runCheck(t, bin, "--format", "xml", "--spec", spec); code != 1 || !strings.Contains(out, "--format must be text or json") {
		t.Errorf("--format xml: exit %d\n%s", code, out)
	}
}
