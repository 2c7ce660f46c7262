package engine_test

import (
	"net/http"
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

// render is the stand-in for a transport: it records what it rendered.
func render(recs []*store.Record, err error) store.Response {
	if err != nil {
		return store.Response{Status: http.StatusUnprocessableEntity, Body: []byte(err.Error())}
	}
	return store.Response{Status: http.StatusCreated, Body: []byte(recs[0].ID),
		Header: map[string]string{"Content-Type": "text/plain"}}
}

func TestIdempotencyKeysExpireAndAreSwept(t *testing.T) {
	e := newEnv(t, keyedSpec)
	ctx := as("ann", "")
	create := func(key, title string) (store.Response, bool) {
		t.Helper()
		op := engine.Op{Kind: engine.OpCreate, Resource: "notes", Body: body(t, `{"title": "`+title+`"}`)}
		resp, replayed, err := e.eng.ApplyIdempotent(ctx, []engine.Op{op}, engine.IdempotencyKey{
			Key: key, Method: "POST", Path: "/v1/notes", Fingerprint: title}, render)
		if err != nil {
			t.Fatalf("create %s: %s", key, describe(err))
		}
		return resp, replayed
	}
	first, replayed := create("k1", "a")
	if replayed || first.Status != http.StatusCreated {
		t.Fatalf("first: %+v %v", first, replayed)
	}
	again, replayed := create("k1", "a")
	if !replayed || string(again.Body) != string(first.Body) || again.Header["Content-Type"] != "text/plain" {
		t.Fatalf("replay: %+v %v", again, replayed)
	}
	if n := len(e.all("notes")); n != 1 {
		t.Fatalf("%d notes after a replay", n)
	}

	// A day later the key is forgotten: the same request runs again.
	e.clock.Advance(engine.DefaultIdempotencyTTL + time.Second)
	later, replayed := create("k1", "a")
	if replayed || string(later.Body) == string(first.Body) {
		t.Fatalf("an expired key replayed: %+v", later)
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
	key := engine.IdempotencyKey{Key: "bad", Method: "POST", Path: "/v1/notes", Fingerprint: "f"}
	first, replayed, err := e.eng.ApplyIdempotent(ctx, []engine.Op{op}, key, render)
	if err != nil || replayed || first.Status != http.StatusUnprocessableEntity {
		t.Fatalf("first: %+v %v %v", first, replayed, err)
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
	key := engine.IdempotencyKey{Key: strings.Repeat("k", 300), Method: "POST", Path: "/v1/logs", Fingerprint: "f"}
	for range 2 {
		if _, replayed, err := e.eng.ApplyIdempotent(as("ann", ""), []engine.Op{op}, key, render); err != nil || replayed {
			t.Fatalf("replayed=%v err=%v", replayed, err)
		}
	}
	if n := len(e.all("logs")); n != 2 {
		t.Errorf("%d logs, want 2: keys are ignored where idempotency is off", n)
	}
}
