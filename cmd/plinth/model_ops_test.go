package main

// The operations of TestShopModel. Each builds its requests from the model, says which
// answers the model allows, and moves the model on from the answers it gets.

import (
	"bytes"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// step runs one operation, picked at random by weight.
func (h *shopRun) step() {
	ops := []struct {
		weight int
		run    func()
	}{
		{5, h.createProduct},
		{3, h.createProductBad},
		{4, h.patchProduct},
		{3, h.patchProductBad},
		{1, h.putProduct},
		{1, h.deleteProduct},
		{1, h.productByOthers},
		{8, func() { h.do(h.createOrder(h.orderer(), false)) }},
		{4, func() { h.do(h.badOrder()) }},
		{5, h.transitionOrder},
		{2, h.patchOrderBad},
		{2, h.editOrder},
		{1, h.putOrder},
		{2, h.ordersByOthers},
		{3, h.createCustomer},
		{2, h.createCustomerBad},
		{2, h.patchCustomer},
		{1, h.deleteCustomer},
		{5, h.readOne},
		{3, h.list},
		{3, func() { h.do(h.replay()) }},
		{1, h.reuseKey},
		{1, h.staleIfMatch},
		{2, h.batch},
	}
	total := 0
	for _, op := range ops {
		total += op.weight
	}
	n := h.rng.IntN(total)
	for _, op := range ops {
		if n < op.weight {
			op.run()
			return
		}
		n -= op.weight
	}
}

// Picking records from the model.

// pick returns one of ids for which ok holds, or "".
func (h *shopRun) pick(ids []string, ok func(id string) bool) string {
	var in []string
	for _, id := range ids {
		if ok(id) {
			in = append(in, id)
		}
	}
	if len(in) == 0 {
		return ""
	}
	return in[h.rng.IntN(len(in))]
}

// product returns a live product for which ok (if not nil) holds, or nil.
func (h *shopRun) product(ok func(p *modelProduct) bool) *modelProduct {
	return h.m.products[h.pick(h.m.productIDs, func(id string) bool {
		p := h.m.products[id]
		return p != nil && (ok == nil || ok(p))
	})]
}

// productOrCreate returns a live product; when there is none it creates one instead, and
// returns nil: the operation that wanted a product became its create.
func (h *shopRun) productOrCreate() *modelProduct {
	p := h.product(nil)
	if p == nil {
		h.createProduct()
	}
	return p
}

func isActive(p *modelProduct) bool { return p.rec["active"] == true }

// goneProduct returns the id of a deleted product, or one that never was.
func (h *shopRun) goneProduct() string {
	if id := h.pick(h.m.productIDs, func(id string) bool { return h.m.products[id] == nil }); id != "" && h.chance(2) {
		return id
	}
	return h.uuid()
}

// order returns an order for which ok (if not nil) holds, or nil.
func (h *shopRun) order(ok func(o map[string]any) bool) map[string]any {
	return h.m.orders[h.pick(h.m.orderIDs, func(id string) bool { return ok == nil || ok(h.m.orders[id]) })]
}

func (h *shopRun) customerRecord() map[string]any {
	return h.m.customers[h.pick(h.m.customerIDs, func(id string) bool { return h.m.customers[id] != nil })]
}

// orderer is who places an order: mostly customers, sometimes an admin.
func (h *shopRun) orderer() *actor {
	if h.chance(5) {
		return h.admin()
	}
	return h.customer()
}

// someoneElse returns a caller who may not read a record owned by sub: another customer,
// or anonymous.
func (h *shopRun) someoneElse(sub string) *actor {
	var in []*actor
	for _, c := range h.customers {
		if c.sub != sub {
			in = append(in, c)
		}
	}
	if h.chance(3) {
		return h.anon
	}
	return in[h.rng.IntN(len(in))]
}

// Bodies made wrong on purpose.

// spoiler makes one member of a body wrong: a value of the wrong type, out of range, null
// where null is not allowed, unknown or read-only, or (absent) missing. field is what the
// 422 must name; "items[0].x" is member x of the first item.
type spoiler struct {
	field string
	value any
}

type absentValue struct{}

var absent any = absentValue{}

// spoil applies one of spoilers to body and returns the field it spoiled.
func (h *shopRun) spoil(body map[string]any, spoilers []spoiler) string {
	s := spoilers[h.rng.IntN(len(spoilers))]
	target, name := body, s.field
	if rest, ok := strings.CutPrefix(s.field, "items[0]."); ok {
		target, name = body["items"].([]any)[0].(map[string]any), rest
	}
	if s.value == absent {
		delete(target, name)
	} else {
		target[name] = s.value
	}
	return s.field
}

var productSpoilers = []spoiler{
	{"stock", nil}, {"stock", "3"}, {"stock", -1}, {"stock", 2.5},
	{"price_cents", nil}, {"price_cents", -5}, {"price_cents", "12"}, {"price_cents", true},
	{"sku", "lower-case"}, {"sku", nil}, {"sku", 12345},
	{"name", nil}, {"name", 7}, {"name", strings.Repeat("n", 201)},
	{"active", nil}, {"active", "yes"}, {"active", 1},
	{"description", 5}, {"description", strings.Repeat("d", 2001)},
	{"colour", "red"}, {"id", "0190aaaa-0000-7000-8000-000000000000"}, {"version", 2}, {"updated_at", "2026-01-01T00:00:00Z"},
}

var orderSpoilers = []spoiler{
	{"total_cents", 100}, {"items[0].unit_price_cents", 5}, {"items[0].name", "Free"},
	{"items[0].quantity", 0}, {"items[0].quantity", -1}, {"items[0].quantity", 1001}, {"items[0].quantity", "2"},
	{"items[0].quantity", 1.5}, {"items[0].quantity", nil}, {"items[0].quantity", absent},
	{"items[0].product_id", 5}, {"items[0].product_id", nil}, {"items[0].product_id", absent}, {"items[0].colour", "red"},
	{"items", []any{}}, {"items", "many"}, {"items", map[string]any{}}, {"customer_id", nil}, {"customer_id", 7},
	{"status", nil}, {"status", "lost"}, {"status", 1}, {"note", 5}, {"note", strings.Repeat("n", 501)},
	{"coupon", "FREE"}, {"id", "0190aaaa-0000-7000-8000-000000000000"}, {"created_at", "2026-01-01T00:00:00Z"},
}

var orderPatchSpoilers = []spoiler{
	{"status", nil}, {"status", 3}, {"status", "lost"}, {"customer_id", "mallory"}, {"customer_id", nil},
	{"total_cents", 1}, {"note", 5}, {"note", strings.Repeat("n", 501)}, {"items", []any{}}, {"items", "x"},
	{"id", "0190aaaa-0000-7000-8000-000000000000"}, {"version", 7}, {"coupon", "FREE"},
}

var customerSpoilers = []spoiler{
	{"email", "not-an-email"}, {"email", nil}, {"email", 5}, {"email", absent},
	{"name", nil}, {"name", absent}, {"name", strings.Repeat("n", 201)},
	{"user_id", nil}, {"user_id", 7}, {"nickname", "x"},
}

var customerPatchSpoilers = []spoiler{
	{"email", "nope"}, {"email", nil}, {"name", nil}, {"name", false}, {"user_id", "someone-else"}, {"user_id", nil}, {"version", 1},
}

// holds fails unless the answer's record holds every member of want.
func (h *shopRun) holds(c *call, res response, want map[string]any) {
	h.t.Helper()
	for _, k := range slices.Sorted(maps.Keys(want)) {
		if !sameJSON(res.body[k], want[k]) {
			h.failf(c, res, "%s is %v; the model expects %v", k, res.body[k], want[k])
		}
	}
}

// Products: only admins write them; their writes set the stock that orders then move.

func (h *shopRun) productBody() map[string]any {
	sku := fmt.Sprintf("P-%d", h.next())
	b := map[string]any{"sku": sku, "name": "Product " + sku, "price_cents": h.rng.IntN(5000)}
	if !h.chance(4) {
		b["stock"] = h.rng.IntN(20)
	}
	switch h.rng.IntN(6) {
	case 0:
		b["active"] = false
	case 1:
		b["active"] = true
	}
	switch h.rng.IntN(4) {
	case 0:
		b["description"] = nil // null is fine for a field that is neither required nor defaulted
	case 1:
		b["description"] = "A fine " + sku
	}
	return b
}

func (h *shopRun) createProduct() { h.do(h.productCreate(h.productBody())) }

func (h *shopRun) productCreate(body map[string]any) *call {
	c := &call{who: h.admin(), method: "POST", path: "/v1/products", body: body, want: []int{201}}
	if h.chance(3) {
		c.key = h.key()
	}
	c.then = func(res response) {
		h.holds(c, res, body)
		defaults := map[string]any{"stock": 0, "active": true, "description": nil}
		for k := range body {
			delete(defaults, k)
		}
		defaults["version"] = 1
		h.holds(c, res, defaults)
		h.m.putProduct(res.body, true)
	}
	return c
}

func (h *shopRun) createProductBad() {
	body := h.productBody()
	c := &call{who: h.admin(), method: "POST", path: "/v1/products", body: body, want: []int{422}}
	if h.chance(3) {
		c.key = h.key()
	}
	switch p := h.product(nil); {
	case p != nil && h.chance(4):
		body["sku"] = p.rec["sku"]
		c.want = []int{409}
	case h.chance(10):
		c.body, c.want, c.noReplay = `{"sku": "P-X", "name": `, []int{400}, true
	default:
		c.field = h.spoil(body, productSpoilers)
	}
	h.do(c)
}

// productValue is a new valid value of a product's field.
func (h *shopRun) productValue(p *modelProduct, field string) any {
	switch field {
	case "stock":
		return h.rng.IntN(16)
	case "price_cents":
		return h.rng.IntN(5000)
	case "name":
		return fmt.Sprintf("Renamed %d", h.next())
	case "description":
		if h.chance(2) {
			return nil
		}
		return fmt.Sprintf("Now with %d", h.next())
	}
	return p.rec["active"] != true
}

func (h *shopRun) patchProduct() {
	p := h.productOrCreate()
	if p == nil {
		return
	}
	id := text(p.rec["id"])
	patch := map[string]any{}
	for len(patch) == 0 {
		for _, f := range []string{"stock", "price_cents", "name", "description", "active"} {
			if h.chance(3) {
				patch[f] = h.productValue(p, f)
			}
		}
	}
	c := &call{who: h.admin(), method: "PATCH", path: "/v1/products/" + id, body: patch, want: []int{200}}
	if h.chance(3) {
		c.key = h.key()
	}
	c.then = func(res response) {
		h.holds(c, res, patch)
		unchanged := keep(p.rec, productFields...)
		for k := range patch {
			delete(unchanged, k)
		}
		h.holds(c, res, unchanged)
		_, setStock := patch["stock"]
		if !setStock {
			h.holds(c, res, map[string]any{"stock": h.m.stock(id)})
		}
		h.m.putProduct(res.body, setStock)
	}
	h.do(c)
}

func (h *shopRun) patchProductBad() {
	p := h.productOrCreate()
	if p == nil {
		return
	}
	id := text(p.rec["id"])
	patch := map[string]any{}
	c := &call{who: h.admin(), method: "PATCH", path: "/v1/products/" + id, body: patch, want: []int{422}}
	if h.chance(3) {
		c.key = h.key()
	}
	other := h.product(func(o *modelProduct) bool { return o != p })
	switch {
	case other != nil && h.chance(5):
		patch["sku"] = other.rec["sku"]
		c.want = []int{409}
	case h.chance(8):
		patch["stock"] = 1
		c.path, c.want = "/v1/products/"+h.goneProduct(), []int{404}
	default:
		c.field = h.spoil(patch, productSpoilers)
		if c.field != "name" && h.chance(2) {
			patch["name"] = "Must not stick" // a valid member beside the bad one is not written either
		}
	}
	h.do(c)
}

func (h *shopRun) putProduct() {
	p := h.productOrCreate()
	if p == nil {
		return
	}
	body := keep(p.rec, "sku", "name", "description", "price_cents", "active")
	body["stock"] = h.rng.IntN(16)
	body["name"] = fmt.Sprintf("Replaced %d", h.next())
	if h.chance(3) {
		delete(body, "description") // omitted: null
	}
	c := &call{who: h.admin(), method: "PUT", path: "/v1/products/" + text(p.rec["id"]), body: body, want: []int{200}}
	if h.chance(4) {
		// PUT makes an omitted field null, and stock may not be null: either the default
		// applies or the write is refused.
		delete(body, "stock")
		c.want = []int{200, 422}
	}
	c.then = func(res response) {
		h.holds(c, res, body)
		if _, sent := body["description"]; !sent {
			h.holds(c, res, map[string]any{"description": nil})
		}
		if res.body["stock"] == nil {
			h.failf(c, res, "the stock became null")
		}
		h.m.putProduct(res.body, true)
	}
	h.do(c)
}

func (h *shopRun) deleteProduct() {
	p := h.productOrCreate()
	if p == nil {
		return
	}
	id := text(p.rec["id"])
	c := &call{who: h.admin(), method: "DELETE", path: "/v1/products/" + id, want: []int{204}}
	for _, o := range h.m.orders {
		items, _ := o["items"].([]any)
		for _, it := range items {
			if it.(map[string]any)["product_id"] == id {
				c.want = []int{204, 409} // refusing to delete a product orders name is fine too
			}
		}
	}
	c.then = func(response) { h.m.remove("products", id) }
	h.do(c)
}

// productByOthers: customers may not write products (403), anonymous callers neither (401).
func (h *shopRun) productByOthers() {
	who, status := h.customer(), 403
	if h.chance(2) {
		who, status = h.anon, 401
	}
	c := &call{who: who, method: "POST", path: "/v1/products", body: h.productBody(), want: []int{status}}
	if p := h.product(nil); p != nil {
		switch h.rng.IntN(3) {
		case 0:
			c.method, c.path, c.body = "PATCH", "/v1/products/"+text(p.rec["id"]), map[string]any{"stock": 999}
		case 1:
			c.method, c.path, c.body = "DELETE", "/v1/products/"+text(p.rec["id"]), nil
		}
	}
	h.do(c)
}

// Orders: customers place them for themselves, which reserves stock; admins move them
// through their states, and cancelling gives the stock back.

// orderItems picks what an order asks for and says how the shop must answer: 201; 422
// naming a product that is gone; 409 for an inactive product or for too little stock (in a
// concurrent round, other orders may take or give back stock meanwhile: 201 or 409).
func (h *shopRun) orderItems(concurrent bool) (items []any, want []int, field, why string) {
	qty := map[string]int64{}
	for i := range 1 + h.rng.IntN(3) {
		id := ""
		if p := h.product(nil); p != nil && !h.chance(12) {
			id = text(p.rec["id"])
		} else {
			id = h.goneProduct()
		}
		q := 1 + h.rng.IntN(3)
		if h.chance(8) {
			q = 1 + h.rng.IntN(30)
		}
		items = append(items, map[string]any{"product_id": id, "quantity": q})
		if h.m.products[id] == nil && field == "" {
			field = fmt.Sprintf("items[%d].product_id", i)
		}
		qty[id] += int64(q)
	}
	var inactive, short []string
	for _, id := range slices.Sorted(maps.Keys(qty)) {
		if p := h.m.products[id]; p != nil && !isActive(p) {
			inactive = append(inactive, fmt.Sprintf("product %s is inactive", id))
		} else if p != nil && qty[id] > h.m.stock(id) {
			short = append(short, fmt.Sprintf("product %s has %d in stock, the order asks %d", id, h.m.stock(id), qty[id]))
		}
	}
	why = strings.Join(slices.Concat(inactive, short), "; ")
	switch {
	case field != "" && len(inactive) > 0:
		return items, []int{409, 422}, "", why + "; " + field + " is gone"
	case field != "":
		return items, []int{422}, field, field + " is gone"
	case len(inactive) > 0:
		return items, []int{409}, "", why
	case concurrent:
		return items, []int{201, 409}, "", "(concurrent orders)"
	case len(short) > 0:
		return items, []int{409}, "", why
	}
	return items, []int{201}, "", "(enough stock)"
}

func (h *shopRun) createOrder(who *actor, concurrent bool) *call {
	items, want, field, why := h.orderItems(concurrent)
	c := h.orderCall(who, items, want, field)
	c.why = why
	return c
}

// orderCall places an order for items; an admin sometimes places it for a customer.
func (h *shopRun) orderCall(who *actor, items []any, want []int, field string) *call {
	body := map[string]any{"items": items}
	owner := who.sub
	switch {
	case who.admin && h.chance(3):
		owner = h.customer().sub
		body["customer_id"] = owner
	case h.chance(4):
		body["customer_id"] = owner
	}
	switch h.rng.IntN(6) {
	case 0:
		body["note"] = fmt.Sprintf("note %d", h.next())
	case 1:
		body["note"] = nil
	case 2:
		body["status"] = "pending" // the initial state may be named
	}
	c := &call{who: who, method: "POST", path: "/v1/orders", body: body, key: h.key(), want: want, field: field}
	c.then = func(res response) {
		h.checkNewOrder(c, res, body, owner)
		h.m.putRecord("orders", res.body)
	}
	return c
}

// checkNewOrder checks a placed order: its owner, its state, and prices copied from the
// products as they are.
func (h *shopRun) checkNewOrder(c *call, res response, body map[string]any, owner string) {
	h.t.Helper()
	h.holds(c, res, map[string]any{"customer_id": owner, "status": "pending", "version": 1, "note": body["note"]})
	items, _ := res.body["items"].([]any)
	sent := body["items"].([]any)
	if len(items) != len(sent) {
		h.failf(c, res, "%d items; %d were sent", len(items), len(sent))
	}
	total := int64(0)
	for i, it := range items {
		item, _ := it.(map[string]any)
		s := sent[i].(map[string]any)
		p := h.m.products[text(s["product_id"])]
		if p == nil {
			h.failf(c, res, "an order for a product that is gone was taken")
		}
		want := map[string]any{"product_id": s["product_id"], "quantity": s["quantity"], "name": p.rec["name"], "unit_price_cents": p.rec["price_cents"]}
		if !sameJSON(keep(item, "product_id", "quantity", "name", "unit_price_cents"), want) {
			h.failf(c, res, "item %d is %v; the model expects %v", i, item, want)
		}
		total += num(item["quantity"]) * num(item["unit_price_cents"])
	}
	h.holds(c, res, map[string]any{"total_cents": total})
}

// badOrder is an order the shop must refuse: bad members (422), a state other than the
// initial one (422), no Idempotency-Key (400), anonymous (401), or in another's name (403).
func (h *shopRun) badOrder() *call {
	who := h.orderer()
	p := h.product(func(p *modelProduct) bool { return isActive(p) && h.m.stock(text(p.rec["id"])) > 0 })
	pid := h.uuid()
	if p != nil {
		pid = text(p.rec["id"])
	}
	body := map[string]any{"items": []any{map[string]any{"product_id": pid, "quantity": 1}}}
	c := &call{who: who, method: "POST", path: "/v1/orders", body: body, key: h.key(), want: []int{422}}
	switch n := h.rng.IntN(10); {
	case n == 0 && p != nil:
		c.who, c.want = h.anon, []int{401}
	case n == 1 && p != nil:
		c.key, c.want, c.noReplay = "", []int{400}, true
	case n == 2 && p != nil && !who.admin:
		body["customer_id"] = h.someoneElse(who.sub).sub
		c.want = []int{403}
		if body["customer_id"] == "" {
			c.field, c.want = "customer_id", []int{422} // null is not a customer
			body["customer_id"] = nil
		}
	case n == 3 && p != nil:
		// Orders start pending: any other state on create is a validation error that names
		// the allowed initial states.
		body["status"] = []string{"paid", "shipped", "cancelled"}[h.rng.IntN(3)]
		c.field = "status"
		c.check = func(res response) {
			if !bytes.Contains(res.raw, []byte("pending")) {
				h.failf(c, res, "the problem does not name the initial state")
			}
		}
	case n == 4:
		// Without items there is nothing to hold; the shop may take such an order or refuse it.
		if h.chance(2) {
			delete(body, "items")
		} else {
			body["items"] = nil
		}
		c.want = []int{201, 422}
		c.then = func(res response) { h.m.putRecord("orders", res.body) }
	case p != nil:
		c.field = h.spoil(body, orderSpoilers)
	default:
		c.field = "items[0].product_id" // there is no product to order
	}
	return c
}

var nextStates = map[string][]string{"pending": {"paid", "cancelled"}, "paid": {"shipped", "cancelled"}}

var orderStates = []string{"pending", "paid", "shipped", "cancelled"}

// transition is an admin moving order o to a random state: allowed moves and staying put
// succeed, others are 409. In a race with other moves of the same order, either may happen.
func (h *shopRun) transition(o map[string]any, racing bool) *call {
	from, to := text(o["status"]), orderStates[h.rng.IntN(len(orderStates))]
	want := []int{409}
	if to == from || slices.Contains(nextStates[from], to) {
		want = []int{200}
	}
	if racing {
		want = []int{200, 409}
	}
	body := map[string]any{"status": to}
	c := &call{who: h.admin(), method: "PATCH", path: "/v1/orders/" + text(o["id"]), body: body, key: h.key(), want: want}
	if !racing && h.chance(4) {
		c.ifMatch = fmt.Sprintf(`"%d"`, num(o["version"]))
	}
	c.then = func(res response) {
		h.holds(c, res, body)
		h.holds(c, res, keep(o, "customer_id", "items", "total_cents", "note", "created_at"))
		h.m.putRecord("orders", res.body)
	}
	return c
}

func (h *shopRun) transitionOrder() {
	if o := h.order(nil); o != nil {
		h.do(h.transition(o, false))
		return
	}
	h.do(h.createOrder(h.orderer(), false))
}

func (h *shopRun) patchOrderBad() {
	o := h.order(nil)
	if o == nil {
		return
	}
	patch := map[string]any{}
	c := &call{who: h.admin(), method: "PATCH", path: "/v1/orders/" + text(o["id"]), body: patch, key: h.key(), want: []int{422}}
	switch {
	case h.chance(8):
		patch["note"] = "x"
		c.key, c.want, c.noReplay = "", []int{400}, true
	case h.chance(8):
		patch["note"] = "x"
		c.path, c.want = "/v1/orders/"+h.uuid(), []int{404}
	default:
		c.field = h.spoil(patch, orderPatchSpoilers)
	}
	h.do(c)
}

// editOrder is an admin changing an order's note, or its items. Changing what an order
// holds must keep the stock invariant, whether the shop moves the stock or refuses.
func (h *shopRun) editOrder() {
	o := h.order(nil)
	if o == nil {
		return
	}
	patch := map[string]any{"note": fmt.Sprintf("edited %d", h.next())}
	if h.chance(3) {
		patch["note"] = nil
	}
	c := &call{who: h.admin(), method: "PATCH", path: "/v1/orders/" + text(o["id"]), body: patch, key: h.key(), want: []int{200}}
	c.then = func(res response) {
		// Prices are snapshots: editing the note does not re-price the order.
		h.holds(c, res, keep(o, "customer_id", "status", "items", "total_cents", "created_at"))
		h.m.putRecord("orders", res.body)
	}
	if h.chance(3) {
		items, _, _, _ := h.orderItems(false)
		patch = map[string]any{"items": items}
		c.body, c.want = patch, []int{200, 409, 422}
		c.then = func(res response) { h.m.putRecord("orders", res.body) }
	}
	h.do(c)
}

func (h *shopRun) putOrder() {
	o := h.order(func(o map[string]any) bool {
		items, _ := o["items"].([]any)
		for _, it := range items {
			if p := h.m.products[text(it.(map[string]any)["product_id"])]; p == nil || !isActive(p) {
				return false
			}
		}
		return len(items) > 0
	})
	if o == nil {
		return
	}
	var items []any
	for _, it := range o["items"].([]any) {
		items = append(items, keep(it.(map[string]any), "product_id", "quantity"))
	}
	t := h.transition(o, false)
	body := map[string]any{"items": items, "status": t.body.(map[string]any)["status"], "note": fmt.Sprintf("put %d", h.next())}
	if h.chance(3) {
		delete(body, "note") // omitted: null
	}
	// The items go back as they are. A shop that keeps stock right by making items immutable
	// may refuse them without their computed members; then the 422 names items.
	c := &call{who: t.who, method: "PUT", path: t.path, body: body, key: h.key(), want: append(slices.Clone(t.want), 422), field: "items"}
	c.then = func(res response) {
		h.holds(c, res, map[string]any{"status": body["status"], "note": body["note"], "customer_id": o["customer_id"]}) // an omitted note is null
		h.holds(c, res, map[string]any{"items": o["items"]})
		h.m.putRecord("orders", res.body)
	}
	h.do(c)
}

// ordersByOthers: customers may read their orders but not change or delete them; nobody
// deletes orders; and a caller who may not read an order cannot tell it from a missing one.
func (h *shopRun) ordersByOthers() {
	o := h.order(nil)
	if o == nil {
		return
	}
	id, owner := text(o["id"]), text(o["customer_id"])
	ownerActor := h.actorOf(owner)
	switch n := h.rng.IntN(4); {
	case n == 0 && ownerActor != nil && !ownerActor.admin:
		h.do(&call{who: ownerActor, method: "PATCH", path: "/v1/orders/" + id, body: map[string]any{"note": "mine"}, key: h.key(), want: []int{403}})
	case n == 1 && ownerActor != nil && !ownerActor.admin:
		h.do(&call{who: ownerActor, method: "DELETE", path: "/v1/orders/" + id, want: []int{403}})
	case n == 2:
		h.do(&call{who: h.admin(), method: "DELETE", path: "/v1/orders/" + id, want: []int{403}})
	default:
		method := []string{"GET", "PATCH", "PUT", "DELETE"}[h.rng.IntN(4)]
		var body any
		if method == "PATCH" || method == "PUT" {
			body = map[string]any{"status": "cancelled"}
		}
		h.hiddenLikeMissing(h.someoneElse(owner), method, "orders", id, body)
	}
}

func (h *shopRun) actorOf(sub string) *actor {
	for _, a := range slices.Concat(h.admins, h.customers) {
		if a.sub == sub {
			return a
		}
	}
	return nil
}

// hiddenLikeMissing sends the same request about a record who may not read and about one
// that does not exist: the answers must not tell them apart.
func (h *shopRun) hiddenLikeMissing(who *actor, method, resource, id string, body any) {
	h.t.Helper()
	missing := h.uuid()
	ask := func(target string) (*call, response) {
		c := &call{who: who, method: method, path: "/v1/" + resource + "/" + target, body: body, want: []int{401, 403, 404}}
		if method != "GET" {
			c.key = h.key()
		}
		return c, h.do(c)
	}
	hc, hidden := ask(id)
	_, gone := ask(missing)
	same := hidden.status == gone.status && hidden.header.Get("WWW-Authenticate") == gone.header.Get("WWW-Authenticate")
	for _, k := range []string{"type", "title", "detail", "errors"} {
		a, b := jsonValue(hidden.body[k]), jsonValue(gone.body[k])
		same = same && withoutID(fmt.Sprint(a), id) == withoutID(fmt.Sprint(b), missing)
	}
	if !same {
		h.failf(hc, hidden, "a record hidden from %s answers unlike a missing one, which answers\n  %d %s", who, gone.status, gone.raw)
	}
}

// Customers: each customer keeps one record of their own; admins keep anyone's.

func (h *shopRun) customerBody() map[string]any {
	n := h.next()
	return map[string]any{"email": fmt.Sprintf("c%d@example.com", n), "name": fmt.Sprintf("Customer %d", n)}
}

func (h *shopRun) createCustomer() {
	who := h.customer()
	if h.chance(3) {
		who = h.admin()
	}
	body := h.customerBody()
	owner := who.sub
	switch {
	case who.admin && !h.chance(5):
		owner = []string{"alice", "bob", "carol", "dave", "erin"}[h.rng.IntN(5)]
		body["user_id"] = owner
	case h.chance(3):
		body["user_id"] = owner
	}
	want := []int{201}
	if h.m.customerOf(owner) != nil {
		want = []int{409} // user_id is unique
	}
	h.do(h.customerCreate(who, body, owner, want))
}

func (h *shopRun) customerCreate(who *actor, body map[string]any, owner string, want []int) *call {
	c := &call{who: who, method: "POST", path: "/v1/customers", body: body, want: want}
	if h.chance(3) {
		c.key = h.key()
	}
	c.then = func(res response) {
		h.holds(c, res, body)
		h.holds(c, res, map[string]any{"user_id": owner, "version": 1})
		h.m.putRecord("customers", res.body)
	}
	return c
}

func (h *shopRun) createCustomerBad() {
	who := h.customer()
	body := h.customerBody()
	c := &call{who: who, method: "POST", path: "/v1/customers", body: body, want: []int{422}}
	switch h.rng.IntN(4) {
	case 0:
		// Anonymous callers have no identity to own a record with.
		c.who, c.want = h.anon, []int{401}
		if h.chance(2) {
			body["user_id"] = h.customer().sub
		}
	case 1:
		body["user_id"] = h.someoneElse(who.sub).sub
		c.want = []int{403}
		if body["user_id"] == "" {
			c.field, c.want = "user_id", []int{422}
			body["user_id"] = nil
		}
	default:
		c.field = h.spoil(body, customerSpoilers)
	}
	h.do(c)
}

func (h *shopRun) patchCustomer() {
	rec := h.customerRecord()
	if rec == nil {
		h.createCustomer()
		return
	}
	id := text(rec["id"])
	who := h.actorOf(text(rec["user_id"]))
	if who == nil || h.chance(3) {
		who = h.admin()
	}
	if h.chance(4) {
		h.hiddenLikeMissing(h.someoneElse(text(rec["user_id"])), "PATCH", "customers", id, map[string]any{"name": "Mallory"})
		return
	}
	patch := map[string]any{}
	c := &call{who: who, method: "PATCH", path: "/v1/customers/" + id, body: patch, want: []int{200}}
	if h.chance(3) {
		c.field, c.want = h.spoil(patch, customerPatchSpoilers), []int{422}
	} else {
		patch["name"] = fmt.Sprintf("Renamed %d", h.next())
		if h.chance(2) {
			patch["email"] = fmt.Sprintf("r%d@example.com", h.next())
		}
		if h.chance(3) {
			c.ifMatch = fmt.Sprintf(`"%d"`, num(rec["version"]))
		}
	}
	c.then = func(res response) {
		h.holds(c, res, patch)
		h.holds(c, res, keep(rec, "user_id", "created_at"))
		h.m.putRecord("customers", res.body)
	}
	h.do(c)
}

func (h *shopRun) deleteCustomer() {
	rec := h.customerRecord()
	if rec == nil {
		return
	}
	id, owner := text(rec["id"]), text(rec["user_id"])
	switch ownerActor := h.actorOf(owner); {
	case h.chance(3):
		h.hiddenLikeMissing(h.someoneElse(owner), "DELETE", "customers", id, nil)
	case ownerActor != nil && !ownerActor.admin && h.chance(2):
		h.do(&call{who: ownerActor, method: "DELETE", path: "/v1/customers/" + id, want: []int{403}})
	default:
		h.do(&call{who: h.admin(), method: "DELETE", path: "/v1/customers/" + id, want: []int{204},
			then: func(response) { h.m.remove("customers", id) }})
	}
}

// Reads.

// readOne reads one record as someone: what they may read is as the model says, what they
// may not read is indistinguishable from nothing.
func (h *shopRun) readOne() {
	who := h.anyone()
	switch h.rng.IntN(3) {
	case 0:
		id := h.pick(h.m.productIDs, func(string) bool { return true })
		if id == "" || h.chance(5) {
			id = h.uuid()
		}
		c := &call{who: who, method: "GET", path: "/v1/products/" + id, want: []int{404}}
		if p := h.m.products[id]; p != nil {
			c.want = []int{200}
			c.then = func(res response) {
				h.holds(c, res, keep(p.rec, productFields...))
				h.holds(c, res, map[string]any{"stock": h.m.stock(id)})
				if num(res.body["version"]) < num(p.rec["version"]) {
					h.failf(c, res, "an older version than the last acknowledged %d", num(p.rec["version"]))
				}
			}
		}
		h.do(c)
	default:
		resource := []string{"orders", "customers"}[h.rng.IntN(2)]
		recs, ids := h.m.orders, h.m.orderIDs
		if resource == "customers" {
			recs, ids = h.m.customers, h.m.customerIDs
		}
		rec := recs[h.pick(ids, func(id string) bool { return recs[id] != nil })]
		if rec == nil {
			return
		}
		id := text(rec["id"])
		if !visible(who, resource, rec) {
			h.hiddenLikeMissing(who, "GET", resource, id, nil)
			return
		}
		c := &call{who: who, method: "GET", path: "/v1/" + resource + "/" + id, want: []int{200}}
		etag := fmt.Sprintf(`"%d"`, num(rec["version"]))
		c.then = func(res response) {
			if !sameJSON(res.body, rec) || res.header.Get("ETag") != etag {
				h.failf(c, res, "the last acknowledged write answered\n  %v", rec)
			}
			// The ETag names the version: asking again with it is a 304 without a body.
			again := &call{who: who, method: "GET", path: c.path, header: []string{"If-None-Match", etag}, want: []int{304}}
			if r := h.do(again); len(r.raw) != 0 {
				h.failf(again, r, "a 304 with a body")
			}
		}
		h.do(c)
	}
}

// listFilter is a filter of a list and the same condition in Go.
type listFilter struct {
	cel   string
	match func(rec map[string]any) bool
}

func (h *shopRun) filters(resource string) []listFilter {
	all := listFilter{"", func(map[string]any) bool { return true }}
	price, total := h.rng.IntN(5000), h.rng.IntN(10000)
	stock := int64(h.rng.IntN(10))
	state := orderStates[h.rng.IntN(len(orderStates))]
	who := h.customer().sub
	switch resource {
	case "products":
		return []listFilter{all,
			{"active == true", func(r map[string]any) bool { return r["active"] == true }},
			{fmt.Sprintf("price_cents > %d", price), func(r map[string]any) bool { return num(r["price_cents"]) > int64(price) }},
			{fmt.Sprintf("stock >= %d", stock), func(r map[string]any) bool { return h.m.stock(text(r["id"])) >= stock }},
		}
	case "orders":
		return []listFilter{all,
			{fmt.Sprintf("status == %q", state), func(r map[string]any) bool { return r["status"] == state }},
			{fmt.Sprintf("total_cents > %d", total), func(r map[string]any) bool { return r["total_cents"] != nil && num(r["total_cents"]) > int64(total) }},
			{fmt.Sprintf("customer_id == %q", who), func(r map[string]any) bool { return r["customer_id"] == who }},
			{"note == null", func(r map[string]any) bool { return r["note"] == nil }},
		}
	}
	return []listFilter{all,
		{fmt.Sprintf("user_id == %q", who), func(r map[string]any) bool { return r["user_id"] == who }}}
}

// list reads a filtered list, page by page, as someone: exactly the records the model says
// match and they may read.
func (h *shopRun) list() {
	who := h.anyone()
	resource := []string{"products", "orders", "customers"}[h.rng.IntN(3)]
	fs := h.filters(resource)
	f := fs[h.rng.IntN(len(fs))]
	query := ""
	if f.cel != "" {
		query = "&filter=" + urlQuery(f.cel)
	}
	got := h.listAll(who, resource, query)
	want := map[string]map[string]any{}
	for id, rec := range h.m.records(resource) {
		if visible(who, resource, rec) && f.match(rec) {
			want[id] = rec
		}
	}
	if got == nil && who.sub == "" && resource != "products" {
		return // refused to anonymous callers as a whole
	}
	h.sameIDs(resource+" matching "+f.cel, who.String(), got, want)
}

// Idempotency keys.

// replay repeats a keyed request already answered: the same answer, byte for byte, and
// nothing else happens.
func (h *shopRun) replay() *call {
	if len(h.keyed) == 0 {
		return h.createOrder(h.customer(), false)
	}
	return h.replayOf(h.keyed[h.rng.IntN(len(h.keyed))])
}

func (h *shopRun) replayOf(first answered) *call {
	c := *first.c
	c.want, c.field, c.noReplay, c.then = []int{first.res.status}, "", true, nil
	c.check = func(res response) {
		if res.header.Get("Idempotent-Replayed") != "true" || !bytes.Equal(res.raw, first.res.raw) {
			h.failf(&c, res, "a replay that differs from the first answer\n  %d %s", first.res.status, first.res.raw)
		}
	}
	return &c
}

// reuseKey sends a keyed request's key again with another body: refused, nothing written.
func (h *shopRun) reuseKey() {
	var maps []answered
	for _, a := range h.keyed {
		if _, ok := a.c.body.(map[string]any); ok && a.c.path != "/v1/batch" {
			maps = append(maps, a)
		}
	}
	if len(maps) == 0 {
		return
	}
	first := maps[h.rng.IntN(len(maps))]
	c := *first.c
	body := jsonValue(c.body).(map[string]any)
	body["note"] = fmt.Sprintf("reused %d", h.next())
	c.body, c.want, c.field, c.noReplay, c.then, c.check = body, []int{422}, "", true, nil, nil
	h.do(&c)
}

// staleIfMatch writes with an ETag older than the record's: 412, nothing written.
func (h *shopRun) staleIfMatch() {
	c := &call{who: h.admin(), method: "PATCH", want: []int{412}, key: h.key()}
	switch h.rng.IntN(3) {
	case 0:
		p := h.product(func(p *modelProduct) bool { return num(p.rec["version"]) > 1 })
		if p == nil {
			return
		}
		// The product may have moved on with orders since: one before the last write is stale.
		c.path, c.body, c.ifMatch = "/v1/products/"+text(p.rec["id"]), map[string]any{"name": "Stale"}, fmt.Sprintf(`"%d"`, num(p.rec["version"])-1)
	case 1:
		o := h.order(func(o map[string]any) bool { return num(o["version"]) > 1 })
		if o == nil {
			return
		}
		c.path, c.body, c.ifMatch = "/v1/orders/"+text(o["id"]), map[string]any{"note": "stale"}, fmt.Sprintf(`"%d"`, num(o["version"])-1)
	default:
		rec := h.customerRecord()
		if rec == nil {
			return
		}
		c.path, c.body, c.ifMatch = "/v1/customers/"+text(rec["id"]), map[string]any{"name": "Stale"}, fmt.Sprintf(`"%d"`, num(rec["version"])+1)
	}
	h.do(c)
}

// batch sends several writes of one caller as one POST /v1/batch: all of them happen, each
// as it would alone, or none does, and the answer names an operation that failed (which
// one, when several would, is the engine's choice: it validates every body first).
func (h *shopRun) batch() {
	who := h.orderer()
	var ops []*call
	moved := map[string]bool{}
	for range 2 + h.rng.IntN(3) {
		var c *call
		switch n := h.rng.IntN(4); {
		case n == 0:
			c = h.badOrder()
		case n == 1 && who.admin:
			if o := h.order(func(o map[string]any) bool { return !moved[text(o["id"])] }); o != nil {
				moved[text(o["id"])] = true
				c = h.transition(o, false)
			}
		default:
			// An earlier operation may take the stock this one counts on.
			c = h.createOrder(who, len(ops) > 0)
		}
		if c != nil && c.who == who && c.key != "" {
			ops = append(ops, c)
		}
	}
	if len(ops) == 0 {
		return
	}
	var list []any
	for _, op := range ops {
		m := map[string]any{"method": op.method, "path": op.path, "body": op.body}
		if op.ifMatch != "" {
			m["if_match"] = op.ifMatch
		}
		list = append(list, m)
	}
	c := &call{who: who, method: "POST", path: "/v1/batch", body: map[string]any{"operations": list}, key: h.key(), want: []int{200}}
	for _, op := range ops {
		if !slices.ContainsFunc(op.want, succeeded) {
			c.want = slices.DeleteFunc(c.want, func(s int) bool { return s == 200 })
		}
		c.want = append(c.want, slices.DeleteFunc(slices.Clone(op.want), succeeded)...)
	}
	c.check = func(res response) {
		if res.status == 200 || res.header.Get("Idempotent-Replayed") != "" {
			return
		}
		i := int(num(res.body["index"]))
		if _, ok := res.body["index"].(float64); !ok || i >= len(ops) || !slices.Contains(ops[i].want, res.status) {
			h.failf(c, res, "the failing operation is not one that may fail so")
		}
		if f := ops[i].field; res.status == 422 && f != "" {
			if _, ok := res.fieldErrors()[f]; !ok {
				h.failf(c, res, "the field errors do not name %s", f)
			}
		}
	}
	c.then = func(res response) {
		results, _ := res.body["results"].([]any)
		if len(results) != len(ops) {
			h.failf(c, res, "%d results for %d operations", len(results), len(ops))
		}
		for i, r := range results {
			result, _ := r.(map[string]any)
			one := response{status: int(num(result["status"])), header: res.header, raw: res.raw}
			one.body, _ = result["body"].(map[string]any)
			h.checkAnswer(ops[i], one)
			if !succeeded(one.status) {
				h.failf(ops[i], one, "in a batch that succeeded, operation %d answered %d; alone the model allows %v %s", i, one.status, ops[i].want, ops[i].why)
			}
			if ops[i].then != nil {
				ops[i].then(one)
			}
		}
	}
	h.do(c)
}

func succeeded(status int) bool { return status/100 == 2 }

// Concurrent scenarios.

// flashSale: an admin sets a product's stock to a few units, and several customers order
// them at once. Exactly what was sold left the stock, and nobody was refused while enough
// remained.
func (h *shopRun) flashSale() {
	p := h.product(isActive)
	if p == nil {
		h.createProduct()
		return
	}
	id := text(p.rec["id"])
	units := 1 + h.rng.IntN(4)
	set := &call{who: h.admin(), method: "PATCH", path: "/v1/products/" + id, body: map[string]any{"stock": units}, want: []int{200}}
	set.then = func(res response) { h.m.putProduct(res.body, true) }
	h.do(set)
	var calls []*call
	var qty []int64
	deleting := h.chance(4) // an admin deletes the product in the middle of the sale
	want := []int{201, 409}
	if deleting {
		want = []int{201, 409, 422}
	}
	for range 4 + h.rng.IntN(5) {
		q := 1 + h.rng.IntN(2)
		qty = append(qty, int64(q))
		calls = append(calls, h.orderCall(h.customer(), []any{map[string]any{"product_id": id, "quantity": q}}, want, ""))
	}
	if deleting {
		// Last, so that the orders taken before it find the product in the model.
		del := &call{who: h.admin(), method: "DELETE", path: "/v1/products/" + id, want: []int{204, 409}}
		del.then = func(response) { h.m.remove("products", id) }
		calls = append(calls, del)
	}
	answers := h.doAll(calls)
	if h.m.products[id] == nil {
		// Orders after the delete found no product; the orders before it keep their items.
		h.do(&call{who: h.anon, method: "GET", path: "/v1/products/" + id, want: []int{404}})
		return
	}
	after := h.do(&call{who: h.anon, method: "GET", path: "/v1/products/" + id, want: []int{200}})
	left := num(after.body["stock"])
	sold := int64(0)
	for i, res := range answers {
		if res.status == 201 {
			sold += qty[i]
		}
	}
	if int64(units)-sold != left {
		h.fatalf("flash sale of %d units of %s: %d sold, %d left", units, id, sold, left)
	}
	for i, res := range answers[:len(qty)] {
		if res.status == 409 && (qty[i] <= left || res.body["id"] != id) || res.status == 422 {
			h.failf(calls[i], res, "refused while %d units of a product that is still there remained, or without naming the product", left)
		}
	}
}

// parallelRetries: a client retries one keyed write several times at once. One request
// runs; the others get its answer byte for byte, or are told it is still in flight.
func (h *shopRun) parallelRetries() {
	c := h.createOrder(h.customer(), true)
	if o := h.order(nil); o != nil && h.chance(2) {
		c = h.transition(o, true)
	}
	copies := make([]*call, 3+h.rng.IntN(4))
	for i := range copies {
		copies[i] = c
	}
	answers := h.sendAll(copies, nil)
	first := -1
	for i, res := range answers {
		if res.header.Get("Idempotent-Replayed") == "" && !inFlight(res) {
			if first >= 0 {
				h.failf(c, res, "a second request with the same key ran too; the first answered\n  %d %s", answers[first].status, answers[first].raw)
			}
			first = i
		}
	}
	if first < 0 {
		h.failf(c, answers[0], "no request with the key ran")
	}
	h.accept(c, answers[first])
	h.do(h.replayOf(answered{c, answers[first]}))
	for _, res := range answers {
		switch {
		case inFlight(res):
			h.checkAnswer(&call{who: c.who, method: c.method, path: c.path, body: c.body, key: c.key, want: []int{409}}, res)
		case res.header.Get("Idempotent-Replayed") == "true" && !bytes.Equal(res.raw, answers[first].raw):
			h.failf(c, res, "a replay that differs from the first answer\n  %d %s", answers[first].status, answers[first].raw)
		}
	}
	// Once the first request has finished, every retry is a replay, however many come at
	// once: none is told the request is still in flight.
	again := h.replayOf(answered{c, answers[first]})
	for i := range copies {
		copies[i] = again
	}
	for _, res := range h.sendAll(copies, nil) {
		h.accept(again, res)
	}
}

// racingTransitions: an admin's several moves of one order at once. Each success is one
// step along the state machine, versions never repeat with different contents, and the
// order ends as the last success left it.
func (h *shopRun) racingTransitions() {
	o := h.order(func(o map[string]any) bool { return len(nextStates[text(o["status"])]) > 0 })
	if o == nil {
		h.do(h.createOrder(h.customer(), false))
		return
	}
	var calls []*call
	for range 2 + h.rng.IntN(3) {
		calls = append(calls, h.transition(o, true))
	}
	answers := h.doAll(calls)
	byVersion := map[int64]response{}
	for i, res := range answers {
		if res.status != 200 {
			continue
		}
		v := num(res.body["version"])
		if prev, ok := byVersion[v]; ok && !bytes.Equal(prev.raw, res.raw) {
			h.failf(calls[i], res, "two writes answered version %d with different records:\n  %s", v, prev.raw)
		}
		byVersion[v] = res
	}
	state, version := text(o["status"]), num(o["version"])
	for _, v := range slices.Sorted(maps.Keys(byVersion)) {
		to := text(byVersion[v].body["status"])
		switch {
		case v == version && to == state:
		case v == version+1 && slices.Contains(nextStates[state], to):
			state, version = to, v
		default:
			h.fatalf("order %s went from %s (version %d) to %s (version %d): %s", o["id"], state, version, to, v, byVersion[v].raw)
		}
	}
}

// mixed: orders, moves of different orders, reads, replays and bad requests all at once,
// while an admin follows the change feed.
func (h *shopRun) mixed() {
	var calls []*call
	var races [][]int // calls of which exactly one must succeed
	moved, keys, signing := map[string]bool{}, map[string]bool{}, map[string]bool{}
	race := func(cs ...*call) {
		var group []int
		for _, c := range cs {
			group = append(group, len(calls))
			calls = append(calls, c)
		}
		races = append(races, group)
	}
	for range 8 + h.rng.IntN(8) {
		switch h.rng.IntN(9) {
		case 0, 1:
			calls = append(calls, h.createOrder(h.orderer(), true))
		case 2:
			if o := h.order(func(o map[string]any) bool { return !moved[text(o["id"])] }); o != nil {
				moved[text(o["id"])] = true
				calls = append(calls, h.transition(o, false))
			}
		case 3:
			if o := h.order(nil); o != nil {
				calls = append(calls, h.readLater(o))
			}
		case 4:
			c := h.customer()
			calls = append(calls, &call{who: c, method: "GET", path: "/v1/orders?limit=50", want: []int{200}, check: func(res response) {
				for _, it := range res.body["items"].([]any) {
					if !visible(c, "orders", it.(map[string]any)) {
						h.fatalf("%s listed an order of someone else's: %v", c, it)
					}
				}
			}})
		case 5:
			// One replay per key here: parallel replays of one key are parallelRetries' part.
			if r := h.replay(); r.key == "" || !keys[r.key] {
				keys[r.key] = true
				calls = append(calls, r)
			}
		case 6:
			// A customer signs up twice at once: user_id is unique, one record is made.
			if c := h.customer(); h.m.customerOf(c.sub) == nil && !signing[c.sub] {
				signing[c.sub] = true
				race(h.customerCreate(c, h.customerBody(), c.sub, []int{201, 409}), h.customerCreate(c, h.customerBody(), c.sub, []int{201, 409}))
			}
		case 7:
			// Two admins create products with one new SKU at once: one of them gets it.
			sku := fmt.Sprintf("P-%d", h.next())
			a, b := h.productBody(), h.productBody()
			a["sku"], b["sku"] = sku, sku
			ca, cb := h.productCreate(a), h.productCreate(b)
			ca.want, cb.want = []int{201, 409}, []int{201, 409}
			race(ca, cb)
		default:
			calls = append(calls, h.badOrder())
		}
	}
	answers := h.sendAll(calls, func(done <-chan struct{}) error {
		for {
			if err := h.feeds[0].poll(h); err != nil {
				return err
			}
			select {
			case <-done:
				return nil
			default:
			}
		}
	})
	for i, c := range calls {
		h.accept(c, answers[i])
	}
	for _, group := range races {
		won := 0
		for _, i := range group {
			if succeeded(answers[i].status) {
				won++
			}
		}
		if won != 1 {
			h.failf(calls[group[0]], answers[group[0]], "%d of %d racing creates of one unique value succeeded; the other answered\n  %d %s",
				won, len(group), answers[group[1]].status, answers[group[1]].raw)
		}
	}
}

// readLater reads order o as its owner or an admin while it may be changing: it is there,
// at the version the model knows or a later one.
func (h *shopRun) readLater(o map[string]any) *call {
	who := h.actorOf(text(o["customer_id"]))
	if who == nil || h.chance(2) {
		who = h.admin()
	}
	c := &call{who: who, method: "GET", path: "/v1/orders/" + text(o["id"]), want: []int{200}}
	c.check = func(res response) {
		if num(res.body["version"]) < num(o["version"]) || res.body["customer_id"] != o["customer_id"] {
			h.failf(c, res, "the order was acknowledged at version %d: %v", num(o["version"]), o)
		}
	}
	return c
}
