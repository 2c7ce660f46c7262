package main

import (
	"maps"
	"slices"
	"testing"
)

// TestShopClosesItsHoles replays, over HTTP on both databases, what a new user and an
// attacker found in the shop: each step failed before its fix.
func TestShopClosesItsHoles(t *testing.T) { eachDatabase(t, testShopClosesItsHoles) }

func testShopClosesItsHoles(t *testing.T, db database) {
	srv := db.start(t, shopSpec)
	admin := srv.token("root", "admin")
	alice := srv.token("alice", "customer")
	bob := srv.token("bob", "customer")
	pid := srv.do("POST", "/v1/products", admin, map[string]any{"sku": "MUG-01", "name": "Mug", "price_cents": 1200, "stock": 10}).expect(t, 201).body["id"].(string)
	order := func(token string, body map[string]any) response {
		return srv.do("POST", "/v1/orders", token, body, "Idempotency-Key", newKey())
	}
	items := []any{map[string]any{"product_id": pid, "quantity": 1}}
	stock := func() any { return srv.do("GET", "/v1/products/"+pid, "", nil).expect(t, 200).body["stock"] }

	// A field with a default cannot be set to null, so no order meets a null stock (a 500).
	if r := srv.do("PATCH", "/v1/products/"+pid, admin, map[string]any{"stock": nil}).expect(t, 422); r.fieldErrors()["stock"] != "null" {
		t.Errorf("PATCH stock null: %s", r.raw)
	}
	if r := srv.do("PUT", "/v1/products/"+pid, admin, map[string]any{"sku": "MUG-01", "name": "Mug", "price_cents": 1200, "stock": nil}).expect(t, 422); r.fieldErrors()["stock"] != "null" {
		t.Errorf("PUT stock null: %s", r.raw)
	}
	if s := stock(); s != 10.0 {
		t.Fatalf("stock after refused nulls: %v", s)
	}
	first := order(alice, map[string]any{"items": items}).expect(t, 201)

	// Orders start pending, whoever creates them: created as cancelled they kept their stock
	// reserved for ever, created as paid they skipped payment.
	for _, token := range []string{alice, admin} {
		for _, st := range []string{"paid", "cancelled", "shipped"} {
			r := order(token, map[string]any{"items": items, "status": st}).expect(t, 422)
			if r.fieldErrors()["status"] != "initial" {
				t.Errorf("order created as %s: %s", st, r.raw)
			}
		}
	}
	if s := stock(); s != 9.0 {
		t.Errorf("stock after refused orders: %v, want 9", s)
	}

	// Anonymous callers have no subject: they cannot become a customer, nor order.
	srv.do("POST", "/v1/customers", "", map[string]any{"email": "a@example.com", "name": "Anon"}).expect(t, 401)
	order("", map[string]any{"items": items}).expect(t, 401)
	if n := len(srv.do("GET", "/v1/customers", admin, nil).expect(t, 200).body["items"].([]any)); n != 0 {
		t.Errorf("anonymous creates left %d customers", n)
	}

	// A record the caller may not read answers exactly like a missing one, for anonymous and
	// signed-in callers alike.
	oid := first.body["id"].(string)
	missing := "0190aaaa-0000-7000-8000-000000000000"
	for _, token := range []string{"", bob} {
		hidden := srv.do("GET", "/v1/orders/"+oid, token, nil)
		absent := srv.do("GET", "/v1/orders/"+missing, token, nil)
		if hidden.status != 404 || absent.status != 404 || hidden.body["type"] != absent.body["type"] ||
			hidden.body["detail"] != absent.body["detail"] || !slices.Equal(sortedKeys(hidden.body), sortedKeys(absent.body)) {
			t.Errorf("hidden %d %s\nmissing %d %s", hidden.status, hidden.raw, absent.status, absent.raw)
		}
	}

	// An inactive product cannot be ordered, and its stock stays.
	srv.do("PATCH", "/v1/products/"+pid, admin, map[string]any{"active": false}).expect(t, 200)
	if r := order(alice, map[string]any{"items": items}).expect(t, 409); r.body["type"] != "urn:plinth:problem:product-inactive" {
		t.Errorf("order for an inactive product: %s", r.raw)
	}
	if s := stock(); s != 9.0 {
		t.Errorf("stock after an order for an inactive product: %v, want 9", s)
	}
}

func sortedKeys(m map[string]any) []string { return slices.Sorted(maps.Keys(m)) }
