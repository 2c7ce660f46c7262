package httpapi_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/plinth-dev/plinth"
	"github.com/plinth-dev/plinth/internal/auth"
	"github.com/plinth-dev/plinth/internal/spec"
)

// shop is the shop example served in-process, with tokens for an admin and a customer.
type shop struct {
	h            http.Handler
	admin, alice string
}

func newShop(t testing.TB) *shop {
	t.Helper()
	dir := t.TempDir()
	app, err := plinth.New(context.Background(), plinth.Options{SpecFile: "../../examples/shop/plinth.yaml", DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { app.Close() })
	signer, _, err := auth.ForModel(&spec.Model{}, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	admin, _ := signer.Sign("root", "admin", 3600e9)
	alice, _ := signer.Sign("alice", "customer", 3600e9)
	return &shop{h: app.Handler(), admin: admin, alice: alice}
}

func (s *shop) serve(method, target, token, body string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, target, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	s.h.ServeHTTP(rec, req)
	return rec
}

// checkAnswer fails on anything a client must never see: a 500, a body that is not JSON, or
// internals in the text.
func checkAnswer(t *testing.T, what string, rec *httptest.ResponseRecorder) {
	t.Helper()
	body, _ := io.ReadAll(rec.Body)
	if rec.Code >= 500 {
		t.Fatalf("%s: status %d: %s", what, rec.Code, body)
	}
	if len(body) > 0 && !json.Valid(body) {
		t.Fatalf("%s: body is not JSON: %q", what, body)
	}
	low := strings.ToLower(string(body))
	for _, leak := range []string{"sqlite", "select ", "goroutine", "panic", "runtime error", ".go:"} {
		if strings.Contains(low, leak) {
			t.Fatalf("%s: body leaks %q: %s", what, leak, body)
		}
	}
}

// FuzzWrites sends arbitrary bodies to every write route of the shop.
func FuzzWrites(f *testing.F) {
	for _, seed := range []string{
		`{"sku":"AB-1","name":"x","price_cents":1}`,
		`{"items":[{"product_id":"x","quantity":1}]}`,
		`{"items":[{"quantity":1e400}]}`,
		`{"items":[]}`, `{"items":null}`, `{"status":"paid"}`, `{"note":"\u0000\ud800"}`,
		`{"price_cents":-9223372036854775809}`, `{"a":{"b":[[[[]]]]}}`, `[]`, `"x"`, ``, `{`, `{"x":1}{}`,
	} {
		f.Add("POST", seed)
		f.Add("PATCH", seed)
	}
	s := newShop(f)
	created := s.serve("POST", "/v1/products", s.admin, `{"sku":"FUZZ-1","name":"fuzz","price_cents":100,"stock":5}`)
	var p map[string]any
	json.NewDecoder(created.Body).Decode(&p)
	pid, _ := p["id"].(string)
	f.Fuzz(func(t *testing.T, method, body string) {
		if method != "POST" && method != "PATCH" && method != "PUT" {
			method = "POST"
		}
		for _, res := range []string{"products", "orders", "customers"} {
			target := "/v1/" + res
			if method != "POST" {
				target += "/" + pid
			}
			for _, tok := range []string{s.admin, s.alice, ""} {
				checkAnswer(t, method+" "+target, s.serve(method, target, tok, body))
			}
		}
	})
}

// FuzzListQueries sends arbitrary filters, sorts, cursors and limits to lists.
func FuzzListQueries(f *testing.F) {
	for _, seed := range [][4]string{
		{`price_cents > 500`, `-price_cents`, "", "20"},
		{`name.startsWith("M") && !(stock == 0)`, `name,-id`, "", "1"},
		{`status in ["paid", "pending"] || note == null`, `-created_at`, "", ""},
		{`created_at < now - duration("1h")`, ``, "abc.def", "500"},
		{`lookup("products", "x").price_cents > 1`, `items`, "", "-1"},
		{`price_cents > 1.5 + 1`, `price_cents,price_cents`, "", "x"},
		{strings.Repeat("(", 300) + "true" + strings.Repeat(")", 300), "", "", ""},
	} {
		f.Add(seed[0], seed[1], seed[2], seed[3])
	}
	s := newShop(f)
	s.serve("POST", "/v1/products", s.admin, `{"sku":"FUZZ-1","name":"fuzz","price_cents":100}`)
	f.Fuzz(func(t *testing.T, filter, sort, cursor, limit string) {
		q := url.Values{"filter": {filter}, "sort": {sort}, "cursor": {cursor}, "limit": {limit}}
		for _, res := range []string{"products", "orders"} {
			for _, tok := range []string{s.admin, s.alice, ""} {
				checkAnswer(t, "list "+res+" "+q.Encode(), s.serve("GET", "/v1/"+res+"?"+q.Encode(), tok, ""))
			}
		}
	})
}
