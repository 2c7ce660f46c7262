package version

import (
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/plinth-dev/plinth/internal/engine"
	"github.com/plinth-dev/plinth/internal/fault"
	"github.com/plinth-dev/plinth/internal/spec"
	"github.com/plinth-dev/plinth/internal/store"
)

// testSpec has v2 current and v1 beside it: goods were items, price_cents was cost, labels
// were tags, x was y (a name a macro's variable may hide), color is gone, channel and notes
// are new, and v1's open is v2's pending and paid.
const testSpec = `
plinth: 1
name: t
version: 2
versions:
  1:
    deprecated: 2026-01-01
    sunset: 2030-06-30
    changes:
      - rename_resource: {from: items, to: goods}
      - rename_field: {resource: goods, from: cost, to: price_cents}
      - rename_field: {resource: goods, from: tags, to: labels}
      - rename_field: {resource: goods, from: y, to: x}
      - remove_field: {resource: goods, field: color, was: {type: string, max_length: 20}, reads_as: unknown}
      - add_field: {resource: orders, field: channel, writes_as: web}
      - map_enum: {resource: orders, field: status, old_to_new: {open: pending}, new_to_old: {pending: open, paid: open}}
      - add_resource: {resource: notes}
resources:
  goods:
    fields:
      sku: {type: string, required: true, max_length: 20}
      price_cents: {type: integer, required: true, min: 0}
      labels: {type: array, of: {type: string, max_length: 10}, max_items: 5}
      x: {type: string, max_length: 10}
    access: {list: "true", read: "true", write: "true"}
  orders:
    fields:
      good: {type: ref, resource: goods}
      status:
        type: enum
        values: [pending, paid, shipped, cancelled]
        default: pending
        transitions: {pending: [paid, cancelled], paid: [shipped, cancelled]}
      channel: {type: enum, values: [web, app], required: true}
    access: {list: "true", read: "true", write: "true"}
  notes:
    fields:
      body: {type: string, max_length: 100}
    access: {list: "true", read: "true", write: "true"}
`

func compile(t *testing.T) (*spec.Model, *API) {
	t.Helper()
	m, diags := spec.Compile("plinth.yaml", []byte(testSpec))
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	return m, New(m, m.Versions[0])
}

func TestFilter(t *testing.T) {
	_, a := compile(t)
	items, _ := a.Map("items")
	orders, _ := a.Map("orders")
	cases := []struct {
		m       *spec.ResourceMap
		in, out string
	}{
		{items, `cost > 5 && sku.startsWith("A")`, `price_cents > 5 && sku.startsWith("A")`},
		{items, `"go" in tags || size(tags) > 2`, `"go" in labels || size(labels) > 2`},
		{items, `tags.exists(y, y == "go") && y == "a"`, `labels.exists(y, y == "go") && x == "a"`},
		{items, `tags.all(t, t.startsWith("a")) && y != null`, `labels.all(t, t.startsWith("a")) && x != null`},
		{items, `id != "" && created_at < now`, `id != "" && created_at < now`},
		{orders, `status == "open"`, `status in ["pending", "paid"]`},
		{orders, `"open" == status`, `status in ["pending", "paid"]`},
		{orders, `status != "open" && status != "shipped"`, `!(status in ["pending", "paid"]) && !(status in ["shipped"])`},
		{orders, `status in ["open", "cancelled"]`, `status in ["pending", "paid", "cancelled"]`},
		{orders, `status == "nope"`, `status in []`},
		{orders, `status == null || status != null`, `status == null || status != null`},
	}
	for _, tc := range cases {
		got, err := a.filter(tc.m, tc.in)
		if err != nil || got != tc.out {
			t.Errorf("%s: got %q, %v; want %q", tc.in, got, err, tc.out)
			continue
		}
		// The translation is a filter of the current version that the database can run.
		if _, err := tc.m.Current.CompileFilter(got); err != nil {
			t.Errorf("%s → %s does not compile: %v", tc.in, got, err)
		}
	}
	refused := []struct {
		m       *spec.ResourceMap
		in, msg string
	}{
		{items, `color == "red"`, "color is no longer stored (v2 removed it), so a filter cannot test it: every record reads as \"unknown\""},
		{orders, `status.startsWith("o")`, "status has other values in v2"},
		{orders, `status < "p"`, "status has other values in v2"},
		{orders, `status in ["open", sku]`, "undeclared reference to 'sku'"},
		{items, `price_cents > 5`, "undeclared reference to 'price_cents'"},
	}
	for _, tc := range refused {
		if got, err := a.filter(tc.m, tc.in); err == nil || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: got %q, %v; want an error containing %q", tc.in, got, err, tc.msg)
		}
	}
}

