package main

import (
	"bytes"
	"context"
	"io"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
	"github.com/google/uuid"
	"go.yaml.in/yaml/v3"
)

// shopDocument is the shop's golden OpenAPI document (internal/openapi's tests keep it).
const shopDocument = "../../internal/openapi/testdata/shop.openapi.json"

func init() {
	// kin-openapi checks only some formats unless told; the document uses uuid too.
	openapi3.DefineStringFormatValidator("uuid", openapi3.NewRegexpFormatValidator(openapi3.FormatOfStringForUUIDOfRFC9562))
	// /docs answers HTML, which the document describes as a string; openapi3filter reads
	// only the media types it is told about.
	openapi3filter.RegisterBodyDecoder("text/html", openapi3filter.PlainBodyDecoder)
}

// TestOpenAPICommand: `plinth openapi` prints the shop's document, the golden one, as JSON or
// YAML, and refuses a bad spec with its diagnostics.
func TestOpenAPICommand(t *testing.T) {
	run := func(args ...string) (int, string, string) {
		var out, errOut bytes.Buffer
		code := Main(context.Background(), append([]string{"openapi"}, args...), &out, &errOut)
		return code, out.String(), errOut.String()
	}
	golden, err := os.ReadFile(shopDocument)
	if err != nil {
		t.Fatal(err)
	}
	code, out, errOut := run("--spec", shopSpec)
	if code != 0 || out != string(golden) {
		t.Fatalf("plinth openapi exited %d (%s) and printed another document than %s", code, errOut, shopDocument)
	}
	code, out, _ = run("--spec", shopSpec, "--format", "yaml")
	var fromYAML map[string]any
	if err := yaml.Unmarshal([]byte(out), &fromYAML); code != 0 || err != nil || fromYAML["openapi"] != "3.1.0" {
		t.Fatalf("--format yaml exited %d and printed a document that reads as %v (%v)", code, fromYAML["openapi"], err)
	}
	bad := writeSpec(t, "plinth: 1\nname: bad\nresources:\n  things:\n    fields:\n      n: {type: integer, example: many}\n")
	if code, out, errOut := run("--spec", bad); code != 1 || out != "" || !strings.Contains(errOut, "plinth.yaml:6:35: error: things.n.example must be a whole number") {
		t.Fatalf("a bad spec: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if code, _, errOut := run("--spec", shopSpec, "--format", "xml"); code != 1 || !strings.Contains(errOut, "--format must be json or yaml") {
		t.Fatalf("--format xml: exit %d, stderr %q", code, errOut)
	}
}

// TestServedDocumentConforms fetches the document from a real server and sends the shop's
// requests through it: every request the document calls valid, and every answer of the
// server, success or problem, must be what the document says — status, headers and body.
func TestServedDocumentConforms(t *testing.T) { eachDatabase(t, testServedDocumentConforms) }

func testServedDocumentConforms(t *testing.T, db database) {
	srv := db.start(t, shopSpec)
	golden, err := os.ReadFile(shopDocument)
	if err != nil {
		t.Fatal(err)
	}
	rawJSON := srv.fetch("/openapi.json", "application/json")
	if !bytes.Equal(rawJSON, golden) {
		t.Fatalf("/openapi.json is not %s", shopDocument)
	}
	rawYAML := srv.fetch("/openapi.yaml", "application/yaml")
	doc, err := openapi3.NewLoader().LoadFromData(rawJSON)
	if err != nil {
		t.Fatal(err)
	}
	fromYAML, err := openapi3.NewLoader().LoadFromData(rawYAML)
	if err != nil || len(fromYAML.Paths.Map()) != len(doc.Paths.Map()) {
		t.Fatalf("/openapi.yaml: %v", err)
	}
	// The document's server is relative ("/"): a client resolves it against where it fetched
	// the document.
	doc.Servers = openapi3.Servers{{URL: srv.url}}
	router, err := legacy.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	c := conformance{t: t, srv: srv, router: router, driven: map[string]bool{}}
	admin, alice := srv.token("root", "admin"), srv.token("alice", "customer")

	mug := c.send(true, "POST", "/v1/products", admin, `{"sku": "MUG-01", "name": "Mug", "price_cents": 1200, "stock": 10}`).want(201)
	pid := mug.body["id"].(string)
	c.send(true, "POST", "/v1/products", admin, `{"sku": "CUP-01", "name": "Cup", "price_cents": 800}`).want(201)
	read := c.send(true, "GET", "/v1/products/"+pid, "", "").want(200)
	c.send(true, "GET", "/v1/products/"+pid, "", "", "If-None-Match", read.header.Get("ETag")).want(304)
	page := c.send(true, "GET", "/v1/products?limit=1&sort=-price_cents,name&fields=sku,price_cents", "", "").want(200)
	cursor, _ := page.body["next_cursor"].(string)
	if cursor == "" {
		t.Fatalf("a page of one of two products has no next_cursor: %s", page.raw)
	}
	c.send(true, "GET", "/v1/products?limit=1&sort=-price_cents,name&fields=sku,price_cents&cursor="+cursor, "", "").want(200)
	c.send(true, "GET", "/v1/products?filter="+url.QueryEscape(`price_cents > 1000 && name.startsWith("M")`), "", "").want(200)
	c.send(true, "GET", "/v1/products/"+uuid.NewString(), "", "").want(404)
	c.send(true, "PATCH", "/v1/products/"+pid, admin, `{"stock": 20}`, "If-Match", `"7"`).want(412)
	c.send(true, "PATCH", "/v1/products/"+pid, admin, `{"description": null, "stock": 20}`, "If-Match", read.header.Get("ETag")).want(200)
	c.send(true, "PUT", "/v1/products/"+pid, admin, `{"sku": "MUG-01", "name": "Mug", "price_cents": 1300, "stock": 20}`).want(200)
	c.send(true, "POST", "/v1/products", "", `{"sku": "TEA-01", "name": "Tea", "price_cents": 500}`).want(401)
	c.send(true, "POST", "/v1/products", alice, `{"sku": "TEA-01", "name": "Tea", "price_cents": 500}`).want(403)
	c.send(true, "POST", "/v1/products", admin, `{"sku": "MUG-01", "name": "Mug again", "price_cents": 1}`).want(409)

	key := newKey()
	order := `{"items": [{"product_id": "` + pid + `", "quantity": 2}], "note": "gift"}`
	created := c.send(true, "POST", "/v1/orders", alice, order, "Idempotency-Key", key).want(201)
	replay := c.send(true, "POST", "/v1/orders", alice, order, "Idempotency-Key", key).want(201)
	if replay.header.Get("Idempotent-Replayed") != "true" || !bytes.Equal(replay.raw, created.raw) {
		t.Fatal("the retry was not the first answer replayed")
	}
	oid := created.body["id"].(string)
	c.send(true, "GET", "/v1/orders/"+oid, alice, "").want(200)
	c.send(true, "PATCH", "/v1/orders/"+oid, admin, `{"status": "shipped"}`, "Idempotency-Key", newKey()).want(409)
	c.send(true, "POST", "/v1/orders", alice, `{"items": [{"product_id": "`+pid+`", "quantity": 1000}]}`, "Idempotency-Key", newKey()).want(409)
	c.send(true, "POST", "/v1/batch", admin, `{"operations": [{"method": "PATCH", "path": "/v1/orders/`+oid+`", "body": {"status": "paid"}},
		{"method": "POST", "path": "/v1/products", "body": {"sku": "TEA-01", "name": "Tea", "price_cents": 500}}]}`,
		"Idempotency-Key", newKey()).want(200)
	c.send(true, "GET", "/v1/events?after=0&resource=orders,products&limit=10", admin, "").want(200)
	c.send(true, "GET", "/v1/_webhooks", admin, "").want(200)
	c.send(true, "GET", "/v1/_webhooks/dead?limit=5", admin, "").want(200)
	c.send(true, "POST", "/v1/_webhooks/replay", admin, `{"all": true}`).want(200)
	c.send(true, "POST", "/v1/_webhooks/discard", admin, `{"ids": ["`+uuid.NewString()+`"]}`).want(200)
	c.send(true, "POST", "/v1/_webhooks/discard", alice, `{"all": true}`).want(403)
	c.send(true, "POST", "/v1/customers", alice, `{"email": "alice@example.com", "name": "Alice"}`).want(201)
	c.send(true, "GET", "/v1/customers?limit=10", alice, "").want(200)
	c.send(true, "PATCH", "/v1/orders/"+oid, admin, `{"note": null}`, "Idempotency-Key", newKey(), "Content-Type", "application/merge-patch+json").want(200)
	c.send(true, "DELETE", "/v1/orders/"+oid, admin, "").want(403)
	c.send(true, "POST", "/v1/batch", admin, `{"operations": [{"method": "DELETE", "path": "/v1/products/`+uuid.NewString()+`"}]}`).want(404)
	tea := c.send(true, "POST", "/v1/products", admin, `{"sku": "TEA-02", "name": "Green tea", "price_cents": 700}`).want(201)
	c.send(true, "DELETE", "/v1/products/"+tea.body["id"].(string), admin, "", "If-Match", `"2"`).want(412)
	c.send(true, "DELETE", "/v1/products/"+tea.body["id"].(string), admin, "", "If-Match", `"1"`).want(204)
	c.send(true, "GET", "/healthz", "", "").want(200)
	c.send(true, "GET", "/readyz", "", "").want(200)
	c.send(true, "GET", "/openapi.json", "", "").want(200)
	c.send(true, "GET", "/openapi.yaml", "", "").want(200)
	c.send(true, "GET", "/docs", "", "").want(200)
	c.send(true, "GET", "/v1/orders?limit=5", admin, "").want(200)
	c.send(true, "PUT", "/v1/orders/"+oid, admin, `{"status": "shipped", "note": "left at the door"}`, "Idempotency-Key", newKey()).want(200)
	me := c.send(true, "POST", "/v1/customers", srv.token("bob", "customer"), `{"email": "bob@example.com", "name": "Bob"}`).want(201)
	bob := me.body["id"].(string)
	c.send(true, "GET", "/v1/customers/"+bob, admin, "").want(200)
	c.send(true, "GET", "/v1/customers/"+bob, alice, "").want(404)
	c.send(true, "PATCH", "/v1/customers/"+bob, admin, `{"name": "Robert"}`, "If-Match", `"9"`).want(412)
	c.send(true, "PATCH", "/v1/customers/"+bob, admin, `{"name": "Robert"}`).want(200)
	c.send(true, "PUT", "/v1/customers/"+bob, admin, `{"email": "bob@example.com", "name": "Bob"}`).want(200)
	c.send(true, "PUT", "/v1/customers/"+uuid.NewString(), admin, `{"email": "x@example.com", "name": "X"}`).want(404)
	c.send(true, "DELETE", "/v1/customers/"+bob, alice, "").want(403)
	c.send(true, "DELETE", "/v1/customers/"+bob, "", "").want(401)
	c.send(true, "DELETE", "/v1/customers/"+bob, admin, "").want(204)
	c.send(true, "DELETE", "/v1/customers/"+bob, admin, "").want(404)

	// Requests the document calls invalid are refused by the server too, with a problem the
	// document lists for the operation.
	c.send(false, "POST", "/v1/orders", alice, `{"items": [{"product_id": "`+pid+`", "quantity": 0}], "total_cents": 1}`, "Idempotency-Key", newKey()).want(422)
	c.send(false, "POST", "/v1/orders", alice, order).want(400)
	c.send(false, "GET", "/v1/products?limit=501", "", "").want(400)
	c.send(false, "GET", "/v1/products?sort=nope", "", "").want(400)
	c.send(false, "PATCH", "/v1/products/"+pid, admin, `{"stock": -1}`).want(422)
	c.send(true, "GET", "/v1/orders", "", "", "Authorization", "Bearer not-a-token").want(401)
	c.send(false, "GET", "/v1/events?limit=0", admin, "").want(400)
	c.send(false, "POST", "/v1/products", admin, `{"sku": "TEA-03", "name": "Tea",`).want(400)
	c.send(false, "POST", "/v1/products", admin, `{"sku": "TEA-03"}`, "Content-Type", "text/plain").want(415)
	c.send(false, "PATCH", "/v1/products/"+pid, admin, `{"name": "`+strings.Repeat("x", 1<<20)+`"}`).want(413)
	c.send(false, "POST", "/v1/_webhooks/replay", admin, `{"all": false}`).want(400)
	c.send(false, "PATCH", "/v1/products/"+pid, admin, `{"stock": 1}`, "If-Match", "3").want(400)
	c.send(false, "GET", "/v1/customers/not-a-uuid", admin, "").want(404)
	c.send(false, "PUT", "/v1/customers/"+uuid.NewString(), admin, `{"email": "not an address", "name": "X"}`).want(422)

	// Every operation again, with inputs a client gets wrong: an unknown query parameter, no
	// credentials, a bad token, and for those that take a body, malformed JSON and a body of the
	// wrong type; a record that does not exist where the path names one. Whatever the document
	// refuses the server refuses too (4xx), and every answer is one the document gives.
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			target := strings.ReplaceAll(path, "{id}", uuid.NewString())
			c.probe(method, target+"?bogus=1", admin, "")
			c.probe(method, target, "", "")
			c.probe(method, target, "", "", "Authorization", "Bearer not-a-token")
			if op.RequestBody != nil {
				c.probe(method, target, admin, `{"a":`)
				c.probe(method, target, admin, `[1, 2]`)
			}
		}
	}

	// Every operation of the document was driven at least once.
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			if !c.driven[method+" "+path] {
				t.Errorf("%s %s is in the document but no request of this test reached it", method, path)
			}
		}
	}
}

