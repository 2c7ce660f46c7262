package worker_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/plinth-dev/plinth/internal/engine"
	"github.com/plinth-dev/plinth/internal/spec"
	"github.com/plinth-dev/plinth/internal/store/sqlite"
	"github.com/plinth-dev/plinth/internal/worker"
)

// TestEventsBeforeTheFirstStepAreDelivered: a write that commits after the worker has
// subscribed but before its first step — the moment a server starts accepting requests — is
// delivered, not taken for backlog that predates the webhook.
func TestEventsBeforeTheFirstStepAreDelivered(t *testing.T) {
	var hits atomic.Int32
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { hits.Add(1) }))
	defer recv.Close()
	model, diags := spec.Compile("s.yaml", []byte(`
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
`))
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	db, err := sqlite.Open(ctx, t.TempDir(), model, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	env := map[string]string{"HOOK_URL": recv.URL, "HOOK_SECRET": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}
	w, err := worker.New(worker.Config{Model: model, Store: db, Getenv: func(k string) string { return env[k] }})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Subscribe(ctx); err != nil {
		t.Fatal(err)
	}
	eng, err := engine.New(engine.Config{Model: model, Store: db})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := eng.Create(ctx, "things", map[string]any{"n": json.Number("1")}); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { w.Run(ctx); close(done) }()
	deadline := time.Now().Add(10 * time.Second)
	for hits.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-done
	if n := hits.Load(); n != 1 {
		t.Fatalf("%d deliveries of the event written before the worker's first step, want 1", n)
	}
}

// TestTwoWorkersMatchEachEventOnce: two processes' workers matching one outbox, with events
// the webhook does not want between those it does, deliver every wanted event exactly once
// and no other.
func TestTwoWorkersMatchEachEventOnce(t *testing.T) {
	var mu sync.Mutex
	got := map[string]int{} // webhook-id → deliveries
	var wanted atomic.Int32
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got[r.Header.Get("webhook-id")]++
		mu.Unlock()
	}))
	defer recv.Close()
	model, diags := spec.Compile("s.yaml", []byte(`
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
    when: record.n % 3 == 0
`))
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	db, err := sqlite.Open(ctx, t.TempDir(), model, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	env := map[string]string{"HOOK_URL": recv.URL, "HOOK_SECRET": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}
	var workers []*worker.Worker
	for range 2 {
		w, err := worker.New(worker.Config{Model: model, Store: db, Poll: 50 * time.Millisecond,
			Getenv: func(k string) string { return env[k] }})
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Subscribe(ctx); err != nil {
			t.Fatal(err)
		}
		workers = append(workers, w)
	}
	eng, err := engine.New(engine.Config{Model: model, Store: db, Committed: func() {
		for _, w := range workers {
			w.Wake()
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for _, w := range workers {
		wg.Go(func() { w.Run(ctx) })
	}
	for i := range 300 {
		if _, err := eng.Create(ctx, "things", map[string]any{"n": json.Number(strconv.Itoa(i))}); err != nil {
			t.Fatal(err)
		}
		if i%3 == 0 {
			wanted.Add(1)
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		mu.Lock()
		n := len(got)
		mu.Unlock()
		if n >= int(wanted.Load()) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond) // time for a duplicate, were there one
	cancel()
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	if len(got) != int(wanted.Load()) {
		t.Errorf("%d events delivered, want %d", len(got), wanted.Load())
	}
	for id, n := range got {
		if n != 1 {
			t.Errorf("event %s delivered %d times", id, n)
		}
	}
}
