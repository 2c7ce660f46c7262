package main

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql's "pgx", to set up a database as an earlier version left it

	"github.com/plinth-dev/plinth/internal/store/sqlite"
)

func productBody(sku string) map[string]any {
	return map[string]any{"sku": sku, "name": "Keyed", "price_cents": 700, "stock": 3}
}

// TestIdempotentRetries: a client retrying one create a hundred times at once gets one record.
func TestIdempotentRetries(t *testing.T) { eachDatabase(t, testIdempotentRetries) }

func testIdempotentRetries(t *testing.T, db database) {
	srv := db.start(t, shopSpec)
	admin := srv.token("root", "admin")
	key := newKey()
	var wg sync.WaitGroup
	results := make([]response, 100)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := srv.try("POST", "/v1/products", admin, productBody("RETRY-1"), "Idempotency-Key", key)
			if err != nil {
				t.Error(err)
			}
			results[i] = res
		}()
	}
	wg.Wait()
	var first []byte
	created, replays, inFlight := 0, 0, 0
	for _, r := range results {
		switch {
		case r.status == 201 && r.header.Get("Idempotent-Replayed") == "true":
			replays++
			if first == nil {
				first = r.raw
			} else if !bytes.Equal(first, r.raw) {
				t.Errorf("replays differ:\n%s\n%s", first, r.raw)
			}
		case r.status == 201:
			created++
		case r.status == 409 && r.header.Get("Retry-After") != "":
			inFlight++
		default:
			t.Errorf("unexpected %d: %s", r.status, r.raw)
		}
	}
	if created != 1 || replays+inFlight != 99 {
		t.Fatalf("created %d, replayed %d, in flight %d", created, replays, inFlight)
	}
	// The one response: every replay equals it byte for byte, and so does a later retry.
	var original []byte
	for _, r := range results {
		if r.status == 201 && r.header.Get("Idempotent-Replayed") == "" {
			original = r.raw
		}
	}
	if first != nil && !bytes.Equal(first, original) {
		t.Errorf("replay differs from the original:\n%s\n%s", original, first)
	}
	later := srv.do("POST", "/v1/products", admin, productBody("RETRY-1"), "Idempotency-Key", key).expect(t, 201)
	if !bytes.Equal(later.raw, original) || later.header.Get("Idempotent-Replayed") != "true" {
		t.Errorf("later replay: %s", later.raw)
	}
	list := srv.do("GET", "/v1/products?filter=sku%20==%20%22RETRY-1%22", "", nil).expect(t, 200)
	if n := len(list.body["items"].([]any)); n != 1 {
		t.Errorf("%d records for one keyed create", n)
	}
}

func TestIdempotencyKeyRules(t *testing.T) { eachDatabase(t, testIdempotencyKeyRules) }

