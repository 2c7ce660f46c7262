package httpapi_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/plinth-dev/plinth"
	"github.com/plinth-dev/plinth/internal/auth"
	"github.com/plinth-dev/plinth/internal/obs/obstest"
	"github.com/plinth-dev/plinth/internal/spec"
)

const limitedSpec = `
plinth: 1
name: limited
auth: {roles: [admin, member]}
resources:
  notes:
    fields: {text: {type: string, max_length: 100}}
    access: {list: "true", read: "true", create: "auth.sub != null"}
limits:
  rules:
    - name: note-creates
      roles: [member]
      operation: notes.create
      rate: 6/minute
      burst: 3
    - name: anonymous
      roles: [anonymous]
      rate: 1/second
      burst: 2
`

// clock is the limits' clock, which the test moves.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// limitedApp serves limitedSpec with opts; tokens signs a token per subject of role member.
type limitedApp struct {
	t     *testing.T
	app   *plinth.App
	token func(sub, role string) string
}

func startLimited(t *testing.T, opts plinth.Options) *limitedApp {
	t.Helper()
	opts.Spec, opts.DataDir = []byte(limitedSpec), t.TempDir()
	app, err := plinth.New(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { app.Close() })
	signer, _, err := auth.ForModel(&spec.Model{}, opts.DataDir, nil)
	if err != nil {
		t.Fatal(err)
	}
	return &limitedApp{t: t, app: app, token: func(sub, role string) string {
		tok, _ := signer.Sign(sub, role, time.Hour)
		return tok
	}}
}

// scrape reads the App's metrics, served to anyone.
func (a *limitedApp) scrape() obstest.Scrape {
	srv := httptest.NewServer(a.app.Handler())
	defer srv.Close()
	m, _ := obstest.Get(a.t, http.DefaultClient, srv.URL+"/metrics", "", "")
	return m
}

// send serves one request from addr through the App's handler.
func (a *limitedApp) send(method, path, token, addr string) *httptest.ResponseRecorder {
	body := ""
	if method == "POST" {
		body = `{"text":"hi"}`
	}
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.RemoteAddr = addr + ":40000"
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	a.app.Handler().ServeHTTP(rec, req)
	return rec
}

func expect(t *testing.T, what string, rec *httptest.ResponseRecorder, status int, headers ...string) {
	t.Helper()
	if rec.Code != status {
		t.Fatalf("%s: %d, want %d: %s", what, rec.Code, status, rec.Body)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		if got := rec.Header().Get(headers[i]); got != headers[i+1] {
			t.Errorf("%s: %s = %q, want %q", what, headers[i], got, headers[i+1])
		}
	}
}

// TestRateLimitsInMemory: a caller spends its burst, then is refused with 429, Retry-After
// saying when the bucket admits again and the RateLimit headers saying what is left; other
// callers keep their own buckets, anonymous callers are told apart by address, and the
// health, readiness and metrics routes are never limited.
func TestRateLimitsInMemory(t *testing.T) {
	clk := &clock{t: time.Now()}
	a := startLimited(t, plinth.Options{Now: clk.Now, MetricsAccess: plinth.MetricsOpen})
	mia, bob := a.token("mia", "member"), a.token("bob", "member")
	const here = "192.0.2.1"
	policy := `"note-creates";q=3;w=30, "authenticated";q=1000;w=2`
	for i, remaining := range []string{"2", "1", "0"} {
		// the bucket refills at one every 10s: full again 10s per spent token later
		expect(t, "create", a.send("POST", "/v1/notes", mia, here), 201, "RateLimit-Policy", policy,
			"RateLimit", `"note-creates";r=`+remaining+`;t=`+[]string{"10", "20", "30"}[i]+`, "authenticated";r=`+[]string{"999", "998", "997"}[i]+`;t=1`)
	}
	refused := a.send("POST", "/v1/notes", mia, here)
	expect(t, "the fourth create", refused, 429, "Retry-After", "10", "Content-Type", "application/problem+json",
		"RateLimit-Policy", `"note-creates";q=3;w=30`, "RateLimit", `"note-creates";r=0;t=30`)
	var doc map[string]any
	if err := json.Unmarshal(refused.Body.Bytes(), &doc); err != nil || doc["type"] != "urn:plinth:problem:rate-limited" || !strings.Contains(doc["detail"].(string), `"note-creates"`) || doc["status"] != 429.0 {
		t.Errorf("the problem: %s", refused.Body)
	}
	expect(t, "another member", a.send("POST", "/v1/notes", bob, here), 201)
	expect(t, "a read, limited by another rule", a.send("GET", "/v1/notes", mia, here), 200,
		"RateLimit-Policy", `"authenticated";q=1000;w=2`)
	clk.Add(9 * time.Second)
	expect(t, "after 9s", a.send("POST", "/v1/notes", mia, here), 429, "Retry-After", "1")
	clk.Add(time.Second)
	expect(t, "after Retry-After", a.send("POST", "/v1/notes", mia, here), 201)

	for range 2 {
		expect(t, "anonymous", a.send("GET", "/v1/notes", "", here), 200, "RateLimit-Policy", `"anonymous";q=2;w=2`)
	}
	expect(t, "anonymous over its burst", a.send("GET", "/v1/notes", "", here), 429, "Retry-After", "1", "RateLimit", `"anonymous";r=0;t=2`)
	expect(t, "anonymous from another address", a.send("GET", "/v1/notes", "", "192.0.2.2"), 200)
	expect(t, "an unknown path, anonymous", a.send("GET", "/nowhere", "", here), 429)
	for range 5 {
		for _, path := range []string{"/healthz", "/readyz", "/metrics"} {
			rec := a.send("GET", path, "", here)
			expect(t, path, rec, 200)
			if rec.Header().Get("RateLimit") != "" || rec.Header().Get("RateLimit-Policy") != "" {
				t.Errorf("%s carries rate limit headers", path)
			}
		}
	}
	m := a.scrape()
	for _, c := range []struct{ route, policy string }{{"POST /v1/notes", "note-creates"}, {"GET /v1/notes", "anonymous"}, {"unmatched", "anonymous"}} {
		want := 2.0
		if c.policy == "anonymous" {
			want = 1
		}
		if got := m.Value("plinth_ratelimit_limited_total", "route", c.route, "policy", c.policy); got != want {
			t.Errorf("plinth_ratelimit_limited_total{%s,%s} = %v, want %v", c.route, c.policy, got, want)
		}
	}
	if len(m.Series("plinth_ratelimit_redis_up")) != 0 {
		t.Error("a Redis gauge without Redis")
	}
}

