package main

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/routers/legacy"
	"github.com/google/uuid"
)

// versionedShop is a shop at v2 that still serves v1, whose clients knew products as items,
// price_cents as price, a color that v2 dropped, no channel, and orders that were open where
// v2's are pending or paid. %s is v1's sunset.
const versionedShop = `
plinth: 1
name: shop
version: 2
versions:
  1:
    deprecated: 2026-11-01
    sunset: %s
    changes:
      - rename_resource: {from: items, to: products}
      - rename_field: {resource: products, from: price, to: price_cents}
      - remove_field: {resource: products, field: color, was: {type: string, max_length: 20}, reads_as: unknown}
      - add_field: {resource: orders, field: channel, writes_as: web}
      - map_enum: {resource: orders, field: status, old_to_new: {open: pending}, new_to_old: {pending: open, paid: open}}
auth:
  roles: [admin, customer]
resources:
  products:
    fields:
      sku:         {type: string, required: true, unique: true, max_length: 32}
      name:        {type: string, required: true, max_length: 200}
      price_cents: {type: integer, required: true, min: 0}
      stock:       {type: integer, default: 0, min: 0}
      legacy_code: {type: string, max_length: 20, deprecated: true}
    indexes:
      - [price_cents]
    access: {list: "true", read: "true", write: 'auth.role == "admin"'}
  orders:
    idempotency: required
    fields:
      customer_id: {type: string, default: auth.sub, immutable: true, max_length: 200}
      status:
        type: enum
        values: [pending, paid, shipped, cancelled]
        default: pending
        transitions: {pending: [paid, cancelled], paid: [shipped, cancelled]}
      channel: {type: enum, values: [web, app], required: true}
      items:
        type: array
        required: true
        immutable: true
        min_items: 1
        max_items: 10
        of:
          product_id: {type: ref, resource: products, required: true}
          quantity:   {type: integer, required: true, min: 1, max: 100}
      note: {type: string, max_length: 200}
    indexes:
      - [customer_id, status]
    access:
      list:   'auth.role == "admin" || record.customer_id == auth.sub'
      read:   'auth.role == "admin" || record.customer_id == auth.sub'
      create: 'auth.role == "admin" || (auth.sub != null && record.customer_id == auth.sub)'
      update: 'auth.role == "admin"'
      delete: "false"
  reviews:
    fields:
      product: {type: ref, resource: products, required: true}
      stars:   {type: integer, required: true, min: 1, max: 5}
    access: {list: "true", read: "true", write: "auth.sub != null"}
`

// TestVersionsSideBySide: a v1 client and a v2 client work on the same data at once, each in
// its own shapes, with every guarantee of v2; v1 says it is deprecated, and answers 410 once
// its sunset has passed.
func TestVersionsSideBySide(t *testing.T) { eachDatabase(t, testVersionsSideBySide) }

