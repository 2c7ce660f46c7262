package main

// The model of TestShopModel and the checks of the server against it.

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// shopModel is what the test knows must be true of the shop.
type shopModel struct {
	products    map[string]*modelProduct
	productIDs  []string // every product ever created, deleted ones too, in order
	orders      map[string]map[string]any
	orderIDs    []string
	customers   map[string]map[string]any
	customerIDs []string
	acks        []ack // every acknowledged write
	ackSet      map[ack]bool
	history     map[string][]map[string]any // every acknowledged version of each order
}

// modelProduct is a product as an admin last wrote it. Orders move its stock and version
// since; baseline says where the stock must be.
type modelProduct struct {
	rec map[string]any
	// baseline is the stock an admin set plus what non-cancelled orders held at that moment:
	// stock now + held now == baseline, whatever orders come and go.
	baseline int64
}

// ack is an acknowledged write: its record must be readable at that version or later, and
// its event must be in the feed.
type ack struct {
	resource string
	id       string
	version  int64
	deleted  bool
}

func newShopModel() *shopModel {
	return &shopModel{products: map[string]*modelProduct{}, orders: map[string]map[string]any{}, customers: map[string]map[string]any{}, ackSet: map[ack]bool{}, history: map[string][]map[string]any{}}
}

// held sums, per product, the quantities of the orders that are not cancelled.
func held(orders map[string]map[string]any) map[string]int64 {
	out := map[string]int64{}
	for _, o := range orders {
		if o["status"] == "cancelled" {
			continue
		}
		items, _ := o["items"].([]any)
		for _, it := range items {
			item, _ := it.(map[string]any)
			out[text(item["product_id"])] += num(item["quantity"])
		}
	}
	return out
}

// stock is where product id's stock must be now.
func (m *shopModel) stock(id string) int64 { return m.products[id].baseline - held(m.orders)[id] }

// putProduct takes an admin's acknowledged write of a product; setStock says the write set
// the stock, which makes it the new baseline.
func (m *shopModel) putProduct(rec map[string]any, setStock bool) {
	id := text(rec["id"])
	p, ok := m.products[id]
	if !ok {
		p = &modelProduct{}
		m.products[id] = p
		m.productIDs = append(m.productIDs, id)
	}
	p.rec = rec
	if setStock || !ok {
		p.baseline = num(rec["stock"]) + held(m.orders)[id]
	}
	m.ack(ack{resource: "products", id: id, version: num(rec["version"])})
}

// putRecord takes an acknowledged write of an order or a customer. Answers to concurrent
// writes may come in any order: the highest version is the record now.
func (m *shopModel) putRecord(resource string, rec map[string]any) {
	id := text(rec["id"])
	recs, ids := m.orders, &m.orderIDs
	if resource == "customers" {
		recs, ids = m.customers, &m.customerIDs
	}
	if resource == "orders" {
		m.history[id] = append(m.history[id], rec)
	}
	if old, ok := recs[id]; !ok {
		*ids = append(*ids, id)
		recs[id] = rec
	} else if num(rec["version"]) > num(old["version"]) {
		recs[id] = rec
	}
	m.ack(ack{resource: resource, id: id, version: num(rec["version"])})
}

func (m *shopModel) remove(resource, id string) {
	switch resource {
	case "products":
		delete(m.products, id)
	case "customers":
		delete(m.customers, id)
	}
	m.ack(ack{resource: resource, id: id, deleted: true})
}

func (m *shopModel) ack(a ack) {
	m.acks = append(m.acks, a)
	m.ackSet[a] = true
}

// acked says whether a write of resource id at version, or its delete, was acknowledged.
func (m *shopModel) acked(resource, id string, version int64, deleted bool) bool {
	if deleted {
		version = 0
	}
	return m.ackSet[ack{resource: resource, id: id, version: version, deleted: deleted}]
}

// records returns the live records of resource by id; products as an admin last wrote them.
func (m *shopModel) records(resource string) map[string]map[string]any {
	switch resource {
	case "orders":
		return m.orders
	case "customers":
		return m.customers
	}
	out := map[string]map[string]any{}
	for id, p := range m.products {
		out[id] = p.rec
	}
	return out
}

// ordersFor tells the story of every order that ever held product id: the state of each
// acknowledged version and how many of it the version asks for.
func (m *shopModel) ordersFor(id string) string {
	var b strings.Builder
	for _, oid := range m.orderIDs {
		var steps []string
		ever := false
		for _, o := range m.history[oid] {
			q := quantityOf(o, id)
			ever = ever || q > 0
			steps = append(steps, fmt.Sprintf("v%d %s %d", num(o["version"]), o["status"], q))
		}
		if ever {
			fmt.Fprintf(&b, "  order %s: %s\n", oid, strings.Join(steps, " -> "))
		}
	}
	return b.String()
}

