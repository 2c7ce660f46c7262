package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/plinth-dev/plinth/internal/fault"
	"github.com/plinth-dev/plinth/internal/store/pgtest"
)

// running is a real `plinth serve` on 127.0.0.1:0 with its own data folder.
type running struct {
	t       *testing.T
	url     string
	dataDir string
	dbFlags []string // the flags that point a command at its database: --data, and PostgreSQL's
	client  *http.Client
	stop    func()
}

// writeSpec writes src as a spec file in a temporary folder and returns its path.
func writeSpec(t *testing.T, src string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "plinth.yaml")
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func startServer(t *testing.T, specFile, dataDir string) *running {
	t.Helper()
	return startServerWith(t, &server{SpecFile: specFile, DataDir: dataDir})
}

// startServerWith runs s on 127.0.0.1:0 until the test ends.
func startServerWith(t *testing.T, s *server) *running {
	t.Helper()
	s.Addr, s.ShutdownTimeout = "127.0.0.1:0", 5*time.Second
	if s.Logger == nil {
		// The server's log is shown only when the test fails, to say what the server saw.
		logs := &lockedWriter{}
		s.Logger = slog.New(slog.NewTextHandler(logs, nil))
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("server log:\n%s", logs.String())
			}
		})
	}
	dataDir := s.DataDir
	ctx, cancel := context.WithCancel(context.Background())
	if err := s.Open(ctx); err != nil {
		cancel()
		t.Fatalf("open: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	stopped := false
	client := newClient()
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		// A connection the client dialled but never used counts as busy for 5 s on shutdown.
		client.CloseIdleConnections()
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	}
	t.Cleanup(stop)
	flags := []string{"--data", dataDir}
	if s.Database != "" {
		flags = append(flags, "--database", s.Database, "--database-schema", s.DatabaseSchema)
	}
	return &running{t: t, url: s.URL(), dataDir: dataDir, dbFlags: flags, client: client, stop: stop}
}

// newClient returns a client with its own connections, so that closing them is up to the test.
func newClient() *http.Client { return &http.Client{Transport: &http.Transport{}} }

// token mints a token with the real `plinth token` command.
func (r *running) token(sub, role string) string {
	r.t.Helper()
	var out, errOut bytes.Buffer
	args := []string{"token", "--sub", sub, "--data", r.dataDir}
	if role != "" {
		args = append(args, "--role", role)
	}
	if code := Main(context.Background(), args, &out, &errOut); code != 0 {
		r.t.Fatalf("plinth token exited %d: %s", code, errOut.String())
	}
	return strings.TrimSpace(out.String())
}

type response struct {
	status int
	header http.Header
	raw    []byte
	body   map[string]any
}

func (r *running) do(method, path, token string, body any, headers ...string) response {
	r.t.Helper()
	res, err := r.try(method, path, token, body, headers...)
	if err != nil {
		r.t.Fatal(err)
	}
	return res
}

// try sends a request; unlike do it is safe to call from other goroutines.
func (r *running) try(method, path, token string, body any, headers ...string) (response, error) {
	req, err := r.request(method, path, token, body, headers...)
	if err != nil {
		return response{}, err
	}
	return r.send(req)
}

// request is a request to the server: a string body is sent as it is, anything else as JSON;
// headers come in name, value pairs.
func (r *running) request(method, path, token string, body any, headers ...string) (*http.Request, error) {
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		enc, _ := json.Marshal(b)
		rd = bytes.NewReader(enc)
	}
	req, err := http.NewRequest(method, r.url+path, rd)
	if err != nil {
		return nil, err
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	return req, nil
}

