package fault_test

import (
	"cmp"
	"flag"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/plinth-dev/plinth/internal/fault"
)

var update = flag.Bool("update", false, "rewrite the problem type table in docs/api.md from the catalogue")

const apiDoc = "../../docs/api.md"

// tableMarker is the line of docs/api.md under which the problem type table starts.
const tableMarker = "<!-- problem types: written from internal/fault/catalogue.go by `go test ./internal/fault -update` -->"

// TestDocsListTheCatalogue fails when docs/api.md lists other problem types than the
// catalogue, or lists them with another status, title, description or members: the docs
// cannot drift from what the server answers.
func TestDocsListTheCatalogue(t *testing.T) {
	doc, err := os.ReadFile(apiDoc)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(doc), "\n")
	start := slices.Index(lines, tableMarker)
	if start < 0 {
		t.Fatalf("%s lacks the line %q above its problem type table", apiDoc, tableMarker)
	}
	start++
	end := start
	for end < len(lines) && strings.HasPrefix(lines[end], "|") {
		end++
	}
	want := catalogueTable()
	if *update {
		lines = slices.Replace(lines, start, end, want...)
		if err := os.WriteFile(apiDoc, []byte(strings.Join(lines, "\n")), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	got := lines[start:end]
	documented := map[string]string{}
	for _, row := range got[min(2, len(got)):] {
		slug := strings.Trim(strings.TrimSpace(strings.Split(row, "|")[1]), "`")
		documented[slug] = row
	}
	for _, row := range want[2:] {
		slug := strings.Trim(strings.TrimSpace(strings.Split(row, "|")[1]), "`")
		switch doc, ok := documented[slug]; {
		case !ok:
			t.Errorf("%s does not list the problem type %s", apiDoc, slug)
		case doc != row:
			t.Errorf("%s lists %s as\n\t%s\nbut the catalogue says\n\t%s", apiDoc, slug, doc, row)
		}
		delete(documented, slug)
	}
	for slug := range documented {
		t.Errorf("%s lists the problem type %s, which the catalogue lacks", apiDoc, slug)
	}
	if !t.Failed() && !slices.Equal(got, want) {
		t.Errorf("%s lists the problem types in another order or format than the catalogue", apiDoc)
	}
	if t.Failed() {
		t.Log("run go test ./internal/fault -update to write the table from the catalogue, and review the diff")
	}
}

// catalogueTable renders the catalogue as the table of docs/api.md, by status.
func catalogueTable() []string {
	types := fault.Catalogue()
	slices.SortStableFunc(types, func(a, b fault.Type) int { return cmp.Compare(a.Status(), b.Status()) })
	rows := []string{"| type | status | title | when | members beyond RFC 9457's |", "|---|---|---|---|---|"}
	for _, typ := range types {
		var extra []string
		for _, m := range typ.Extra() {
			extra = append(extra, "`"+m+"`")
		}
		rows = append(rows, "| `"+typ.Slug()+"` | "+strconv.Itoa(typ.Status())+" | "+typ.Title()+" | "+typ.When()+" | "+strings.Join(extra, ", ")+" |")
	}
	return rows
}

// TestEveryCodeHasAType reads the Code constants from the source, so that a new code without
// a row in the table from codes to types fails here rather than answering 500.
func TestEveryCodeHasAType(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "fault.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var codes []fault.Code
	for _, decl := range f.Decls {
		gen, ok := decl.(*ast.GenDecl)
		if !ok || gen.Tok != token.CONST {
			continue
		}
		for _, spec := range gen.Specs {
			vs := spec.(*ast.ValueSpec)
			if id, ok := vs.Type.(*ast.Ident); !ok || id.Name != "Code" {
				continue
			}
			for _, v := range vs.Values {
				s, _ := strconv.Unquote(v.(*ast.BasicLit).Value)
				codes = append(codes, fault.Code(s))
			}
		}
	}
	if len(codes) < 9 {
		t.Fatalf("found %d codes in fault.go: %v", len(codes), codes)
	}
	if listed := fault.Codes(); len(listed) != len(codes) {
		t.Errorf("fault.go declares the codes %v, but Codes() lists %v", codes, listed)
	}
	for _, c := range codes {
		typ := fault.DefaultType(c)
		if typ == fault.TypeInternal && c != fault.Internal {
			t.Errorf("code %s has no problem type", c)
		}
		if (&fault.Error{Code: c}).ProblemType() != typ || fault.TypeOf(fault.New(c, "x")) != typ {
			t.Errorf("an error of code %s without a type is not answered as %s", c, typ)
		}
	}
}

func TestCatalogue(t *testing.T) {
	for _, typ := range fault.Catalogue() {
		if got, ok := fault.Lookup(typ.Slug()); !ok || got != typ {
			t.Errorf("Lookup(%q) = %v, %v", typ.Slug(), got, ok)
		}
		if typ.URN() != "urn:plinth:problem:"+typ.Slug() {
			t.Errorf("URN %q", typ.URN())
		}
		if typ.Title() == "" || typ.When() == "" {
			t.Errorf("%s has no title or no description", typ)
		}
	}
	if _, ok := fault.Lookup("not_found"); ok {
		t.Error("not_found is in the catalogue")
	}
	if typ := fault.TypeOf(os.ErrNotExist); typ != fault.TypeInternal {
		t.Errorf("an unclassified error is %s, want internal", typ)
	}
	if typ := fault.Fields(nil).ProblemType(); typ != fault.TypeValidation || typ.Status() != 422 {
		t.Errorf("field errors are %s %d, want validation 422", typ, typ.Status())
	}
}

func TestEffectConflict(t *testing.T) {
	typ, err := fault.EffectConflict("out-of-stock")
	if err != nil {
		t.Fatal(err)
	}
	g := fault.TypeGuardFailed
	if typ.URN() != "urn:plinth:problem:out-of-stock" || typ.Status() != g.Status() || typ.Title() != g.Title() ||
		!slices.Equal(typ.Extra(), g.Extra()) {
		t.Errorf("out-of-stock is %s %d %q %v, want guard-failed's status, title and members", typ, typ.Status(), typ.Title(), typ.Extra())
	}
	if typ, err := fault.EffectConflict("guard-failed"); err != nil || typ != g {
		t.Errorf("guard-failed: %v, %v", typ, err)
	}
	for _, bad := range []string{"", "Out-Of-Stock", "out_of_stock", "out--of-stock", "-out", "out-", "1-out", "out of stock",
		"not-found", "conflict", "validation", "internal"} {
		if typ, err := fault.EffectConflict(bad); err == nil {
			t.Errorf("EffectConflict(%q) = %v, want an error", bad, typ)
		}
	}
}
