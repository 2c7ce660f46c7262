package worker_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/plinth-dev/plinth/internal/spec"
	"github.com/plinth-dev/plinth/internal/store"
	"github.com/plinth-dev/plinth/internal/store/sqlite"
	"github.com/plinth-dev/plinth/internal/worker"
)

// The schedulers in these tests run in a synctest bubble: the clock is fake and moves only
// when every goroutine waits, so periods, leases and run lengths are exact however busy the
// machine is, and a time.Sleep of the test is the clock moving on, not a guess.

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

// run is one run of a schedule, by the fake clock.
type run struct{ start, end time.Time }

// slowRunner takes its time over each run and records every run.
type slowRunner struct {
	takes time.Duration
	mu    sync.Mutex
	runs  []run
}

func (s *slowRunner) RunSchedule(ctx context.Context, _ *spec.Schedule) (int, error) {
	start := time.Now()
	select {
	case <-time.After(s.takes):
	case <-ctx.Done():
	}
	s.mu.Lock()
	s.runs = append(s.runs, run{start, time.Now()})
	s.mu.Unlock()
	return 0, nil
}

// done returns the runs so far, in the order they started.
func (s *slowRunner) done() []run {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := slices.Clone(s.runs)
	slices.SortFunc(out, func(a, b run) int { return a.start.Compare(b.start) })
	return out
}

// startsAfter returns when each run started, as an offset from t0.
func startsAfter(t0 time.Time, runs []run) []time.Duration {
	out := make([]time.Duration, len(runs))
	for i, r := range runs {
		out[i] = r.start.Sub(t0)
	}
	return out
}

// runSchedulers runs n schedulers, as n processes sharing the store would, for d.
func runSchedulers(model *spec.Model, runner worker.Runner, leaser store.Leaser, n int, d time.Duration) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for range n {
		s := worker.NewScheduler(model, runner, leaser, nil, nil, nil)
		wg.Go(func() { s.Run(ctx) })
	}
	time.Sleep(d) // in the bubble: d of fake time passes once every scheduler waits
	cancel()
	wg.Wait()
}

// TestScheduleSurvivesRestarts: the next run time lives in the database, so a restarted
// process neither repeats a run nor waits a whole period again.
func TestScheduleSurvivesRestarts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		model, db := scheduleStore(t, "1h")
		runner := &slowRunner{}
		start := func() {
			// A fresh scheduler, as after a restart, stopped once it has made its check at start
			// and waits for its next one.
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { worker.NewScheduler(model, runner, db, nil, nil, nil).Run(ctx); close(done) }()
			synctest.Wait()
			cancel()
			<-done
		}
		start()
		if n := len(runner.done()); n != 1 {
			t.Fatalf("%d runs at the start", n)
		}
		time.Sleep(10 * time.Minute) // fake time: the restart comes ten minutes later
		start()
		if n := len(runner.done()); n != 1 {
			t.Fatalf("a restart ten minutes later ran it again (%d runs)", n)
		}
		time.Sleep(55 * time.Minute) // fake time: now past the hour the first run began
		start()
		if n := len(runner.done()); n != 2 {
			t.Fatalf("an hour later it did not run (%d runs)", n)
		}
	})
}

// TestLongRunsDoNotOverlap: a run longer than its schedule's period keeps its lease, so that
// another process sharing the database does not start the next run beside it, and the next
// period begins when the run ends.
func TestLongRunsDoNotOverlap(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		model, db := scheduleStore(t, "1s")
		runner := &slowRunner{takes: 1500 * time.Millisecond}
		runSchedulers(model, runner, db, 2, 10*time.Second)
		runs := runner.done()
		if len(runs) < 2 {
			t.Fatalf("%d runs of a 1 s schedule taking 1.5 s in 10 s", len(runs))
		}
		for i := 1; i < len(runs); i++ {
			if prev := runs[i-1]; runs[i].start.Before(prev.end) || runs[i].start.After(prev.end.Add(time.Second)) {
				t.Errorf("run %d started %s after run %d ended, want 0 to 1 s (runs from 0: %v)",
					i+1, runs[i].start.Sub(prev.end), i, startsAfter(runs[0].start, runs))
			}
		}
	})
}

// TestShortRunsKeepTheirPeriod: holding the lease during a run does not push back the
// schedule of runs that end within their period, even those that end after a renewal, and
// two processes sharing the database run each period once between them.
func TestShortRunsKeepTheirPeriod(t *testing.T) {
	for _, takes := range []time.Duration{400 * time.Millisecond, 750 * time.Millisecond} {
		synctest.Test(t, func(t *testing.T) {
			model, db := scheduleStore(t, "1s")
			runner := &slowRunner{takes: takes}
			t0 := time.Now()
			runSchedulers(model, runner, db, 2, 3500*time.Millisecond)
			// A schedule pushed back by its renewals would run at 0 and 2 s only.
			want := []time.Duration{0, time.Second, 2 * time.Second, 3 * time.Second}
			if got := startsAfter(t0, runner.done()); !slices.Equal(got, want) {
				t.Errorf("a 1 s schedule taking %s in two processes started runs at %v, want %v", takes, got, want)
			}
		})
	}
}

// failingRenewal fails the first renewal, as a dropped connection would.
type failingRenewal struct {
	store.Leaser
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
	synctest.Test(t, func(t *testing.T) {
		model, db := scheduleStore(t, "1s")
		runner := &slowRunner{takes: 2500 * time.Millisecond}
		flaky := &failingRenewal{Leaser: db}
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		first := worker.NewScheduler(model, runner, flaky, nil, nil, nil)
		wg.Go(func() { first.Run(ctx) })
		time.Sleep(950 * time.Millisecond) // past the end of the first run's original lease
		second := worker.NewScheduler(model, runner, db, nil, nil, nil)
		wg.Go(func() { second.Run(ctx) })
		time.Sleep(2050 * time.Millisecond) // fake time: past the end of the first, renewed run
		cancel()
		wg.Wait()
		if !flaky.failed.Load() {
			t.Fatal("no renewal was attempted: the test checked nothing")
		}
		runs := runner.done()
		if len(runs) != 2 || runs[1].start.Before(runs[0].end) {
			t.Errorf("runs %v after a failed renewal; want the second to start after the first ended", runs)
		}
	})
}
