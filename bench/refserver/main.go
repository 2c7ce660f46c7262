// Command refserver is the yardstick of the benchmark harness: the shop's product and order
// routes served with net/http and the SQLite driver, settings and table layout Plinth uses,
// doing exactly the SQL each scenario needs and nothing else. It has no authentication, no
// access rules, no validation beyond decoding JSON, no events and no idempotency, so that the
// ratio Plinth/refserver measures what Plinth's guarantees cost.
//
//	refserver -addr 127.0.0.1:8081 -data DIR
//
// It is started by the harness (go run ./bench) as a separate process, like Plinth.
package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	_ "modernc.org/sqlite"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8081", "the address to listen on")
	data := flag.String("data", "refserver_data", "the data folder")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *addr, *data); err != nil {
		log.Fatalf("refserver: %v", err)
	}
}

func run(ctx context.Context, addr, dir string) error {
	s, err := open(ctx, dir)
	if err != nil {
		return err
	}
	defer s.close()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           s.routes(),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
	fmt.Printf("refserver: serving at http://%s (data in %s)\n", ln.Addr(), dir)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err = <-errc:
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		err = srv.Shutdown(sctx)
		cancel()
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// timeLayout is Plinth's stored and served timestamp format.
const timeLayout = "2006-01-02T15:04:05.000000Z"

// schema is Plinth's table layout for the shop (internal/store/sqlite/testdata/shop.sql).
var schema = []string{
	`CREATE TABLE IF NOT EXISTS "products" (
  "id" TEXT PRIMARY KEY NOT NULL, "created_at" TEXT NOT NULL, "updated_at" TEXT NOT NULL,
  "version" INTEGER NOT NULL, "sku" TEXT, "name" TEXT, "description" TEXT,
  "price_cents" INTEGER, "stock" INTEGER, "active" INTEGER) STRICT`,
	`CREATE UNIQUE INDEX IF NOT EXISTS "ux_products_sku" ON "products" ("sku")`,
	`CREATE INDEX IF NOT EXISTS "ix_products_price_cents" ON "products" ("price_cents")`,
	`CREATE TABLE IF NOT EXISTS "customers" (
  "id" TEXT PRIMARY KEY NOT NULL, "created_at" TEXT NOT NULL, "updated_at" TEXT NOT NULL,
  "version" INTEGER NOT NULL, "user_id" TEXT, "email" TEXT, "name" TEXT) STRICT`,
	`CREATE UNIQUE INDEX IF NOT EXISTS "ux_customers_user_id" ON "customers" ("user_id")`,
	`CREATE TABLE IF NOT EXISTS "orders" (
  "id" TEXT PRIMARY KEY NOT NULL, "created_at" TEXT NOT NULL, "updated_at" TEXT NOT NULL,
  "version" INTEGER NOT NULL, "customer_id" TEXT, "status" TEXT, "items" TEXT,
  "total_cents" INTEGER, "note" TEXT) STRICT`,
	`CREATE INDEX IF NOT EXISTS "ix_orders_customer_id_status" ON "orders" ("customer_id", "status")`,
}

const productCols = `"id", "sku", "name", "description", "price_cents", "stock", "active", "created_at", "updated_at", "version"`

// store holds the two pools and the prepared statements, as Plinth's SQLite store does: one
// writer connection (BEGIN IMMEDIATE) and a pool of query-only readers.
type store struct {
	write, read *sql.DB

	getProduct, listProducts   *sql.Stmt // readers
	insertProduct, updateStock *sql.Stmt // writer
	reserve, insertOrder       *sql.Stmt // writer
}

func open(ctx context.Context, dir string) (*store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, "ref.db")
	dsn := func(extra ...string) string {
		q := url.Values{}
		q.Add("_pragma", "busy_timeout(5000)")
		q.Add("_pragma", "journal_mode(WAL)")
		q.Add("_pragma", "synchronous(NORMAL)")
		q.Add("_pragma", "foreign_keys(ON)")
		for _, p := range extra {
			q.Add("_pragma", p)
		}
		q.Set("_txlock", "immediate")
		return "file:" + path + "?" + q.Encode()
	}
	s := &store{}
	var err error
	if s.write, err = sql.Open("sqlite", dsn()); err != nil {
		return nil, err
	}
	s.write.SetMaxOpenConns(1)
	s.write.SetMaxIdleConns(1)
	s.write.SetConnMaxLifetime(0)
	for _, q := range schema {
		if _, err := s.write.ExecContext(ctx, q); err != nil {
			s.close()
			return nil, fmt.Errorf("schema: %w", err)
		}
	}
	readers := max(4, 2*runtime.GOMAXPROCS(0))
	if s.read, err = sql.Open("sqlite", dsn("query_only(1)")); err != nil {
		s.close()
		return nil, err
	}
	s.read.SetMaxOpenConns(readers)
	s.read.SetMaxIdleConns(readers)
	stmts := []struct {
		dst **sql.Stmt
		db  *sql.DB
		sql string
	}{
		{&s.getProduct, s.read, `SELECT ` + productCols + ` FROM "products" WHERE "id" = ?`},
		{&s.listProducts, s.read, `SELECT ` + productCols + ` FROM "products" WHERE "price_cents" > ? ORDER BY "price_cents" DESC, "id" LIMIT ?`},
		{&s.insertProduct, s.write, `INSERT INTO "products" ("id", "sku", "name", "description", "price_cents", "stock", "active", "created_at", "updated_at", "version") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 1)`},
		{&s.updateStock, s.write, `UPDATE "products" SET "stock" = ?, "updated_at" = ?, "version" = "version" + 1 WHERE "id" = ? AND "version" = ? RETURNING ` + productCols},
		{&s.reserve, s.write, `UPDATE "products" SET "stock" = "stock" - ?, "updated_at" = ?, "version" = "version" + 1 WHERE "id" = ? AND "stock" >= ? RETURNING "name", "price_cents"`},
		{&s.insertOrder, s.write, `INSERT INTO "orders" ("id", "created_at", "updated_at", "version", "customer_id", "status", "items", "total_cents", "note") VALUES (?, ?, ?, 1, ?, 'pending', ?, ?, NULL)`},
	}
	for _, st := range stmts {
		if *st.dst, err = st.db.PrepareContext(ctx, st.sql); err != nil {
			s.close()
			return nil, fmt.Errorf("prepare: %w", err)
		}
	}
	return s, nil
}