func TestListParams(t *testing.T) {
	_, a := compile(t)
	items, _ := a.Map("items")
	limit := 5
	cur, only, err := a.List(items, engine.ListParams{Sort: "-cost,color", Fields: []string{"cost", "color"}, Limit: &limit, Cursor: "c"})
	if err != nil {
		t.Fatal(err)
	}
	if cur.Sort != "-price_cents,id" || !slices.Equal(cur.Fields, []string{"price_cents"}) || *cur.Limit != 5 || cur.Cursor != "c" {
		t.Errorf("translated %+v", cur)
	}
	if want := map[string]bool{"id": true, "cost": true, "color": true}; !maps.Equal(only, want) {
		t.Errorf("only %v", only)
	}
	cur, _, _ = a.List(items, engine.ListParams{Sort: "-color", Fields: []string{"color"}})
	if cur.Sort != "-id" || !slices.Equal(cur.Fields, []string{"id"}) {
		t.Errorf("sorted on a removed field only: %+v", cur)
	}
	_, _, err = a.List(items, engine.ListParams{Filter: `color == "x"`})
	if f := fault.As(err); f == nil || f.Type != fault.TypeInvalidQuery || f.Fields[0].Field != "filter" {
		t.Errorf("filter on a removed field: %v", err)
	}
}

