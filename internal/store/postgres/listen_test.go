package postgres

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/plinth-dev/plinth/internal/store"
)

// TestListenWakesOnAnotherProcessesEvents: a store listening on a schema is woken when another
// process (another store on the same schema) commits events there, and its listener keeps its
// connection rather than failing and reconnecting.
func TestListenWakesOnAnotherProcessesEvents(t *testing.T) {
	t.Parallel()
	m := mustCompile(t, itemsSpec)
	logs := &logCounter{}
	listener := openTest(t, m, Options{Logger: slog.New(logs)})
	writer := openTest(t, m, Options{Schema: listener.schema})
	items, _ := m.Resource("items")
	ctx, cancel := context.WithCancel(context.Background())
	woken := make(chan struct{}, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		listener.Listen(ctx, func() {
			select {
			case woken <- struct{}{}:
			default:
			}
		}, func(bool) {})
	}()
	defer func() { cancel(); <-done }()

	// The listener may not be listening yet when the first events commit: write until one wakes it.
	deadline := time.Now().Add(10 * time.Second)
	for i := 0; ; i++ {
		id := fmt.Sprintf("e%d", i)
		if err := writer.Write(ctx, func(x store.Tx) error {
			return x.AppendEvent(ctx, items, store.Event{ID: id, Type: "items.created", Resource: "items",
				RecordID: id, Time: time.Now(), Record: store.FromMap(map[string]any{"id": id})})
		}); err != nil {
			t.Fatal(err)
		}
		select {
		case <-woken:
			if n := logs.count("listening for events failed"); n != 0 {
				t.Errorf("the listener failed %d times before it was woken", n)
			}
			return
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("no wake-up after %d committed events; logs: %v", i+1, logs.messages())
		}
	}
}