// send sends req and reads the answer.
func (r *running) send(req *http.Request) (response, error) {
	method, path := req.Method, req.URL.RequestURI()
	res, err := r.client.Do(req)
	if err != nil {
		return response{}, err
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		return response{}, err
	}
	out := response{status: res.StatusCode, header: res.Header, raw: raw}
	// The contract's YAML, its reference page and the metrics are the only answers that are
	// not JSON.
	ct := res.Header.Get("Content-Type")
	if len(raw) > 0 && !strings.HasPrefix(ct, "application/yaml") && !strings.HasPrefix(ct, "text/html") && !strings.HasPrefix(ct, "text/plain") {
		if err := json.Unmarshal(raw, &out.body); err != nil {
			return out, fmt.Errorf("%s %s: body is not a JSON object: %s", method, path, raw)
		}
	}
	return out, nil
}

func (res response) expect(t *testing.T, status int) response {
	t.Helper()
	if res.status != status {
		t.Fatalf("status %d, want %d; body: %s", res.status, status, res.raw)
	}
	if status >= 400 {
		if ct := res.header.Get("Content-Type"); ct != "application/problem+json" {
			t.Fatalf("error with Content-Type %q, want application/problem+json", ct)
		}
		for _, k := range []string{"type", "title", "status", "detail", "instance", "request_id"} {
			if _, ok := res.body[k]; !ok {
				t.Fatalf("problem document lacks %q: %s", k, res.raw)
			}
		}
		// Every type is the catalogue's, or (409 only) an effect conflict the spec names.
		typ, _ := res.body["type"].(string)
		listed, ok := fault.Lookup(strings.TrimPrefix(typ, fault.URNPrefix))
		if ok && (listed.URN() != typ || listed.Status() != status || listed.Title() != res.body["title"]) || !ok && status != 409 {
			t.Fatalf("problem type %q is not the catalogue's, or not with status %d: %s", typ, status, res.raw)
		}
	}
	return res
}

// fieldErrors returns field → code from a problem document.
func (res response) fieldErrors() map[string]string {
	out := map[string]string{}
	errs, _ := res.body["errors"].([]any)
	for _, e := range errs {
		m := e.(map[string]any)
		out[m["field"].(string)] = m["code"].(string)
	}
	return out
}

const shopSpec = "../../examples/shop/plinth.yaml"

// newKey returns a fresh Idempotency-Key, as a client would make one per operation.
func newKey() string { return uuid.NewString() }

// TestShopWalkthrough walks the README's curl examples against the real server.
func TestShopWalkthrough(t *testing.T) { eachDatabase(t, testShopWalkthrough) }