func testVersionsSideBySide(t *testing.T, db database) {
	var skew atomic.Int64 // how far the server's clock is ahead of the system's
	sunset := time.Now().UTC().AddDate(0, 0, 30).Truncate(24 * time.Hour)
	s := db.server(t, writeSpec(t, fmt.Sprintf(versionedShop, sunset.Format(time.DateOnly))))
	s.Now = func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
	srv := startServerWith(t, s)
	admin := srv.token("root", "admin")
	alice := srv.token("alice", "customer")

	// v1 creates an item; v1 sees its own shape, with the deprecation headers.
	made := srv.do("POST", "/v1/items", admin, map[string]any{"sku": "MUG-1", "name": "Mug", "price": 1200, "color": "unknown", "legacy_code": "M1"}).expect(t, 201)
	id := made.body["id"].(string)
	wantMembers(t, made, "id", "sku", "name", "price", "stock", "legacy_code", "color", "created_at", "updated_at", "version")
	if made.body["price"] != 1200.0 || made.body["color"] != "unknown" || made.header.Get("Location") != "/v1/items/"+id || made.header.Get("ETag") != `"1"` {
		t.Errorf("v1 create: %s (Location %s)", made.raw, made.header.Get("Location"))
	}
	if made.header.Get("Deprecation") != "@"+strconv.FormatInt(time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC).Unix(), 10) ||
		made.header.Get("Sunset") != sunset.Format(http.TimeFormat) ||
		made.header.Get("Link") != `</v2/products>; rel="successor-version"` {
		t.Errorf("v1 headers: Deprecation %q, Sunset %q, Link %q", made.header.Get("Deprecation"), made.header.Get("Sunset"), made.header.Get("Link"))
	}
	if got := made.header.Get("Plinth-Deprecated-Fields"); got != "legacy_code" {
		t.Errorf("Plinth-Deprecated-Fields %q after sending legacy_code", got)
	}

	// v2 reads the same record in its shape, without deprecation headers, with the same ETag.
	cur := srv.do("GET", "/v2/products/"+id, "", nil).expect(t, 200)
	wantMembers(t, cur, "id", "sku", "name", "price_cents", "stock", "legacy_code", "created_at", "updated_at", "version")
	if cur.body["price_cents"] != 1200.0 || cur.header.Get("ETag") != `"1"` {
		t.Errorf("v2 read: %s", cur.raw)
	}
	for _, h := range []string{"Deprecation", "Sunset", "Link", "Plinth-Deprecated-Fields"} {
		if v := cur.header.Get(h); v != "" {
			t.Errorf("v2 answers %s: %s", h, v)
		}
	}
	// v2 changes it; v1 reads the change, and the ETags are the same versions.
	srv.do("PATCH", "/v2/products/"+id, admin, map[string]any{"price_cents": 1500}).expect(t, 200)
	old := srv.do("GET", "/v1/items/"+id, "", nil).expect(t, 200)
	if old.body["price"] != 1500.0 || old.header.Get("ETag") != `"2"` || old.header.Get("Link") != `</v2/products/`+id+`>; rel="successor-version"` {
		t.Errorf("v1 read after a v2 change: %s", old.raw)
	}
	srv.do("GET", "/v1/items/"+id, "", nil, "If-None-Match", `"2"`).expect(t, 304)
	v2write := srv.do("POST", "/v2/products", admin, map[string]any{"sku": "CUP-1", "name": "Cup", "price_cents": 300, "legacy_code": "C1"}).expect(t, 201)
	if v2write.header.Get("Plinth-Deprecated-Fields") != "legacy_code" {
		t.Errorf("v2 write of a deprecated field: headers %v", v2write.header)
	}
	cup := v2write.body["id"].(string)
	if plain := srv.do("PATCH", "/v2/products/"+cup, admin, map[string]any{"stock": 4}).expect(t, 200); plain.header.Get("Plinth-Deprecated-Fields") != "" {
		t.Error("Plinth-Deprecated-Fields without a deprecated field")
	}

	// What v1 may not send: another value of a removed field, v2's names; every mistake at once.
	bad := srv.do("PATCH", "/v1/items/"+id, admin, map[string]any{"color": "red", "price_cents": 1, "price": -1, "nosuch": 1}).expect(t, 422)
	if got := bad.fieldErrors(); !maps.Equal(got, map[string]string{"color": "removed", "price_cents": "unknown", "price": "min", "nosuch": "unknown"}) {
		t.Errorf("v1 field errors: %v in %s", got, bad.raw)
	}
	if !strings.Contains(string(bad.raw), `reads as \"unknown\"`) {
		t.Errorf("the removed field's error does not say what it reads as: %s", bad.raw)
	}
	srv.do("GET", "/v2/products/"+id, "", nil, "If-None-Match", `"2"`).expect(t, 304) // nothing changed

	// Lists: filter and sort on a renamed field, fields including a removed one; a filter on
	// the removed field is refused, and so are v2's names.
	page := srv.do("GET", "/v1/items?filter="+url.QueryEscape("price > 1000")+"&sort=-price&fields=price,color", "", nil).expect(t, 200)
	items := page.body["items"].([]any)
	if len(items) != 1 || !maps.Equal(items[0].(map[string]any), map[string]any{"id": id, "price": 1500.0, "color": "unknown"}) {
		t.Errorf("v1 page: %s", page.raw)
	}
	sorted := srv.do("GET", "/v1/items?sort=price&limit=1", "", nil).expect(t, 200)
	if first := sorted.body["items"].([]any)[0].(map[string]any); first["id"] != cup {
		t.Errorf("v1 sorted by price: %s", sorted.raw)
	}
	next := srv.do("GET", "/v1/items?sort=price&limit=1&cursor="+url.QueryEscape(sorted.body["next_cursor"].(string)), "", nil).expect(t, 200)
	if second := next.body["items"].([]any)[0].(map[string]any); second["id"] != id || next.body["next_cursor"] != nil {
		t.Errorf("v1 second page: %s", next.raw)
	}
	removed := srv.do("GET", "/v1/items?filter="+url.QueryEscape(`color == "red"`), "", nil).expect(t, 400)
	if !strings.Contains(string(removed.raw), "color is no longer stored") || removed.fieldErrors()["filter"] == "" {
		t.Errorf("filter on a removed field: %s", removed.raw)
	}
	for _, q := range []string{"filter=" + url.QueryEscape("price_cents > 1"), "sort=price_cents", "fields=price_cents"} {
		res := srv.do("GET", "/v1/items?"+q, "", nil).expect(t, 400)
		if !strings.Contains(string(res.raw), "price_cents") {
			t.Errorf("v1 %s: %s", q, res.raw)
		}
	}

	// An order through v1: open, no channel; v2 sees pending and the channel v1 writes as.
	order := srv.do("POST", "/v1/orders", alice, map[string]any{"items": []any{map[string]any{"product_id": id, "quantity": 1}}},
		"Idempotency-Key", newKey()).expect(t, 201)
	oid := order.body["id"].(string)
	if order.body["status"] != "open" || hasMember(order, "channel") {
		t.Errorf("v1 order: %s", order.raw)
	}
	if v2 := srv.do("GET", "/v2/orders/"+oid, alice, nil).expect(t, 200); v2.body["status"] != "pending" || v2.body["channel"] != "web" {
		t.Errorf("v2 reads the v1 order as %s", v2.raw)
	}
	// Paid in v2 reads as open in v1; sending open back changes nothing.
	srv.do("PATCH", "/v2/orders/"+oid, admin, map[string]any{"status": "paid"}, "Idempotency-Key", newKey()).expect(t, 200)
	if v1 := srv.do("GET", "/v1/orders/"+oid, alice, nil).expect(t, 200); v1.body["status"] != "open" {
		t.Errorf("a paid order in v1: %s", v1.raw)
	}
	echo := srv.do("PATCH", "/v1/orders/"+oid, admin, map[string]any{"status": "open", "note": "gift"}, "Idempotency-Key", newKey()).expect(t, 200)
	if v2 := srv.do("GET", "/v2/orders/"+oid, admin, nil).expect(t, 200); v2.body["status"] != "paid" || v2.body["note"] != "gift" || echo.body["status"] != "open" {
		t.Errorf("open sent back for a paid order: v2 %s, v1 %s", v2.raw, echo.raw)
	}
	second := srv.do("POST", "/v1/orders", alice, map[string]any{"items": []any{map[string]any{"product_id": cup, "quantity": 2}}},
		"Idempotency-Key", newKey()).expect(t, 201).body["id"].(string)
	srv.do("PATCH", "/v2/orders/"+second, admin, map[string]any{"status": "cancelled"}, "Idempotency-Key", newKey()).expect(t, 200)
	for filter, want := range map[string][]string{
		`status == "open"`:                {oid},
		`status != "open"`:                {second},
		`status in ["open", "cancelled"]`: {oid, second},
		`status == "shipped"`:             {},
	} {
		res := srv.do("GET", "/v1/orders?sort=created_at&filter="+url.QueryEscape(filter), alice, nil).expect(t, 200)
		var got []string
		for _, it := range res.body["items"].([]any) {
			got = append(got, it.(map[string]any)["id"].(string))
		}
		if !slices.Equal(got, want) && len(got)+len(want) > 0 {
			t.Errorf("v1 filter %s: %v, want %v", filter, got, want)
		}
	}
	if res := srv.do("GET", "/v1/orders?filter="+url.QueryEscape(`status.startsWith("o")`), alice, nil).expect(t, 400); !strings.Contains(string(res.raw), "status has other values in v2") {
		t.Errorf("a mapped enum in a string test: %s", res.raw)
	}
	// v2's value from a v1 client, and a transition refused in v1's values.
	paid := srv.do("PATCH", "/v1/orders/"+oid, admin, map[string]any{"status": "paid"}, "Idempotency-Key", newKey()).expect(t, 422)
	if paid.fieldErrors()["status"] != "enum" || !strings.Contains(string(paid.raw), "open, shipped, cancelled") {
		t.Errorf("v1 sends paid: %s", paid.raw)
	}
	third := srv.do("POST", "/v1/orders", alice, map[string]any{"items": []any{map[string]any{"product_id": cup, "quantity": 1}}},
		"Idempotency-Key", newKey()).expect(t, 201).body["id"].(string)
	tr := srv.do("PATCH", "/v1/orders/"+third, admin, map[string]any{"status": "shipped"}, "Idempotency-Key", newKey()).expect(t, 409)
	if tr.body["field"] != "status" || tr.body["from"] != "open" || tr.body["to"] != "shipped" || fmt.Sprint(tr.body["allowed"]) != "[open cancelled]" ||
		!strings.Contains(tr.body["detail"].(string), "from open to shipped") {
		t.Errorf("v1 transition: %s", tr.raw)
	}

	// A replace from v1 keeps the channel it cannot see.
	srv.do("PATCH", "/v2/orders/"+third, admin, map[string]any{"channel": "app"}, "Idempotency-Key", newKey()).expect(t, 200)
	srv.do("PUT", "/v1/orders/"+third, admin, map[string]any{"status": "open", "items": []any{map[string]any{"product_id": cup, "quantity": 1}}, "note": "again"}).expect(t, 200)
	if v2 := srv.do("GET", "/v2/orders/"+third, admin, nil).expect(t, 200); v2.body["channel"] != "app" || v2.body["note"] != "again" {
		t.Errorf("v1 replace lost what it cannot see: %s", v2.raw)
	}

	// Idempotency: a key sent to v1 replays v1's answer; the same key on v2 is another request.
	key := newKey()
	body := map[string]any{"items": []any{map[string]any{"product_id": id, "quantity": 3}}}
	first := srv.do("POST", "/v1/orders", alice, body, "Idempotency-Key", key).expect(t, 201)
	again := srv.do("POST", "/v1/orders", alice, body, "Idempotency-Key", key).expect(t, 201)
	if again.header.Get("Idempotent-Replayed") != "true" || !bytes.Equal(first.raw, again.raw) || again.header.Get("Deprecation") == "" {
		t.Errorf("v1 replay: %s / %s", first.raw, again.raw)
	}
	body["channel"] = "app" // v2 requires it
	other := srv.do("POST", "/v2/orders", alice, body, "Idempotency-Key", key).expect(t, 201)
	if other.header.Get("Idempotent-Replayed") != "" || other.body["id"] == first.body["id"] {
		t.Errorf("a v1 key answered v2: %s", other.raw)
	}
	// If-Match through v1.
	stale := srv.do("PATCH", "/v1/items/"+id, admin, map[string]any{"price": 1}, "If-Match", `"1"`).expect(t, 412)
	if stale.body["current_version"] != 2.0 {
		t.Errorf("stale If-Match: %s", stale.raw)
	}
	fresh := srv.do("PATCH", "/v1/items/"+id, admin, map[string]any{"price": 1600}, "If-Match", `"2"`).expect(t, 200)
	if fresh.body["price"] != 1600.0 || fresh.header.Get("ETag") != `"3"` {
		t.Errorf("v1 PATCH with If-Match: %s", fresh.raw)
	}

	// Expand and refs name v1's resource; a review of an item through v1.
	review := srv.do("POST", "/v1/reviews", alice, map[string]any{"product": id, "stars": 5}).expect(t, 201).body["id"].(string)
	exp := srv.do("GET", "/v1/reviews?expand=product", "", nil).expect(t, 200)
	got := exp.body["items"].([]any)[0].(map[string]any)
	if got["id"] != review || got["expand"].(map[string]any)["product"].(map[string]any)["price"] != 1600.0 ||
		got["expand"].(map[string]any)["product"].(map[string]any)["color"] != "unknown" {
		t.Errorf("v1 expand: %s", exp.raw)
	}

	// A batch through v1: v1's paths, bodies and answers; a failure names v1's fields.
	batch := srv.do("POST", "/v1/batch", admin, map[string]any{"operations": []any{
		map[string]any{"method": "POST", "path": "/v1/items", "body": map[string]any{"sku": "BOWL-1", "name": "Bowl", "price": 900}},
		map[string]any{"method": "PATCH", "path": "/v1/items/" + cup, "body": map[string]any{"price": 350}},
	}}).expect(t, 200)
	results := batch.body["results"].([]any)
	if results[0].(map[string]any)["body"].(map[string]any)["price"] != 900.0 || results[1].(map[string]any)["body"].(map[string]any)["price"] != 350.0 {
		t.Errorf("v1 batch: %s", batch.raw)
	}
	failed := srv.do("POST", "/v1/batch", admin, map[string]any{"operations": []any{
		map[string]any{"method": "PATCH", "path": "/v1/items/" + cup, "body": map[string]any{"price": 1}},
		map[string]any{"method": "PATCH", "path": "/v1/items/" + id, "body": map[string]any{"color": "blue", "price": -5}},
	}}).expect(t, 422)
	if failed.body["index"] != 1.0 || !maps.Equal(failed.fieldErrors(), map[string]string{"color": "removed", "price": "min"}) {
		t.Errorf("v1 batch failure: %s", failed.raw)
	}
	srv.do("POST", "/v1/batch", admin, map[string]any{"operations": []any{
		map[string]any{"method": "PATCH", "path": "/v2/products/" + cup, "body": map[string]any{"price_cents": 1}}}}).expect(t, 400)

	// The change feed of each version, in its shapes.
	feed := srv.do("GET", "/v1/events?resource=items", admin, nil).expect(t, 200)
	ev := feed.body["items"].([]any)[0].(map[string]any)
	if ev["type"] != "items.created" || ev["resource"] != "items" || ev["data"].(map[string]any)["record"].(map[string]any)["price"] != 1200.0 {
		t.Errorf("v1 feed: %s", feed.raw)
	}
	orderFeed := srv.do("GET", "/v1/events?resource=orders", admin, nil).expect(t, 200)
	for _, it := range orderFeed.body["items"].([]any) {
		rec := it.(map[string]any)["data"].(map[string]any)["record"].(map[string]any)
		if hasKey(rec, "channel") || (rec["status"] != "open" && rec["status"] != "cancelled") {
			t.Errorf("v1 order event: %v", rec)
		}
	}
	srv.do("GET", "/v1/events?resource=products", admin, nil).expect(t, 400)
	if cur := srv.do("GET", "/v2/events?resource=products", admin, nil).expect(t, 200); cur.body["items"].([]any)[0].(map[string]any)["type"] != "products.created" {
		t.Errorf("v2 feed: %s", cur.raw)
	}

	// After the sunset, by the server's clock, v1 answers 410 naming v2; v2 serves on.
	skew.Store(int64(31 * 24 * time.Hour))
	gone := srv.do("GET", "/v1/items/"+id, "", nil).expect(t, 410)
	if gone.body["type"] != "urn:plinth:problem:version-sunset" || gone.body["successor"] != "/v2/products/"+id ||
		gone.header.Get("Link") != `</v2/products/`+id+`>; rel="successor-version"` || !strings.Contains(gone.body["detail"].(string), "/v2/products/"+id) {
		t.Errorf("v1 after its sunset: %s (Link %s)", gone.raw, gone.header.Get("Link"))
	}
	srv.do("POST", "/v1/items", admin, map[string]any{"sku": "LATE-1"}).expect(t, 410)
	srv.do("GET", "/v2/products/"+id, "", nil).expect(t, 200)
}

