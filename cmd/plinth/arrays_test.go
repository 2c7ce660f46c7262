package main

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
)

const arraysSpec = `plinth: 1
name: blog
resources:
  posts:
    fields:
      title: {type: string, max_length: 100}
      tags: {type: array, of: {type: string, max_length: 20}, max_items: 10}
      scores: {type: array, of: {type: number}, max_items: 10}
      blocks:
        type: array
        max_items: 10
        of:
          kind: {type: string, max_length: 20}
    access: {list: "true", read: "true", write: "true"}
  notes:
    fields:
      body: {type: string, max_length: 100}
      labels: {type: array, of: {type: string, max_length: 20}, max_items: 10}
    access:
      list: '"public" in record.labels'
      read: '"public" in record.labels'
      write: "true"
`

// TestArrayFilters: filters test arrays (in, exists(), all(), size()) in the database, with
// CEL's meaning, on both databases; arrays of objects are refused with a 400 that says why.
func TestArrayFilters(t *testing.T) { eachDatabase(t, testArrayFilters) }

// startBlog serves arraysSpec on db.
func startBlog(t *testing.T, db database) *running {
	t.Helper()
	return db.start(t, writeSpec(t, arraysSpec))
}

func testArrayFilters(t *testing.T, db database) {
	srv := startBlog(t, db)
	for _, p := range []map[string]any{
		{"title": "A", "tags": []any{"go", "db"}, "scores": []any{2, 2.5}},
		{"title": "B", "tags": []any{"rust"}, "scores": []any{}},
		{"title": "C", "tags": []any{}},
		{"title": "D"}, // no tags: null
		{"title": "E", "tags": []any{"Go", "go", "go"}, "scores": []any{2.0}},
		{"title": "F", "tags": []any{"日本語", "go"}, "blocks": []any{map[string]any{"kind": "text"}}},
		{"title": "G", "tags": []any{"gopher"}},
	} {
		srv.do("POST", "/v1/posts", "", p).expect(t, 201)
	}
	titles := func(filter string, extra ...string) []string {
		t.Helper()
		q := "/v1/posts?sort=title&fields=title&filter=" + url.QueryEscape(filter) + strings.Join(extra, "")
		var out []string
		for page := 0; page < 10; page++ {
			res := srv.do("GET", q, "", nil).expect(t, 200)
			for _, it := range res.body["items"].([]any) {
				out = append(out, it.(map[string]any)["title"].(string))
			}
			next, _ := res.body["next_cursor"].(string)
			if next == "" {
				return out
			}
			q = "/v1/posts?sort=title&fields=title&filter=" + url.QueryEscape(filter) + strings.Join(extra, "") + "&cursor=" + next
		}
		t.Fatalf("%s: pagination does not end", filter)
		return nil
	}
	for _, c := range []struct {
		filter string
		want   []string
	}{
		{`"go" in tags`, []string{"A", "E", "F"}},
		// A null array fails every test, as in CEL: it is neither in nor out.
		{`!("go" in tags)`, []string{"B", "C", "G"}},
		{`tags == null || !("go" in tags)`, []string{"B", "C", "D", "G"}},
		{`"日本語" in tags`, []string{"F"}},
		{`tags.exists(t, t.startsWith("go"))`, []string{"A", "E", "F", "G"}},
		{`tags.all(t, t == "go")`, []string{"C"}},
		{`tags.all(t, t.endsWith("o") || t.startsWith("d"))`, []string{"A", "C", "E"}},
		{`size(tags) == 0`, []string{"C"}},
		{`tags.size() >= 2 && "go" in tags`, []string{"A", "E", "F"}},
		{`2.0 in scores`, []string{"A", "E"}},
		{`scores.exists(s, s > 2.0)`, []string{"A"}},
		{`size(blocks) > 0`, []string{"F"}},
	} {
		if got := titles(c.filter); !slices.Equal(got, c.want) {
			t.Errorf("filter %s: got %v, want %v", c.filter, got, c.want)
		}
		// Keyset pages with the same filter give the same records.
		if got := titles(c.filter, "&limit=1"); !slices.Equal(got, c.want) {
			t.Errorf("filter %s, pages of 1: got %v, want %v", c.filter, got, c.want)
		}
	}

	for _, c := range []struct{ filter, says string }{
		{`blocks.exists(b, b.kind == "text")`, `cannot test the elements of "blocks", an array of objects`},
		{`{"kind": "text"} in blocks`, `cannot test the elements of "blocks", an array of objects`},
		{`"go" in title`, `no matching overload for '@in'`},
		{`tags.exists(t, t == title)`, `conditions on "title" belong outside`},
		{`tags.map(t, t == "go").size() > 0`, `macros are not supported in filters, except exists() and all() over an array field`},
		{`size(title) > 1`, `size() needs an array field`},
	} {
		res := srv.do("GET", "/v1/posts?filter="+url.QueryEscape(c.filter), "", nil).expect(t, 400)
		msg := fmt.Sprint(res.body["errors"])
		if !strings.Contains(msg, c.says) {
			t.Errorf("filter %s: %s, want it to say %q", c.filter, res.raw, c.says)
		}
		for _, leak := range []string{"SELECT", "json_each", "jsonb", "sql"} {
			if strings.Contains(string(res.raw), leak) {
				t.Errorf("filter %s leaks %q: %s", c.filter, leak, res.raw)
			}
		}
	}
}

