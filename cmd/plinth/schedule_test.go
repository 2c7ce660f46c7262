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

	"github.com/plinth-dev/plinth/internal/testwait"
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

// mostScheduleRuns is the most runs of a schedule of period every that processes sharing a
// database may make in elapsed, however busy the machine: a process runs the schedule only
// once it has taken its lease, which it holds for 90% of the period, and another process
// takes it only once it has run out. A further fifth of the period is allowed for
// PostgreSQL, which sets the lease's end by its own clock, read a little after the process's.
func mostScheduleRuns(elapsed, every time.Duration) int {
	return int(elapsed/(every*7/10)) + 1
}

// TestScheduleRunsThroughTheEngineOncePerTick: two processes share one database; the stale
// ticket is closed by one of them, with its event, through the transition rules, and the
// schedule runs no more often than once per period between them.
func TestScheduleRunsThroughTheEngineOncePerTick(t *testing.T) {
	dir := t.TempDir()
	specFile := filepath.Join(dir, "plinth.yaml")
	if err := os.WriteFile(specFile, []byte(scheduleSpec), 0o644); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "data")
	logs := &lockedWriter{}
	var servers []*server
	start := time.Now() // the schedules start with the servers
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
	tk := client.do("POST", "/v1/tickets", "", map[string]any{"title": "stale"}, "Idempotency-Key", newKey()).expect(t, 201)
	waitFor(t, "the schedule to close the ticket", func() bool {
		return client.do("GET", "/v1/tickets/"+tk.body["id"].(string), "", nil).expect(t, 200).body["state"] == "closed"
	})
	// Each process checks at its start and every second: wait for three runs between them.
	runs := func() int { return logs.count(`"msg":"schedule ran"`) }
	testwait.Within(t, time.Minute, "three runs of the schedule", func() bool { return runs() >= 3 })
	n, elapsed := runs(), time.Since(start)
	if most := mostScheduleRuns(elapsed, time.Second); n > most {
		t.Errorf("%d schedule runs in two processes over %s of a 1 s schedule, at most %d once per period",
			n, elapsed.Round(time.Millisecond), most)
	}
	cancel()
	wg.Wait()
	// The change went through the engine: it emitted its event.
	srv := startServer(t, specFile, data)
	events := srv.feed(t, "", "")
	if got := types(events); len(got) != 2 || got[1] != "tickets.updated" {
		t.Errorf("events %v", got)
	}
}
