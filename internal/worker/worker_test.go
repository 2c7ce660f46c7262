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
	"testing/synctest"
	"time"

	"github.com/plinth-dev/plinth/internal/engine"
	"github.com/plinth-dev/plinth/internal/spec"
	"github.com/plinth-dev/plinth/internal/store"
	"github.com/plinth-dev/plinth/internal/store/open"
	"github.com/plinth-dev/plinth/internal/store/pgtest"
	"github.com/plinth-dev/plinth/internal/worker"
)

// database opens the store a test runs on, closed when the test ends.
type database func(t *testing.T, model *spec.Model) store.DB

// eachDatabase runs test on SQLite and on PostgreSQL.
func eachDatabase(t *testing.T, test func(*testing.T, database)) {
	t.Run("sqlite", func(t *testing.T) { test(t, onSQLite) })
	t.Run("postgres", func(t *testing.T) { test(t, onPostgres) })
}

// onSQLite opens a store in a temporary folder.
func onSQLite(t *testing.T, model *spec.Model) store.DB {
	return openStore(t, model, open.Options{DataDir: t.TempDir()})
}

// onPostgres opens a store in a schema of the test's own, on the server that
// PLINTH_TEST_POSTGRES_URL names.
func onPostgres(t *testing.T, model *spec.Model) store.DB {
	url := pgtest.URL(t)
	return openStore(t, model, open.Options{Database: url, Schema: pgtest.Schema(t, url)})
}

