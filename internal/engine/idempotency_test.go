package engine_test

import (
	"strings"
	"testing"
	"time"

	"github.com/plinth-dev/plinth/internal/engine"
	"github.com/plinth-dev/plinth/internal/fault"
	"github.com/plinth-dev/plinth/internal/store"
)

const keyedSpec = `
plinth: 1
name: keyed
resources:
  notes:
    idempotency: required
    fields:
      title: {type: string, max_length: 50}
    access: {list: "true", read: "true", create: "true"}
`

// render is the stand-in for a transport: its response is "created " and the record's id, or
// "failed: " and the error.
func render(recs []*store.Record, err error) []byte {
	if err != nil {
		return []byte("failed: " + err.Error())
	}
	return []byte("created " + recs[0].ID)
}

func TestIdempotencyKeysExpireAndAreSwept(t *testing.T) {
	e := newEnv(t, keyedSpec)
	ctx := as("ann", "")
	create := func(key, title string) (string, bool) {
		t.Helper()
		op := engine.Op{Kind: engine.OpCreate, Resource: "notes", Body: body(t, `{"title": "`+title+`"}`)}
		resp, replayed, err := e.eng.ApplyIdempotent(ctx, []engine.Op{op}, engine.IdempotencyKey{
			Key: key, Operation: "POST /v1/notes", Fingerprint: title}, render)
		if err != nil {
			t.Fatalf("create %s: %s", key, describe(err))
		}
		return string(resp), replayed
	}
	first, replayed := create("k1", "a")
	if replayed || !strings.HasPrefix(first, "created ") {
		t.Fatalf("first: %q %v", first, replayed)
	}
	again, replayed := create("k1", "a")
	if !replayed || again != first {
		t.Fatalf("replay: %q %v, want %q", again, replayed, first)
	}
	if n := len(e.all("notes")); n != 1 {
		t.Fatalf("%d notes after a replay", n)
	}

	// A day later the key is forgotten: the same request runs again.
	e.clock.Advance(engine.DefaultIdempotencyTTL + time.Second)
	later, replayed := create("k1", "a")
	if replayed || later == first {
		t.Fatalf("an expired key replayed: %q", later)
	}
	// Another expired key, then a sweep removes exactly the expired ones.
	create("k2", "b")
	e.clock.Advance(engine.DefaultIdempotencyTTL + time.Second)
	create("k3", "c")
	n, err := e.eng.SweepIdempotency(ctx)
	if err != nil || n != 2 {
		t.Fatalf("sweep removed %d (%v), want the 2 expired keys", n, err)
	}
	if _, replayed := create("k3", "c"); !replayed {
		t.Error("the sweep removed a live key")
	}
}

// TestIdempotencyKeyScope: a key is the caller's and the operation's; the same key and
// input from another caller, or for another operation, runs.
func TestIdempotencyKeyScope(t *testing.T) {
	e := newEnv(t, keyedSpec)
	op := engine.Op{Kind: engine.OpCreate, Resource: "notes", Body: body(t, `{"title": "a"}`)}
	answers := map[string]bool{}
	for _, try := range []struct {
		caller, operation string
		replayed          bool
	}{
		{"ann", "POST /v1/notes", false},
		{"ann", "POST /v1/notes", true},
		{"bob", "POST /v1/notes", false},
		{"ann", "POST /v2/notes", false},
		{"", "POST /v1/notes", false},
		{"", "POST /v1/notes", true},
	} {
		key := engine.IdempotencyKey{Key: "k", Operation: try.operation, Fingerprint: "f"}
		resp, replayed, err := e.eng.ApplyIdempotent(as(try.caller, ""), []engine.Op{op}, key, render)
		if err != nil || replayed != try.replayed || answers[string(resp)] != try.replayed {
			t.Errorf("%q %q: %q, replayed %v, %v; want replayed %v", try.caller, try.operation, resp, replayed, err, try.replayed)
		}
		answers[string(resp)] = true
	}
	if n := len(e.all("notes")); n != 4 {
		t.Errorf("%d notes, want 4", n)
	}
}

func TestIdempotencyRequiredWithoutKey(t *testing.T) {
	e := newEnv(t, keyedSpec)
	_, err := create1(e.eng, as("ann", ""), "notes", body(t, `{"title": "x"}`))
	if f := fault.As(err); f == nil || f.Type != fault.TypeIdempotencyKeyMissing {
		t.Fatalf("create without a key: %s", describe(err))
	}
}

func TestIdempotencyStoresClientErrors(t *testing.T) {
	e := newEnv(t, keyedSpec)
	ctx := as("ann", "")
	op := engine.Op{Kind: engine.OpCreate, Resource: "notes", Body: body(t, `{"title": 7}`)}
	key := engine.IdempotencyKey{Key: "bad", Operation: "POST /v1/notes", Fingerprint: "f"}
	first, replayed, err := e.eng.ApplyIdempotent(ctx, []engine.Op{op}, key, render)
	if err != nil || replayed || !strings.HasPrefix(string(first), "failed: ") {
		t.Fatalf("first: %q %v %v", first, replayed, err)
	}
	// The same request gets the same answer, from the store.
	again, replayed, err := e.eng.ApplyIdempotent(ctx, []engine.Op{op}, key, render)
	if err != nil || !replayed || string(again) != string(first) {
		t.Fatalf("retry: %q %v %v, want %q replayed", again, replayed, err, first)
	}
	// Even once the body is fixed, the key keeps its first answer: fixing means a new key.
	key.Fingerprint = "g"
	op.Body = body(t, `{"title": "ok"}`)
	_, _, err = e.eng.ApplyIdempotent(ctx, []engine.Op{op}, key, render)
	if f := fault.As(err); f == nil || f.Type != fault.TypeIdempotencyKeyReused {
		t.Fatalf("reused key: %s", describe(err))
	}
	if n := len(e.all("notes")); n != 0 {
		t.Errorf("%d notes written by failed requests", n)
	}
}

func TestIdempotencyOffIgnoresKeys(t *testing.T) {
	e := newEnv(t, `
plinth: 1
name: off
resources:
  logs:
    idempotency: off
    fields:
      line: {type: string, max_length: 50}
    access: {list: "true", create: "true"}
`)
	op := engine.Op{Kind: engine.OpCreate, Resource: "logs", Body: body(t, `{"line": "x"}`)}
	// Even a key that would be malformed is ignored.
	key := engine.IdempotencyKey{Key: strings.Repeat("k", 300), Operation: "POST /v1/logs", Fingerprint: "f"}
	for range 2 {
		if _, replayed, err := e.eng.ApplyIdempotent(as("ann", ""), []engine.Op{op}, key, render); err != nil || replayed {
			t.Fatalf("replayed=%v err=%v", replayed, err)
		}
	}
	if n := len(e.all("logs")); n != 2 {
		t.Errorf("%d logs, want 2: keys are ignored where idempotency is off", n)
	}
}
