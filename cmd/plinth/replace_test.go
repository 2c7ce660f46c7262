package main

import (
	"testing"
)

const replaceSpec = `plinth: 1
name: tickets
resources:
  tickets:
    fields:
      title: {type: string, max_length: 100}
      note:  {type: string, max_length: 100}
      state:
        type: enum
        values: [open, closed]
        default: open
        transitions: {open: [closed]}
    access: {list: "true", read: "true", write: "true"}
`

// startTickets serves replaceSpec on db.
func startTickets(t *testing.T, db database) *running {
	t.Helper()
	return db.start(t, writeSpec(t, replaceSpec))
}

// TestReplaceFillsAStateMachineDefault: a PUT that omits a field gets its default, as a
// create does (docs/spec.md, the null table) — for a state machine too. A PUT of an open
// ticket that leaves out `state` must keep it open, not fail as a move from open to null.
func TestReplaceFillsAStateMachineDefault(t *testing.T) {
	eachDatabase(t, testReplaceFillsAStateMachineDefault)
}

func testReplaceFillsAStateMachineDefault(t *testing.T, db database) {
	srv := startTickets(t, db)
	id := srv.do("POST", "/v1/tickets", "", map[string]any{"title": "a"}).expect(t, 201).body["id"].(string)
	got := srv.do("PUT", "/v1/tickets/"+id, "", map[string]any{"title": "b"}).expect(t, 200)
	if got.body["state"] != "open" {
		t.Errorf("state after a PUT that omits it: %v, want its default open", got.body["state"])
	}
	batch := map[string]any{"operations": []any{map[string]any{
		"method": "PUT", "path": "/v1/tickets/" + id, "body": map[string]any{"title": "c"}}}}
	srv.do("POST", "/v1/batch", "", batch).expect(t, 200)
}

// TestReplaceAnswersEveryField: a PUT answers the record as a read shows it, every field
// present ("Unset fields are null", docs/api.md); the fields the body left out must not be
// missing from the answer, nor from the event that the feed and webhooks carry.
func TestReplaceAnswersEveryField(t *testing.T) { eachDatabase(t, testReplaceAnswersEveryField) }

func testReplaceAnswersEveryField(t *testing.T, db database) {
	srv := startTickets(t, db)
	id := srv.do("POST", "/v1/tickets", "", map[string]any{"title": "a", "note": "n"}).expect(t, 201).body["id"].(string)
	put := srv.do("PUT", "/v1/tickets/"+id, "", map[string]any{"title": "b", "state": "open"}).expect(t, 200)
	read := srv.do("GET", "/v1/tickets/"+id, "", nil).expect(t, 200)
	for k := range read.body {
		if _, ok := put.body[k]; !ok {
			t.Errorf("the PUT's answer lacks %q, which a read shows as %v: %s", k, read.body[k], put.raw)
		}
	}
	events := srv.feed(t, "", "")
	last := events[len(events)-1]
	record := last["data"].(map[string]any)["record"].(map[string]any)
	for k := range read.body {
		if _, ok := record[k]; !ok {
			t.Errorf("the PUT's %s event lacks %q: %v", last["type"], k, record)
		}
	}
}
