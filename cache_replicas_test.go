package plinth_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/plinth-dev/plinth"
	"github.com/plinth-dev/plinth/internal/store/pgtest"
)

// TestReadCacheReplicas runs three Apps on one PostgreSQL schema, each with its own read
// cache, the third reaching the database through a proxy. A product is updated on the first
// while the others read it in a loop: no replica's read ever goes back to an older version,
// each converges on every write within a bound the test reports, and the readers' caches
// served. Then the third's connections are cut: its cache stops serving (a read fails rather
// than answer from memory), a write lands on the first meanwhile, and once the database is
// back the third's first answer is already the new version.
func TestReadCacheReplicas(t *testing.T) {
	t.Setenv("PLINTH_JWT_SECRET", jwtSecret)
	url := pgtest.URL(t)
	schema := pgtest.Schema(t, url)
	px, proxied := pgtest.BehindProxy(t, url)
	var apps [3]*plinth.App
	for i := range apps {
		db := url
		if i == 2 {
			db = proxied
		}
		app, err := plinth.New(context.Background(), plinth.Options{SpecFile: shopSpec, DataDir: t.TempDir(), Database: db,
			DatabaseSchema: schema, StatementTimeout: 2 * time.Second,
			DisableRateLimits: true}) // the replicas are read in a tight loop by one caller
		if err != nil {
			t.Fatal(err)
		}
		defer app.Close()
		apps[i] = app
	}
	admin, alice := token(t, "root", "admin"), token(t, "alice", "customer")
	var product struct {
		ID      string
		Version int64
	}
	decode(t, call(t, apps[0].Handler(), "POST", "/v1/products", admin, `{"sku":"MUG-01","name":"Mug","price_cents":1200}`, http.StatusCreated), &product)
	path := "/v1/products/" + product.ID
	read := func(app *plinth.App) (int, int64) {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("GET", path, nil)
		req.Header.Set("Authorization", "Bearer "+alice)
		app.Handler().ServeHTTP(rec, req)
		var got struct{ Version int64 }
		if rec.Code == http.StatusOK {
			decode(t, rec, &got)
		}
		return rec.Code, got.Version
	}
	hits := [3]float64{}
	for i := 1; i < 3; i++ {
		hits[i] = counter(t, apps[i], "plinth_cache_hits_total")
	}

	var last [3]int64
	var slowest time.Duration
	for v := int64(2); v <= 30; v++ {
		decode(t, call(t, apps[0].Handler(), "PATCH", path, admin, `{"price_cents":`+strconv.FormatInt(1200+v, 10)+`}`, http.StatusOK), &product)
		if product.Version != v {
			t.Fatalf("the write answered version %d, want %d", product.Version, v)
		}
		written := time.Now()
		for i := 1; i < 3; i++ {
			for {
				status, got := read(apps[i])
				if status != http.StatusOK {
					t.Fatalf("replica %d answered %d", i, status)
				}
				if got < last[i] {
					t.Fatalf("replica %d read version %d after version %d", i, got, last[i])
				}
				last[i] = got
				if got >= v {
					break
				}
				if time.Since(written) > 5*time.Second {
					t.Fatalf("replica %d still reads version %d five seconds after version %d committed", i, got, v)
				}
			}
		}
		slowest = max(slowest, time.Since(written))
	}
	t.Logf("every replica read each write within %s of its answer", slowest)
	for i := 1; i < 3; i++ {
		if counter(t, apps[i], "plinth_cache_hits_total") == hits[i] {
			t.Errorf("replica %d's cache served no read: the test shows nothing of it", i)
		}
	}

	px.Cut()
	waitUntil(t, "the cut replica to stop answering from memory", func() bool {
		status, _ := read(apps[2])
		return status != http.StatusOK
	})
	decode(t, call(t, apps[0].Handler(), "PATCH", path, admin, `{"price_cents":99}`, http.StatusOK), &product)
	if status, got := read(apps[2]); status == http.StatusOK {
		t.Fatalf("during the cut the replica answered version %d", got)
	}
	px.Restore()
	waitUntil(t, "the cut replica to answer again", func() bool {
		status, got := read(apps[2])
		if status == http.StatusOK && got < product.Version {
			t.Fatalf("after the cut the replica answered version %d, want %d", got, product.Version)
		}
		return status == http.StatusOK
	})
	hits[2] = counter(t, apps[2], "plinth_cache_hits_total")
	waitUntil(t, "the cut replica's cache to serve again", func() bool {
		status, got := read(apps[2])
		if status != http.StatusOK || got < product.Version {
			t.Fatalf("after the cut the replica answered %d, version %d, want version %d", status, got, product.Version)
		}
		return counter(t, apps[2], "plinth_cache_hits_total") > hits[2]
	})
}