// quantityOf is how many of product id order o asks for.
func quantityOf(o map[string]any, id string) int64 {
	q := int64(0)
	items, _ := o["items"].([]any)
	for _, it := range items {
		if item, _ := it.(map[string]any); item["product_id"] == id {
			q += num(item["quantity"])
		}
	}
	return q
}

// customerOf returns the customer record of user sub, if there is one.
func (m *shopModel) customerOf(sub string) map[string]any {
	for _, id := range m.customerIDs {
		if c, ok := m.customers[id]; ok && c["user_id"] == sub {
			return c
		}
	}
	return nil
}

// visible says whether the shop's read rules let who read rec of resource: products are
// public; orders and customer records belong to their customer, and admins see everything.
func visible(who *actor, resource string, rec map[string]any) bool {
	switch resource {
	case "products":
		return true
	case "orders":
		return who.admin || who.sub != "" && rec["customer_id"] == who.sub
	case "customers":
		return who.admin || who.sub != "" && rec["user_id"] == who.sub
	}
	return false
}

// members are the members of each resource's records, as every answer and event shows
// them: an unset field is null, never missing.
var members = map[string][]string{
	"products":  {"id", "sku", "name", "description", "price_cents", "stock", "active", "created_at", "updated_at", "version"},
	"orders":    {"id", "customer_id", "status", "items", "total_cents", "note", "created_at", "updated_at", "version"},
	"customers": {"id", "user_id", "email", "name", "created_at", "updated_at", "version"},
}

// whole says whether rec has exactly the members of a record of resource.
func whole(resource string, rec map[string]any) bool {
	return slices.Equal(slices.Sorted(maps.Keys(rec)), slices.Sorted(slices.Values(members[resource])))
}

// productFields are the members of a product that only admins change.
var productFields = []string{"id", "sku", "name", "description", "price_cents", "active", "created_at"}

// checkAll compares everything the server holds with the model: the records, the stock
// invariant, what each caller can list, and the change feed as each caller sees it.
func (h *shopRun) checkAll() {
	h.t.Helper()
	root := h.admins[0]
	products := h.listAll(h.anon, "products", "")
	orders := h.listAll(root, "orders", "")
	customers := h.listAll(h.admins[1], "customers", "")

	h.sameIDs("products", "anonymous", products, h.m.records("products"))
	h.sameIDs("orders", root.sub, orders, h.m.orders)
	h.sameIDs("customers", h.admins[1].sub, customers, h.m.customers)
	h.checkStock(products, orders)
	for _, p := range products {
		mp := h.m.products[text(p["id"])]
		if !sameJSON(keep(p, productFields...), keep(mp.rec, productFields...)) || num(p["version"]) < num(mp.rec["version"]) {
			h.fatalf("product %s is\n  %v\nbut an admin last wrote\n  %v", p["id"], p, mp.rec)
		}
	}
	// Orders and customers change only by acknowledged writes: each is exactly the last one.
	h.sameRecords("orders", orders, h.m.orders)
	h.sameRecords("customers", customers, h.m.customers)

	// Each customer lists exactly their own; anonymous callers list none.
	for _, c := range h.customers {
		for _, res := range []string{"orders", "customers"} {
			mine := map[string]map[string]any{}
			for id, rec := range h.m.records(res) {
				if visible(c, res, rec) {
					mine[id] = rec
				}
			}
			got := h.listAll(c, res, "")
			h.sameIDs(res, c.sub, got, mine)
			h.sameRecords(res, got, mine)
		}
	}
	for _, res := range []string{"orders", "customers"} {
		h.listAll(h.anon, res, "")
	}
	h.checkFeeds(products, orders, customers)
}

// checkStock checks the stock invariant of every product the model knows: stock now +
// what the server's orders that are not cancelled hold == the stock admins set.
func (h *shopRun) checkStock(products, orders []map[string]any) {
	h.t.Helper()
	hold := held(byID(orders))
	for _, p := range products {
		id := text(p["id"])
		mp := h.m.products[id]
		if s := num(p["stock"]); mp != nil && s+hold[id] != mp.baseline {
			h.failing = true // this is the check fatalf would make on the way out
			h.fatalf("product %s: stock %d + %d held by orders that are not cancelled = %d, but admins set %d\n  product %v\nthe orders for it, as acknowledged:\n%s",
				id, s, hold[id], s+hold[id], mp.baseline, p, h.m.ordersFor(id))
		}
	}
}

func byID(recs []map[string]any) map[string]map[string]any {
	out := map[string]map[string]any{}
	for _, r := range recs {
		out[text(r["id"])] = r
	}
	return out
}