func testIdempotencyKeyRules(t *testing.T, db database) {
	srv := db.start(t, shopSpec)
	admin := srv.token("root", "admin")
	other := srv.token("root2", "admin")
	key := newKey()
	srv.do("POST", "/v1/products", admin, productBody("KEY-1"), "Idempotency-Key", key).expect(t, 201)

	// The same key with another body is a client mistake, not a replay.
	reused := srv.do("POST", "/v1/products", admin, productBody("KEY-2"), "Idempotency-Key", key).expect(t, 422)
	if reused.body["type"] != "urn:plinth:problem:idempotency-key-reused" {
		t.Errorf("reused key: %s", reused.raw)
	}
	// Another caller's key of the same spelling is theirs alone.
	theirs := srv.do("POST", "/v1/products", other, productBody("KEY-3"), "Idempotency-Key", key).expect(t, 201)
	if theirs.header.Get("Idempotent-Replayed") != "" || theirs.body["sku"] != "KEY-3" {
		t.Errorf("other caller: %s", theirs.raw)
	}
	// Keys are also scoped to the path: the request's, not its route's, so that the same key
	// and body sent to another record is another request.
	srv.do("POST", "/v1/customers", admin, map[string]any{"email": "a@b.co", "name": "A"}, "Idempotency-Key", key).expect(t, 201)
	patchKey := newKey()
	for _, sku := range []string{"KEY-6", "KEY-7"} {
		id := srv.do("POST", "/v1/products", admin, productBody(sku)).expect(t, 201).body["id"]
		patched := srv.do("PATCH", "/v1/products/"+id.(string), admin, map[string]any{"stock": 9}, "Idempotency-Key", patchKey).expect(t, 200)
		if patched.header.Get("Idempotent-Replayed") != "" || patched.body["id"] != id {
			t.Errorf("PATCH of %s with a key used on another record: %s", sku, patched.raw)
		}
	}

	// A failed request is stored too, so its retry does not run again.
	badKey := newKey()
	bad := srv.do("POST", "/v1/products", admin, map[string]any{"sku": "x"}, "Idempotency-Key", badKey).expect(t, 422)
	again := srv.do("POST", "/v1/products", admin, map[string]any{"sku": "x"}, "Idempotency-Key", badKey).expect(t, 422)
	if again.header.Get("Idempotent-Replayed") != "true" || !bytes.Equal(bad.raw, again.raw) {
		t.Errorf("failed request was not replayed: %s", again.raw)
	}

	// Malformed keys.
	srv.do("POST", "/v1/products", admin, productBody("KEY-4"), "Idempotency-Key", strings.Repeat("k", 256)).expect(t, 400)
	srv.do("POST", "/v1/products", admin, productBody("KEY-4"), "Idempotency-Key", "a\tb").expect(t, 400)

	// Orders require a key.
	alice := srv.token("alice", "customer")
	p := srv.do("POST", "/v1/products", admin, productBody("KEY-5")).expect(t, 201)
	order := map[string]any{"items": []any{map[string]any{"product_id": p.body["id"], "quantity": 1}}}
	missing := srv.do("POST", "/v1/orders", alice, order).expect(t, 400)
	if missing.body["type"] != "urn:plinth:problem:idempotency-key-missing" {
		t.Errorf("missing key: %s", missing.raw)
	}
	// A replayed create took stock once.
	okey := newKey()
	srv.do("POST", "/v1/orders", alice, order, "Idempotency-Key", okey).expect(t, 201)
	srv.do("POST", "/v1/orders", alice, order, "Idempotency-Key", okey).expect(t, 201)
	stock := srv.do("GET", "/v1/products/"+p.body["id"].(string), "", nil).expect(t, 200).body["stock"]
	if stock != 2.0 {
		t.Errorf("stock %v after one order replayed once, want 2", stock)
	}
}

// legacyOutcomes is the table of stored outcomes as versions before store.Outcome created it
// on each database, in the HTTP transport's terms.
var legacyOutcomes = map[string]string{
	"sqlite": `CREATE TABLE "main"."_plinth_idempotency" (
  "scope" TEXT NOT NULL, "method" TEXT NOT NULL, "path" TEXT NOT NULL, "key" TEXT NOT NULL,
  "fingerprint" TEXT NOT NULL, "status" INTEGER NOT NULL, "header" TEXT NOT NULL, "body" BLOB NOT NULL,
  "created_at" TEXT NOT NULL, "expires_at" TEXT NOT NULL,
  PRIMARY KEY ("scope", "method", "path", "key")) STRICT`,
	"postgres": `CREATE TABLE {schema}."_plinth_idempotency" (
  "scope" BYTEA NOT NULL, "method" BYTEA NOT NULL, "path" BYTEA NOT NULL, "key" BYTEA NOT NULL,
  "fingerprint" BYTEA NOT NULL, "status" INTEGER NOT NULL, "header" TEXT COLLATE "C" NOT NULL, "body" BYTEA NOT NULL,
  "created_at" TIMESTAMPTZ NOT NULL, "expires_at" TIMESTAMPTZ NOT NULL,
  PRIMARY KEY ("scope", "method", "path", "key"))`,
}

// TestUpgradeKeepsStoredOutcomes: a database whose outcomes an earlier version stored is
// converted when it opens, and a client retrying a request it made before the upgrade gets the
// answer stored then, byte for byte, and nothing runs twice.
func TestUpgradeKeepsStoredOutcomes(t *testing.T) { eachDatabase(t, testUpgradeKeepsStoredOutcomes) }

