package postgres

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/plinth-dev/plinth/internal/query"
	"github.com/plinth-dev/plinth/internal/store/storetest"
)

// TestSortedPagesUseTheIndex checks the query plan of keyset pages, as the engine builds them:
// PostgreSQL must be able to read a sorted page from an index (the declared one, the one on
// created_at, the primary key), never sort every row after the cursor. Sorting and sequential
// scans are disabled, so the plan shows a Sort only where no index can serve the order.
func TestSortedPagesUseTheIndex(t *testing.T) {
	t.Parallel()
	m := mustCompile(t, `
plinth: 1
name: plan
resources:
  products:
    fields:
      price_cents: {type: integer}
    indexes: [[price_cents]]
`)
	db := openTest(t, m, Options{})
	r, _ := m.Resource("products")
	for _, desc := range []bool{false, true} {
		op, bound := query.Gt, query.Ge
		if desc {
			op, bound = query.Lt, query.Le
		}
		// Filter price > 500, after the cursor (price 700, id "m"), in the engine's shape.
		lead := query.Compare{Field: "price_cents", Op: bound, Value: int64(700)}
		after := query.Or{Terms: []query.Expr{
			query.Compare{Field: "price_cents", Op: op, Value: int64(700)},
			query.And{Terms: []query.Expr{
				query.Compare{Field: "price_cents", Op: query.Eq, Value: int64(700)},
				query.Compare{Field: "id", Op: op, Value: "m"},
			}},
		}}
		pages := map[string]query.Select{
			"ix_products_price_cents": {
				Where: query.And{Terms: []query.Expr{query.Compare{Field: "price_cents", Op: query.Gt, Value: int64(500)}, lead, after}},
				Order: []query.Sort{{Field: "price_cents", Desc: desc}, {Field: "id", Desc: desc}},
				Limit: 21,
			},
			"ix_products_created_at": {
				Where: query.And{},
				Order: []query.Sort{{Field: "created_at", Desc: desc}, {Field: "id", Desc: desc}},
				Limit: 21,
			},
			"pk_products": {
				Where: query.Compare{Field: "id", Op: op, Value: "m"},
				Order: []query.Sort{{Field: "id", Desc: desc}},
				Limit: 21,
			},
		}
		for index, q := range pages {
			stmt, args, err := db.table(r).listSQL(q)
			if err != nil {
				t.Fatal(err)
			}
			plan := explain(t, db, stmt, args)
			if strings.Contains(plan, "Sort") || !strings.Contains(plan, index) {
				t.Errorf("desc=%v, %s: the page is sorted, not read in index order:\n%s", desc, index, plan)
			}
		}
	}
}

// TestReferringRowsUseTheIndex checks the plan of the lists a delete runs to find the records
// that refer to it (query.ReferringPage): a page of the records whose ref holds one of some
// ids, after the last record seen. The ref's index must be able to find them.
func TestReferringRowsUseTheIndex(t *testing.T) {
	t.Parallel()
	src, err := os.ReadFile("../../spec/testdata/valid/blog.yaml")
	if err != nil {
		t.Fatal(err)
	}
	m := mustCompile(t, string(src))
	db := openTest(t, m, Options{})
	r, _ := m.Resource("comments")
	for _, q := range storetest.ReferringPages() {
		stmt, args, err := db.table(r).listSQL(q)
		if err != nil {
			t.Fatal(err)
		}
		if plan := explain(t, db, stmt, args); strings.Contains(plan, "Sort") || !strings.Contains(plan, "ix_comments_post") {
			t.Errorf("%s: the referring records are not read in the order of the ref's index:\n%s", q.Where, plan)
		}
	}
}

// TestArrayMembershipUsesTheGINIndex checks the index docs/performance.md suggests for
// arrays: value in field is containment, which a GIN index with jsonb_path_ops serves, also
// inside the engine's conjunction with the list rule. With sequential and plain index scans
// disabled, only a bitmap scan of that index avoids a disabled plan.
func TestArrayMembershipUsesTheGINIndex(t *testing.T) {
	t.Parallel()
	m := mustCompile(t, `
plinth: 1
name: plan
resources:
  posts:
    fields:
      title: {type: string}
      tags: {type: array, of: {type: string}}
`)
	db := openTest(t, m, Options{})
	r, _ := m.Resource("posts")
	tbl := db.table(r)
	if _, err := db.pool.Exec(context.Background(), `CREATE INDEX posts_tags_gin ON `+tbl.qualName+` USING GIN ("tags" jsonb_path_ops)`); err != nil {
		t.Fatal(err)
	}
	for _, where := range []query.Expr{
		query.InArray{Field: "tags", Value: "go"},
		query.And{Terms: []query.Expr{query.InArray{Field: "tags", Value: "go"}, query.Compare{Field: "title", Op: query.Ne, Value: "x"}}},
	} {
		stmt, args, err := tbl.listSQL(query.Select{Where: where, Order: []query.Sort{{Field: "id"}}, Limit: 21})
		if err != nil {
			t.Fatal(err)
		}
		plan := explainWith(t, db, "SET LOCAL enable_seqscan = off; SET LOCAL enable_indexscan = off", stmt, args)
		if !strings.Contains(plan, "Bitmap Index Scan on posts_tags_gin") {
			t.Errorf("%s does not use the GIN index:\n%s", where, plan)
		}
	}
}

func explain(t *testing.T, db *DB, stmt string, args []any) string {
	t.Helper()
	return explainWith(t, db, "SET LOCAL enable_seqscan = off; SET LOCAL enable_sort = off", stmt, args)
}

// explainWith returns the plan of stmt after the SET commands settings.
func explainWith(t *testing.T, db *DB, settings, stmt string, args []any) string {
	t.Helper()
	ctx := context.Background()
	tx, err := db.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, settings); err != nil {
		t.Fatal(err)
	}
	rows, err := tx.Query(ctx, "EXPLAIN "+stmt, args...)
	if err != nil {
		t.Fatalf("explain %s: %v", stmt, err)
	}
	defer rows.Close()
	var lines []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			t.Fatal(err)
		}
		lines = append(lines, line)
	}
	return strings.Join(lines, "\n")
}
