package main

import (
	"strings"
	"testing"
	"time"

	"github.com/plinth-dev/plinth/internal/store/pgtest"
)

// TestDatabaseOutage: while PostgreSQL cannot be reached, requests get 503 with Retry-After
// promptly instead of hanging, /readyz says not ready, and service resumes by itself.
// behindProxy is a server on the test's PostgreSQL, in a schema of its own, reached through a
// proxy the test can cut.
func behindProxy(t *testing.T, s *server) *pgtest.Proxy {
	raw := pgtest.URL(t)
	px, proxied := pgtest.BehindProxy(t, raw)
	t.Setenv("PLINTH_JWT_SECRET", strings.Repeat("o", 40))
	s.DataDir, s.Database, s.DatabaseSchema = t.TempDir(), proxied, pgtest.Schema(t, raw)
	return px
}

func TestDatabaseOutage(t *testing.T) {
	s := &server{SpecFile: shopSpec}
	px := behindProxy(t, s)
	srv := startServerWith(t, s)
	admin := srv.token("root", "admin")
	srv.do("POST", "/v1/products", admin, productBody("UP-1")).expect(t, 201)

	px.Cut()
	for _, try := range []func() response{
		func() response { return srv.do("GET", "/v1/products", "", nil) },
		func() response { return srv.do("POST", "/v1/products", admin, productBody("DOWN-1")) },
		func() response { return srv.do("GET", "/readyz", "", nil) },
	} {
		start := time.Now()
		res := try()
		if res.status != 503 || res.header.Get("Retry-After") == "" {
			t.Errorf("during the outage: %d %s", res.status, res.raw)
		}
		if took := time.Since(start); took > 10*time.Second {
			t.Errorf("an answer during the outage took %s", took)
		}
	}

	px.Restore()
	waitFor(t, "service to resume", func() bool { return srv.do("GET", "/readyz", "", nil).status == 200 })
	srv.do("POST", "/v1/products", admin, productBody("UP-2")).expect(t, 201)
}
