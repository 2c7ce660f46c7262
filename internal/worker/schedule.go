package worker

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"sync"
	"time"

	"github.com/plinth-dev/plinth/internal/obs"
	"github.com/plinth-dev/plinth/internal/spec"
	"github.com/plinth-dev/plinth/internal/store"
)

// Runner does one run of a schedule and says how many records it changed; the engine is one.
type Runner interface {
	RunSchedule(ctx context.Context, s *spec.Schedule) (int, error)
}

// checkInterval bounds how long a due schedule waits to be noticed.
const checkInterval = 5 * time.Second

// Scheduler runs a model's schedules, each on its own ticker.
type Scheduler struct {
	schedules []*spec.Schedule
	runner    Runner
	leaser    store.Leaser
	owner     string
	log       *slog.Logger
	now       func() time.Time
	metrics   *obs.Metrics
}

// NewScheduler returns a scheduler for the model's schedules; metrics (nil for none) counts
// its runs.
func NewScheduler(model *spec.Model, runner Runner, leaser store.Leaser, log *slog.Logger, now func() time.Time, metrics *obs.Metrics) *Scheduler {
	b := make([]byte, 8)
	rand.Read(b)
	if now == nil {
		now = time.Now
	}
	return &Scheduler{schedules: model.Schedules, runner: runner, leaser: leaser, owner: hex.EncodeToString(b),
		log: cmp.Or(log, slog.New(slog.DiscardHandler)), now: now, metrics: metrics}
}

// Run runs every schedule until ctx ends. The database keeps when each schedule may run next
// (a lease held until then), so that however many processes share it each period runs once,
// and a restart neither repeats a run nor resets the clock: a daily schedule on a process
// restarted every few hours still runs daily. Processes look every checkInterval at most.
func (s *Scheduler) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for _, sch := range s.schedules {
		wg.Go(func() {
			t := time.NewTicker(min(sch.Every, checkInterval))
			defer t.Stop()
			s.tick(ctx, sch) // a schedule that fell due while no process ran goes at once
			for {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
					s.tick(ctx, sch)
				}
			}
		})
	}
	wg.Wait()
}

func (s *Scheduler) tick(ctx context.Context, sch *spec.Schedule) {
	now := s.now()
	// The lease ends a little before the next period, so that the check that finds it over
	// is not late by a whole check interval.
	next := now.Add(sch.Every - min(sch.Every/10, checkInterval))
	ok, err := s.leaser.Lease(ctx, "schedule:"+sch.Name, s.owner, now, next)
	if err != nil {
		if ctx.Err() == nil {
			s.log.WarnContext(ctx, "schedule lease failed", "schedule", sch.Name, "err", err)
		}
		return
	}
	if !ok {
		return // another process has this tick
	}
	// A run that outlasts its lease keeps it, so that no other process starts the next run
	// beside it; what the renewals added beyond the run is given back, so that the next
	// period begins when this run ends, or at its time if that is later.
	held, release := context.WithCancel(ctx)
	var renewing sync.WaitGroup
	renewed := false
	renewing.Go(func() { renewed = s.hold(held, sch, next) })
	started := time.Now()
	n, err := s.runner.RunSchedule(ctx, sch)
	if ctx.Err() == nil {
		s.metrics.ScheduleRun(sch.Name, err == nil, time.Since(started))
	}
	release()
	renewing.Wait()
	if end := s.now(); renewed && ctx.Err() == nil {
		if err := s.leaser.Cut(ctx, "schedule:"+sch.Name, s.owner, end, latest(next, end)); err != nil {
			s.log.WarnContext(ctx, "schedule lease could not be given back", "schedule", sch.Name, "err", err)
		}
	}
	if err != nil && ctx.Err() == nil {
		s.log.WarnContext(ctx, "schedule failed", "schedule", sch.Name, "err", err)
		return
	}
	s.log.InfoContext(ctx, "schedule ran", "schedule", sch.Name, "changed", n)
}

// hold keeps a running schedule's lease, which ends at until, from running out under it
// until ctx ends, and says whether it renewed it: when two renewal intervals or less are
// left, it moves the end to three intervals from now, so that a late or failed renewal still
// leaves time for the next.
func (s *Scheduler) hold(ctx context.Context, sch *spec.Schedule, until time.Time) (renewed bool) {
	step := max(min(sch.Every/3, 30*time.Second), 10*time.Millisecond)
	every(ctx, step, func() bool {
		now := s.now()
		if now.Add(2 * step).Before(until) {
			return true
		}
		ok, err := s.leaser.Renew(ctx, "schedule:"+sch.Name, s.owner, now, now.Add(3*step))
		switch {
		case err != nil:
			if ctx.Err() == nil {
				s.log.WarnContext(ctx, "schedule lease renewal failed", "schedule", sch.Name, "err", err)
			}
		case !ok:
			s.log.WarnContext(ctx, "a schedule run outlived its lease; another process may run it too", "schedule", sch.Name)
			s.metrics.LeaseTakeover(sch.Name)
			return false
		default:
			until, renewed = now.Add(3*step), true
		}
		return true
	})
	return renewed
}

// latest is the later of two times.
func latest(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
