package main

import (
	"context"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/plinth-dev/plinth/internal/obs/obstest"
	"github.com/plinth-dev/plinth/internal/store/pgtest"
)

// startToStop serves s on 127.0.0.1:0 until the test calls stop, whose outcome Run sends to
// done; unlike startServerWith, the shutdown is the test's to watch.
func startToStop(t *testing.T, s *server) (srv *running, stop context.CancelFunc, done <-chan error) {
	t.Helper()
	s.Addr = "127.0.0.1:0"
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	if err := s.Open(ctx); err != nil {
		t.Fatal(err)
	}
	ran := make(chan error, 1)
	go func() { ran <- s.Run(ctx) }()
	return &running{t: t, url: s.URL(), dataDir: s.DataDir, client: newClient()}, cancel, ran
}

// TestShutdownDrains: on shutdown /readyz answers 503 at once while requests are still
// accepted (the drain delay), then new connections are refused, an order in flight
// completes and is committed, and Run returns within the shutdown timeout.
func TestShutdownDrains(t *testing.T) { eachDatabase(t, testShutdownDrains) }

func testShutdownDrains(t *testing.T, db database) {
	s := db.server(t, shopSpec)
	s.ShutdownTimeout, s.DrainDelay = 10*time.Second, time.Second
	logs := &lockedWriter{}
	s.Logger = slog.New(slog.NewTextHandler(logs, nil))
	srv, cancel, done := startToStop(t, s)
	admin, alice := srv.token("root", "admin"), srv.token("alice", "customer")
	pid := srv.do("POST", "/v1/products", admin, map[string]any{"sku": "MUG-01", "name": "Mug", "price_cents": 1200, "stock": 10}).expect(t, 201).body["id"].(string)

	release, _ := holdProduct(t, db, s, pid)
	inFlight := make(chan response, 1)
	go srv.orderOne(alice, pid, inFlight)
	waitFor(t, "the order in flight", func() bool {
		m, _ := obstest.Get(t, newClient(), srv.url+"/metrics", admin, "")
		return m.Value("plinth_http_requests_in_flight") == 2 // the order, and this scrape
	})

	begun := time.Now()
	cancel()
	// Each probe on a connection of its own, as a load balancer's.
	probe := func() (response, error) {
		fresh := *srv
		fresh.client = newClient()
		return fresh.try("GET", "/readyz", "", nil)
	}
	waitFor(t, "/readyz to answer 503", func() bool {
		res, err := probe()
		return err == nil && res.status == 503
	})
	waitFor(t, "new connections refused", func() bool {
		c, err := net.Dial("tcp", s.ln.Addr().String())
		if err == nil {
			c.Close()
		}
		return err != nil
	})
	select {
	case err := <-done:
		t.Fatalf("Run returned (%v) with a request in flight", err)
	default:
	}
	release()
	(<-inFlight).expect(t, 201)
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(s.ShutdownTimeout):
		t.Fatalf("Run did not return within the shutdown timeout; log:\n%s", logs.String())
	}
	if took := time.Since(begun); took > s.ShutdownTimeout {
		t.Errorf("shutdown took %s", took)
	}
	raw, table := openRaw(t, db, s)
	var orders int
	if err := raw.QueryRow("SELECT count(*) FROM " + table("orders")).Scan(&orders); err != nil || orders != 1 {
		t.Errorf("%d orders committed (%v), want the one in flight", orders, err)
	}
}

// TestShutdownBound: a request still in flight when the shutdown timeout ends is cut off, its
// statement cancelled and its write not committed, and Run returns soon after the bound. The
// request waits on a PostgreSQL row lock, which only its cancellation ends.
func TestShutdownBound(t *testing.T) {
	db := database{name: "postgres", url: pgtest.URL(t)}
	s := db.server(t, shopSpec)
	s.ShutdownTimeout, s.Logger = 500*time.Millisecond, slog.New(slog.DiscardHandler)
	srv, cancel, done := startToStop(t, s)
	admin, alice := srv.token("root", "admin"), srv.token("alice", "customer")
	pid := srv.do("POST", "/v1/products", admin, map[string]any{"sku": "MUG-01", "name": "Mug", "price_cents": 1200, "stock": 10}).expect(t, 201).body["id"].(string)

	release, blocked := holdProduct(t, db, s, pid)
	stuck := make(chan error, 1)
	go func() {
		_, err := srv.try("POST", "/v1/orders", alice, map[string]any{"items": []any{map[string]any{"product_id": pid, "quantity": 1}}},
			"Idempotency-Key", newKey())
		stuck <- err
	}()
	waitFor(t, "the order to wait for the row", func() bool { return blocked() == 1 })
	begun := time.Now()
	cancel()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "after the shutdown timeout (500ms) were cut off") {
			t.Fatalf("Run returned %v, want the requests cut off", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after its shutdown timeout")
	}
	if took := time.Since(begun); took < s.ShutdownTimeout || took > 5*time.Second {
		t.Errorf("Run returned %s after the shutdown began; the bound is %s", took, s.ShutdownTimeout)
	}
	if err := <-stuck; err == nil {
		t.Error("the request cut off at shutdown was answered")
	}
	waitFor(t, "the cut-off statement cancelled", func() bool { return blocked() == 0 })
	release()
	raw, table := openRaw(t, db, s)
	var orders int
	if err := raw.QueryRow("SELECT count(*) FROM " + table("orders")).Scan(&orders); err != nil || orders != 0 {
		t.Errorf("%d orders (%v) after the write was cut off, want none", orders, err)
	}
}
