package worker_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/plinth-dev/plinth/internal/spec"
	"github.com/plinth-dev/plinth/internal/store/sqlite"
	"github.com/plinth-dev/plinth/internal/worker"
)

// scheduleStore is a SQLite store for a model with one schedule of the given period.
func scheduleStore(t *testing.T, every string) (*spec.Model, *sqlite.DB) {
	model, diags := spec.Compile("s.yaml", []byte(`
plinth: 1
name: s
resources:
  things:
    fields: {n: integer}
schedules:
  tick:
    every: `+every+`
    resource: things
    where: "n > 0"
    set: {n: 0}
`))
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	db, err := sqlite.Open(context.Background(), t.TempDir(), model, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return model, db
}

type countingRunner struct{ runs int }

func (c *countingRunner) RunSchedule(context.Context, *spec.Schedule) (int, error) {
	c.runs++
	return 0, nil
}

// TestScheduleSurvivesRestarts: the next run time lives in the database, so a restarted
// process neither repeats a run nor waits a whole period again.
func TestScheduleSurvivesRestarts(t *testing.T) {
	model, db := scheduleStore(t, "1h")
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	runner := &countingRunner{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	runFor := func(d time.Duration) {
		// A fresh scheduler, as after a restart, checking once.
		s := worker.NewScheduler(model, runner, db, nil, clock)
		done := make(chan struct{})
		sctx, stop := context.WithTimeout(ctx, d)
		go func() { s.Run(sctx); close(done) }()
		<-done
		stop()
	}
	runFor(200 * time.Millisecond) // the check at start runs it
	if runner.runs != 1 {
		t.Fatalf("%d runs at the start", runner.runs)
	}
	now = now.Add(10 * time.Minute)
	runFor(200 * time.Millisecond)
	if runner.runs != 1 {
		t.Fatalf("a restart ten minutes later ran it again (%d runs)", runner.runs)
	}
	now = now.Add(55 * time.Minute)
	runFor(200 * time.Millisecond)
	if runner.runs != 2 {
		t.Fatalf("an hour later it did not run (%d runs)", runner.runs)
	}
}

// slowRunner takes longer than the period and records how many of its runs overlapped.
type slowRunner struct {
	mu         sync.Mutex
	running    int
	runs       int
	mostAtOnce int
	takes      time.Duration
}

func (s *slowRunner) RunSchedule(ctx context.Context, _ *spec.Schedule) (int, error) {
	s.mu.Lock()
	s.running++
	s.runs++
	s.mostAtOnce = max(s.mostAtOnce, s.running)
	s.mu.Unlock()
	select {
	case <-time.After(s.takes):
	case <-ctx.Done():
	}
	s.mu.Lock()
	s.running--
	s.mu.Unlock()
	return 0, nil
}

// TestLongRunsDoNotOverlap: a run longer than its schedule's period keeps its lease, so that
// another process sharing the database does not start the next run beside it.
func TestLongRunsDoNotOverlap(t *testing.T) {
	model, db := scheduleStore(t, "1s")
	runner := &slowRunner{takes: 1500 * time.Millisecond}
	ctx, cancel := context.WithTimeout(context.Background(), 2500*time.Millisecond)
	defer cancel()
	var wg sync.WaitGroup
	for range 2 { // two processes
		s := worker.NewScheduler(model, runner, db, nil, nil)
		wg.Go(func() { s.Run(ctx) })
	}
	wg.Wait()
	if runner.runs == 0 || runner.mostAtOnce != 1 {
		t.Errorf("%d runs, at most %d at once; want some, one at a time", runner.runs, runner.mostAtOnce)
	}
}

// TestShortRunsKeepTheirPeriod: holding the lease during a run does not push back the
// schedule of runs that end within their period, even those that end after a renewal.
func TestShortRunsKeepTheirPeriod(t *testing.T) {
	for _, takes := range []time.Duration{400 * time.Millisecond, 750 * time.Millisecond} {
		model, db := scheduleStore(t, "1s")
		runner := &slowRunner{takes: takes}
		ctx, cancel := context.WithTimeout(context.Background(), 3500*time.Millisecond)
		worker.NewScheduler(model, runner, db, nil, nil).Run(ctx)
		cancel()
		// At about 0, 1, 2 and 3 s (a late tick on a busy machine may miss the last); a
		// schedule pushed back by its renewals runs at 0 and 2 s only.
		if runner.runs < 3 {
			t.Errorf("%d runs of a 1 s schedule taking %s in 3.5 s, want 3 or 4", runner.runs, takes)
		}
	}
}

// failingRenewal fails the first renewal, as a dropped connection would.
type failingRenewal struct {
	worker.Leaser
	failed atomic.Bool
}

func (f *failingRenewal) Renew(ctx context.Context, name, owner string, now, until time.Time) (bool, error) {
	if f.failed.CompareAndSwap(false, true) {
		return false, errors.New("connection reset")
	}
	return f.Leaser.Renew(ctx, name, owner, now, until)
}

// TestAFailedRenewalIsRetriedInTime: renewals start early enough that one that fails leaves
// time for the next before the lease ends, so a second process still does not run beside.
func TestAFailedRenewalIsRetriedInTime(t *testing.T) {
	model, db := scheduleStore(t, "1s")
	runner := &slowRunner{takes: 2500 * time.Millisecond}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	first := worker.NewScheduler(model, runner, &failingRenewal{Leaser: db}, nil, nil)
	wg.Go(func() { first.Run(ctx) })
	time.Sleep(950 * time.Millisecond) // past the first lease's original end
	second := worker.NewScheduler(model, runner, db, nil, nil)
	wg.Go(func() { second.Run(ctx) })
	wg.Wait()
	if runner.mostAtOnce != 1 {
		t.Errorf("%d runs, at most %d at once; want one at a time", runner.runs, runner.mostAtOnce)
	}
}
