package sqlite

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/plinth-dev/plinth/internal/query"
	"github.com/plinth-dev/plinth/internal/store/storetest"
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
		text := explain(t, db, stmt, args)
		if strings.Contains(text, "TEMP B-TREE") || !strings.Contains(text, "ix_products_price_cents") {
			t.Errorf("desc=%v: the page is sorted, not read in index order: %s", desc, text)
		}
	}
}

// TestReferringRowsUseTheIndex checks the plan of the lists a delete runs to find the records
// that refer to it (query.ReferringPage): a page of the records whose ref holds one of some
// ids, after the last record seen. The ref's index must find them, not a scan of the table.
func TestReferringRowsUseTheIndex(t *testing.T) {
	src, err := os.ReadFile("../../spec/testdata/valid/blog.yaml")
	if err != nil {
		t.Fatal(err)
	}
	m := mustCompile(t, string(src))
	db, err := Open(context.Background(), t.TempDir(), m, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	r, _ := m.Resource("comments")
	for _, q := range storetest.ReferringPages() {
		stmt, args, err := db.table(r).listSQL(q)
		if err != nil {
			t.Fatal(err)
		}
		if text := explain(t, db, stmt, args); strings.Contains(text, "TEMP B-TREE") || !strings.Contains(text, "USING INDEX ix_comments_post") {
			t.Errorf("%s: the referring records are not read in the order of the ref's index: %s", q.Where, text)
		}
	}
}

// explain returns SQLite's query plan of stmt, its steps joined by "; ".
func explain(t *testing.T, db *DB, stmt string, args []any) string {
	t.Helper()
	rows, err := db.read.Query("EXPLAIN QUERY PLAN "+stmt, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, notused int
		var detail string
		if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	return strings.Join(plan, "; ")
}

// TestOwnerListsUseTheOwnerIndex is the cost behind plinth check's list-rule-unindexed: a list
// rule `record.owner == auth.sub` binds, for a signed-in caller, to owner = ?, and only an
// index on owner lets SQLite find that caller's records without reading the whole table.
func TestOwnerListsUseTheOwnerIndex(t *testing.T) {
	for _, indexed := range []bool{false, true} {
		src := `
plinth: 1
name: plan
resources:
  notes:
    fields:
      owner: {type: string, default: auth.sub, immutable: true, max_length: 50}
`
		if indexed {
			src += "    indexes: [[owner]]\n"
		}
		m := mustCompile(t, src)
		db, err := Open(context.Background(), t.TempDir(), m, Options{})
		if err != nil {
			t.Fatal(err)
		}
		r, _ := m.Resource("notes")
		q := query.Select{Where: query.Compare{Field: "owner", Op: query.Eq, Value: "alice"}, Order: []query.Sort{{Field: "id"}}, Limit: 51}
		stmt, args, err := db.table(r).listSQL(q)
		if err != nil {
			t.Fatal(err)
		}
		text := explain(t, db, stmt, args)
		db.Close()
		if uses := strings.Contains(text, "USING INDEX ix_notes_owner") || strings.Contains(text, "USING COVERING INDEX ix_notes_owner"); uses != indexed {
			t.Errorf("indexed=%v: plan %s", indexed, text)
		}
		if scans := strings.HasPrefix(text, "SCAN"); scans == indexed {
			t.Errorf("indexed=%v: the plan scans the table: %v: %s", indexed, scans, text)
		}
		t.Logf("indexed=%v: %s", indexed, text)
	}
}
