package main

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

const scheduleSpec = `plinth: 1
name: desk
resources:
  tickets:
    idempotency: required
    fields:
      title: {type: string, max_length: 100}
      state:
        type: enum
        values: [open, closed, archived]
        default: open
        transitions: {open: [closed], closed: [archived]}
    access: {list: "true", read: "true", create: "true"}
schedules:
  close_stale:
    every: 1s
    resource: tickets
    where: 'state == "open" && created_at < now - duration("300ms")'
    set: {state: closed}
`

// lockedWriter lets several servers log into one buffer.
type lockedWriter struct {
	mu sync.Mutex
	b  strings.Builder
}

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *lockedWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

func (w *lockedWriter) count(s string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return strings.Count(w.b.String(), s)
}

// TestScheduleRunsThroughTheEngineOncePerTick: two processes share one database; the stale
// ticket is closed by one of them, with its event, through the transition rules.
func TestScheduleRunsThroughTheEngineOncePerTick(t *testing.T) {
	dir := t.TempDir()
	specFile := filepath.Join(dir, "plinth.yaml")
	if err := os.WriteFile(specFile, []byte(scheduleSpec), 0o644); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "data")
	logs := &lockedWriter{}
	var servers []*server
	for range 2 {
		s := &server{SpecFile: specFile, Addr: "127.0.0.1:0", DataDir: data, ShutdownTimeout: time.Second,
			Logger: slog.New(slog.NewJSONHandler(io.MultiWriter(logs), nil))}
		if err := s.Open(context.Background()); err != nil {
			t.Fatal(err)
		}
		servers = append(servers, s)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, s := range servers {
		wg.Go(func() { s.Run(ctx) })
	}
	client := &running{t: t, url: servers[0].URL(), client: newClient()}
	before := logs.count(`"msg":"schedule ran"`)
	tk := client.do("POST", "/v1/tickets", "", map[string]any{"title": "stale"}, "Idempotency-Key", newKey()).expect(t, 201)
	start := time.Now()
	waitFor(t, "the schedule to close the ticket", func() bool {
		return client.do("GET", "/v1/tickets/"+tk.body["id"].(string), "", nil).expect(t, 200).body["state"] == "closed"
	})
	time.Sleep(3*time.Second - time.Since(start))
	cancel()
	wg.Wait()
	// Ticks at about 1, 2 and 3 s in each of two processes: each period runs once.
	if runs := logs.count(`"msg":"schedule ran"`) - before; runs < 2 || runs > 4 {
		t.Errorf("%d schedule runs in two processes over 3 s of a 1 s schedule", runs)
	}
	// The change went through the engine: it emitted its event.
	srv := startServer(t, specFile, data)
	events := srv.feed(t, "", "")
	if got := types(events); len(got) != 2 || got[1] != "tickets.updated" {
		t.Errorf("events %v", got)
	}
}
