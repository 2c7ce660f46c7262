package storetest

import (
	"errors"
	"slices"
	"testing"

	"github.com/plinth-dev/plinth/internal/query"
	"github.com/plinth-dev/plinth/internal/store"
)

// testTxList: a transaction's List sees the transaction's own inserts and deletes, with the
// selection's filter, order and limit, and nothing of it outlives a rollback.
func testTxList(t *testing.T, open Opener) {
	f := newFixture(t, open)
	things, owners := f.res("things"), f.res("owners")
	f.insert(owners, newRecord("o1", baseTime, nil), newRecord("o2", baseTime, nil), newRecord("o3", baseTime, nil))
	f.insert(things, newRecord("t1", baseTime, row{"owner": "o1"}),
		newRecord("t2", baseTime, row{"owner": "o2"}), newRecord("t4", baseTime, row{"owner": "o3"}))
	sel := query.Select{Where: query.In{Field: "owner", Values: []any{"o1", "o2"}},
		Order: []query.Sort{{Field: "id", Desc: true}}, Limit: 2}

	var inside []string
	err := f.store.Write(f.ctx, func(tx store.Tx) error {
		if err := tx.Insert(f.ctx, things, store.FromMap(newRecord("t3", baseTime, row{"owner": "o1"}))); err != nil {
			return err
		}
		if err := tx.Delete(f.ctx, things, "t2"); err != nil {
			return err
		}
		recs, err := tx.List(f.ctx, things, sel)
		if err != nil {
			return err
		}
		inside = ids(recs)
		return errRollback
	})
	if !errors.Is(err, errRollback) {
		t.Fatalf("Write returned %v, want the body's error", err)
	}
	if want := []string{"t3", "t1"}; !slices.Equal(inside, want) {
		t.Errorf("inside the transaction, List = %v, want %v", inside, want)
	}
	after, err := f.store.List(f.ctx, things, sel)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := ids(after), []string{"t2", "t1"}; !slices.Equal(got, want) {
		t.Errorf("after the rollback, List = %v, want %v", got, want)
	}
}

// ReferringPages are the lists a delete runs to find the records that refer to it
// (query.ReferringPage) on the ref comments.post of spec/testdata/valid/blog.yaml: a first
// page and a later one. Each driver's plan test checks that it reads them in the order of
// the ref's index, ix_comments_post.
func ReferringPages() []query.Select {
	ids := []any{"a", "b", "c"}
	return []query.Select{query.ReferringPage("post", ids, 500, nil), query.ReferringPage("post", ids, 500, &query.After{Ref: "b", ID: "m"})}
}
