package main

import (
	"io"
	"net"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/plinth-dev/plinth/internal/store/pgtest"
)

// proxy forwards TCP connections to a target until it is cut, as a network between Plinth
// and its database would.
type proxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	conns  []net.Conn
	down   bool
}

func startProxy(t *testing.T, target string) *proxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: target}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.mu.Lock()
			down := p.down
			p.mu.Unlock()
			if down {
				c.Close()
				continue
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, up)
			p.mu.Unlock()
			go func() { io.Copy(up, c); up.Close() }()
			go func() { io.Copy(c, up); c.Close() }()
		}
	}()
	t.Cleanup(func() { ln.Close(); p.cut() })
	return p
}

// cut drops every connection and refuses new ones until restore.
func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = true
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

func (p *proxy) restore() {
	p.mu.Lock()
	p.down = false
	p.mu.Unlock()
}

// TestDatabaseOutage: while PostgreSQL cannot be reached, requests get 503 with Retry-After
// promptly instead of hanging, /readyz says not ready, and service resumes by itself.
// behindProxy is a server on the test's PostgreSQL, in a schema of its own, reached through a
// proxy the test can cut.
func behindProxy(t *testing.T, s *server) *proxy {
	raw := pgtest.URL(t)
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	px := startProxy(t, u.Host)
	u.Host = px.ln.Addr().String()
	t.Setenv("PLINTH_JWT_SECRET", strings.Repeat("o", 40))
	s.DataDir, s.Database, s.DatabaseSchema = t.TempDir(), u.String(), pgtest.Schema(t, raw)
	return px
}

func TestDatabaseOutage(t *testing.T) {
	s := &server{SpecFile: shopSpec}
	px := behindProxy(t, s)
	srv := startServerWith(t, s)
	admin := srv.token("root", "admin")
	srv.do("POST", "/v1/products", admin, productBody("UP-1")).expect(t, 201)

	px.cut()
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

	px.restore()
	waitFor(t, "service to resume", func() bool { return srv.do("GET", "/readyz", "", nil).status == 200 })
	srv.do("POST", "/v1/products", admin, productBody("UP-2")).expect(t, 201)
}