func testShopWalkthrough(t *testing.T, db database) {
	srv := db.start(t, shopSpec)
	admin := srv.token("root", "admin")
	alice := srv.token("alice", "customer")
	bob := srv.token("bob", "customer")

	// An admin creates a product.
	prod := srv.do("POST", "/v1/products", admin, map[string]any{"sku": "MUG-01", "name": "Mug", "price_cents": 1200, "stock": 10}).expect(t, 201)
	pid := prod.body["id"].(string)
	if got := prod.header.Get("Location"); got != "/v1/products/"+pid {
		t.Errorf("Location %q", got)
	}
	if prod.body["version"] != 1.0 || prod.body["active"] != true || prod.header.Get("ETag") != `"1"` {
		t.Errorf("new product: %s (ETag %s)", prod.raw, prod.header.Get("ETag"))
	}
	// Field order follows the spec: id first, system fields last.
	if !bytes.HasPrefix(prod.raw, []byte(`{"id":"`)) || !bytes.Contains(prod.raw, []byte(`"active":true,"created_at"`)) {
		t.Errorf("member order: %s", prod.raw)
	}

	// A customer may not create products.
	srv.do("POST", "/v1/products", alice, map[string]any{"sku": "MUG-02", "name": "Mug", "price_cents": 1}).expect(t, 403)
	// Nobody anonymous either: 401 with a challenge.
	anon := srv.do("POST", "/v1/products", "", map[string]any{"sku": "MUG-02", "name": "Mug", "price_cents": 1}).expect(t, 401)
	if anon.header.Get("WWW-Authenticate") == "" {
		t.Error("401 without WWW-Authenticate")
	}

	// Alice orders two mugs; the price comes from the product, not from her.
	order := srv.do("POST", "/v1/orders", alice, map[string]any{"items": []any{map[string]any{"product_id": pid, "quantity": 2}}}, "Idempotency-Key", newKey()).expect(t, 201)
	items := order.body["items"].([]any)
	item := items[0].(map[string]any)
	if item["unit_price_cents"] != 1200.0 || item["name"] != "Mug" || order.body["total_cents"] != 2400.0 {
		t.Errorf("computed fields: %s", order.raw)
	}
	if order.body["customer_id"] != "alice" || order.body["status"] != "pending" {
		t.Errorf("defaults: %s", order.raw)
	}
	oid := order.body["id"].(string)

	// She lists her orders and sees it; Bob sees none of hers; the admin sees all.
	mine := srv.do("GET", "/v1/orders", alice, nil).expect(t, 200)
	if n := len(mine.body["items"].([]any)); n != 1 {
		t.Errorf("alice sees %d orders", n)
	}
	bobs := srv.do("GET", "/v1/orders", bob, nil).expect(t, 200)
	if n := len(bobs.body["items"].([]any)); n != 0 {
		t.Errorf("bob sees %d orders", n)
	}
	// Bob cannot read it by id either, and cannot tell it exists.
	srv.do("GET", "/v1/orders/"+oid, bob, nil).expect(t, 404)
	srv.do("GET", "/v1/orders/"+oid, alice, nil).expect(t, 200)

	// A rejected order: every mistake reported at once, nothing written.
	bad := srv.do("POST", "/v1/orders", alice, map[string]any{
		"items":       []any{map[string]any{"product_id": "nope", "quantity": 0, "unit_price_cents": 1}},
		"total_cents": 1,
		"colour":      "red",
	}, "Idempotency-Key", newKey()).expect(t, 422)
	want := map[string]string{"items[0].quantity": "min", "items[0].unit_price_cents": "read_only", "total_cents": "read_only", "colour": "unknown"}
	got := bad.fieldErrors()
	for f, code := range want {
		if got[f] != code {
			t.Errorf("field %s: code %q, want %q (all: %v)", f, got[f], code, got)
		}
	}
	if n := len(srv.do("GET", "/v1/orders", admin, nil).expect(t, 200).body["items"].([]any)); n != 1 {
		t.Errorf("after the rejected order there are %d orders", n)
	}

	// An order for a product that does not exist names the item.
	missing := srv.do("POST", "/v1/orders", alice, map[string]any{"items": []any{map[string]any{"product_id": "0190aaaa-0000-7000-8000-000000000000", "quantity": 1}}}, "Idempotency-Key", newKey()).expect(t, 422)
	if missing.fieldErrors()["items[0].product_id"] != "not_found" {
		t.Errorf("missing product: %s", missing.raw)
	}

	// Alice may not place an order in Bob's name.
	srv.do("POST", "/v1/orders", alice, map[string]any{"customer_id": "bob", "items": []any{map[string]any{"product_id": pid, "quantity": 1}}}, "Idempotency-Key", newKey()).expect(t, 403)

	// Status transitions: shipped is not reachable from pending.
	tr := srv.do("PATCH", "/v1/orders/"+oid, admin, map[string]any{"status": "shipped"}, "Idempotency-Key", newKey()).expect(t, 409)
	if allowed, _ := tr.body["allowed"].([]any); len(allowed) != 2 {
		t.Errorf("allowed next states: %s", tr.raw)
	}
	paid := srv.do("PATCH", "/v1/orders/"+oid, admin, map[string]any{"status": "paid"}, "Idempotency-Key", newKey()).expect(t, 200)
	if paid.body["version"] != 2.0 || paid.body["status"] != "paid" {
		t.Errorf("after paying: %s", paid.raw)
	}
	// Customers may not update orders; orders are never deleted.
	srv.do("PATCH", "/v1/orders/"+oid, alice, map[string]any{"note": "hi"}, "Idempotency-Key", newKey()).expect(t, 403)
	srv.do("DELETE", "/v1/orders/"+oid, admin, nil).expect(t, 403)

	// Immutable fields stay.
	imm := srv.do("PATCH", "/v1/orders/"+oid, admin, map[string]any{"customer_id": "mallory"}, "Idempotency-Key", newKey()).expect(t, 422)
	if imm.fieldErrors()["customer_id"] != "immutable" {
		t.Errorf("immutable: %s", imm.raw)
	}
}

