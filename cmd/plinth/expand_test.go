package main

import (
	"strings"
	"testing"
)

const librarySpec = `plinth: 1
name: library
resources:
  authors:
    fields:
      name: {type: string, max_length: 100}
      secret: {type: boolean, default: false}
    access: {list: "true", read: "!record.secret", write: "true"}
  books:
    fields:
      title: {type: string, max_length: 100}
      author: {type: ref, resource: authors}
    access: {list: "true", read: "true", write: "true"}
`

func TestExpandOverHTTP(t *testing.T) {
	srv := startServer(t, writeSpec(t, librarySpec), t.TempDir())
	known := srv.do("POST", "/v1/authors", "", map[string]any{"name": "Ann"}).expect(t, 201).body["id"]
	hidden := srv.do("POST", "/v1/authors", "", map[string]any{"name": "Anon"}).expect(t, 201).body["id"]
	srv.do("POST", "/v1/books", "", map[string]any{"title": "A", "author": known}).expect(t, 201)
	srv.do("POST", "/v1/books", "", map[string]any{"title": "B", "author": hidden}).expect(t, 201)
	srv.do("PATCH", "/v1/authors/"+hidden.(string), "", map[string]any{"secret": true}).expect(t, 200)
	// A record the caller may not read cannot be referenced: to them it does not exist.
	if r := srv.do("POST", "/v1/books", "", map[string]any{"title": "D", "author": hidden}).expect(t, 422); !strings.Contains(string(r.raw), `"code":"not_found"`) {
		t.Errorf("a reference to a hidden author: %s", r.raw)
	}
	srv.do("POST", "/v1/books", "", map[string]any{"title": "C"}).expect(t, 201)

	res := srv.do("GET", "/v1/books?expand=author&sort=title&fields=title,author", "", nil).expect(t, 200)
	items := res.body["items"].([]any)
	if len(items) != 3 {
		t.Fatalf("items: %s", res.raw)
	}
	author := func(i int) any { return items[i].(map[string]any)["expand"].(map[string]any)["author"] }
	if a, ok := author(0).(map[string]any); !ok || a["name"] != "Ann" || a["id"] != known {
		t.Errorf("expanded author: %v", author(0))
	}
	if author(1) != nil {
		t.Errorf("an author the caller may not read was expanded: %v", author(1))
	}
	if author(2) != nil {
		t.Errorf("a book without an author: %v", author(2))
	}
	// Deleting a referenced author is refused: the books still point at it.
	if r := srv.do("DELETE", "/v1/authors/"+known.(string), "", nil).expect(t, 409); r.body["type"] != "urn:plinth:problem:referenced" {
		t.Errorf("delete of a referenced author: %s", r.raw)
	}
	srv.do("GET", "/v1/books?expand=title", "", nil).expect(t, 400)
}