func openStore(t *testing.T, model *spec.Model, o open.Options) store.DB {
	db, err := open.Open(context.Background(), model, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// hooks is a store with a webhook on things.created (extra is more of its declaration)
// whose receiver counts deliveries by webhook-id and answers 200, or as answer says when it
// is set.
type hooks struct {
	t      *testing.T
	ctx    context.Context
	model  *spec.Model
	db     store.DB
	env    map[string]string
	client *http.Client  // the workers' client; default a real one
	poll   time.Duration // the workers' poll; default 50 ms
	answer func(w http.ResponseWriter, id string)

	mu  sync.Mutex
	got map[string]int
}

// newHooks makes the store on db and serves the receiver on 127.0.0.1.
func newHooks(t *testing.T, db database, extra string) *hooks {
	h := newStoreHooks(t, db, extra)
	recv := httptest.NewServer(h)
	t.Cleanup(recv.Close)
	h.env["HOOK_URL"] = recv.URL
	return h
}

// newBubbleHooks makes the store and hands the workers' requests straight to the receiver,
// for a test in a synctest bubble, where the clock is fake and moves only when every
// goroutine waits (a goroutine waiting on a real connection never counts as waiting). The
// store is SQLite: PostgreSQL's connections are real, and its claims are timed by the
// database's clock, which the bubble's fake one does not move.
func newBubbleHooks(t *testing.T, extra string) *hooks {
	h := newStoreHooks(t, onSQLite, extra)
	h.client = &http.Client{Transport: handlerTransport{h}}
	h.env["HOOK_URL"] = "http://receiver.test/"
	return h
}

// handlerTransport answers a request with a handler, in the caller's goroutine.
type handlerTransport struct{ http.Handler }

func (tr handlerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	rec := httptest.NewRecorder()
	tr.ServeHTTP(rec, r)
	if r.Body != nil {
		r.Body.Close()
	}
	return rec.Result(), nil
}

func newStoreHooks(t *testing.T, db database, extra string) *hooks {
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
	return &hooks{t: t, ctx: ctx, model: model, db: db(t, model), got: map[string]int{}, poll: 50 * time.Millisecond,
		env: map[string]string{"HOOK_SECRET": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}}
}

// ServeHTTP is the receiver.
func (h *hooks) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	id := r.Header.Get("webhook-id")
	h.mu.Lock()
	h.got[id]++
	h.mu.Unlock()
	if h.answer != nil {
		h.answer(w, id)
	}
}

// worker makes a subscribed worker, as a server does before it serves.
func (h *hooks) worker() *worker.Worker {
	w, err := worker.New(worker.Config{Model: h.model, Store: h.db, Poll: h.poll, Client: h.client,
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
		if _, err := eng.Apply(h.ctx, []engine.Op{{Kind: engine.OpCreate, Resource: "things", Body: map[string]any{"n": json.Number(strconv.Itoa(i))}}}); err != nil {
			h.t.Fatal(err)
		}
	}
}

// start runs the workers until the function it returns is called, which returns once they
// have stopped and every attempt they had in flight has been answered.
func (h *hooks) start(workers ...*worker.Worker) (stop func()) {
	ctx, cancel := context.WithCancel(h.ctx)
	var wg sync.WaitGroup
	for _, w := range workers {
		wg.Go(func() { w.Run(ctx) })
	}
	return func() {
		cancel()
		wg.Wait()
	}
}

// waitDelivered waits until the store records want deliveries as delivered and none as
// pending or dead: the workers have nothing left to send.
func (h *hooks) waitDelivered(want int) {
	h.t.Helper()
	var counts map[store.State]int
	deadline := time.Now().Add(30 * time.Second)
	for {
		all, err := h.db.Counts(h.ctx)
		if err != nil {
			h.t.Fatal(err)
		}
		counts = all["hook"]
		if counts[store.Delivered] == want && counts[store.Pending] == 0 && counts[store.Dead] == 0 {
			return
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("deliveries by state %v, want %d delivered and nothing else", counts, want)
		}
		time.Sleep(20 * time.Millisecond) // the poll interval; the deadline above bounds the wait
	}
}

// received returns how many requests the receiver got per webhook-id.
func (h *hooks) received() map[string]int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return maps.Clone(h.got)
}

// deliveredOnce checks that every event the receiver got came exactly once, and that there
// were want of them.
func (h *hooks) deliveredOnce(want int) {
	h.t.Helper()
	got := h.received()
	if len(got) != want {
		h.t.Errorf("%d events delivered, want %d", len(got), want)
	}
	for id, n := range got {
		if n != 1 {
			h.t.Errorf("event %s delivered %d times", id, n)
		}
	}
}

// TestEventsBeforeTheFirstStepAreDelivered: a write that commits after the worker has
// subscribed but before its first step — the moment a server starts accepting requests — is
// delivered, not taken for backlog that predates the webhook.
func TestEventsBeforeTheFirstStepAreDelivered(t *testing.T) {
	eachDatabase(t, testEventsBeforeTheFirstStepAreDelivered)
}

func testEventsBeforeTheFirstStepAreDelivered(t *testing.T, db database) {
	h := newHooks(t, db, "")
	w := h.worker()
	h.create(1)
	stop := h.start(w)
	h.waitDelivered(1)
	stop()
	h.deliveredOnce(1)
}

// TestTwoWorkersMatchEachEventOnce: two processes' workers matching one outbox, with events
// the webhook does not want between those it does, deliver every wanted event exactly once
// and no other.
func TestTwoWorkersMatchEachEventOnce(t *testing.T) {
	eachDatabase(t, testTwoWorkersMatchEachEventOnce)
}

func testTwoWorkersMatchEachEventOnce(t *testing.T, db database) {
	h := newHooks(t, db, "    when: record.n % 3 == 0\n")
	workers := []*worker.Worker{h.worker(), h.worker()}
	stop := h.start(workers...)
	h.create(300, workers...) // 100 wanted, matched while they are written
	h.waitDelivered(100)
	stop() // an attempt a second claim had under way is answered before this returns
	h.deliveredOnce(100)
}

// TestAnEarlierRetryIsNotDisplaced: a retry due in 1 s is sent on time although a later
// failure, whose retry is 3 s away, was recorded after it.
func TestAnEarlierRetryIsNotDisplaced(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newBubbleHooks(t, "    retry: {max_attempts: 5, initial: 10ms, max: 5s}\n")
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
				// A slower receiver, on the fake clock: this failure, whose retry is 3 s away, is
				// recorded 200 ms after the first one.
				time.Sleep(200 * time.Millisecond)
				w.Header().Set("Retry-After", "3")
				w.WriteHeader(http.StatusServiceUnavailable)
			}
		}
		w := h.worker()
		h.create(2)
		stop := h.start(w)
		time.Sleep(2500 * time.Millisecond) // on the fake clock: past the 1 s retry, before the 3.2 s one
		stop()
		mu.Lock()
		defer mu.Unlock()
		if len(attempts) != 2 || attempts[1].Sub(attempts[0]) != time.Second {
			t.Errorf("the first delivery's attempts at %v; want its retry exactly 1 s after the first", attempts)
		}
	})
}