func TestFilterSortAndPages(t *testing.T) { eachDatabase(t, testFilterSortAndPages) }

func testFilterSortAndPages(t *testing.T, db database) {
	srv := db.start(t, shopSpec)
	admin := srv.token("root", "admin")
	for i, price := range []int{100, 900, 600, 300, 700, 800, 501} {
		srv.do("POST", "/v1/products", admin, map[string]any{"sku": "SKU-" + string(rune('A'+i)), "name": "P", "price_cents": price}).expect(t, 201)
	}
	var prices []float64
	cursor := ""
	pages := 0
	for {
		path := "/v1/products?filter=" + urlQuery("price_cents > 500") + "&sort=-price_cents&limit=2&fields=price_cents"
		if cursor != "" {
			path += "&cursor=" + cursor
		}
		res := srv.do("GET", path, "", nil).expect(t, 200)
		pages++
		for _, it := range res.body["items"].([]any) {
			m := it.(map[string]any)
			if len(m) != 2 {
				t.Errorf("fields=price_cents returned %v", m)
			}
			prices = append(prices, m["price_cents"].(float64))
		}
		next, _ := res.body["next_cursor"].(string)
		if next == "" {
			break
		}
		cursor = next
		if pages > 10 {
			t.Fatal("pagination does not end")
		}
	}
	want := []float64{900, 800, 700, 600, 501}
	if len(prices) != len(want) {
		t.Fatalf("prices %v, want %v", prices, want)
	}
	for i := range want {
		if prices[i] != want[i] {
			t.Fatalf("prices %v, want %v", prices, want)
		}
	}
	// A cursor is bound to its query and cannot be forged.
	first := srv.do("GET", "/v1/products?sort=-price_cents&limit=2", "", nil).expect(t, 200)
	c := first.body["next_cursor"].(string)
	srv.do("GET", "/v1/products?sort=price_cents&limit=2&cursor="+c, "", nil).expect(t, 400)
	forged := []byte(c)
	forged[len(forged)-3] ^= 1 // within the MAC, in bits that count: another MAC
	srv.do("GET", "/v1/products?sort=-price_cents&limit=2&cursor="+string(forged), "", nil).expect(t, 400)

	// Bad list parameters are precise 400s.
	for _, q := range []string{"filter=" + urlQuery("price_cents >"), "filter=" + urlQuery("nosuch == 1"), "sort=nosuch", "limit=0",
		"filter=" + url.QueryEscape(`[1,2,3].all(x, [1,2,3].all(y, [1,2,3].all(z, true))) && price_cents > 1`),
		"filter=" + url.QueryEscape(`sku == "a".replace("a", "aaaaaaaaaa").replace("a", "aaaaaaaaaa")`), "limit=501", "limit=x", "filtr=1", "expand=name", "fields=nosuch"} {
		res := srv.do("GET", "/v1/products?"+q, "", nil).expect(t, 400)
		if strings.Contains(string(res.raw), "sql") || strings.Contains(string(res.raw), "SELECT") {
			t.Errorf("%s leaks internals: %s", q, res.raw)
		}
	}
}

func urlQuery(s string) string {
	r := strings.NewReplacer(" ", "%20", ">", "%3E", "<", "%3C", "=", "%3D", "&", "%26", "\"", "%22", "|", "%7C")
	return r.Replace(s)
}

