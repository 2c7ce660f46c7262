package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestBatchIsAllOrNothing(t *testing.T) { eachDatabase(t, testBatchIsAllOrNothing) }

func testBatchIsAllOrNothing(t *testing.T, db database) {
	srv := db.start(t, shopSpec)
	admin := srv.token("root", "admin")
	existing := srv.do("POST", "/v1/products", admin, productBody("BATCH-0")).expect(t, 201)
	eid := existing.body["id"].(string)

	// The third of five operations is invalid: nothing is written, and the problem names it.
	ops := []any{
		map[string]any{"method": "POST", "path": "/v1/products", "body": productBody("BATCH-1")},
		map[string]any{"method": "PATCH", "path": "/v1/products/" + eid, "body": map[string]any{"stock": 50}},
		map[string]any{"method": "POST", "path": "/v1/products", "body": map[string]any{"sku": "bad sku", "name": "x", "price_cents": -1}},
		map[string]any{"method": "POST", "path": "/v1/products", "body": productBody("BATCH-3")},
		map[string]any{"method": "DELETE", "path": "/v1/products/" + eid},
	}
	failed := srv.do("POST", "/v1/batch", admin, map[string]any{"operations": ops}).expect(t, 422)
	if failed.body["index"] != 2.0 || len(failed.fieldErrors()) != 2 {
		t.Errorf("failed batch: %s", failed.raw)
	}
	list := srv.do("GET", "/v1/products", admin, nil).expect(t, 200)
	if n := len(list.body["items"].([]any)); n != 1 {
		t.Errorf("%d products after a failed batch, want 1", n)
	}
	if got := srv.do("GET", "/v1/products/"+eid, admin, nil).expect(t, 200); got.body["stock"] != 3.0 {
		t.Errorf("the batch's PATCH leaked: %s", got.raw)
	}

	// The same batch with the bad operation fixed runs whole, in order.
	ops[2] = map[string]any{"method": "POST", "path": "/v1/products", "body": productBody("BATCH-2")}
	ops[4] = map[string]any{"method": "DELETE", "path": "/v1/products/" + eid, "if_match": `"2"`}
	ok := srv.do("POST", "/v1/batch", admin, map[string]any{"operations": ops}, "Idempotency-Key", newKey()).expect(t, 200)
	results := ok.body["results"].([]any)
	statuses := []float64{}
	for _, r := range results {
		statuses = append(statuses, r.(map[string]any)["status"].(float64))
	}
	if len(statuses) != 5 || statuses[0] != 201 || statuses[1] != 200 || statuses[4] != 204 {
		t.Errorf("statuses %v: %s", statuses, ok.raw)
	}
	srv.do("GET", "/v1/products/"+eid, admin, nil).expect(t, 404)

	// Rules apply per operation: a customer's batch touching products fails whole.
	alice := srv.token("alice", "customer")
	denied := srv.do("POST", "/v1/batch", alice, map[string]any{"operations": []any{
		map[string]any{"method": "POST", "path": "/v1/customers", "body": map[string]any{"email": "a@b.co", "name": "Al"}},
		map[string]any{"method": "POST", "path": "/v1/products", "body": productBody("BATCH-9")},
	}}).expect(t, 403)
	if denied.body["index"] != 1.0 {
		t.Errorf("denied batch: %s", denied.raw)
	}
	// Orders in a batch need the batch's Idempotency-Key.
	pid := results[0].(map[string]any)["body"].(map[string]any)["id"]
	order := map[string]any{"operations": []any{map[string]any{"method": "POST", "path": "/v1/orders",
		"body": map[string]any{"items": []any{map[string]any{"product_id": pid, "quantity": 1}}}}}}
	srv.do("POST", "/v1/batch", alice, order).expect(t, 400)
	srv.do("POST", "/v1/batch", alice, order, "Idempotency-Key", newKey()).expect(t, 200)

	// A batch of one still names the failing operation.
	one := srv.do("POST", "/v1/batch", admin, map[string]any{"operations": []any{
		map[string]any{"method": "POST", "path": "/v1/products", "body": map[string]any{"sku": "x"}}}}).expect(t, 422)
	if one.body["index"] != 0.0 {
		t.Errorf("batch of one: %s", one.raw)
	}

	// Malformed batches are precise 400s.
	for _, b := range []string{`{}`, `{"operations": []}`, `{"operations": [1]}`, `{"ops": []}`,
		`{"operations": [{"method": "GET", "path": "/v1/products"}]}`,
		`{"operations": [{"method": "POST", "path": "/v2/products", "body": {}}]}`,
		`{"operations": [{"method": "DELETE", "path": "/v1/products/x", "body": {}}]}`,
		`{"operations": [{"method": "PATCH", "path": "/v1/products/x", "body": {}, "if_match": "3"}]}`,
		`{"operations": [{"method": "POST", "path": "/v1/products", "body": {}, "extra": 1}]}`} {
		srv.do("POST", "/v1/batch", admin, b).expect(t, 400)
	}
	many := make([]any, 101)
	for i := range many {
		many[i] = map[string]any{"method": "POST", "path": "/v1/products", "body": productBody("X")}
	}
	srv.do("POST", "/v1/batch", admin, map[string]any{"operations": many}).expect(t, 400)
}

func TestConcurrencyRequired(t *testing.T) {
	dir := t.TempDir()
	src := `plinth: 1
name: docs
resources:
  pages:
    concurrency: required
    fields:
      title: {type: string, max_length: 100}
    access: {list: "true", read: "true", write: "true"}
`
	path := filepath.Join(dir, "plinth.yaml")
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	srv := startServer(t, path, t.TempDir())
	tok := srv.token("ed", "")
	p := srv.do("POST", "/v1/pages", tok, map[string]any{"title": "a"}).expect(t, 201)
	id := p.body["id"].(string)
	need := srv.do("PATCH", "/v1/pages/"+id, tok, map[string]any{"title": "b"}).expect(t, 428)
	if !strings.Contains(need.body["detail"].(string), "If-Match") {
		t.Errorf("428: %s", need.raw)
	}
	srv.do("DELETE", "/v1/pages/"+id, tok, nil).expect(t, 428)
	srv.do("PATCH", "/v1/pages/"+id, tok, map[string]any{"title": "b"}, "If-Match", `"1"`).expect(t, 200)
	srv.do("DELETE", "/v1/pages/"+id, tok, nil, "If-Match", `"2"`).expect(t, 204)
}
