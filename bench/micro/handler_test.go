package micro

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/plinth-dev/plinth"
)

const shopSpec = "../../examples/shop/plinth.yaml"

// secret is the HS256 key the app under test reads from PLINTH_JWT_SECRET.
const secret = "micro-benchmark-secret-0123456789abcdef"

// shop is the shop app on a fresh database with some products, and tokens to call it.
type shop struct {
	h        http.Handler
	admin    string
	customer string
	ids      []string
}

func newShop(b *testing.B, products int) *shop {
	b.Helper()
	return newShopWith(b, products, plinth.Options{})
}

// newShopWith is newShop with opts, whose spec and data folder it sets.
func newShopWith(b *testing.B, products int, opts plinth.Options) *shop {
	b.Helper()
	b.Setenv("PLINTH_JWT_SECRET", secret)
	// One customer and one address, far past any rate limit: these measure the engine.
	opts.SpecFile, opts.DataDir, opts.DisableRateLimits = shopSpec, b.TempDir(), true
	app, err := plinth.New(context.Background(), opts)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { app.Close() })
	s := &shop{h: app.Handler(), admin: token(b, "root", "admin"), customer: token(b, "alice", "customer")}
	for i := range products {
		body := fmt.Sprintf(`{"sku":"SEED-%06d","name":"Seed product %d","price_cents":%d,"stock":1000000000}`, i, i, 100+(i*7919)%10000)
		rec := s.do(b, "POST", "/v1/products", s.admin, body, http.StatusCreated)
		var p struct{ ID string }
		if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
			b.Fatal(err)
		}
		s.ids = append(s.ids, p.ID)
	}
	return s
}

// token signs an HS256 JWT as `plinth token` does: sub, role, iat, nbf and exp.
func token(b *testing.B, sub, role string) string {
	enc := base64.RawURLEncoding
	now := time.Now().Unix()
	claims, _ := json.Marshal(map[string]any{"sub": sub, "role": role, "iat": now, "nbf": now, "exp": now + 3600})
	msg := enc.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`)) + "." + enc.EncodeToString(claims)
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(msg))
	return msg + "." + enc.EncodeToString(m.Sum(nil))
}

func (s *shop) do(b *testing.B, method, path, tok, body string, want int, headers ...string) *httptest.ResponseRecorder {
	var rd *bytes.Reader
	if body != "" {
		rd = bytes.NewReader([]byte(body))
	}
	var req *http.Request
	if rd != nil {
		req = httptest.NewRequest(method, path, rd)
		req.Header.Set("Content-Type", "application/json")
	} else {
		req = httptest.NewRequest(method, path, nil)
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	rec := httptest.NewRecorder()
	s.h.ServeHTTP(rec, req)
	if rec.Code != want {
		b.Fatalf("%s %s: status %d, want %d: %s", method, path, rec.Code, want, rec.Body)
	}
	return rec
}

// BenchmarkRead is GET /v1/products/{id}: token check, store read, read rule, JSON out.
func BenchmarkRead(b *testing.B) {
	s := newShop(b, 1000)
	b.Run("customer", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			s.do(b, "GET", "/v1/products/"+s.ids[i%len(s.ids)], s.customer, "", http.StatusOK)
		}
	})
	b.Run("anonymous", func(b *testing.B) { // the same without verifying a token
		for i := 0; b.Loop(); i++ {
			s.do(b, "GET", "/v1/products/"+s.ids[i%len(s.ids)], "", "", http.StatusOK)
		}
	})
}

// BenchmarkList is the load test's list: a CEL filter (compiled once, then cached), a sort and
// a page of 20 records encoded as JSON.
func BenchmarkList(b *testing.B) {
	s := newShop(b, 1000)
	b.Run("cached-filter", func(b *testing.B) {
		for b.Loop() {
			s.do(b, "GET", "/v1/products?filter=price_cents+%3E+500&sort=-price_cents&limit=20", "", "", http.StatusOK)
		}
	})
	b.Run("new-filter", func(b *testing.B) { // a filter never seen before: CEL compiles it
		for i := 0; b.Loop(); i++ {
			s.do(b, "GET", "/v1/products?filter=price_cents+%3E+"+strconv.Itoa(500+i)+"&sort=-price_cents&limit=20", "", "", http.StatusOK)
		}
	})
	b.Run("no-filter", func(b *testing.B) {
		for b.Loop() {
			s.do(b, "GET", "/v1/products?sort=-price_cents&limit=20", "", "", http.StatusOK)
		}
	})
}

// BenchmarkCreate is POST /v1/products as admin: JSON in, validation, insert, JSON out.
func BenchmarkCreate(b *testing.B) {
	s := newShop(b, 0)
	b.Run("plain", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			s.do(b, "POST", "/v1/products", s.admin, fmt.Sprintf(`{"sku":"P-%d","name":"Bench product","price_cents":1200,"stock":1}`, i), http.StatusCreated)
		}
	})
	b.Run("idempotency-key", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			s.do(b, "POST", "/v1/products", s.admin, fmt.Sprintf(`{"sku":"K-%d","name":"Bench product","price_cents":1200,"stock":1}`, i), http.StatusCreated,
				"Idempotency-Key", "bench-"+strconv.Itoa(i))
		}
	})
}

// BenchmarkOrder is POST /v1/orders as a customer: lookups for computed prices, the stock
// reservation effect, the total and the stored Idempotency-Key (the shop requires one), in
// one transaction.
func BenchmarkOrder(b *testing.B) {
	s := newShop(b, 1000)
	for i := 0; b.Loop(); i++ {
		s.do(b, "POST", "/v1/orders", s.customer, `{"items":[{"product_id":"`+s.ids[i%len(s.ids)]+`","quantity":1}]}`, http.StatusCreated,
			"Idempotency-Key", "bench-"+strconv.Itoa(i))
	}
}

// BenchmarkUpdate is PATCH /v1/products/{id} with If-Match, the version tracked per product.
func BenchmarkUpdate(b *testing.B) {
	s := newShop(b, 100)
	versions := make([]int64, len(s.ids))
	for i := range versions {
		versions[i] = 1
	}
	for i := 0; b.Loop(); i++ {
		k := i % len(s.ids)
		rec := s.do(b, "PATCH", "/v1/products/"+s.ids[k], s.admin, `{"stock":`+strconv.Itoa(i)+`}`, http.StatusOK,
			"If-Match", `"`+strconv.FormatInt(versions[k], 10)+`"`)
		versions[k], _ = strconv.ParseInt(rec.Header().Get("ETag")[1:len(rec.Header().Get("ETag"))-1], 10, 64)
	}
}
