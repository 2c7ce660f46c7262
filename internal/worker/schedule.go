package worker

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"sync"
	"time"

	"github.com/plinth-dev/plinth/internal/spec"
)

// Runner does one run of a schedule and says how many records it changed; the engine is one.
type Runner interface {
	RunSchedule(ctx context.Context, s *spec.Schedule) (int, error)
}

// checkInterval bounds how long a due schedule waits to be noticed.
const checkInterval = 5 * time.Second

// Leaser grants a named lease to one owner until a time, so that several processes on one
// database run each tick of a schedule once.
type Leaser interface {
	// Lease takes the lease until until when it is free or has expired.
	Lease(ctx context.Context, name, owner string, now, until time.Time) (bool, error)
	// Renew extends the owner's lease to until; false when the lease is no longer its.
	Renew(ctx context.Context, name, owner string, now, until time.Time) (bool, error)
}

// Scheduler runs a model's schedules, each on its own ticker.
type Scheduler struct {
	schedules []*spec.Schedule
	runner    Runner
	leaser    Leaser
	owner     string
	log       *slog.Logger
	now       func() time.Time
}

// NewScheduler returns a scheduler for the model's schedules.
func NewScheduler(model *spec.Model, runner Runner, leaser Leaser, log *slog.Logger, now func() time.Time) *Scheduler {
	b := make([]byte, 8)
	rand.Read(b)
	if now == nil {
		now = time.Now
	}
	return &Scheduler{schedules: model.Schedules, runner: runner, leaser: leaser, owner: hex.EncodeToString(b),
		log: cmp.Or(log, slog.New(slog.DiscardHandler)), now: now}
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
	// beside it: the next period then begins shortly after this run ends.
	held, release := context.WithCancel(ctx)
	var renewing sync.WaitGroup
	renewing.Go(func() { s.hold(held, sch, next) })
	n, err := s.runner.RunSchedule(ctx, sch)
	release()
	renewing.Wait()
	if err != nil && ctx.Err() == nil {
		s.log.WarnContext(ctx, "schedule failed", "schedule", sch.Name, "err", err)
		return
	}
	s.log.InfoContext(ctx, "schedule ran", "schedule", sch.Name, "changed", n)
}

// hold keeps a running schedule's lease, which ends at until, from running out under it:
// when the end comes within a renewal interval, it moves it two intervals on. A run that
// ends well before its lease leaves the lease as it was, so the schedule does not drift.
func (s *Scheduler) hold(ctx context.Context, sch *spec.Schedule, until time.Time) {
	step := max(min(sch.Every/3, 30*time.Second), 10*time.Millisecond)
	every(ctx, step, func() bool {
		now := s.now()
		if now.Add(step).Before(until) {
			return true
		}
		until = now.Add(2 * step)
		ok, err := s.leaser.Renew(ctx, "schedule:"+sch.Name, s.owner, now, until)
		if err != nil && ctx.Err() == nil {
			s.log.WarnContext(ctx, "schedule lease renewal failed", "schedule", sch.Name, "err", err)
		}
		if err == nil && !ok {
			s.log.WarnContext(ctx, "a schedule run outlived its lease; another process may run it too", "schedule", sch.Name)
			return false
		}
		return true
	})
}