func TestHTTPEdges(t *testing.T) { eachDatabase(t, testHTTPEdges) }

func testHTTPEdges(t *testing.T, db database) {
	srv := db.start(t, shopSpec)
	admin := srv.token("root", "admin")

	srv.do("GET", "/v1/nothing", "", nil).expect(t, 404)
	m := srv.do("DELETE", "/v1/products", admin, nil).expect(t, 405)
	if allow := m.header.Get("Allow"); !strings.Contains(allow, "GET") || !strings.Contains(allow, "POST") {
		t.Errorf("Allow %q", allow)
	}
	srv.do("POST", "/v1/products", admin, `{"sku":"A"`).expect(t, 400)
	dup := srv.do("POST", "/v1/products", admin, `{"sku":"AAA-1","sku":"BBB-2","name":"x","price_cents":1}`).expect(t, 400)
	if !strings.Contains(dup.body["detail"].(string), "twice") {
		t.Errorf("duplicate key detail: %s", dup.raw)
	}
	srv.do("POST", "/v1/products", admin, `[1,2]`).expect(t, 400)
	srv.do("POST", "/v1/products", admin, `{"sku":"AAA-1","name":"x","price_cents":1} {}`).expect(t, 400)
	srv.do("POST", "/v1/products", admin, `{"sku":"AAA-1","name":"x","price_cents":1}`, "Content-Type", "text/plain").expect(t, 415)
	big := `{"name":"` + strings.Repeat("x", 2<<20) + `"}`
	srv.do("POST", "/v1/products", admin, big).expect(t, 413)
	deep := strings.Repeat(`{"a":`, 100) + "1" + strings.Repeat("}", 100)
	srv.do("POST", "/v1/products", admin, deep).expect(t, 400)
	srv.do("GET", "/v1/products", "not-a-token", nil, "Authorization", "Bearer abc.def.ghi").expect(t, 401)
	srv.do("GET", "/v1/products", "", nil, "Authorization", "Basic Zm9vOmJhcg==").expect(t, 401)
	srv.do("GET", "/v1/products/nope", "", nil).expect(t, 404)
	// A page size out of range is one field error, from the engine, for lists and the feed
	// alike; an explicit 0 is out of range, not "the default".
	for _, path := range []string{"/v1/products?limit=0", "/v1/products?limit=-5", "/v1/products?limit=501",
		"/v1/events?limit=0", "/v1/events?limit=1001", "/v1/events?limit=99999999999999"} {
		if res := srv.do("GET", path, admin, nil).expect(t, 400); res.fieldErrors()["limit"] != "range" {
			t.Errorf("%s: %s", path, res.raw)
		}
	}

	// ETags: a matching If-None-Match is a 304 with no body; a stale If-Match is a 412.
	p := srv.do("POST", "/v1/products", admin, map[string]any{"sku": "ETAG-1", "name": "x", "price_cents": 5}).expect(t, 201)
	id := p.body["id"].(string)
	if res := srv.do("GET", "/v1/products/"+id, "", nil, "If-None-Match", `"1"`); res.status != 304 || len(res.raw) != 0 {
		t.Errorf("If-None-Match: %d %s", res.status, res.raw)
	}
	srv.do("PATCH", "/v1/products/"+id, admin, map[string]any{"stock": 3}, "If-Match", `"1"`).expect(t, 200)
	stale := srv.do("PATCH", "/v1/products/"+id, admin, map[string]any{"stock": 4}, "If-Match", `"1"`).expect(t, 412)
	if stale.body["current_version"] != 2.0 {
		t.Errorf("stale: %s", stale.raw)
	}
	// Unique values conflict, naming the field.
	u := srv.do("POST", "/v1/products", admin, map[string]any{"sku": "ETAG-1", "name": "y", "price_cents": 5}).expect(t, 409)
	if u.fieldErrors()["sku"] != "unique" {
		t.Errorf("unique: %s", u.raw)
	}
	// Request ids are echoed.
	if res := srv.do("GET", "/healthz", "", nil, "X-Request-Id", "abc-123"); res.header.Get("X-Request-Id") != "abc-123" {
		t.Errorf("request id not echoed")
	}
	srv.do("GET", "/readyz", "", nil).expect(t, 200)
}

func TestDataSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	srv := startServer(t, shopSpec, dir)
	admin := srv.token("root", "admin")
	p := srv.do("POST", "/v1/products", admin, map[string]any{"sku": "KEEP-1", "name": "kept", "price_cents": 1}).expect(t, 201)
	srv.stop()

	srv2 := startServer(t, shopSpec, dir)
	got := srv2.do("GET", "/v1/products/"+p.body["id"].(string), srv2.token("root", "admin"), nil).expect(t, 200)
	if got.body["name"] != "kept" {
		t.Errorf("after restart: %s", got.raw)
	}
	// The token minted before the restart is still accepted: the key lives in the data folder.
	srv2.do("GET", "/v1/orders", admin, nil).expect(t, 200)
	if fi, err := os.Stat(filepath.Join(dir, "jwt.key")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("jwt.key: %v %v", fi, err)
	}
}

func TestInitCheckVersion(t *testing.T) {
	dir := t.TempDir()
	var out, errOut bytes.Buffer
	if code := Main(context.Background(), []string{"init", dir}, &out, &errOut); code != 0 {
		t.Fatalf("init: %d %s", code, errOut.String())
	}
	if code := Main(context.Background(), []string{"init", dir}, &out, &errOut); code == 0 {
		t.Fatal("init overwrote an existing spec")
	}
	out.Reset()
	if code := Main(context.Background(), []string{"check", "--spec", filepath.Join(dir, "plinth.yaml")}, &out, &errOut); code != 0 {
		t.Fatalf("check of the starter spec: %d\n%s", code, out.String())
	}
	if !strings.Contains(out.String(), "0 error(s), 0 warning(s)") {
		t.Errorf("starter spec is not clean: %s", out.String())
	}
	// The starter spec serves as is.
	srv := startServer(t, filepath.Join(dir, "plinth.yaml"), t.TempDir())
	tok := srv.token("ann", "member")
	srv.do("POST", "/v1/notes", tok, map[string]any{"title": "first"}).expect(t, 201)

	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("plinth: 1\nname: x\nresources:\n  things:\n    fields:\n      a: {type: strin}\n"), 0o644)
	out.Reset()
	if code := Main(context.Background(), []string{"check", "--spec", bad}, &out, &errOut); code != 1 {
		t.Errorf("check of a bad spec exited %d", code)
	}
	if !strings.Contains(out.String(), "bad.yaml:6:17: error:") || !strings.Contains(out.String(), `did you mean "string"`) {
		t.Errorf("check output: %s", out.String())
	}
	out.Reset()
	if code := Main(context.Background(), []string{"version"}, &out, &errOut); code != 0 || !strings.HasPrefix(out.String(), "plinth ") {
		t.Errorf("version: %d %q", code, out.String())
	}
}

// TestNoOversell: fifty customers race for ten mugs.
func TestNoOversell(t *testing.T) { eachDatabase(t, testNoOversell) }