func (s *store) close() {
	for _, st := range []*sql.Stmt{s.getProduct, s.listProducts, s.insertProduct, s.updateStock, s.reserve, s.insertOrder} {
		if st != nil {
			st.Close()
		}
	}
	if s.read != nil {
		s.read.Close()
	}
	if s.write != nil {
		s.write.Close()
	}
}

func (s *store) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /readyz", s.ready)
	mux.HandleFunc("GET /v1/products", s.list)
	mux.HandleFunc("POST /v1/products", s.create)
	mux.HandleFunc("GET /v1/products/{id}", s.get)
	mux.HandleFunc("PATCH /v1/products/{id}", s.patch)
	mux.HandleFunc("POST /v1/orders", s.order)
	return mux
}

// product is a products row, with members in Plinth's order.
type product struct {
	ID          string  `json:"id"`
	SKU         string  `json:"sku"`
	Name        string  `json:"name"`
	Description *string `json:"description"`
	PriceCents  int64   `json:"price_cents"`
	Stock       int64   `json:"stock"`
	Active      bool    `json:"active"`
	CreatedAt   string  `json:"created_at"`
	UpdatedAt   string  `json:"updated_at"`
	Version     int64   `json:"version"`
}

type scanner interface{ Scan(dst ...any) error }

func scanProduct(sc scanner) (product, error) {
	var p product
	err := sc.Scan(&p.ID, &p.SKU, &p.Name, &p.Description, &p.PriceCents, &p.Stock, &p.Active, &p.CreatedAt, &p.UpdatedAt, &p.Version)
	return p, err
}