// TestArrayListRule: a list rule on an array runs in the database (pages are full although
// most records come first and are hidden), and agrees with the read rule, which the engine
// evaluates in Go: a record without labels is neither listed nor read.
func TestArrayListRule(t *testing.T) { eachDatabase(t, testArrayListRule) }

func testArrayListRule(t *testing.T, db database) {
	srv := startBlog(t, db)
	user := srv.token("u1", "")
	var hidden []string
	for i := range 30 {
		note := map[string]any{"body": fmt.Sprint("hidden ", i)}
		switch i % 3 {
		case 0:
			note["labels"] = []any{"private"}
		case 1:
			note["labels"] = []any{}
		}
		hidden = append(hidden, srv.do("POST", "/v1/notes", user, note).expect(t, 201).body["id"].(string))
	}
	var public []string
	for i := range 3 {
		note := map[string]any{"body": fmt.Sprint("public ", i), "labels": []any{"draft", "public"}}
		public = append(public, srv.do("POST", "/v1/notes", user, note).expect(t, 201).body["id"].(string))
	}

	// Ids grow with time, so the 30 hidden notes sort first: a rule applied after the limit
	// would leave the first page empty.
	var listed []string
	q := "/v1/notes?limit=2"
	for pages := 0; ; pages++ {
		res := srv.do("GET", q, user, nil).expect(t, 200)
		items := res.body["items"].([]any)
		if next, _ := res.body["next_cursor"].(string); next != "" {
			if len(items) != 2 {
				t.Fatalf("page %d has %d items and a next page: %s", pages, len(items), res.raw)
			}
			q = "/v1/notes?limit=2&cursor=" + next
		} else {
			q = ""
		}
		for _, it := range items {
			listed = append(listed, it.(map[string]any)["id"].(string))
		}
		if q == "" {
			break
		}
		if pages > 5 {
			t.Fatal("pagination does not end")
		}
	}
	if !slices.Equal(listed, public) {
		t.Errorf("listed %v, want the public notes %v", listed, public)
	}
	// The filter narrows what the rule allows, never widens it.
	if res := srv.do("GET", "/v1/notes?filter="+url.QueryEscape(`!("public" in labels)`), user, nil).expect(t, 200); len(res.body["items"].([]any)) != 0 {
		t.Errorf("the filter showed hidden notes: %s", res.raw)
	}
	// Reading agrees with listing, for null labels (i%3 == 2) and empty ones alike.
	srv.do("GET", "/v1/notes/"+public[0], user, nil).expect(t, 200)
	for _, id := range hidden[:3] {
		srv.do("GET", "/v1/notes/"+id, user, nil).expect(t, 404)
	}
}
