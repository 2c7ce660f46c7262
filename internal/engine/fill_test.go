package engine_test

import (
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/plinth-dev/plinth/internal/engine"
	"github.com/plinth-dev/plinth/internal/fault"
	"github.com/plinth-dev/plinth/internal/store"
)

const ordersSpec = `
plinth: 1
name: test
resources:
  products:
    fields:
      name:  {type: string, max_length: 50}
      price: {type: integer, required: true, min: 0}
    access:
      list: "true"
      read: "true"
  orders:
    fields:
      customer:  {type: string, default: auth.sub, immutable: true, max_length: 20}
      placed_at: {type: timestamp, default: now}
      due_at:    {type: timestamp, default: 'now + duration("24h")'}
      status:    {type: enum, values: [new, paid, sent], default: new}
      priority:  {type: integer, default: 3}
      rate:      {type: number, default: 0.5}
      gift:      {type: boolean, default: false}
      labels:    {type: array, of: {type: string, max_length: 10}, default: [std]}
      note:      {type: string, max_length: 100}
      shipping:
        type: object
        fields:
          method:  {type: enum, values: [post, courier], default: post}
          insured: {type: boolean, default: false}
      items:
        type: array
        required: true
        min_items: 1
        of:
          product:  {type: ref, resource: products, required: true}
          quantity: {type: integer, default: 1, min: 1}
          unit:     {type: integer, computed: 'lookup("products", product).price'}
          line:     {type: integer, computed: "quantity * unit"}
      total: {type: integer, computed: "items.map(i, i.line).sum()"}
      taxed: {type: number, computed: "double(total) * 1.25"}
      label: {type: string, computed: 'customer + ":" + string(total)'}
    access:
      list:   'auth.role == "admin" || record.customer == auth.sub'
      read:   'auth.role == "admin" || record.customer == auth.sub'
      create: 'auth.role == "admin" || (auth.sub != null && record.customer == auth.sub)'
      update: 'auth.role == "admin" || record.customer == auth.sub'
  ratios:
    fields:
      a: integer
      b: integer
      q: {type: integer, computed: "a / b"}
`

