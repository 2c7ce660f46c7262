package main

import (
	"bytes"
	"strings"
	"sync"
	"testing"
)

func productBody(sku string) map[string]any {
	return map[string]any{"sku": sku, "name": "Keyed", "price_cents": 700, "stock": 3}
}

// TestIdempotentRetries: a client retrying one create a hundred times at once gets one record.
func TestIdempotentRetries(t *testing.T) { eachDatabase(t, testIdempotentRetries) }

func testIdempotentRetries(t *testing.T, db database) {
	srv := db.start(t, shopSpec)
	admin := srv.token("root", "admin")
	key := newKey()
	var wg sync.WaitGroup
	results := make([]response, 100)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := srv.try("POST", "/v1/products", admin, productBody("RETRY-1"), "Idempotency-Key", key)
			if err != nil {
				t.Error(err)
			}
			results[i] = res
		}()
	}
	wg.Wait()
	var first []byte
	created, replays, inFlight := 0, 0, 0
	for _, r := range results {
		switch {
		case r.status == 201 && r.header.Get("Idempotent-Replayed") == "true":
			replays++
			if first == nil {
				first = r.raw
			} else if !bytes.Equal(first, r.raw) {
				t.Errorf("replays differ:\n%s\n%s", first, r.raw)
			}
		case r.status == 201:
			created++
		case r.status == 409 && r.header.Get("Retry-After") != "":
			inFlight++
		default:
			t.Errorf("unexpected %d: %s", r.status, r.raw)
		}
	}
	if created != 1 || replays+inFlight != 99 {
		t.Fatalf("created %d, replayed %d, in flight %d", created, replays, inFlight)
	}
	// The one response: every replay equals it byte for byte, and so does a later retry.
	var original []byte
	for _, r := range results {
		if r.status == 201 && r.header.Get("Idempotent-Replayed") == "" {
			original = r.raw
		}
	}
	if first != nil && !bytes.Equal(first, original) {
		t.Errorf("replay differs from the original:\n%s\n%s", original, first)
	}
	later := srv.do("POST", "/v1/products", admin, productBody("RETRY-1"), "Idempotency-Key", key).expect(t, 201)
	if !bytes.Equal(later.raw, original) || later.header.Get("Idempotent-Replayed") != "true" {
		t.Errorf("later replay: %s", later.raw)
	}
	list := srv.do("GET", "/v1/products?filter=sku%20==%20%22RETRY-1%22", "", nil).expect(t, 200)
	if n := len(list.body["items"].([]any)); n != 1 {
		t.Errorf("%d records for one keyed create", n)
	}
}

func TestIdempotencyKeyRules(t *testing.T) { eachDatabase(t, testIdempotencyKeyRules) }

func testIdempotencyKeyRules(t *testing.T, db database) {
	srv := db.start(t, shopSpec)
	admin := srv.token("root", "admin")
	other := srv.token("root2", "admin")
	key := newKey()
	srv.do("POST", "/v1/products", admin, productBody("KEY-1"), "Idempotency-Key", key).expect(t, 201)

	// The same key with another body is a client mistake, not a replay.
	reused := srv.do("POST", "/v1/products", admin, productBody("KEY-2"), "Idempotency-Key", key).expect(t, 422)
	if reused.body["type"] != "urn:plinth:problem:idempotency-key-reused" {
		t.Errorf("reused key: %s", reused.raw)
	}
	// Another caller's key of the same spelling is theirs alone.
	theirs := srv.do("POST", "/v1/products", other, productBody("KEY-3"), "Idempotency-Key", key).expect(t, 201)
	if theirs.header.Get("Idempotent-Replayed") != "" || theirs.body["sku"] != "KEY-3" {
		t.Errorf("other caller: %s", theirs.raw)
	}
	// Keys are also scoped to the path.
	srv.do("POST", "/v1/customers", admin, map[string]any{"email": "a@b.co", "name": "A"}, "Idempotency-Key", key).expect(t, 201)

	// A failed request is stored too, so its retry does not run again.
	badKey := newKey()
	bad := srv.do("POST", "/v1/products", admin, map[string]any{"sku": "x"}, "Idempotency-Key", badKey).expect(t, 422)
	again := srv.do("POST", "/v1/products", admin, map[string]any{"sku": "x"}, "Idempotency-Key", badKey).expect(t, 422)
	if again.header.Get("Idempotent-Replayed") != "true" || !bytes.Equal(bad.raw, again.raw) {
		t.Errorf("failed request was not replayed: %s", again.raw)
	}

	// Malformed keys.
	srv.do("POST", "/v1/products", admin, productBody("KEY-4"), "Idempotency-Key", strings.Repeat("k", 256)).expect(t, 400)
	srv.do("POST", "/v1/products", admin, productBody("KEY-4"), "Idempotency-Key", "a\tb").expect(t, 400)

	// Orders require a key.
	alice := srv.token("alice", "customer")
	p := srv.do("POST", "/v1/products", admin, productBody("KEY-5")).expect(t, 201)
	order := map[string]any{"items": []any{map[string]any{"product_id": p.body["id"], "quantity": 1}}}
	missing := srv.do("POST", "/v1/orders", alice, order).expect(t, 400)
	if missing.body["type"] != "urn:plinth:problem:idempotency-key-missing" {
		t.Errorf("missing key: %s", missing.raw)
	}
	// A replayed create took stock once.
	okey := newKey()
	srv.do("POST", "/v1/orders", alice, order, "Idempotency-Key", okey).expect(t, 201)
	srv.do("POST", "/v1/orders", alice, order, "Idempotency-Key", okey).expect(t, 201)
	stock := srv.do("GET", "/v1/products/"+p.body["id"].(string), "", nil).expect(t, 200).body["stock"]
	if stock != 2.0 {
		t.Errorf("stock %v after one order replayed once, want 2", stock)
	}
}
