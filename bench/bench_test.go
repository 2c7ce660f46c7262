package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/plinth-dev/plinth/bench/harness"
)

// TestSmoke runs the whole harness briefly: both servers built and started, seeded, and every
// scenario sent for a second to each. Every request must succeed; no timing is asserted.
func TestSmoke(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var progress strings.Builder
	rep, err := harness.Run(ctx, harness.Config{Smoke: true, WorkDir: t.TempDir(), Log: &progress})
	if err != nil {
		t.Fatalf("run: %v\nprogress:\n%s", err, progress.String())
	}
	if len(rep.Scenarios) != 5 {
		t.Fatalf("%d scenarios ran, want 5", len(rep.Scenarios))
	}
	for _, s := range rep.Scenarios {
		for name, side := range map[string]harness.Side{"plinth": s.Plinth, "reference": s.Reference} {
			if side.Requests == 0 || side.Errors > 0 || side.Non2xx > 0 {
				t.Errorf("%s on %s: %d requests, %d errors, %d non-2xx: %v", s.Name, name, side.Requests, side.Errors, side.Non2xx, side.Samples)
			}
		}
	}
	if len(rep.Failures) > 0 {
		t.Errorf("failures: %v", rep.Failures)
	}
	if len(rep.StartToReady.ExistingMS) != 1 || rep.StartToReady.ExistingMS[0] <= 0 {
		t.Errorf("start to ready on the existing database was not measured: %v", rep.StartToReady.ExistingMS)
	}
}

// TestRunRejectsUnknownFlags keeps the command's flag handling honest without a full run.
func TestRunRejectsUnknownFlags(t *testing.T) {
	if code := run(context.Background(), []string{"-no-such-flag"}); code != 2 {
		t.Errorf("exit code %d for an unknown flag, want 2", code)
	}
}
