package main

import (
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"strings"
	"testing"

	"github.com/plinth-dev/plinth"
	"github.com/plinth-dev/plinth/internal/obs/obstest"
	"github.com/plinth-dev/plinth/internal/store/pgtest"
)

const limitsSpec = `
plinth: 1
name: limited
resources:
  notes:
    fields: {text: {type: string, max_length: 100}}
    access: {list: "true", read: "true"}
limits:
  rules:
    - name: anonymous
      roles: [anonymous]
      rate: 3/minute
`

// TestRateLimitsRedisCut serves rate limits shared through the development machine's Redis,
// reached through a proxy the test cuts: while Redis cannot be reached the requests are
// served under the per-process limit, the log says so once, /readyz stays ready and says so,
// and plinth_ratelimit_redis_up is 0; once the proxy is restored the limits are shared again,
// and the log, /readyz and the gauge say that too.
func TestRateLimitsRedisCut(t *testing.T) {
	px, redisURL := pgtest.BehindProxy(t, "redis://127.0.0.1:6379/0")
	logs := &lockedWriter{}
	b := make([]byte, 8)
	rand.Read(b)
	s := &server{SpecFile: writeSpec(t, limitsSpec), DataDir: t.TempDir(), Logger: slog.New(slog.NewJSONHandler(logs, nil)),
		RedisURL: redisURL, RedisPrefix: "plinth-test:" + hex.EncodeToString(b) + ":",
		MetricsAccess: plinth.MetricsOpen}
	srv := startServerWith(t, s)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("server log:\n%s", logs.String())
		}
	})
	spend := func(what string) {
		t.Helper()
		for range 3 {
			srv.do("GET", "/v1/notes", "", nil).expect(t, 200)
		}
		if r := srv.do("GET", "/v1/notes", "", nil).expect(t, 429); r.header.Get("Retry-After") == "" {
			t.Errorf("%s: a 429 without Retry-After", what)
		}
	}
	state := func() (string, float64) {
		t.Helper()
		r := srv.do("GET", "/readyz", "", nil).expect(t, 200)
		m, _ := obstest.Get(t, srv.client, srv.url+"/metrics", "", "")
		return string(r.raw), m.Value("plinth_ratelimit_redis_up")
	}
	count := func(msg string) int { return strings.Count(logs.String(), msg) }
	const down, up = "Redis does not answer", "Redis answers again"

	spend("through Redis")
	if ready, gauge := state(); !strings.Contains(ready, `"redis":"up"`) || gauge != 1 {
		t.Fatalf("with Redis: /readyz %s, gauge %v", ready, gauge)
	}

	px.Cut()
	spend("per process") // the process's own bucket of the caller is full: the burst again, then 429
	for range 5 {
		srv.do("GET", "/v1/notes", "", nil).expect(t, 429)
	}
	if ready, gauge := state(); !strings.Contains(ready, `"redis":"down: limiting per process"`) || gauge != 0 {
		t.Errorf("without Redis: /readyz %s, gauge %v", ready, gauge)
	}
	if n := count(down); n != 1 {
		t.Errorf("the log says %q %d times, want once", down, n)
	}

	px.Restore()
	waitFor(t, "the limits shared again", func() bool {
		srv.do("GET", "/v1/notes", "", nil) // a request lets the breaker try Redis again
		ready, gauge := state()
		return strings.Contains(ready, `"redis":"up"`) && gauge == 1
	})
	// Redis still holds the caller's empty bucket.
	srv.do("GET", "/v1/notes", "", nil).expect(t, 429)
	if n, m := count(down), count(up); n != 1 || m != 1 {
		t.Errorf("the log says %q %d times and %q %d times, want once each", down, n, up, m)
	}
}