func (h *shopRun) sameIDs(resource, who string, got []map[string]any, want map[string]map[string]any) {
	h.t.Helper()
	ids := slices.Sorted(maps.Keys(byID(got)))
	if wantIDs := slices.Sorted(maps.Keys(want)); !slices.Equal(ids, wantIDs) || len(got) != len(ids) {
		h.fatalf("%s lists %d %s, the model has %d\n  listed: %v\n  model:  %v", who, len(got), resource, len(want), ids, wantIDs)
	}
}

func (h *shopRun) sameRecords(resource string, got []map[string]any, want map[string]map[string]any) {
	h.t.Helper()
	for _, rec := range got {
		if w := want[text(rec["id"])]; !sameJSON(rec, w) {
			h.fatalf("%s %s is\n  %v\nbut the last acknowledged write answered\n  %v", resource, rec["id"], rec, w)
		}
	}
}

// listAll reads every page of a list as who, checking that each record is one who may read,
// and returns the records (nothing, for a caller refused the whole list).
func (h *shopRun) listAll(who *actor, resource, query string) []map[string]any {
	h.t.Helper()
	want := []int{200}
	if who.sub == "" && resource != "products" {
		want = []int{200, 401}
	}
	var out []map[string]any
	cursor := ""
	limit := 500
	if h.chance(8) {
		limit = 1 + h.rng.IntN(4) // small pages exercise the cursors
	}
	for range 1000 {
		path := fmt.Sprintf("/v1/%s?limit=%d%s", resource, limit, query)
		if cursor != "" {
			path += "&cursor=" + cursor
		}
		c := &call{who: who, method: "GET", path: path, want: want}
		res := h.do(c)
		if res.status != 200 {
			return nil
		}
		items, ok := res.body["items"].([]any)
		if !ok {
			h.failf(c, res, "a list without items")
		}
		for _, it := range items {
			rec, _ := it.(map[string]any)
			if !visible(who, resource, rec) {
				h.failf(c, res, "%s listed a record its rules hide from them: %v", who, rec)
			}
			if !whole(resource, rec) {
				h.failf(c, res, "a listed record without all its members: %v", rec)
			}
			out = append(out, rec)
		}
		if cursor = text(res.body["next_cursor"]); cursor == "" {
			return out
		}
	}
	h.fatalf("the list of %s as %s does not end", resource, who)
	return nil
}

// feedReader follows the change feed as one caller, from where it last stopped.
type feedReader struct {
	who     *actor
	after   int64
	events  []map[string]any
	checked int // events compared with the admin's feed
}

// poll reads the events committed since the last poll. It is safe to run beside other
// requests, and so reports problems rather than failing the test.
func (f *feedReader) poll(h *shopRun) error {
	limit := 7 // small pages for customers and anonymous callers exercise next_after
	if f.who.admin {
		limit = 500
	}
	for range 10000 {
		path := fmt.Sprintf("/v1/events?after=%d&limit=%d", f.after, limit)
		res, err := h.srv.try("GET", path, f.who.token, nil)
		if err != nil {
			return err
		}
		if res.status != 200 {
			return fmt.Errorf("GET %s as %s: %d %s", path, f.who, res.status, res.raw)
		}
		items, _ := res.body["items"].([]any)
		next := num(res.body["next_after"])
		for _, it := range items {
			ev, _ := it.(map[string]any)
			if seq := num(ev["seq"]); seq <= f.after || seq > next {
				return fmt.Errorf("GET %s as %s: event %d out of order (after %d, next_after %d)", path, f.who, seq, f.after, next)
			}
			f.after = num(ev["seq"])
			f.events = append(f.events, ev)
		}
		if next < f.after {
			return fmt.Errorf("GET %s as %s: next_after %d goes back", path, f.who, next)
		}
		if len(items) == 0 && next == f.after {
			return nil
		}
		f.after = next
	}
	return fmt.Errorf("the feed as %s does not end", f.who)
}

// feedIndex is what the checks know of the admin's feed so far; the checks look at each
// event and each ack once, so that long runs stay linear.
type feedIndex struct {
	events  int                       // the admin's events indexed
	acks    int                       // the acks checked
	written map[eventKey]bool         // the versions the feed has an event of
	deleted map[string]bool           // the records the feed has a delete of
	last    map[string]map[string]any // the latest event of each record
}

type eventKey struct {
	resource, id string
	version      int64
}

