package main

import (
	"context"
	"testing"

	"github.com/plinth-dev/plinth"
	"github.com/plinth-dev/plinth/internal/obs/obstest"
)

// holdProduct makes every order of the product wait, until the returned function is called:
// on SQLite another connection holds the write lock, as another process would; on PostgreSQL
// another transaction holds the product's row, which an order's stock effect updates, and
// blocked counts the statements waiting for it.
func holdProduct(t *testing.T, db database, s *server, id string) (release func(), blocked func() int) {
	t.Helper()
	raw, table := openRaw(t, db, s)
	conn, err := raw.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	stmts := []string{"BEGIN IMMEDIATE"}
	if db.url != "" {
		stmts = []string{"BEGIN", "SELECT 1 FROM " + table("products") + " WHERE id = $1 FOR UPDATE"}
	}
	for _, q := range stmts {
		var args []any
		if db.url != "" && q != "BEGIN" {
			args = []any{id}
		}
		if _, err := conn.ExecContext(context.Background(), q, args...); err != nil {
			t.Fatal(err)
		}
	}
	if db.url != "" {
		var pid int
		if err := conn.QueryRowContext(context.Background(), "SELECT pg_backend_pid()").Scan(&pid); err != nil {
			t.Fatal(err)
		}
		blocked = func() int { return blockedBy(t, raw, pid) }
	}
	released := false
	release = func() {
		if !released {
			released = true
			conn.ExecContext(context.Background(), "ROLLBACK")
			conn.Close()
		}
	}
	t.Cleanup(release)
	return release, blocked
}

// orderOne sends an order of one unit of the product, with an Idempotency-Key, and hands
// its answer to results; it may run on any goroutine.
func (r *running) orderOne(token, product string, results chan<- response) {
	res, err := r.try("POST", "/v1/orders", token, map[string]any{"items": []any{map[string]any{"product_id": product, "quantity": 1}}},
		"Idempotency-Key", newKey())
	if err != nil {
		r.t.Error(err)
	}
	results <- res
}

// TestShedsABurst: with a concurrency limit of two, a burst of order creates against a
// database that makes them wait is answered at once, for all but two, with 503 overloaded
// and Retry-After, and counted; health, readiness and metrics are still answered while the
// two hold their places; once the database lets them go, both admitted writes commit.
func TestShedsABurst(t *testing.T) { eachDatabase(t, testShedsABurst) }

func testShedsABurst(t *testing.T, db database) {
	const limit, burst = 2, 12
	s := db.server(t, shopSpec)
	s.EnableShedding, s.Shedding = true, plinth.Shedding{MinLimit: limit, MaxLimit: limit, InitialLimit: limit}
	srv := startServerWith(t, s)
	admin, alice := srv.token("root", "admin"), srv.token("alice", "customer")
	pid := srv.do("POST", "/v1/products", admin, map[string]any{"sku": "MUG-01", "name": "Mug", "price_cents": 1200, "stock": 100}).expect(t, 201).body["id"].(string)

	release, _ := holdProduct(t, db, s, pid)
	results := make(chan response, burst)
	for range burst {
		go srv.orderOne(alice, pid, results)
	}
	for range burst - limit {
		res := <-results
		res.expect(t, 503)
		if res.body["type"] != "urn:plinth:problem:overloaded" || res.header.Get("Retry-After") == "" {
			t.Fatalf("shed with %s, Retry-After %q", res.raw, res.header.Get("Retry-After"))
		}
	}
	// The two admitted writes still wait; the other lane is served meanwhile.
	srv.do("GET", "/healthz", "", nil).expect(t, 200)
	srv.do("GET", "/readyz", "", nil).expect(t, 200)
	m, _ := obstest.Get(t, srv.client, srv.url+"/metrics", admin, "")
	if got := m.Value("plinth_shed_total", "route", "POST /v1/orders"); got != burst-limit {
		t.Errorf("plinth_shed_total %v, want %d", got, burst-limit)
	}
	if got, in := m.Value("plinth_concurrency_limit"), m.Value("plinth_inflight"); got != limit || in != limit {
		t.Errorf("plinth_concurrency_limit %v, plinth_inflight %v; want %d and %d", got, in, limit, limit)
	}

	release()
	created := map[string]bool{}
	for range limit {
		res := <-results
		res.expect(t, 201)
		created[res.body["id"].(string)] = true
	}
	list := srv.do("GET", "/v1/orders", admin, nil).expect(t, 200).body["items"].([]any)
	if len(list) != limit {
		t.Fatalf("%d orders, want the %d admitted", len(list), limit)
	}
	for _, o := range list {
		if !created[o.(map[string]any)["id"].(string)] {
			t.Errorf("order %v was not answered 201", o)
		}
	}
	if stock := srv.do("GET", "/v1/products/"+pid, admin, nil).expect(t, 200).body["stock"]; stock != float64(100-limit) {
		t.Errorf("stock %v, want %d", stock, 100-limit)
	}
}
