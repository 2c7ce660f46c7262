package codec

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/plinth-dev/plinth/internal/spec"
	"github.com/plinth-dev/plinth/internal/store"
)

func resource(t *testing.T) *spec.Resource {
	t.Helper()
	m, diags := spec.Compile("t.yaml", []byte("plinth: 1\nname: t\nresources:\n  things:\n    fields:\n      b: {type: string}\n      a: {type: integer}\n"))
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	r, _ := m.Resource("things")
	return r
}

// TestAppendRecord: members in spec order, system members typed, and only those asked for
// (id always) when the list projects.
func TestAppendRecord(t *testing.T) {
	r := resource(t)
	at := time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC)
	rec := &store.Record{ID: "x", Version: 3, CreatedAt: at, UpdatedAt: at, Fields: map[string]any{"a": int64(1), "b": "s"}}
	if got, want := string(AppendRecord(nil, r, rec, nil)),
		`{"id":"x","b":"s","a":1,"created_at":"2026-01-02T03:04:05.000006Z","updated_at":"2026-01-02T03:04:05.000006Z","version":3}`; got != want {
		t.Errorf("record:\n got %s\nwant %s", got, want)
	}
	if got, want := string(AppendRecord(nil, r, rec, map[string]bool{"id": true, "a": true, "version": true})),
		`{"id":"x","a":1,"version":3}`; got != want {
		t.Errorf("projected:\n got %s\nwant %s", got, want)
	}
}

// TestAppendEventWithoutRecord: an outbox row whose body lost its record (damaged by hand)
// is written with a null record, so the feed and the webhooks go on past it.
func TestAppendEventWithoutRecord(t *testing.T) {
	b := AppendEvent(nil, resource(t), store.Event{ID: "e", Seq: 1, Type: "things.created", Resource: "things", RecordID: "x"})
	var doc struct {
		Data map[string]any `json:"data"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	if rec, ok := doc.Data["record"]; !ok || rec != nil {
		t.Errorf("data = %v, want a null record", doc.Data)
	}
}
