package plinth_test

import (
	"bufio"
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/plinth-dev/plinth"
	"github.com/plinth-dev/plinth/internal/store/pgtest"
	"github.com/plinth-dev/plinth/internal/testwait"
)

// TestReadCache: on one process, reads by id come from the read cache once it serves, and
// a write is visible to the next read (read-your-writes), with its ETag; a read rule still
// hides a cached record from a caller it refuses; a delete is not served from memory.
func TestReadCache(t *testing.T) {
	t.Setenv("PLINTH_JWT_SECRET", jwtSecret)
	t.Run("sqlite", func(t *testing.T) {
		testReadCache(t, plinth.Options{DataDir: t.TempDir()})
	})
	t.Run("postgres", func(t *testing.T) {
		url := pgtest.URL(t)
		testReadCache(t, plinth.Options{DataDir: t.TempDir(), Database: url, DatabaseSchema: pgtest.Schema(t, url)})
	})
}

func testReadCache(t *testing.T, opts plinth.Options) {
	opts.SpecFile = shopSpec
	app, err := plinth.New(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	h := app.Handler()
	admin, alice, bob := token(t, "root", "admin"), token(t, "alice", "customer"), token(t, "bob", "customer")

	var product struct {
		ID         string
		Version    int64
		PriceCents int64 `json:"price_cents"`
	}
	decode(t, call(t, h, "POST", "/v1/products", admin, `{"sku":"MUG-01","name":"Mug","price_cents":1200,"stock":10}`, http.StatusCreated), &product)
	path := "/v1/products/" + product.ID
	for i, price := range []int{1300, 1400, 1500} {
		// The cache serves once its feed has read the outbox, and a fill that raced an
		// invalidation (the feed's, of this process's own write) is dropped: read until a
		// read is a hit.
		res := readFromCache(t, app, path, alice)
		etag := res.Header().Get("ETag")
		call(t, h, "GET", path, alice, "", http.StatusNotModified, "If-None-Match", etag)
		call(t, h, "PATCH", path, admin, `{"price_cents":`+strconv.Itoa(price)+`}`, http.StatusOK)
		res = call(t, h, "GET", path, alice, "", http.StatusOK, "If-None-Match", etag)
		decode(t, res, &product)
		if product.PriceCents != int64(price) || product.Version != int64(i+2) {
			t.Fatalf("round %d: read after the write: price %d version %d, want %d and %d", i, product.PriceCents, product.Version, price, i+2)
		}
		if got, want := res.Header().Get("ETag"), `"`+strconv.Itoa(i+2)+`"`; got != want {
			t.Fatalf("round %d: ETag %s after the write, want %s", i, got, want)
		}
	}

	var customer struct{ ID string }
	decode(t, call(t, h, "POST", "/v1/customers", alice, `{"email":"alice@example.com","name":"Alice"}`, http.StatusCreated), &customer)
	cpath := "/v1/customers/" + customer.ID
	call(t, h, "GET", cpath, alice, "", http.StatusOK)
	before := counter(t, app, "plinth_cache_hits_total")
	call(t, h, "GET", cpath, bob, "", http.StatusNotFound)
	call(t, h, "GET", cpath, "", "", http.StatusNotFound)
	if counter(t, app, "plinth_cache_hits_total") == before {
		t.Error("bob's read of alice's customer was not served from the cache, so the test shows nothing")
	}
	call(t, h, "GET", cpath, admin, "", http.StatusOK)

	// Each update above came after a read from the cache, so each dropped a cached record.
	if n := counter(t, app, "plinth_cache_invalidations_total"); n < 3 {
		t.Errorf("plinth_cache_invalidations_total is %v after three updates of a cached record", n)
	}
	readFromCache(t, app, path, alice)
	call(t, h, "DELETE", path, admin, "", http.StatusNoContent)
	call(t, h, "GET", path, alice, "", http.StatusNotFound)
}

// readFromCache reads path until a read is a hit of the read cache, and returns that read.
func readFromCache(t *testing.T, app *plinth.App, path, tok string) *httptest.ResponseRecorder {
	t.Helper()
	var res *httptest.ResponseRecorder
	waitUntil(t, "a read from the cache", func() bool {
		hits := counter(t, app, "plinth_cache_hits_total")
		res = call(t, app.Handler(), "GET", path, tok, "", http.StatusOK)
		return counter(t, app, "plinth_cache_hits_total") > hits
	})
	return res
}

// counter reads a metric without labels from the App's registry.
func counter(t *testing.T, app *plinth.App, name string) float64 {
	t.Helper()
	rec := httptest.NewRecorder()
	app.MetricsHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	sc := bufio.NewScanner(rec.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatal(err)
			}
			return f
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

// waitUntil polls cond for up to ten seconds.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testwait.Within(t, 10*time.Second, what, cond)
}