func TestDefaults(t *testing.T) {
	t.Parallel()
	e := newEnv(t, ordersSpec)
	p := e.create(admin, "products", `{"name": "mug", "price": 100}`).ID
	item := `"items": [{"product": "` + p + `"}]`

	t.Run("omitted fields take their defaults", func(t *testing.T) {
		rec := e.create(alice, "orders", `{`+item+`}`)
		now := stored(e.clock.Now())
		want := map[string]any{"customer": "alice", "status": "new", "priority": int64(3), "rate": 0.5, "gift": false,
			"labels": []any{"std"}, "shipping": nil, "note": nil}
		for k, v := range want {
			if got := rec.Fields[k]; !reflect.DeepEqual(got, v) {
				t.Errorf("%s = %#v, want %#v", k, got, v)
			}
		}
		if at, _ := rec.Fields["placed_at"].(time.Time); !at.Equal(now) || at.Location() != time.UTC {
			t.Errorf("placed_at = %v, want the clock's %v in UTC", rec.Fields["placed_at"], now)
		}
		if at, _ := rec.Fields["due_at"].(time.Time); !at.Equal(now.Add(24 * time.Hour)) {
			t.Errorf("due_at = %v, want %v", rec.Fields["due_at"], now.Add(24*time.Hour))
		}
		got := e.get(alice, "orders", rec.ID)
		if got.Fields["customer"] != "alice" || got.Fields["priority"] != int64(3) || !got.Fields["placed_at"].(time.Time).Equal(now) {
			t.Errorf("defaults not stored: %v", got)
		}
		// Each write reads the clock afresh.
		e.clock.Advance(90 * time.Minute)
		later := e.create(alice, "orders", `{`+item+`}`)
		if at := later.Fields["placed_at"].(time.Time); !at.Equal(now.Add(90 * time.Minute)) {
			t.Errorf("second placed_at = %v, want %v", at, now.Add(90*time.Minute))
		}
		// The default list is a copy: one record's value is not another's.
		later.Fields["labels"].([]any)[0] = "changed"
		if again := e.create(alice, "orders", `{`+item+`}`); again.Fields["labels"].([]any)[0] != "std" {
			t.Errorf("literal default shared between records: %v", again.Fields["labels"])
		}
	})

	t.Run("given values win, and null is refused where a default stands", func(t *testing.T) {
		n := len(e.all("orders"))
		_, err := create1(e.eng, admin, "orders", body(t, `{`+item+`, "rate": null, "priority": null, "note": null, "shipping": {"method": null}}`))
		wantFields(t, err, map[string]string{"rate": "null", "priority": "null", "shipping.method": "null"})
		if len(e.all("orders")) != n {
			t.Error("a refused create wrote a record")
		}
		// A null the client sent is reported as such, not as what the default gave.
		_, err = create1(e.eng, alice, "orders", body(t, `{`+item+`, "customer": null}`))
		if f := wantCode(t, err, fault.Invalid); len(f.Fields) != 1 || strings.Contains(f.Fields[0].Message, "gave null") {
			t.Errorf("customer sent as null: %s", describe(err))
		}
		rec := e.create(admin, "orders", `{`+item+`, "customer": "carol", "status": "paid", "priority": 1, "gift": true, "labels": []}`)
		want := map[string]any{"customer": "carol", "status": "paid", "priority": int64(1), "rate": 0.5, "gift": true, "labels": []any{}}
		for k, v := range want {
			if got := rec.Fields[k]; !reflect.DeepEqual(got, v) {
				t.Errorf("%s = %#v, want %#v", k, got, v)
			}
		}
	})

	t.Run("nested defaults in objects and array items", func(t *testing.T) {
		rec := e.create(alice, "orders", `{"items": [{"product": "`+p+`"}, {"product": "`+p+`", "quantity": 4}], "shipping": {}}`)
		if !reflect.DeepEqual(rec.Fields["shipping"], map[string]any{"method": "post", "insured": false}) {
			t.Errorf("shipping = %#v", rec.Fields["shipping"])
		}
		items := rec.Fields["items"].([]any)
		if q := items[0].(map[string]any)["quantity"]; q != int64(1) {
			t.Errorf("items[0].quantity = %#v, want the default 1", q)
		}
		if q := items[1].(map[string]any)["quantity"]; q != int64(4) {
			t.Errorf("items[1].quantity = %#v, want 4", q)
		}
		got := e.get(alice, "orders", rec.ID)
		if q := got.Fields["items"].([]any)[0].(map[string]any)["quantity"]; q != int64(1) {
			t.Errorf("stored items[0].quantity = %#v, want 1", q)
		}
		// An item added by an update gets its defaults too.
		upd := e.patch(alice, "orders", rec.ID, `{"items": [{"product": "`+p+`", "quantity": 2}, {"product": "`+p+`"}]}`)
		if q := upd.Fields["items"].([]any)[1].(map[string]any)["quantity"]; q != int64(1) {
			t.Errorf("after update items[1].quantity = %#v, want the default 1", q)
		}
	})

	t.Run("defaults are validated like input", func(t *testing.T) {
		long := as(strings.Repeat("z", 21), "customer")
		_, err := create1(e.eng, long, "orders", body(t, `{`+item+`}`))
		wantFields(t, err, map[string]string{"customer": "max_length"})
	})
}

