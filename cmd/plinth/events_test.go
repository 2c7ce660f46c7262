package main

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// feed reads the whole change feed as the caller, following next_after.
func (r *running) feed(t *testing.T, token, query string) []map[string]any {
	t.Helper()
	var out []map[string]any
	after := 0.0
	for range 100 {
		page := r.do("GET", fmt.Sprintf("/v1/events?after=%d&limit=3%s", int64(after), query), token, nil).expect(t, 200)
		items := page.body["items"].([]any)
		for _, it := range items {
			out = append(out, it.(map[string]any))
		}
		next := page.body["next_after"].(float64)
		if len(items) == 0 && next == after {
			return out
		}
		after = next
	}
	t.Fatal("the feed does not end")
	return nil
}

func types(events []map[string]any) []string {
	var out []string
	for _, e := range events {
		out = append(out, e["type"].(string))
	}
	return out
}

func TestChangeFeed(t *testing.T) { eachDatabase(t, testChangeFeed) }

func testChangeFeed(t *testing.T, db database) {
	srv := db.start(t, shopSpec)
	admin := srv.token("root", "admin")
	alice := srv.token("alice", "customer")
	bob := srv.token("bob", "customer")

	p := srv.do("POST", "/v1/products", admin, productBody("FEED-1")).expect(t, 201)
	pid := p.body["id"].(string)
	srv.do("PATCH", "/v1/products/"+pid, admin, map[string]any{"stock": 5}).expect(t, 200)
	// A failed write and a no-op write emit nothing.
	srv.do("POST", "/v1/products", admin, map[string]any{"sku": "bad"}).expect(t, 422)
	srv.do("PATCH", "/v1/products/"+pid, admin, map[string]any{"stock": 5}).expect(t, 200)

	events := srv.feed(t, admin, "")
	if got := fmt.Sprint(types(events)); got != "[products.created products.updated]" {
		t.Fatalf("events %s", got)
	}
	up := events[1]
	data := up["data"].(map[string]any)
	if data["record"].(map[string]any)["stock"] != 5.0 || data["old"].(map[string]any)["stock"] != 3.0 ||
		up["record_id"] != pid || up["actor"] != "root" || up["seq"].(float64) <= events[0]["seq"].(float64) {
		t.Errorf("update event: %v", up)
	}

	// An order emits its own event and, through its effect, the product's.
	key := newKey()
	order := map[string]any{"items": []any{map[string]any{"product_id": pid, "quantity": 2}}}
	o := srv.do("POST", "/v1/orders", alice, order, "Idempotency-Key", key).expect(t, 201)
	// A replay emits nothing.
	srv.do("POST", "/v1/orders", alice, order, "Idempotency-Key", key).expect(t, 201)
	all := types(srv.feed(t, admin, ""))
	if got := fmt.Sprint(all[2:]); got != "[orders.created products.updated]" {
		t.Fatalf("after the order: %v", all)
	}

	// Access rules apply per event: Bob sees product events but not Alice's order, nor that
	// she is the one whose order moved the stock.
	bobs := srv.feed(t, bob, "")
	if got := fmt.Sprint(types(bobs)); got != "[products.created products.updated products.updated]" {
		t.Errorf("bob sees %s", got)
	}
	for _, ev := range bobs {
		if ev["actor"] != "" {
			t.Errorf("bob sees who made a change: %v", ev["actor"])
		}
	}
	if mine := srv.feed(t, alice, "&resource=products"); mine[len(mine)-1]["actor"] != "alice" {
		t.Errorf("alice does not see her own change: %v", mine[len(mine)-1]["actor"])
	}
	if got := fmt.Sprint(types(srv.feed(t, alice, "&resource=orders"))); got != "[orders.created]" {
		t.Errorf("alice sees %s", got)
	}
	srv.do("PATCH", "/v1/orders/"+o.body["id"].(string), admin, map[string]any{"status": "cancelled"}, "Idempotency-Key", newKey()).expect(t, 200)
	if got := fmt.Sprint(types(srv.feed(t, alice, "&resource=orders"))); got != "[orders.created orders.updated]" {
		t.Errorf("after cancelling, alice sees %s", got)
	}

	for _, q := range []string{"after=x", "limit=0", "limit=1001", "resource=nope", "cursor=1", "after=-1"} {
		srv.do("GET", "/v1/events?"+q, admin, nil).expect(t, 400)
	}
}

func TestOneEventForManyRetries(t *testing.T) { eachDatabase(t, testOneEventForManyRetries) }

func testOneEventForManyRetries(t *testing.T, db database) {
	srv := db.start(t, shopSpec)
	admin := srv.token("root", "admin")
	key := newKey()
	var wg sync.WaitGroup
	for range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			srv.try("POST", "/v1/products", admin, productBody("ONCE-1"), "Idempotency-Key", key)
		}()
	}
	wg.Wait()
	if got := fmt.Sprint(types(srv.feed(t, admin, ""))); got != "[products.created]" {
		t.Errorf("events after 100 retries: %s", got)
	}
}

// TestFeedHidesTheOldRecord: when a record moves from Bob to Alice, Alice sees the event but
// not what the record held while it was Bob's.
func TestFeedHidesTheOldRecord(t *testing.T) {
	path := filepath.Join(t.TempDir(), "plinth.yaml")
	os.WriteFile(path, []byte(`plinth: 1
name: docs
resources:
  docs:
    fields:
      owner: {type: string, max_length: 20}
      secret: {type: string, max_length: 20}
    access:
      list: "record.owner == auth.sub"
      read: "record.owner == auth.sub"
      create: "record.owner == auth.sub"
      update: "old.owner == auth.sub"
`), 0o644)
	srv := startServer(t, path, t.TempDir())
	bob, alice := srv.token("bob", ""), srv.token("alice", "")
	d := srv.do("POST", "/v1/docs", bob, map[string]any{"owner": "bob", "secret": "bobs"}).expect(t, 201)
	srv.do("PATCH", "/v1/docs/"+d.body["id"].(string), bob, map[string]any{"owner": "alice", "secret": "shared"}).expect(t, 200)
	events := srv.feed(t, alice, "")
	if len(events) != 1 {
		t.Fatalf("alice sees %d events", len(events))
	}
	if old := events[0]["data"].(map[string]any)["old"]; old != nil {
		t.Errorf("alice sees the record as it was while it was bob's: %v", old)
	}
}

func TestEventsOptOut(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "plinth.yaml")
	os.WriteFile(path, []byte(`plinth: 1
name: quiet
resources:
  pings:
    events: false
    fields: {n: integer}
    access: {list: "true", read: "true", create: "true"}
  pongs:
    fields: {n: integer}
    access: {list: "true", read: "true", create: "true"}
`), 0o644)
	srv := startServer(t, path, t.TempDir())
	srv.do("POST", "/v1/pings", "", map[string]any{"n": 1}).expect(t, 201)
	srv.do("POST", "/v1/pongs", "", map[string]any{"n": 1}).expect(t, 201)
	if got := fmt.Sprint(types(srv.feed(t, "", ""))); got != "[pongs.created]" {
		t.Errorf("events %s", got)
	}
	srv.do("GET", "/v1/events?resource=pings", "", nil).expect(t, 400)
}