func testNoOversell(t *testing.T, db database) {
	srv := db.start(t, shopSpec)
	admin := srv.token("root", "admin")
	p := srv.do("POST", "/v1/products", admin, map[string]any{"sku": "LAST-10", "name": "Scarce", "price_cents": 500, "stock": 10}).expect(t, 201)
	pid := p.body["id"].(string)
	tokens := make([]string, 50)
	for i := range tokens {
		tokens[i] = srv.token("buyer"+string(rune('a'+i%26))+string(rune('a'+i/26)), "customer")
	}
	type result struct {
		status int
		typ    string
		id     string
	}
	results := make(chan result, len(tokens))
	for _, tok := range tokens {
		go func() {
			body, _ := json.Marshal(map[string]any{"items": []any{map[string]any{"product_id": pid, "quantity": 1}}})
			req, _ := http.NewRequest("POST", srv.url+"/v1/orders", bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+tok)
			req.Header.Set("Idempotency-Key", newKey())
			res, err := srv.client.Do(req)
			if err != nil {
				results <- result{status: -1}
				return
			}
			defer res.Body.Close()
			var doc map[string]any
			json.NewDecoder(res.Body).Decode(&doc)
			typ, _ := doc["type"].(string)
			id, _ := doc["id"].(string)
			results <- result{res.StatusCode, typ, id}
		}()
	}
	var ok, sold []string
	for range tokens {
		r := <-results
		switch {
		case r.status == 201:
			ok = append(ok, r.id)
		case r.status == 409 && r.typ == "urn:plinth:problem:out-of-stock":
			sold = append(sold, r.typ)
		default:
			t.Errorf("unexpected answer %d %s", r.status, r.typ)
		}
	}
	if len(ok) != 10 || len(sold) != 40 {
		t.Fatalf("%d orders succeeded and %d were out of stock; want 10 and 40", len(ok), len(sold))
	}
	stock := func() float64 {
		return srv.do("GET", "/v1/products/"+pid, "", nil).expect(t, 200).body["stock"].(float64)
	}
	if s := stock(); s != 0 {
		t.Fatalf("stock %v after selling out", s)
	}
	// The out-of-stock problem names the product.
	last := srv.do("POST", "/v1/orders", tokens[0], map[string]any{"items": []any{map[string]any{"product_id": pid, "quantity": 1}}}, "Idempotency-Key", newKey()).expect(t, 409)
	if last.body["resource"] != "products" || last.body["id"] != pid {
		t.Errorf("out-of-stock problem: %s", last.raw)
	}
	// Cancelling gives the stock back, once.
	srv.do("PATCH", "/v1/orders/"+ok[0], admin, map[string]any{"status": "cancelled"}, "Idempotency-Key", newKey()).expect(t, 200)
	if s := stock(); s != 1 {
		t.Errorf("stock %v after a cancellation, want 1", s)
	}
	srv.do("PATCH", "/v1/orders/"+ok[0], admin, map[string]any{"note": "still cancelled"}, "Idempotency-Key", newKey()).expect(t, 200)
	if s := stock(); s != 1 {
		t.Errorf("stock %v after editing a cancelled order, want 1", s)
	}
}

func jsonDecode(res *http.Response, v any) error {
	defer res.Body.Close()
	return json.NewDecoder(res.Body).Decode(v)
}

// TestOrderPricesAreSnapshots: an order keeps the prices it was placed at, and stays
// workable after its product is gone.
func TestOrderPricesAreSnapshots(t *testing.T) { eachDatabase(t, testOrderPricesAreSnapshots) }

func testOrderPricesAreSnapshots(t *testing.T, db database) {
	srv := db.start(t, shopSpec)
	admin := srv.token("root", "admin")
	alice := srv.token("alice", "customer")
	p := srv.do("POST", "/v1/products", admin, map[string]any{"sku": "SNAP-1", "name": "Mug", "price_cents": 1200, "stock": 5}).expect(t, 201)
	pid := p.body["id"].(string)
	o := srv.do("POST", "/v1/orders", alice, map[string]any{"items": []any{map[string]any{"product_id": pid, "quantity": 2}}}, "Idempotency-Key", newKey()).expect(t, 201)
	oid := o.body["id"].(string)

	srv.do("PATCH", "/v1/products/"+pid, admin, map[string]any{"price_cents": 9900, "name": "Gold mug"}).expect(t, 200)
	paid := srv.do("PATCH", "/v1/orders/"+oid, admin, map[string]any{"status": "paid"}, "Idempotency-Key", newKey()).expect(t, 200)
	item := paid.body["items"].([]any)[0].(map[string]any)
	if paid.body["total_cents"] != 2400.0 || item["unit_price_cents"] != 1200.0 || item["name"] != "Mug" {
		t.Errorf("the order was re-priced: %s", paid.raw)
	}
	// The items are as ordered: editing them would not move the stock they reserved, so the
	// shop makes them immutable (a computed snapshot that follows edits is TestComputed's).
	more := srv.do("PATCH", "/v1/orders/"+oid, admin, map[string]any{"items": []any{map[string]any{"product_id": pid, "quantity": 3}}}, "Idempotency-Key", newKey()).expect(t, 422)
	if more.fieldErrors()["items"] != "immutable" {
		t.Errorf("editing an order's items: %s", more.raw)
	}

	srv.do("DELETE", "/v1/products/"+pid, admin, nil).expect(t, 204)
	srv.do("PATCH", "/v1/orders/"+oid, admin, map[string]any{"status": "cancelled"}, "Idempotency-Key", newKey()).expect(t, 200)
}