func TestTranslateWrites(t *testing.T) {
	_, a := compile(t)
	items, _ := a.Map("items")
	orders, _ := a.Map("orders")
	body := func(s string) map[string]any {
		var m map[string]any
		d := json.NewDecoder(strings.NewReader(s))
		d.UseNumber()
		if err := d.Decode(&m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	w := a.Translate(items, engine.OpCreate, body(`{"sku": "A", "cost": 5, "tags": ["x"], "color": "unknown", "nosuch": 1}`))
	if len(w.Refused) != 0 || !maps.EqualFunc(w.Body, body(`{"sku": "A", "price_cents": 5, "labels": ["x"], "nosuch": 1}`), same) || w.Reconcile != nil {
		t.Errorf("create: %v %v", w.Body, w.Refused)
	}
	w = a.Translate(items, engine.OpUpdate, body(`{"color": "red", "price_cents": 1}`))
	codes := map[string]string{}
	for _, r := range w.Refused {
		codes[r.Field] = r.Code
	}
	if !maps.Equal(codes, map[string]string{"color": "removed", "price_cents": "unknown"}) || len(w.Body) != 0 {
		t.Errorf("update with v2's name and a removed field's value: %v %v", w.Body, w.Refused)
	}
	w = a.Translate(orders, engine.OpCreate, body(`{"status": "open"}`))
	if w.Body["status"] != "pending" || w.Body["channel"] != "web" {
		t.Errorf("order create: %v", w.Body)
	}
	w = a.Translate(orders, engine.OpCreate, body(`{"status": "paid"}`))
	if len(w.Refused) != 1 || w.Refused[0].Code != "enum" || !strings.Contains(w.Refused[0].Message, "open, shipped, cancelled") {
		t.Errorf("v2's value from a v1 client: %v", w.Refused)
	}
	// Sending back open for a paid order keeps it paid; a replace keeps the channel.
	w = a.Translate(orders, engine.OpReplace, body(`{"status": "open"}`))
	input := map[string]any{"status": "pending"}
	w.Reconcile(map[string]any{"status": "paid", "channel": "app"}, input)
	if input["status"] != "paid" || input["channel"] != "app" {
		t.Errorf("reconciled replace: %v", input)
	}
	input = map[string]any{"status": "pending"}
	w.Reconcile(map[string]any{"status": "shipped", "channel": "app"}, input)
	if input["status"] != "pending" {
		t.Errorf("a shipped order sent back as open moves to pending (and the engine refuses it): %v", input)
	}
}

func same(a, b any) bool { return sameJSON(a, b) }

func TestRecordsEventsAndFaults(t *testing.T) {
	_, a := compile(t)
	orders, _ := a.Map("orders")
	items, _ := a.Map("items")
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	rec := &store.Record{ID: "1", Version: 3, CreatedAt: at, UpdatedAt: at, Fields: map[string]any{"sku": "A", "price_cents": int64(5), "labels": nil, "x": "q"}}
	got := Record(items, rec)
	want := map[string]any{"sku": "A", "cost": int64(5), "tags": nil, "y": "q", "color": "unknown"}
	if !maps.Equal(got.Fields, want) || got.Version != 3 || got.ID != "1" {
		t.Errorf("record %v", got.Fields)
	}
	ev, view, ok := a.Event(store.Event{Type: "goods.updated", Resource: "goods", Record: rec, Old: rec})
	if !ok || ev.Type != "items.updated" || ev.Resource != "items" || view.Name != "items" || ev.Old.Fields["cost"] != int64(5) {
		t.Errorf("event %+v", ev)
	}
	if names, unknown := a.Resources([]string{"items", "orders"}); unknown != "" || !slices.Equal(names, []string{"goods", "orders"}) {
		t.Errorf("resources %v %q", names, unknown)
	}
	if _, unknown := a.Resources([]string{"goods"}); unknown != "goods" {
		t.Error("v1 knows goods")
	}
	// v1's feed asks the database for v1's resources only, and shows no note.
	if names, _ := a.Resources(nil); !slices.Equal(names, []string{"goods", "orders"}) {
		t.Errorf("v1's feed reads %v", names)
	}
	if _, _, ok := a.Event(store.Event{Type: "notes.created", Resource: "notes", Record: rec}); ok {
		t.Error("v1's feed shows a note")
	}
	err := a.Fault(orders, &fault.Error{Code: fault.Conflict, Type: fault.TypeInvalidTransition, Message: "status cannot change from paid to pending",
		Fields: []fault.FieldError{{Field: "status", Code: "transition", Message: "cannot change from paid to pending"}},
		Extra:  map[string]any{"field": "status", "from": "paid", "to": "pending", "allowed": []string{"shipped", "cancelled"}}}, nil)
	f := fault.As(err)
	if f.Extra["from"] != "open" || f.Extra["to"] != "open" || f.Message != "status cannot change from open to open" {
		t.Errorf("transition %v %q", f.Extra, f.Message)
	}
	// v1's own refusal of price_cents, a name it does not have, stays as v1 wrote it.
	own := fault.FieldError{Field: "price_cents", Code: "unknown", Message: "there is no field price_cents"}
	err = a.Fault(items, fault.Fields([]fault.FieldError{{Field: "price_cents", Code: "min", Message: "must be at least 0"},
		{Field: "labels[0]", Code: "max_length", Message: "labels[0] is too long"}, own}), []fault.FieldError{own})
	f = fault.As(err)
	if f.Fields[0].Field != "cost" || f.Fields[1].Field != "tags[0]" || f.Fields[1].Message != "tags[0] is too long" || f.Fields[2] != own {
		t.Errorf("field errors %v", f.Fields)
	}
	if got := a.Successor("/v1/items/abc"); got != "/v2/goods/abc" {
		t.Errorf("successor %s", got)
	}
	if got := a.Successor("/v1/events"); got != "/v2/events" {
		t.Errorf("successor %s", got)
	}
}