// wantMembers checks that a record's members are exactly these, in this order.
func wantMembers(t *testing.T, res response, members ...string) {
	t.Helper()
	var got []string
	dec := strings.Split(strings.Trim(string(res.raw), "{}"), ",\"")
	for _, part := range dec {
		name, _, _ := strings.Cut(strings.TrimPrefix(part, `"`), `"`)
		got = append(got, name)
	}
	if !slices.Equal(got, members) {
		t.Errorf("members %v, want %v: %s", got, members, res.raw)
	}
}

func hasMember(res response, name string) bool { return hasKey(res.body, name) }

func hasKey(m map[string]any, k string) bool {
	_, ok := m[k]
	return ok
}

// TestVersionDocuments: each version has its own OpenAPI document, v1's from v1's shapes,
// and what the v1 server answers is what v1's document says.
func TestVersionDocuments(t *testing.T) { eachDatabase(t, testVersionDocuments) }

func testVersionDocuments(t *testing.T, db database) {
	sunset := time.Now().UTC().AddDate(0, 0, 30).Truncate(24 * time.Hour)
	srv := db.start(t, writeSpec(t, fmt.Sprintf(versionedShop, sunset.Format(time.DateOnly))))
	load := func(path string) *openapi3.T {
		doc, err := openapi3.NewLoader().LoadFromData(srv.fetch(path, "application/json"))
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if err := doc.Validate(context.Background(), openapi3.EnableMultiError()); err != nil {
			t.Fatalf("%s is not valid OpenAPI: %v", path, err)
		}
		return doc
	}
	v1, v2 := load("/v1/openapi.json"), load("/openapi.json")
	if v1.Info.Version != "1" || v2.Info.Version != "2" || srv.do("GET", "/v1/openapi.json", "", nil).header.Get("Deprecation") == "" {
		t.Fatalf("documents of versions %s and %s", v1.Info.Version, v2.Info.Version)
	}
	for path, item := range v1.Paths.Map() {
		if strings.HasPrefix(path, "/v2") || strings.HasPrefix(path, "/v1/products") || path == "/openapi.json" {
			t.Errorf("v1's document lists %s", path)
		}
		for method, op := range item.Operations() {
			if strings.HasPrefix(path, "/v1/") && !op.Deprecated {
				t.Errorf("v1's %s %s is not deprecated", method, path)
			}
		}
	}
	for _, path := range []string{"/v1/items", "/v1/items/{id}", "/v1/batch", "/v1/events", "/v1/openapi.json"} {
		if v1.Paths.Value(path) == nil {
			t.Errorf("v1's document lacks %s", path)
		}
	}
	for path := range v2.Paths.Map() {
		if strings.HasPrefix(path, "/v1") {
			t.Errorf("v2's document lists %s", path)
		}
	}
	items := v1.Components.Schemas["items"].Value.Properties
	if items["price"] == nil || items["color"] == nil || items["price_cents"] != nil || !items["legacy_code"].Value.Deprecated {
		t.Errorf("v1's items: %v", slices.Sorted(maps.Keys(items)))
	}
	if !v2.Components.Schemas["products"].Value.Properties["legacy_code"].Value.Deprecated {
		t.Error("v2's products.legacy_code is not deprecated")
	}
	if status := v1.Components.Schemas["orders"].Value.Properties["status"].Value.Enum; fmt.Sprint(status) != "[open shipped cancelled]" {
		t.Errorf("v1's order statuses %v", status)
	}

	v1.Servers = openapi3.Servers{{URL: srv.url}}
	router, err := legacy.NewRouter(v1)
	if err != nil {
		t.Fatal(err)
	}
	c := conformance{t: t, srv: srv, router: router, driven: map[string]bool{}}
	admin, alice := srv.token("root", "admin"), srv.token("alice", "customer")
	item := c.send(true, "POST", "/v1/items", admin, `{"sku": "MUG-1", "name": "Mug", "price": 1200, "legacy_code": "M"}`).want(201)
	id := item.body["id"].(string)
	c.send(true, "GET", "/v1/items/"+id, "", "").want(200)
	c.send(true, "GET", "/v1/items?filter="+url.QueryEscape("price > 5")+"&sort=-price&fields=price,color", "", "").want(200)
	c.send(true, "PATCH", "/v1/items/"+id, admin, `{"color": "red"}`).want(422)
	c.send(true, "GET", "/v1/items/"+uuid.NewString(), "", "").want(404)
	order := c.send(true, "POST", "/v1/orders", alice, `{"items": [{"product_id": "`+id+`", "quantity": 1}]}`, "Idempotency-Key", newKey()).want(201)
	c.send(true, "PATCH", "/v1/orders/"+order.body["id"].(string), admin, `{"status": "shipped"}`, "Idempotency-Key", newKey()).want(409)
	c.send(true, "POST", "/v1/batch", admin, `{"operations": [{"method": "PATCH", "path": "/v1/items/`+id+`", "body": {"price": 1300}}]}`).want(200)
	c.send(true, "GET", "/v1/events?resource=items,orders", admin, "").want(200)
	c.send(false, "POST", "/v1/orders", alice, `{"items": [{"product_id": "`+id+`", "quantity": 1}], "status": "paid"}`, "Idempotency-Key", newKey()).want(422)
}