// database is where a test's server keeps its data: SQLite in a temporary folder, or a fresh
// schema of the PostgreSQL server named by PLINTH_TEST_POSTGRES_URL.
type database struct {
	name string
	url  string // empty for SQLite
}

// eachDatabase runs test on SQLite and on PostgreSQL. Without PLINTH_TEST_POSTGRES_URL it
// fails rather than skips, so that nothing passes silently untested.
func eachDatabase(t *testing.T, test func(*testing.T, database)) {
	t.Run("sqlite", func(t *testing.T) { test(t, database{name: "sqlite"}) })
	t.Run("postgres", func(t *testing.T) { test(t, database{name: "postgres", url: pgtest.URL(t)}) })
}

// start serves specFile on this database.
func (db database) start(t *testing.T, specFile string) *running {
	t.Helper()
	return startServerWith(t, db.server(t, specFile))
}

// server is a server of specFile on this database, not yet opened. On PostgreSQL it gets a
// schema of its own, dropped when the test ends, and the JWT key comes from the environment,
// as it must there.
func (db database) server(t *testing.T, specFile string) *server {
	s := &server{SpecFile: specFile, DataDir: t.TempDir()}
	if db.url != "" {
		s.Database, s.DatabaseSchema = db.url, db.newSchema(t)
	}
	return s
}

// serveFlags are the flags of a `plinth serve` process on this database: none for SQLite
// (its data folder holds it); on PostgreSQL, a schema of the test's own, shared by every
// process the test starts with these flags.
func (db database) serveFlags(t *testing.T) []string {
	if db.url == "" {
		return nil
	}
	return []string{"--database", db.url, "--database-schema", db.newSchema(t)}
}

// newSchema names a PostgreSQL schema for the test, dropped when it ends, and sets the JWT
// secret that every process on a shared database needs.
func (db database) newSchema(t *testing.T) string {
	t.Setenv("PLINTH_JWT_SECRET", strings.Repeat("s", 40))
	return pgtest.Schema(t, db.url)
}

// TestProfilerIsForAdmins: --pprof serves Go's profiler, to role admin only.
func TestProfilerIsForAdmins(t *testing.T) {
	srv := startServerWith(t, &server{SpecFile: shopSpec, DataDir: t.TempDir(), Pprof: true})
	srv.do("GET", "/debug/pprof/", "", nil).expect(t, 401)
	srv.do("GET", "/debug/pprof/", srv.token("alice", "customer"), nil).expect(t, 403)
	req, _ := http.NewRequest("GET", srv.url+"/debug/pprof/cmdline", nil)
	req.Header.Set("Authorization", "Bearer "+srv.token("root", "admin"))
	res, err := srv.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Errorf("the profiler answered an admin %d", res.StatusCode)
	}
	// Without the flag there is nothing there.
	plain := startServer(t, shopSpec, t.TempDir())
	plain.do("GET", "/debug/pprof/", plain.token("root", "admin"), nil).expect(t, 404)
}