// fetch GETs path and returns its body, which must be content of mediaType.
func (r *running) fetch(path, mediaType string) []byte {
	r.t.Helper()
	res, err := r.client.Get(r.url + path)
	if err != nil {
		r.t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil || res.StatusCode != 200 || res.Header.Get("Content-Type") != mediaType {
		r.t.Fatalf("GET %s: %d %s (%v)", path, res.StatusCode, res.Header.Get("Content-Type"), err)
	}
	return body
}

// conformance sends requests to a server and checks each request and answer against the
// document the server serves.
type conformance struct {
	t      *testing.T
	srv    *running
	router routers.Router
	// driven holds the operations requests reached, as "METHOD /path/{template}".
	driven map[string]bool
}

// sent is an answer that conformed to the document.
type sent struct {
	t        *testing.T
	what     string
	response response
}

func (s sent) want(status int) response {
	s.t.Helper()
	if s.response.status != status {
		s.t.Fatalf("%s: status %d, want %d: %s", s.what, s.response.status, status, s.response.raw)
	}
	return s.response
}

// probe sends a request the document may call valid or not: if it calls it invalid, the
// server must refuse it (4xx); either way, the answer must be one the document gives, and no
// mistake of the client's may be answered as the server's (5xx), though the document lists
// 500 and 503 for every operation.
func (c conformance) probe(method, path, token, body string, headers ...string) {
	c.t.Helper()
	valid, res := c.exchange(method, path, token, body, headers...)
	if res.response.status >= 500 {
		c.t.Errorf("%s: a client's mistake answered %d: %s", res.what, res.response.status, res.response.raw)
	}
	if !valid && (res.response.status < 400 || res.response.status > 499) {
		c.t.Errorf("%s: the document refuses the request, the server answered %d: %s", res.what, res.response.status, res.response.raw)
	}
}

// send sends a request; valid says whether the document must call it valid or invalid.
// Either way the server's answer must be one the document gives for the operation.
func (c conformance) send(valid bool, method, path, token, body string, headers ...string) sent {
	c.t.Helper()
	ok, res := c.exchange(method, path, token, body, headers...)
	switch {
	case valid && !ok:
		c.t.Fatalf("%s: the document refuses the request", res.what)
	case !valid && ok:
		c.t.Fatalf("%s: the document accepts a request the server refuses", res.what)
	}
	return res
}

// exchange sends a request and checks the answer against the document; it reports whether
// the document calls the request valid.
func (c conformance) exchange(method, path, token, body string, headers ...string) (bool, sent) {
	c.t.Helper()
	what := method + " " + path
	var payload any
	if body != "" {
		payload = body
	}
	req, err := c.srv.request(method, path, token, payload, headers...)
	if err != nil {
		c.t.Fatal(err)
	}
	route, params, err := c.router.FindRoute(req)
	if err != nil {
		c.t.Fatalf("%s: the document has no such operation: %v", what, err)
	}
	c.driven[route.Method+" "+route.Path] = true
	opts := &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, MultiError: true, IncludeResponseStatus: true}
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route, Options: opts}
	valid := openapi3filter.ValidateRequest(context.Background(), in) == nil
	// Validation read the body and put it back, so the request goes out as it was checked.
	res, err := c.srv.send(req)
	if err != nil {
		c.t.Fatalf("%s: %v", what, err)
	}
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: res.status, Header: res.header, Options: opts}
	out.SetBodyBytes(res.raw)
	if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
		c.t.Fatalf("%s: the answer %d is not what the document says: %v\nbody: %s", what, res.status, err, res.raw)
	}
	return valid, sent{t: c.t, what: what, response: res}
}
