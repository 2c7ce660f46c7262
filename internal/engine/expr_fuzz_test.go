package engine_test

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"testing"

	"github.com/google/uuid"

	"github.com/plinth-dev/plinth/internal/engine"
	"github.com/plinth-dev/plinth/internal/fault"
	"github.com/plinth-dev/plinth/internal/store"
)

// exprSpec holds expressions of every kind that read fields which may be null, as a careless
// spec would write them (plinth check warns about most): each must fail as a precise problem,
// never as an internal error.
const exprSpec = `
plinth: 1
name: exprs
resources:
  counters:
    fields:
      total: {type: integer, default: 0}
      cap: integer
    access: {list: "true", read: "true", write: "true"}
  items:
    fields:
      a: integer
      b: integer
      s: {type: string, max_length: 40}
      tags: {type: array, of: {type: string, max_length: 10}, max_items: 4}
      at: timestamp
      counter: {type: ref, resource: counters}
      d: {type: integer, default: 'a * b'}
      ratio: {type: integer, computed: 'a / b'}
      shout: {type: string, computed: 's.upperAscii() + "!"'}
      n: {type: integer, computed: 'size(tags) + a'}
      late: {type: boolean, computed: 'at < now'}
      cap: {type: integer, computed: 'lookup("counters", counter).cap * 2'}
    access:
      list: 'record.a > 0 || auth.role == "admin"'
      read: 'record.a / record.b > 0 || auth.role == "admin"'
      create: 'size(record.s) < 30 || auth.role == "admin"'
      update: 'record.tags.exists(t, t == "x") || old.a < record.a'
      delete: 'record.s.startsWith("d") && auth.sub.size() > 0'
    effects:
      count:
        on: [create, update]
        when: '!has(old.a) || record.a > old.a'
        target: counters
        id: record.counter
        guard: 'target.total + record.a <= target.cap'
        set: {total: 'target.total + record.a * record.b', cap: 'record.b > 0 ? null : target.cap'}
      untag:
        on: [delete]
        for_each: record.tags
        target: counters
        id: record.counter
        set: {total: 'target.total - size(item)'}
`

// exprInput is one fuzzed record: values at the edges, each field possibly null or absent.
type exprInput struct {
	A, B, Q int64
	S       string
	Nulls   uint16 // bit i set: field i is null; bit i+8 set: field i is absent
}