func (s *store) ready(w http.ResponseWriter, r *http.Request) {
	if err := s.read.PingContext(r.Context()); err != nil {
		http.Error(w, "not ready", http.StatusServiceUnavailable)
		return
	}
	reply(w, http.StatusOK, map[string]string{"status": "ready"})
}

func (s *store) get(w http.ResponseWriter, r *http.Request) {
	p, err := scanProduct(s.getProduct.QueryRowContext(r.Context(), r.PathValue("id")))
	if err != nil {
		fail(w, err)
		return
	}
	w.Header().Set("ETag", etag(p.Version))
	reply(w, http.StatusOK, p)
}

// list understands exactly the benchmark's query: filter=price_cents > N, sort=-price_cents.
func (s *store) list(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := strings.Fields(q.Get("filter"))
	limit, err := strconv.Atoi(q.Get("limit"))
	if len(f) != 3 || f[0] != "price_cents" || f[1] != ">" || q.Get("sort") != "-price_cents" || err != nil {
		http.Error(w, "the reference server lists only filter=price_cents > N&sort=-price_cents&limit=N", http.StatusBadRequest)
		return
	}
	min, err := strconv.ParseInt(f[2], 10, 64)
	if err != nil {
		http.Error(w, "bad filter value", http.StatusBadRequest)
		return
	}
	rows, err := s.listProducts.QueryContext(r.Context(), min, limit+1)
	if err != nil {
		fail(w, err)
		return
	}
	defer rows.Close()
	page := struct {
		Items      []product `json:"items"`
		NextCursor *string   `json:"next_cursor"`
	}{Items: make([]product, 0, limit+1)}
	for rows.Next() {
		p, err := scanProduct(rows)
		if err != nil {
			fail(w, err)
			return
		}
		page.Items = append(page.Items, p)
	}
	if err := rows.Err(); err != nil {
		fail(w, err)
		return
	}
	if len(page.Items) > limit {
		page.Items = page.Items[:limit]
		next := page.Items[limit-1].ID
		page.NextCursor = &next
	}
	reply(w, http.StatusOK, page)
}

func (s *store) create(w http.ResponseWriter, r *http.Request) {
	var in struct {
		SKU         string  `json:"sku"`
		Name        string  `json:"name"`
		Description *string `json:"description"`
		PriceCents  int64   `json:"price_cents"`
		Stock       int64   `json:"stock"`
		Active      *bool   `json:"active"`
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		http.Error(w, "malformed JSON", http.StatusBadRequest)
		return
	}
	now := time.Now().UTC().Format(timeLayout)
	p := product{ID: newID(), SKU: in.SKU, Name: in.Name, Description: in.Description, PriceCents: in.PriceCents,
		Stock: in.Stock, Active: in.Active == nil || *in.Active, CreatedAt: now, UpdatedAt: now, Version: 1}
	if _, err := s.insertProduct.ExecContext(r.Context(), p.ID, p.SKU, p.Name, p.Description, p.PriceCents, p.Stock, p.Active, now, now); err != nil {
		fail(w, err)
		return
	}
	w.Header().Set("Location", "/v1/products/"+p.ID)
	w.Header().Set("ETag", etag(1))
	reply(w, http.StatusCreated, p)
}

func (s *store) patch(w http.ResponseWriter, r *http.Request) {
	version, err := strconv.ParseInt(strings.Trim(r.Header.Get("If-Match"), `"`), 10, 64)
	if err != nil {
		http.Error(w, "If-Match is required", http.StatusPreconditionRequired)
		return
	}
	var in struct {
		Stock int64 `json:"stock"`
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		http.Error(w, "malformed JSON", http.StatusBadRequest)
		return
	}
	now := time.Now().UTC().Format(timeLayout)
	p, err := scanProduct(s.updateStock.QueryRowContext(r.Context(), in.Stock, now, r.PathValue("id"), version))
	if errors.Is(err, sql.ErrNoRows) {
		http.Error(w, "stale version or no such product", http.StatusPreconditionFailed)
		return
	}
	if err != nil {
		fail(w, err)
		return
	}
	w.Header().Set("ETag", etag(p.Version))
	reply(w, http.StatusOK, p)
}

