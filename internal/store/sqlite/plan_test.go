package sqlite

import (
	"context"
	"strings"
	"testing"

	"github.com/plinth-dev/plinth/internal/query"
)

// TestSortedPagesUseTheIndex checks the query plan of a keyset page, as the engine builds it,
// on a sort key with a declared index: SQLite must seek in the index and read it in order, not
// scan and sort every row after the cursor. This is what keeps page 1,000 as fast as page 1.
func TestSortedPagesUseTheIndex(t *testing.T) {
	m := mustCompile(t, `
plinth: 1
name: plan
resources:
  products:
    fields:
      price_cents: {type: integer}
    indexes: [[price_cents]]
`)
	db, err := Open(context.Background(), t.TempDir(), m, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	r, _ := m.Resource("products")
	for _, desc := range []bool{false, true} {
		// Filter price > 500, after the cursor (price 700, id "m"), in the engine's shape.
		op, bound := query.Gt, query.Ge
		if desc {
			op, bound = query.Lt, query.Le
		}
		// The filter rules out NULL prices, so the engine leaves the NULL branches out.
		lead := query.Compare{Field: "price_cents", Op: bound, Value: int64(700)}
		after := query.Or{Terms: []query.Expr{
			query.Compare{Field: "price_cents", Op: op, Value: int64(700)},
			query.And{Terms: []query.Expr{
				query.Compare{Field: "price_cents", Op: query.Eq, Value: int64(700)},
				query.Compare{Field: "id", Op: op, Value: "m"},
			}},
		}}
		q := query.Select{
			Where: query.And{Terms: []query.Expr{query.Compare{Field: "price_cents", Op: query.Gt, Value: int64(500)}, lead, after}},
			Order: []query.Sort{{Field: "price_cents", Desc: desc}, {Field: "id", Desc: desc}},
			Limit: 21,
		}
		stmt, args, err := db.table(r).listSQL(q)
		if err != nil {
			t.Fatal(err)
		}
		rows, err := db.read.Query("EXPLAIN QUERY PLAN "+stmt, args...)
		if err != nil {
			t.Fatal(err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, notused int
			var detail string
			rows.Scan(&id, &parent, &notused, &detail)
			plan = append(plan, detail)
		}
		rows.Close()
		text := strings.Join(plan, "; ")
		if strings.Contains(text, "TEMP B-TREE") || !strings.Contains(text, "ix_products_price_cents") {
			t.Errorf("desc=%v: the page is sorted, not read in index order: %s", desc, text)
		}
	}
}