// value renders field i of the input as JSON: the value, null, or "" for absent.
func (in exprInput) value(i int, v any) string {
	switch {
	case in.Nulls&(1<<(i+8)) != 0:
		return ""
	case in.Nulls&(1<<i) != 0:
		return "null"
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// object renders name → field index → value as a JSON object, leaving absent fields out.
func (in exprInput) object(fields []string, values []any) string {
	out := "{"
	for i, name := range fields {
		if v := in.value(i, values[i]); v != "" {
			if len(out) > 1 {
				out += ","
			}
			out += fmt.Sprintf("%q:%s", name, v)
		}
	}
	return out + "}"
}

var exprSeeds = []exprInput{
	{A: 1, B: 1, Q: 1, S: "hello"},
	{A: 1, B: 0, Q: 1, S: "d"},
	{A: math.MaxInt64, B: 2, Q: 1000, S: "x", Nulls: 0},
	{A: math.MinInt64, B: -1, Q: 0, S: ""},
	{A: 5, B: 5, Q: 1, S: "dd", Nulls: 0b0000_0001},
	{A: 5, B: 5, Q: 1, S: "dd", Nulls: 0b0000_0110},
	{A: 5, B: 5, Q: 2, S: "dd", Nulls: 0b0001_1000 << 8},
	{A: -3, B: 7, Q: 7, S: "ünïcödé ✓", Nulls: 0b0010_0000},
	{A: 0, B: 0, Q: -1, S: "\u0000", Nulls: 0xffff},
	{A: 1 << 62, B: 1 << 62, Q: 1 << 40, S: "dx"},
}

// exprRound drives one input through every expression of exprSpec and of the shop, as an
// admin, two customers and an anonymous caller, and fails on any internal error.
func exprRound(t *testing.T, e, shop *env, in exprInput) {
	t.Helper()
	check := func(what string, err error) {
		t.Helper()
		if err == nil {
			return
		}
		if f := fault.As(err); f == nil || f.Code == fault.Internal || f.Code == fault.Unavailable {
			t.Fatalf("%s with %+v: %s", what, in, describe(err))
		}
	}
	callers := []context.Context{admin, alice, bob, anon}
	write := func(eng *engine.Engine, ctx context.Context, op engine.Op, src string) *store.Record {
		t.Helper()
		if op.Kind != engine.OpDelete {
			op.Body = body(t, src)
		}
		// Under a fresh Idempotency-Key, as orders require: the renderer sees the outcome.
		var out *store.Record
		var failed error
		_, _, err := eng.ApplyIdempotent(ctx, []engine.Op{op}, engine.IdempotencyKey{Key: uuid.NewString(), Operation: "POST /fuzz", Fingerprint: src},
			func(recs []*store.Record, err error) []byte {
				if failed = err; err == nil {
					out = recs[0]
				}
				return nil
			})
		check(fmt.Sprintf("op %d on %s %s %s", op.Kind, op.Resource, op.ID, src), cmp.Or(err, failed))
		return out
	}
	read := func(eng *engine.Engine, resource, id, filter string) {
		t.Helper()
		for _, ctx := range callers {
			if id != "" {
				_, err := eng.Get(ctx, resource, id)
				check("get "+resource, err)
			}
			_, err := eng.List(ctx, resource, engine.ListParams{Filter: filter})
			check("list "+resource+" "+filter, err)
		}
	}

	// The test spec: a counter, an item pointing at it, updates and a delete.
	counter := write(e.eng, admin, engine.Op{Kind: engine.OpCreate, Resource: "counters"},
		in.object([]string{"cap"}, []any{in.Q}))
	counterID := ""
	if counter != nil {
		counterID = counter.ID
	}
	fields := []string{"a", "b", "s", "tags", "at", "counter"}
	values := []any{in.A, in.B, in.S, []string{in.S[:min(len(in.S), 10)], "x"}, "2026-01-01T00:00:00Z", counterID}
	for _, ctx := range callers {
		item := write(e.eng, ctx, engine.Op{Kind: engine.OpCreate, Resource: "items"}, in.object(fields, values))
		if item == nil {
			continue
		}
		id := item.ID
		read(e.eng, "items", id, "a > 0 && size(tags) > 0")
		// The same fields with a and b swapped, "d" appended and other fields null or absent.
		shifted := exprInput{Nulls: in.Nulls >> 1}
		swapped := []any{in.B, in.A, in.S + "d", values[3], values[4], values[5]}
		write(e.eng, ctx, engine.Op{Kind: engine.OpUpdate, Resource: "items", ID: id}, shifted.object(fields, swapped))
		write(e.eng, ctx, engine.Op{Kind: engine.OpReplace, Resource: "items", ID: id}, shifted.object(fields[:3], swapped[:3]))
		write(e.eng, ctx, engine.Op{Kind: engine.OpDelete, Resource: "items", ID: id}, "")
	}

	// The shop: a product at the edges, orders for it, and what changes them.
	product := write(shop.eng, admin, engine.Op{Kind: engine.OpCreate, Resource: "products"},
		in.object([]string{"sku", "name", "price_cents", "stock", "active"}, []any{fmt.Sprintf("SKU-%d", rand.Uint32()), in.S, in.A, in.B, in.Q%2 == 0}))
	if product == nil {
		return
	}
	pid := product.ID
	read(shop.eng, "products", pid, "price_cents > 0")
	for _, ctx := range callers {
		order := write(shop.eng, ctx, engine.Op{Kind: engine.OpCreate, Resource: "orders"},
			fmt.Sprintf(`{"items": [{"product_id": %q, "quantity": %d}, {"product_id": %q, "quantity": %d}]}`, pid, in.Q, pid, in.Q/2))
		write(shop.eng, admin, engine.Op{Kind: engine.OpUpdate, Resource: "products", ID: pid},
			exprInput{Nulls: in.Nulls >> 2}.object([]string{"price_cents", "stock"}, []any{in.B, in.A}))
		if order == nil {
			continue
		}
		oid := order.ID
		read(shop.eng, "orders", oid, `status == "pending"`)
		for _, st := range []string{"paid", "cancelled", "shipped"} {
			write(shop.eng, admin, engine.Op{Kind: engine.OpUpdate, Resource: "orders", ID: oid}, `{"status": "`+st+`"}`)
		}
		write(shop.eng, admin, engine.Op{Kind: engine.OpUpdate, Resource: "orders", ID: oid}, `{"status": null, "items": null}`)
	}
	write(shop.eng, admin, engine.Op{Kind: engine.OpDelete, Resource: "products", ID: pid}, "")
}

func shopSource(t *testing.T) string {
	t.Helper()
	src, err := os.ReadFile("../../examples/shop/plinth.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return string(src)
}

// TestExpressionsNeverFailInternally runs the seeds and a few hundred random inputs through
// every expression of exprSpec and of the shop; `go test -fuzz FuzzExpressions` runs more.
func TestExpressionsNeverFailInternally(t *testing.T) {
	t.Parallel()
	e, shop := newEnv(t, exprSpec), newEnv(t, shopSource(t))
	for _, in := range exprSeeds {
		exprRound(t, e, shop, in)
	}
	seed := rand.Uint64()
	t.Logf("random inputs from seed %d", seed)
	r := rand.New(rand.NewPCG(seed, seed))
	edges := []int64{0, 1, -1, 2, 1000, 1001, math.MaxInt64, math.MinInt64, 1 << 53, -(1 << 31)}
	pick := func() int64 {
		if r.IntN(2) == 0 {
			return edges[r.IntN(len(edges))]
		}
		return r.Int64N(2000) - 1000
	}
	words := []string{"", "d", "dx", "x", "ünï", "\u2028", "0123456789abcdef", "DROP TABLE"}
	for range 60 {
		in := exprInput{A: pick(), B: pick(), Q: pick(), S: words[r.IntN(len(words))], Nulls: uint16(r.Uint32())}
		exprRound(t, e, shop, in)
		if t.Failed() {
			t.Fatalf("failed on seed %d", seed)
		}
	}
}

// FuzzExpressions is TestExpressionsNeverFailInternally's property under the fuzzer.
func FuzzExpressions(f *testing.F) {
	for _, in := range exprSeeds {
		f.Add(in.A, in.B, in.Q, in.S, in.Nulls)
	}
	f.Fuzz(func(t *testing.T, a, b, q int64, s string, nulls uint16) {
		e, shop := newEnv(t, exprSpec), newEnv(t, shopSource(t))
		exprRound(t, e, shop, exprInput{A: a, B: b, Q: q, S: s, Nulls: nulls})
	})
}
