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

// hooks is a SQLite store with a webhook on things.created (and the condition when, if not
// empty) whose receiver counts deliveries by webhook-id.
type hooks struct {
	t     *testing.T
	ctx   context.Context
	model *spec.Model
	db    *sqlite.DB
	env   map[string]string

	mu  sync.Mutex
	got map[string]int
}

func newHooks(t *testing.T, when string) *hooks {
	h := &hooks{t: t, got: map[string]int{}}
	recv := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		h.mu.Lock()
		h.got[r.Header.Get("webhook-id")]++
		h.mu.Unlock()
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
	if when != "" {
		src += "    when: " + when + "\n"
	}
	model, diags := spec.Compile("s.yaml", []byte(src))
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
	w, err := worker.New(worker.Config{Model: h.model, Store: h.db, Poll: 50 * time.Millisecond,
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
	h := newHooks(t, "record.n % 3 == 0")
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
