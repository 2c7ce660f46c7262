package main

import (
	"fmt"
	"slices"
	"testing"
)

// blogSpec is the example of on_delete in docs/spec.md.
const blogSpec = `plinth: 1
name: blog
resources:
  posts:
    fields:
      title: {type: string, max_length: 200}
    access: {list: "true", read: "true", write: "true"}
  comments:
    fields:
      post:   {type: ref, resource: posts, required: true, on_delete: cascade}
      parent: {type: ref, resource: comments, on_delete: cascade}
      body:   {type: string, max_length: 2000}
    access: {list: "true", read: "true", write: "true"}
  bookmarks:
    fields:
      post: {type: ref, resource: posts, on_delete: set_null}
      note: {type: string, max_length: 200}
    access: {list: "true", read: "true", write: "true"}
`

// lastSeq follows the change feed to its end and returns where it is.
func (r *running) lastSeq(t *testing.T, token string) float64 {
	t.Helper()
	after := 0.0
	for {
		page := r.do("GET", fmt.Sprintf("/v1/events?after=%d&limit=1000", int64(after)), token, nil).expect(t, 200)
		next := page.body["next_after"].(float64)
		if next == after {
			return after
		}
		after = next
	}
}

func TestDeleteCascadeOverHTTP(t *testing.T) { eachDatabase(t, testDeleteCascadeOverHTTP) }

// testDeleteCascadeOverHTTP: a DELETE takes what cascades with it in its one transaction,
// under its Idempotency-Key, and one that would reach too far is a 409 that changes nothing.
func testDeleteCascadeOverHTTP(t *testing.T, db database) {
	srv := db.start(t, writeSpec(t, blogSpec))
	admin := srv.token("root", "admin")
	create := func(resource string, body map[string]any) string {
		t.Helper()
		return srv.do("POST", "/v1/"+resource, admin, body).expect(t, 201).body["id"].(string)
	}
	post := create("posts", map[string]any{"title": "Hello"})
	first := create("comments", map[string]any{"post": post, "body": "first"})
	reply := create("comments", map[string]any{"post": post, "parent": first, "body": "reply"})
	mark := create("bookmarks", map[string]any{"post": post, "note": "read later"})
	seq := srv.lastSeq(t, admin)

	key := newKey()
	srv.do("DELETE", "/v1/posts/"+post, admin, nil, "Idempotency-Key", key).expect(t, 204)
	replay := srv.do("DELETE", "/v1/posts/"+post, admin, nil, "Idempotency-Key", key).expect(t, 204)
	if replay.header.Get("Idempotent-Replayed") != "true" {
		t.Errorf("the retried DELETE was not a replay: %v", replay.header)
	}
	srv.do("GET", "/v1/posts/"+post, admin, nil).expect(t, 404)
	for _, id := range []string{first, reply} {
		srv.do("GET", "/v1/comments/"+id, admin, nil).expect(t, 404)
	}
	if got := srv.do("GET", "/v1/bookmarks/"+mark, admin, nil).expect(t, 200); got.body["post"] != nil || got.body["note"] != "read later" {
		t.Errorf("the bookmark of the deleted post: %s", got.raw)
	}
	var got []string
	for _, ev := range srv.feed(t, admin, "") {
		if ev["seq"].(float64) > seq {
			got = append(got, ev["type"].(string)+" "+ev["record_id"].(string))
		}
	}
	want := []string{"bookmarks.updated " + mark, "comments.deleted " + reply, "comments.deleted " + first, "posts.deleted " + post}
	if !slices.Equal(got, want) {
		t.Errorf("events of the delete and its replay:\n got %v\nwant %v", got, want)
	}

	// A post with 1,001 comments is one more than a delete may take with it.
	big := create("posts", map[string]any{"title": "Big"})
	for n := 1001; n > 0; n -= 100 {
		ops := make([]any, min(n, 100))
		for i := range ops {
			ops[i] = map[string]any{"method": "POST", "path": "/v1/comments", "body": map[string]any{"post": big}}
		}
		srv.do("POST", "/v1/batch", admin, map[string]any{"operations": ops}).expect(t, 200)
	}
	seq = srv.lastSeq(t, admin)
	res := srv.do("DELETE", "/v1/posts/"+big, admin, nil).expect(t, 409)
	if res.body["type"] != "urn:plinth:problem:cascade-too-large" || res.body["found"] != 1001.0 ||
		res.body["limit"] != 1000.0 || res.body["max_depth"] != 32.0 {
		t.Errorf("problem: %s", res.raw)
	}
	srv.do("GET", "/v1/posts/"+big, admin, nil).expect(t, 200)
	if after := srv.lastSeq(t, admin); after != seq {
		t.Errorf("the refused delete moved the feed from %v to %v", seq, after)
	}
	page := srv.do("GET", "/v1/comments?limit=500&filter="+urlQuery(`post == "`+big+`"`), admin, nil).expect(t, 200)
	if n := len(page.body["items"].([]any)); n != 500 || page.body["next_cursor"] == "" {
		t.Errorf("after the refused delete, the first page of comments has %d items", n)
	}
}
