package openapi_test

import (
	"bytes"
	"html"
	"strings"
	"testing"

	"github.com/plinth-dev/plinth/internal/openapi"
)

// TestReferenceListsTheDocument: the page has an anchored section for every operation, with
// its method and path, every parameter, and every named schema; it refers to nothing outside
// itself, and the same document renders to the same bytes. (cmd/plinth's TestDocsPageInBrowser
// loads it in Chromium.)
func TestReferenceListsTheDocument(t *testing.T) {
	doc, err := openapi.Document(compile(t, shopSpec), servedOptions)
	if err != nil {
		t.Fatal(err)
	}
	page, err := openapi.Reference(doc)
	if err != nil {
		t.Fatal(err)
	}
	text := html.UnescapeString(string(page))
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			section, ok := sectionOf(text, `id="op-`+op.OperationID+`"`)
			if !ok {
				t.Errorf("%s %s (%s) has no section", method, path, op.OperationID)
				continue
			}
			if !strings.Contains(section, method+"</span> "+path) {
				t.Errorf("the section of %s does not show %s %s", op.OperationID, method, path)
			}
			for _, p := range op.Parameters {
				if !strings.Contains(section, "<code>"+p.Value.Name+"</code>") {
					t.Errorf("the section of %s does not list its parameter %s", op.OperationID, p.Value.Name)
				}
			}
			for status := range op.Responses.Map() {
				if !strings.Contains(section, "<strong>"+status+"</strong>") {
					t.Errorf("the section of %s does not list its response %s", op.OperationID, status)
				}
			}
		}
	}
	for name := range doc.Components.Schemas {
		if !strings.Contains(text, `id="schema-`+name+`"`) {
			t.Errorf("schema %s has no section", name)
		}
	}
	// Descriptions and examples may quote addresses; the markup may load none.
	for _, outside := range []string{`src="http`, `href="http`, `src="//`, `href="//`, "@import", "url(", "<link", "@font-face"} {
		if strings.Contains(string(page), outside) {
			t.Errorf("the page loads from elsewhere: %s", outside)
		}
	}
	again, err := openapi.Reference(doc)
	if err != nil || !bytes.Equal(page, again) {
		t.Fatalf("the same document rendered twice differs (%v)", err)
	}
}

// sectionOf returns the operation section that starts with the attribute marker.
func sectionOf(page, marker string) (string, bool) {
	i := strings.Index(page, marker)
	if i < 0 {
		return "", false
	}
	rest := page[i:]
	if end := strings.Index(rest, `<section class="op"`); end >= 0 {
		rest = rest[:end]
	}
	return rest, true
}
