package worker_test

import (
	"context"
	"encoding/json"
	"maps"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/plinth-dev/plinth/internal/engine"
	"github.com/plinth-dev/plinth/internal/spec"
	"github.com/plinth-dev/plinth/internal/store/sqlite"
	"github.com/plinth-dev/plinth/internal/worker"
)

// hooks is a SQLite store with a webhook on things.created (extra is more of its
// declaration) whose receiver counts deliveries by webhook-id and answers 200, or as answer
// says when it is set.
type hooks struct {
	t      *testing.T
	ctx    context.Context
	model  *spec.Model
	db     *sqlite.DB
	env    map[string]string
	poll   time.Duration // the workers' poll; default 50 ms
	answer func(w http.ResponseWriter, id string)

	mu  sync.Mutex
	got map[string]int
}

func newHooks(t *testing.T, extra string) *hooks {
	h := &hooks{t: t, got: map[string]int{}, poll: 50 * time.Millisecond}
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("webhook-id")
		h.mu.Lock()
		h.got[id]++
		h.mu.Unlock()
		if h.answer != nil {
			h.answer(w, id)
		}
	}))
	t.Cleanup(recv.Close)
	src := `
plinth: 1
name: s
resources:
  things:
    fields: {n: integer}
    access: {create: "true"}
webhooks:
  hook:
    url: "${HOOK_URL}"
    secret: "${HOOK_SECRET}"
    on: [things.created]
`
	model, diags := spec.Compile("s.yaml", []byte(src+extra))
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	db, err := sqlite.Open(ctx, t.TempDir(), model, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	h.ctx, h.model, h.db = ctx, model, db
	h.env = map[string]string{"HOOK_URL": recv.URL, "HOOK_SECRET": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}
	return h
}

// worker makes a subscribed worker, as a server does before it serves.
func (h *hooks) worker() *worker.Worker {
	w, err := worker.New(worker.Config{Model: h.model, Store: h.db, Poll: h.poll,
		Getenv: func(k string) string { return h.env[k] }})
	if err != nil {
		h.t.Fatal(err)
	}
	if err := w.Subscribe(h.ctx); err != nil {
		h.t.Fatal(err)
	}
	return w
}

// create writes n things through an engine that wakes the workers after each commit.
func (h *hooks) create(n int, workers ...*worker.Worker) {
	eng, err := engine.New(engine.Config{Model: h.model, Store: h.db, Committed: func() {
		for _, w := range workers {
			w.Wake()
		}
	}})
	if err != nil {
		h.t.Fatal(err)
	}
	for i := range n {
		if _, err := eng.Create(h.ctx, "things", map[string]any{"n": json.Number(strconv.Itoa(i))}); err != nil {
			h.t.Fatal(err)
		}
	}
}

// run starts the workers; the function it returns waits until want distinct events have
// arrived (or 20 s have passed) and a little longer, for a duplicate to show, stops the
// workers and returns the deliveries per event.
func (h *hooks) run(workers ...*worker.Worker) func(want int) map[string]int {
	ctx, stop := context.WithCancel(h.ctx)
	var wg sync.WaitGroup
	for _, w := range workers {
		wg.Go(func() { w.Run(ctx) })
	}
	return func(want int) map[string]int {
		deadline := time.Now().Add(20 * time.Second)
		for time.Now().Before(deadline) {
			h.mu.Lock()
			n := len(h.got)
			h.mu.Unlock()
			if n >= want {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		time.Sleep(200 * time.Millisecond)
		stop()
		wg.Wait()
		h.mu.Lock()
		defer h.mu.Unlock()
		return maps.Clone(h.got)
	}
}

// TestEventsBeforeTheFirstStepAreDelivered: a write that commits after the worker has
// subscribed but before its first step — the moment a server starts accepting requests — is
// delivered, not taken for backlog that predates the webhook.
func TestEventsBeforeTheFirstStepAreDelivered(t *testing.T) {
	h := newHooks(t, "")
	w := h.worker()
	h.create(1)
	if got := h.run(w)(1); len(got) != 1 {
		t.Fatalf("%d deliveries of the event written before the worker's first step, want 1", len(got))
	}
}

// TestTwoWorkersMatchEachEventOnce: two processes' workers matching one outbox, with events
// the webhook does not want between those it does, deliver every wanted event exactly once
// and no other.
func TestTwoWorkersMatchEachEventOnce(t *testing.T) {
	h := newHooks(t, "    when: record.n % 3 == 0\n")
	workers := []*worker.Worker{h.worker(), h.worker()}
	wait := h.run(workers...)
	h.create(300, workers...) // 100 wanted, matched while they are written
	got := wait(100)
	if len(got) != 100 {
		t.Errorf("%d events delivered, want 100", len(got))
	}
	for id, n := range got {
		if n != 1 {
			t.Errorf("event %s delivered %d times", id, n)
		}
	}
}

// TestAnEarlierRetryIsNotDisplaced: a retry due in 1 s is sent on time although a later
// failure, whose retry is 3 s away, was recorded after it.
func TestAnEarlierRetryIsNotDisplaced(t *testing.T) {
	h := newHooks(t, "    retry: {max_attempts: 5, initial: 10ms, max: 5s}\n")
	h.poll = time.Minute // only the retry timer can wake the worker in time
	var mu sync.Mutex
	var first string
	var attempts []time.Time // of the first delivery
	h.answer = func(w http.ResponseWriter, id string) {
		mu.Lock()
		if first == "" {
			first = id
		}
		if id == first {
			attempts = append(attempts, time.Now())
		}
		n, isFirst := len(attempts), id == first
		mu.Unlock()
		switch {
		case isFirst && n == 1:
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusServiceUnavailable)
		case !isFirst:
			time.Sleep(200 * time.Millisecond) // fails after the first, retry in 3 s
			w.Header().Set("Retry-After", "3")
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}
	w := h.worker()
	h.create(2)
	stop := h.run(w)
	for deadline := time.Now().Add(2500 * time.Millisecond); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		mu.Lock()
		n := len(attempts)
		mu.Unlock()
		if n >= 2 {
			break
		}
	}
	stop(0)
	mu.Lock()
	defer mu.Unlock()
	if len(attempts) < 2 || attempts[1].Sub(attempts[0]) > 1800*time.Millisecond {
		t.Errorf("the retry due 1 s after the first attempt came %v after it", attempts)
	}
}