// checkFeeds reads every caller's feed and checks it against the acknowledged writes, the
// records as they are now, and the read rules.
func (h *shopRun) checkFeeds(products, orders, customers []map[string]any) {
	h.t.Helper()
	for _, f := range h.feeds {
		if err := f.poll(h); err != nil {
			h.fatalf("%v", err)
		}
	}
	x := &h.index
	if x.written == nil {
		x.written, x.deleted, x.last = map[eventKey]bool{}, map[string]bool{}, map[string]map[string]any{}
	}
	all := h.feeds[0].events
	fresh := all[x.events:]
	for _, ev := range fresh {
		res, id, typ := text(ev["resource"]), text(ev["record_id"]), text(ev["type"])
		rec, _ := ev["data"].(map[string]any)["record"].(map[string]any)
		if text(rec["id"]) != id || typ != res+".created" && typ != res+".updated" && typ != res+".deleted" {
			h.fatalf("a malformed event: %v", ev)
		}
		if old, _ := ev["data"].(map[string]any)["old"].(map[string]any); !whole(res, rec) || old != nil && !whole(res, old) {
			h.fatalf("an event whose records lack members: %v", ev)
		}
		if prev := x.last[id]; prev != nil && typ != res+".deleted" {
			prevRec := prev["data"].(map[string]any)["record"].(map[string]any)
			if prev["type"] == res+".deleted" || num(rec["version"]) != num(prevRec["version"])+1 {
				h.fatalf("events of %s %s do not follow each other:\n  %v\n  %v", res, id, prev, ev)
			}
		}
		if typ != res+".deleted" && (typ == res+".created") != (num(rec["version"]) == 1) {
			h.fatalf("a %s event of version %d: %v", typ, num(rec["version"]), ev)
		}
		x.last[id] = ev
		if typ == res+".deleted" {
			x.deleted[id] = true
		} else {
			x.written[eventKey{res, id, num(rec["version"])}] = true
		}
	}
	// Every acknowledged write has its event.
	for _, a := range h.m.acks[x.acks:] {
		if a.deleted && !x.deleted[a.id] {
			h.fatalf("the delete of %s %s was acknowledged but is not in the feed", a.resource, a.id)
		}
		if !a.deleted && !x.written[eventKey{a.resource, a.id, a.version}] {
			h.fatalf("the write of %s %s at version %d was acknowledged but is not in the feed", a.resource, a.id, a.version)
		}
	}
	x.acks = len(h.m.acks)
	// Orders and customers change only by the test's writes: every event is an acknowledged
	// one (failed writes and replays emit nothing). Products also move with orders.
	for _, ev := range fresh {
		res, id := text(ev["resource"]), text(ev["record_id"])
		version := num(ev["data"].(map[string]any)["record"].(map[string]any)["version"])
		if res != "products" && !h.m.acked(res, id, version, ev["type"] == res+".deleted") {
			h.fatalf("an event no acknowledged write explains: %v", ev)
		}
	}
	// The last event of each record is the record as it is now.
	for _, recs := range [][]map[string]any{products, orders, customers} {
		for _, rec := range recs {
			ev := x.last[text(rec["id"])]
			if ev == nil || !sameJSON(ev["data"].(map[string]any)["record"], rec) {
				h.fatalf("the feed's last event of %v is\n  %v", rec, ev)
			}
		}
	}
	// Each caller sees exactly the events of the records their rules let them read, and
	// the actor only of their own changes.
	for _, f := range h.feeds[1:] {
		for _, ev := range fresh {
			if !visible(f.who, text(ev["resource"]), ev["data"].(map[string]any)["record"].(map[string]any)) {
				continue
			}
			want := maps.Clone(ev)
			if want["actor"] != f.who.sub {
				want["actor"] = ""
			}
			if f.checked >= len(f.events) {
				h.fatalf("%s does not see the event\n  %v", f.who, want)
			}
			if got := f.events[f.checked]; !sameJSON(got, want) {
				h.fatalf("%s sees the event\n  %v\nwhere the rules admit, with what they may know of it,\n  %v", f.who, got, want)
			}
			f.checked++
		}
		if f.checked != len(f.events) {
			h.fatalf("%s sees events the rules hide from them: %s", f.who, eventIDs(f.events[f.checked:]))
		}
	}
	x.events = len(all)
}

func eventIDs(evs []map[string]any) string {
	var b strings.Builder
	for _, ev := range evs {
		fmt.Fprintf(&b, "%v:%v ", ev["seq"], ev["type"])
	}
	return b.String()
}

// checkWholeFeed reads the feed again from the start and compares it with what was followed
// page by page, some of it while writes committed: a reader that resumes never misses an
// event.
func (h *shopRun) checkWholeFeed() {
	h.t.Helper()
	fresh := &feedReader{who: h.admins[1]}
	if err := fresh.poll(h); err != nil {
		h.fatalf("%v", err)
	}
	if got, want := eventIDs(h.feeds[0].events), eventIDs(fresh.events); got != want {
		h.fatalf("following the feed saw\n  %s\nreading it whole sees\n  %s", got, want)
	}
}
