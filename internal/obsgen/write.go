package obsgen

import (
	"os"
	"path/filepath"

	"github.com/plinth-dev/plinth/internal/spec"
)

// The files Write writes.
const (
	RulesFile     = "rules.yml"
	RuleTestsFile = "rules_test.yml"
	DashboardFile = "dashboard.json"
)

// Write writes the rules, their unit tests and the dashboard of m and objectives into dir,
// creating it. The error is about an objective Rules refuses, or about writing.
func Write(dir string, m *spec.Model, objectives []Objective, opts Options) error {
	rules, err := Rules(objectives, opts)
	if err != nil {
		return err
	}
	tests, err := RuleTests(objectives, opts, RulesFile)
	if err != nil {
		return err
	}
	dashboard, err := Dashboard(m)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for name, data := range map[string][]byte{RulesFile: rules, RuleTestsFile: tests, DashboardFile: dashboard} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			return err
		}
	}
	return nil
}