func TestComputed(t *testing.T) {
	t.Parallel()
	e := newEnv(t, ordersSpec)
	mug := e.create(admin, "products", `{"name": "mug", "price": 100}`).ID
	pot := e.create(admin, "products", `{"name": "pot", "price": 250}`).ID

	e.store.reset()
	rec := e.create(alice, "orders", `{"items": [
		{"product": "`+mug+`", "quantity": 3},
		{"product": "`+pot+`"},
		{"product": "`+mug+`", "quantity": 2}]}`)
	wantItems := []any{
		map[string]any{"product": mug, "quantity": int64(3), "unit": int64(100), "line": int64(300)},
		map[string]any{"product": pot, "quantity": int64(1), "unit": int64(250), "line": int64(250)},
		map[string]any{"product": mug, "quantity": int64(2), "unit": int64(100), "line": int64(200)},
	}
	check := func(rec *store.Record, items []any, total int64) {
		t.Helper()
		if !reflect.DeepEqual(rec.Fields["items"], items) {
			t.Errorf("items = %#v\nwant %#v", rec.Fields["items"], items)
		}
		if rec.Fields["total"] != total {
			t.Errorf("total = %#v, want %d", rec.Fields["total"], total)
		}
		if rec.Fields["taxed"] != float64(total)*1.25 {
			t.Errorf("taxed (computed from the computed total) = %#v, want %v", rec.Fields["taxed"], float64(total)*1.25)
		}
		if want := "alice:" + strconv.FormatInt(total, 10); rec.Fields["label"] != want {
			t.Errorf("label = %#v, want %q", rec.Fields["label"], want)
		}
	}
	check(rec, wantItems, 750)
	check(e.get(alice, "orders", rec.ID), wantItems, 750)

	// Lookups run in the write's transaction, once per product however many items name it.
	gets, _, txGets := e.store.snapshot()
	if gets["products"] != 0 {
		t.Errorf("%d product reads outside the transaction, want 0", gets["products"])
	}
	if txGets["products"] != 2 {
		t.Errorf("%d product reads in the transaction for 2 distinct products, want 2", txGets["products"])
	}

	t.Run("clients may not set computed fields", func(t *testing.T) {
		_, err := create1(e.eng, alice, "orders", body(t, `{"total": 1, "items": [{"product": "`+mug+`", "unit": 1}]}`))
		wantFields(t, err, map[string]string{"total": "read_only", "items[0].unit": "read_only"})
		_, err = update1(e.eng, alice, "orders", rec.ID, body(t, `{"label": "x"}`), engine.OpUpdate, engine.Precondition{})
		wantFields(t, err, map[string]string{"label": "read_only"})
	})

	t.Run("a lookup of a missing record is a not_found reference", func(t *testing.T) {
		n := len(e.all("orders"))
		_, err := create1(e.eng, alice, "orders", body(t, `{"items": [{"product": "`+mug+`"}, {"product": "0190c1d2-7b3a-7def-8123-456789abcdef"}]}`))
		wantFields(t, err, map[string]string{"items[1].product": "not_found"})
		if len(e.all("orders")) != n {
			t.Error("a failed create wrote a record")
		}
	})

	t.Run("recomputed on update when inputs change", func(t *testing.T) {
		// A price change does not touch stored orders...
		e.patch(admin, "products", pot, `{"price": 300}`)
		if got := e.get(alice, "orders", rec.ID); got.Fields["total"] != int64(750) {
			t.Errorf("stored total changed to %v without a write to the order", got.Fields["total"])
		}
		// ...until the order is written with new inputs.
		upd := e.patch(alice, "orders", rec.ID, `{"items": [{"product": "`+pot+`", "quantity": 2}, {"product": "`+mug+`"}]}`)
		want := []any{
			map[string]any{"product": pot, "quantity": int64(2), "unit": int64(300), "line": int64(600)},
			map[string]any{"product": mug, "quantity": int64(1), "unit": int64(100), "line": int64(100)},
		}
		check(upd, want, 700)
		check(e.get(alice, "orders", rec.ID), want, 700)
		if upd.Version != int64(2) {
			t.Errorf("version = %v, want 2", upd.Version)
		}
	})

	t.Run("an expression that fails names its place in the spec", func(t *testing.T) {
		_, err := create1(e.eng, admin, "ratios", body(t, `{"a": 1, "b": 0}`))
		wantExprFailed(t, err, "ratios.q.computed", "ratios", "")
		_, err = create1(e.eng, admin, "ratios", body(t, `{"a": 1}`)) // a null input: the expression gives null
		wantExprFailed(t, err, "ratios.q.computed", "ratios", "")
		ok := e.create(admin, "ratios", `{"a": 7, "b": 2}`)
		if ok.Fields["q"] != int64(3) {
			t.Errorf("q = %#v, want 3", ok.Fields["q"])
		}
		_, err = update1(e.eng, admin, "ratios", ok.ID, body(t, `{"b": 0}`), engine.OpUpdate, engine.Precondition{})
		wantExprFailed(t, err, "ratios.q.computed", "ratios", ok.ID)
		if got := e.get(admin, "ratios", ok.ID); got.Fields["b"] != int64(2) || got.Version != int64(1) {
			t.Errorf("a failed update changed the record: %v", got)
		}
	})
}

// TestCreateRuleSeesDefaults: a create rule that mentions record runs on the completed record.
func TestCreateRuleSeesDefaults(t *testing.T) {
	t.Parallel()
	e := newEnv(t, ordersSpec)
	p := e.create(admin, "products", `{"name": "mug", "price": 100}`).ID
	item := `"items": [{"product": "` + p + `"}]`
	if rec := e.create(bob, "orders", `{`+item+`}`); rec.Fields["customer"] != "bob" {
		t.Errorf("customer = %v, want bob from auth.sub", rec.Fields["customer"])
	}
	_, err := create1(e.eng, bob, "orders", body(t, `{`+item+`, "customer": "alice"}`))
	wantCode(t, err, fault.Forbidden)
	_, err = create1(e.eng, anon, "orders", body(t, `{`+item+`}`))
	wantCode(t, err, fault.Unauthorized)
	for _, o := range e.all("orders") {
		if o.Fields["customer"] != "bob" {
			t.Errorf("a denied create was written: %v", o)
		}
	}
}