// TestRateLimitsOff: with the limits turned off, nothing is limited and no header tells of
// limits.
func TestRateLimitsOff(t *testing.T) {
	a := startLimited(t, plinth.Options{DisableRateLimits: true})
	for range 5 {
		rec := a.send("GET", "/v1/notes", "", "192.0.2.1")
		expect(t, "anonymous", rec, 200)
		if rec.Header().Get("RateLimit-Policy") != "" {
			t.Fatal("a policy header with limits off")
		}
	}
}

// redisURL is the development machine's Redis.
const redisURL = "redis://127.0.0.1:6379/0"

func randomPrefix(t *testing.T) string {
	b := make([]byte, 8)
	rand.Read(b)
	return "plinth-test:" + hex.EncodeToString(b) + ":"
}

// TestRateLimitsSharedThroughRedis: two Apps naming the same Redis and prefix share each
// caller's bucket, so that a caller's burst is spent across both; another prefix is another
// set of buckets.
func TestRateLimitsSharedThroughRedis(t *testing.T) {
	prefix := randomPrefix(t)
	one := startLimited(t, plinth.Options{RedisURL: redisURL, RedisPrefix: prefix, MetricsAccess: plinth.MetricsOpen})
	two := startLimited(t, plinth.Options{RedisURL: redisURL, RedisPrefix: prefix})
	other := startLimited(t, plinth.Options{RedisURL: redisURL, RedisPrefix: randomPrefix(t)})
	sub := "mia"
	expect(t, "create on one", one.send("POST", "/v1/notes", one.token(sub, "member"), "192.0.2.1"), 201,
		"RateLimit-Policy", `"note-creates";q=3;w=30, "authenticated";q=1000;w=2`)
	expect(t, "create on two", two.send("POST", "/v1/notes", two.token(sub, "member"), "192.0.2.1"), 201)
	expect(t, "create on one", one.send("POST", "/v1/notes", one.token(sub, "member"), "192.0.2.1"), 201)
	refused := two.send("POST", "/v1/notes", two.token(sub, "member"), "192.0.2.1")
	expect(t, "the fourth create, on two", refused, 429, "RateLimit", `"note-creates";r=0;t=30`)
	if ra := refused.Header().Get("Retry-After"); ra != "10" && ra != "9" {
		t.Errorf("Retry-After %q, want about 10", ra)
	}
	expect(t, "the same caller under another prefix", other.send("POST", "/v1/notes", other.token(sub, "member"), "192.0.2.1"), 201)
	rec := one.send("GET", "/readyz", "", "192.0.2.1")
	expect(t, "readyz", rec, 200)
	if !strings.Contains(rec.Body.String(), `"redis":"up"`) {
		t.Errorf("readyz: %s", rec.Body)
	}
	m := one.scrape()
	if got := m.Value("plinth_ratelimit_redis_up"); got != 1 {
		t.Errorf("plinth_ratelimit_redis_up = %v", got)
	}
}