// orderItem is stored as Plinth stores it: JSON with members sorted by name.
type orderItem struct {
	Name           string `json:"name"`
	ProductID      string `json:"product_id"`
	Quantity       int64  `json:"quantity"`
	UnitPriceCents int64  `json:"unit_price_cents"`
}

func (s *store) order(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Items []orderItem `json:"items"`
		Note  *string     `json:"note"`
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		http.Error(w, "malformed JSON", http.StatusBadRequest)
		return
	}
	ctx := r.Context()
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		fail(w, err)
		return
	}
	defer tx.Rollback()
	now := time.Now().UTC().Format(timeLayout)
	// The shop reserves stock in the order's transaction; the same statement reads the price.
	reserve := tx.StmtContext(ctx, s.reserve)
	var total int64
	for i := range in.Items {
		it := &in.Items[i]
		err := reserve.QueryRowContext(ctx, it.Quantity, now, it.ProductID, it.Quantity).Scan(&it.Name, &it.UnitPriceCents)
		if errors.Is(err, sql.ErrNoRows) {
			http.Error(w, "no such product, or not enough stock", http.StatusConflict)
			return
		}
		if err != nil {
			fail(w, err)
			return
		}
		total += it.Quantity * it.UnitPriceCents
	}
	items, err := json.Marshal(in.Items)
	if err != nil {
		fail(w, err)
		return
	}
	id := newID()
	if _, err := tx.StmtContext(ctx, s.insertOrder).ExecContext(ctx, id, now, now, "alice", string(items), total); err != nil {
		fail(w, err)
		return
	}
	if err := tx.Commit(); err != nil {
		fail(w, err)
		return
	}
	w.Header().Set("Location", "/v1/orders/"+id)
	w.Header().Set("ETag", etag(1))
	reply(w, http.StatusCreated, struct {
		ID         string      `json:"id"`
		CustomerID string      `json:"customer_id"`
		Status     string      `json:"status"`
		Items      []orderItem `json:"items"`
		TotalCents int64       `json:"total_cents"`
		Note       *string     `json:"note"`
		CreatedAt  string      `json:"created_at"`
		UpdatedAt  string      `json:"updated_at"`
		Version    int64       `json:"version"`
	}{id, "alice", "pending", in.Items, total, nil, now, now, 1})
}

func etag(v int64) string { return `"` + strconv.FormatInt(v, 10) + `"` }

func reply(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		fail(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(b)
}

func fail(w http.ResponseWriter, err error) {
	if errors.Is(err, sql.ErrNoRows) {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	log.Printf("refserver: %v", err)
	http.Error(w, "internal error", http.StatusInternalServerError)
}

// newID is a UUIDv7, as Plinth's ids are: 48 bits of Unix milliseconds, then random bits.
func newID() string {
	var b [16]byte
	rand.Read(b[:])
	ms := uint64(time.Now().UnixMilli())
	for i := range 6 {
		b[i] = byte(ms >> (40 - 8*i))
	}
	b[6] = 0x70 | b[6]&0x0f
	b[8] = 0x80 | b[8]&0x3f
	var out [36]byte
	hex.Encode(out[0:8], b[0:4])
	out[8] = '-'
	hex.Encode(out[9:13], b[4:6])
	out[13] = '-'
	hex.Encode(out[14:18], b[6:8])
	out[18] = '-'
	hex.Encode(out[19:23], b[8:10])
	out[23] = '-'
	hex.Encode(out[24:], b[10:])
	return string(out[:])
}
