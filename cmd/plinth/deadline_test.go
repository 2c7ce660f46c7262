package main

import (
	"context"
	"database/sql"
	"errors"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/plinth-dev/plinth/internal/store/pgtest"
)

// shopWithTimeouts is the shop's spec with deadlines of its own.
func shopWithTimeouts(t *testing.T, timeouts string) string {
	t.Helper()
	src, err := os.ReadFile(shopSpec)
	if err != nil {
		t.Fatal(err)
	}
	return writeSpec(t, strings.Replace(string(src), "\nresources:\n", "\ntimeouts: "+timeouts+"\nresources:\n", 1))
}

// TestWriteDeadline: an order create that the database makes wait ends at its route's
// deadline with 503 timeout, having changed nothing; the same Idempotency-Key then creates
// the order once the database is free.
func TestWriteDeadline(t *testing.T) { eachDatabase(t, testWriteDeadline) }

func testWriteDeadline(t *testing.T, db database) {
	const deadline = 500 * time.Millisecond
	s := db.server(t, shopWithTimeouts(t, "{write: 500ms}"))
	srv := startServerWith(t, s)
	admin, alice := srv.token("root", "admin"), srv.token("alice", "customer")
	pid := srv.do("POST", "/v1/products", admin, map[string]any{"sku": "MUG-01", "name": "Mug", "price_cents": 1200, "stock": 10}).expect(t, 201).body["id"].(string)
	order := map[string]any{"items": []any{map[string]any{"product_id": pid, "quantity": 1}}}
	key := newKey()

	release, blocked := holdProduct(t, db, s, pid)
	start := time.Now()
	res := srv.do("POST", "/v1/orders", alice, order, "Idempotency-Key", key).expect(t, 503)
	// The database would have kept it waiting 5 s (SQLite's busy wait) or for ever (a row lock).
	if took := time.Since(start); took < deadline || took > 4*time.Second {
		t.Errorf("answered after %s; the deadline is %s", took, deadline)
	}
	if res.body["type"] != "urn:plinth:problem:timeout" || res.header.Get("Retry-After") == "" {
		t.Fatalf("past its deadline: %s, Retry-After %q", res.raw, res.header.Get("Retry-After"))
	}
	if blocked != nil {
		waitFor(t, "the statement cancelled", func() bool { return blocked() == 0 })
	}
	release()

	if n := len(srv.do("GET", "/v1/orders", admin, nil).expect(t, 200).body["items"].([]any)); n != 0 {
		t.Fatalf("%d orders after a write past its deadline", n)
	}
	if stock := srv.do("GET", "/v1/products/"+pid, admin, nil).expect(t, 200).body["stock"]; stock != 10.0 {
		t.Fatalf("stock %v after a write past its deadline, want 10", stock)
	}
	srv.do("POST", "/v1/orders", alice, order, "Idempotency-Key", key).expect(t, 201)
	if stock := srv.do("GET", "/v1/products/"+pid, admin, nil).expect(t, 200).body["stock"]; stock != 9.0 {
		t.Errorf("stock %v after the retry, want 9", stock)
	}
}

// blockedBy counts the PostgreSQL statements waiting for a lock the backend pid holds.
func blockedBy(t *testing.T, raw *sql.DB, pid int) int {
	t.Helper()
	var n int
	if err := raw.QueryRow("SELECT count(*) FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))", pid).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestDisconnectCancelsARead: a list the database makes wait is cancelled, statement and
// all, when its client goes away, and past its deadline it is answered 503 timeout. The
// wait is a PostgreSQL table lock: SQLite readers never wait for a writer.
func TestDisconnectCancelsARead(t *testing.T) {
	db := database{name: "postgres", url: pgtest.URL(t)}
	s := db.server(t, shopWithTimeouts(t, "{read: 1s}"))
	srv := startServerWith(t, s)
	admin := srv.token("root", "admin")
	raw, table := openRaw(t, db, s)
	conn, err := raw.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var pid int
	if err := conn.QueryRowContext(context.Background(), "SELECT pg_backend_pid()").Scan(&pid); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"BEGIN", "LOCK TABLE " + table("products") + " IN ACCESS EXCLUSIVE MODE"} {
		if _, err := conn.ExecContext(context.Background(), q); err != nil {
			t.Fatal(err)
		}
	}
	defer conn.ExecContext(context.Background(), "ROLLBACK")

	ctx, cancel := context.WithCancel(context.Background())
	req, _ := srv.request("GET", "/v1/products", admin, nil)
	gone := make(chan error, 1)
	go func() {
		res, err := srv.client.Do(req.WithContext(ctx))
		if err == nil {
			res.Body.Close()
		}
		gone <- err
	}()
	waitFor(t, "the list to wait for the lock", func() bool { return blockedBy(t, raw, pid) == 1 })
	cancel()
	if err := <-gone; !errors.Is(err, context.Canceled) {
		t.Fatalf("the client's request ended with %v", err)
	}
	waitFor(t, "the list's statement cancelled", func() bool { return blockedBy(t, raw, pid) == 0 })

	start := time.Now()
	res := srv.do("GET", "/v1/products", admin, nil).expect(t, http.StatusServiceUnavailable)
	if res.body["type"] != "urn:plinth:problem:timeout" || time.Since(start) < time.Second {
		t.Errorf("a read past its deadline after %s: %s", time.Since(start), res.raw)
	}
	waitFor(t, "the timed-out statement cancelled", func() bool { return blockedBy(t, raw, pid) == 0 })
}