// TestOpenAPICommandVersions: `plinth openapi --version 1` prints what /v1/openapi.json
// serves; an undeclared version is refused.
func TestOpenAPICommandVersions(t *testing.T) {
	path := writeSpec(t, fmt.Sprintf(versionedShop, "2999-01-01"))
	var out, errOut bytes.Buffer
	if code := Main(context.Background(), []string{"openapi", "--spec", path, "--version", "1"}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	srv := startServer(t, path, t.TempDir())
	if served := srv.fetch("/v1/openapi.json", "application/json"); !bytes.Equal(served, out.Bytes()) {
		t.Error("plinth openapi --version 1 differs from /v1/openapi.json")
	}
	out.Reset()
	if code := Main(context.Background(), []string{"openapi", "--spec", path, "--version", "2"}, &out, &errOut); code != 0 ||
		!bytes.Equal(out.Bytes(), srv.fetch("/openapi.json", "application/json")) {
		t.Errorf("--version 2, the current one: exit %d", code)
	}
	errOut.Reset()
	if code := Main(context.Background(), []string{"openapi", "--spec", path, "--version", "7"}, &out, &errOut); code != 1 ||
		!strings.Contains(errOut.String(), "the spec serves versions 2, 1") {
		t.Errorf("--version 7: exit %d, %s", code, errOut.String())
	}
}
