package obsgen_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/plinth-dev/plinth/internal/obsgen"
)

// shopObjectives are the objectives of the shop's spec.
func shopObjectives(t *testing.T) []obsgen.Objective {
	t.Helper()
	return obsgen.Objectives(compileShop(t))
}

// promtool is the path of Prometheus's promtool, which scripts/test and .ci/run install
// (Debian's prometheus package); a test that needs it fails without it.
func promtool(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatalf("this test needs promtool (apt-get install prometheus; scripts/test installs it): %v", err)
	}
	return path
}

// runPromtool runs promtool with args in dir and fails the test with its output if it fails.
func runPromtool(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command(promtool(t), args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestRulesPassPromtool writes the shop's rules and their unit tests with objectives and
// without, and has promtool check the rules and run the tests: every alert fires on its
// synthetic series and stays silent on healthy ones.
func TestRulesPassPromtool(t *testing.T) {
	for name, objectives := range map[string][]obsgen.Objective{"objectives": shopObjectives(t), "none": nil} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			if err := obsgen.Write(dir, compileShop(t), objectives, obsgen.Options{}); err != nil {
				t.Fatal(err)
			}
			out := runPromtool(t, dir, "check", "rules", obsgen.RulesFile)
			if !strings.Contains(out, "SUCCESS") {
				t.Fatalf("promtool check rules:\n%s", out)
			}
			runPromtool(t, dir, "test", "rules", obsgen.RuleTestsFile)
		})
	}
}

// TestRuleTestsCatchABrokenAlert proves the unit tests can fail: with one alert's threshold
// changed so that its synthetic series no longer breaks it, promtool test rules fails.
func TestRuleTestsCatchABrokenAlert(t *testing.T) {
	dir := t.TempDir()
	if err := obsgen.Write(dir, compileShop(t), nil, obsgen.Options{}); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, obsgen.RulesFile)
	rules, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	broken := strings.Replace(string(rules), "plinth_subscription_lag_seconds{job=\"plinth\"}) > 300", "plinth_subscription_lag_seconds{job=\"plinth\"}) > 3000", 1)
	if broken == string(rules) {
		t.Fatal("the outbox lag alert's threshold is not in the rules")
	}
	if err := os.WriteFile(path, []byte(broken), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(promtool(t), "test", "rules", obsgen.RuleTestsFile)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "PlinthOutboxLagging") {
		t.Fatalf("promtool test rules passed a rule file whose outbox alert cannot fire (%v):\n%s", err, out)
	}
}