func testUpgradeKeepsStoredOutcomes(t *testing.T, db database) {
	s := db.server(t, shopSpec)
	reopen := func() *running {
		return startServerWith(t, &server{SpecFile: s.SpecFile, DataDir: s.DataDir, Database: s.Database, DatabaseSchema: s.DatabaseSchema})
	}
	srv := reopen()
	admin := srv.token("root", "admin")
	// A create, and a create refused for the client's fault: both answers are stored.
	requests := []struct {
		key    string
		body   map[string]any
		answer response
	}{{key: newKey(), body: map[string]any{"sku": "UPGRADE-1", "name": "Tasse \"ü\" 🍵\n", "price_cents": 700}},
		{key: newKey(), body: map[string]any{"sku": "x"}}}
	for i, status := range []int{201, 422} {
		r := &requests[i]
		r.answer = srv.do("POST", "/v1/products", admin, r.body, "Idempotency-Key", r.key).expect(t, status)
	}
	srv.stop()

	// Store both answers as the earlier version did, from what the server answered, and
	// nothing in today's table: only the conversion can bring them back.
	conn, table := openRaw(t, db, s)
	if _, err := conn.Exec(strings.ReplaceAll(legacyOutcomes[db.name], "{schema}", quoteIdent(s.DatabaseSchema))); err != nil {
		t.Fatal(err)
	}
	for _, r := range requests {
		a := r.answer
		header := map[string]string{}
		for _, name := range []string{"Content-Type", "ETag", "Location", "Cache-Control"} {
			if v := a.header.Get(name); v != "" {
				header[name] = v
			}
		}
		headerJSON, _ := json.Marshal(header)
		_, err := conn.Exec(`INSERT INTO `+table("_plinth_idempotency")+`
			SELECT "scope", 'POST', '/v1/products', "key", "fingerprint", $1, $2, $3, "created_at", "expires_at"
			FROM `+table("_plinth_outcomes")+` WHERE "operation" = 'POST /v1/products' AND "key" = $4`,
			a.status, string(headerJSON), a.raw, keyParam(db, r.key))
		if err != nil {
			t.Fatal(err)
		}
	}
	if _, err := conn.Exec(`DELETE FROM ` + table("_plinth_outcomes")); err != nil {
		t.Fatal(err)
	}

	for _, restart := range []string{"converted", "reopened after the conversion"} {
		srv := reopen()
		for _, r := range requests {
			a := r.answer
			again := srv.do("POST", "/v1/products", admin, r.body, "Idempotency-Key", r.key)
			if again.status != a.status || again.header.Get("Idempotent-Replayed") != "true" || !bytes.Equal(again.raw, a.raw) {
				t.Errorf("%s: retry of %d answered %d (replayed %q) %s, want %s", restart, a.status, again.status,
					again.header.Get("Idempotent-Replayed"), again.raw, a.raw)
			}
			for _, name := range []string{"Content-Type", "ETag", "Location", "Cache-Control"} {
				if again.header.Get(name) != a.header.Get(name) {
					t.Errorf("%s: %s %q, want %q", restart, name, again.header.Get(name), a.header.Get(name))
				}
			}
		}
		// The fingerprint came along: the key with another body is refused.
		srv.do("POST", "/v1/products", admin, productBody("UPGRADE-2"), "Idempotency-Key", requests[0].key).expect(t, 422)
		srv.stop()
	}
	var legacy int
	if err := conn.QueryRow(`SELECT count(*) FROM ` + table("_plinth_idempotency")).Scan(&legacy); err == nil {
		t.Errorf("the legacy table is still there, with %d rows", legacy)
	}
	var products int
	if err := conn.QueryRow(`SELECT count(*) FROM ` + table("products")).Scan(&products); err != nil || products != 1 {
		t.Errorf("%d products (%v), want the one created before the upgrade", products, err)
	}
}

// openRaw opens the database of s with database/sql, closed when the test ends, and returns
// how a table is named in it.
func openRaw(t *testing.T, db database, s *server) (*sql.DB, func(name string) string) {
	t.Helper()
	driver, dsn, schema := "sqlite", "file:"+filepath.Join(s.DataDir, sqlite.FileName), "main"
	if db.url != "" {
		driver, dsn, schema = "pgx", db.url, s.DatabaseSchema
	}
	conn, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn, func(name string) string { return quoteIdent(schema) + "." + quoteIdent(name) }
}

// keyParam is a key column's parameter: PostgreSQL keeps keys as bytes.
func keyParam(db database, key string) any {
	if db.url != "" {
		return []byte(key)
	}
	return key
}

func quoteIdent(name string) string { return `"` + strings.ReplaceAll(name, `"`, `""`) + `"` }
