package postgres

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/plinth-dev/plinth/internal/query"
	"github.com/plinth-dev/plinth/internal/store"
)

// BenchmarkList reads a page of 21 shop products, as the benchmark harness's list scenario
// does: the driver's part of a list request, the round trip and the scanning of each row.
func BenchmarkList(b *testing.B) {
	m := mustCompile(b, `
plinth: 1
name: shop
resources:
  products:
    fields:
      sku: {type: string, required: true, unique: true}
      name: {type: string, required: true}
      description: {type: string}
      price_cents: {type: integer, required: true}
      stock: {type: integer, default: 0}
      active: {type: boolean, default: true}
    indexes:
      - [price_cents]
`)
	db := openTest(b, m, Options{})
	products, _ := m.Resource("products")
	ctx := context.Background()
	now := time.Now().UTC()
	if err := db.Write(ctx, func(x store.Tx) error {
		for i := range 100 {
			rec := store.FromMap(map[string]any{"id": fmt.Sprintf("p%03d", i), "created_at": now, "updated_at": now, "version": int64(1),
				"sku": fmt.Sprintf("SKU-%d", i), "name": fmt.Sprintf("Product %d", i), "price_cents": int64(100 + i), "stock": int64(1000), "active": true})
			if err := x.Insert(ctx, products, rec); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		b.Fatal(err)
	}
	sel := query.Select{Where: query.And{}, Order: []query.Sort{{Field: "price_cents", Desc: true}, {Field: "id", Desc: true}}, Limit: 21}
	b.ReportAllocs()
	for b.Loop() {
		recs, err := db.List(ctx, products, sel)
		if err != nil || len(recs) != 21 {
			b.Fatalf("%d records, %v", len(recs), err)
		}
	}
}
