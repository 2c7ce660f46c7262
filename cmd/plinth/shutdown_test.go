package main

import (
	"context"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/plinth-dev/plinth/internal/obs/obstest"
)

// TestShutdownDrains: on shutdown /readyz answers 503 at once while requests are still
// accepted (the drain delay), then new connections are refused, an order in flight
// completes and is committed, and Run returns within the shutdown timeout.
func TestShutdownDrains(t *testing.T) { eachDatabase(t, testShutdownDrains) }

func testShutdownDrains(t *testing.T, db database) {
	s := db.server(t, shopSpec)
	s.Addr, s.ShutdownTimeout, s.DrainDelay = "127.0.0.1:0", 10*time.Second, time.Second
	logs := &lockedWriter{}
	s.Logger = slog.New(slog.NewTextHandler(logs, nil))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := s.Open(ctx); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	srv := &running{t: t, url: s.URL(), dataDir: s.DataDir, client: newClient()}
	admin, alice := srv.token("root", "admin"), srv.token("alice", "customer")
	pid := srv.do("POST", "/v1/products", admin, map[string]any{"sku": "MUG-01", "name": "Mug", "price_cents": 1200, "stock": 10}).expect(t, 201).body["id"].(string)

	release, _ := holdProduct(t, db, s, pid)
	inFlight := make(chan response, 1)
	go srv.orderOne(alice, pid, inFlight)
	waitFor(t, "the order in flight", func() bool {
		m, _ := obstest.Get(t, newClient(), srv.url+"/metrics", admin, "")
		return m.Value("plinth_inflight") == 1
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
