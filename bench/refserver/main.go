// Command refserver is the yardstick of the benchmark harness: the shop's product and order
// routes served with net/http, doing exactly the SQL each scenario needs and nothing else, on
// the database, settings and table layout Plinth uses. It has no authentication, no access
// rules and no validation beyond decoding JSON, so that the ratio Plinth/refserver measures
// what Plinth's guarantees cost.
//
//	refserver -addr 127.0.0.1:8081 -data DIR                                  # SQLite
//	refserver -addr 127.0.0.1:8081 -database postgres://… -database-schema S # PostgreSQL
//
// On SQLite it writes no events and no idempotency records. On PostgreSQL it writes both, as
// Plinth's driver does, because there the outbox decides how writes commit (one at a time,
// under an advisory lock): see sqlite.go and postgres.go.
//
// It is started by the harness (go run ./bench) as a separate process, like Plinth.
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8081", "the address to listen on")
	data := flag.String("data", "refserver_data", "the data folder (SQLite)")
	database := flag.String("database", "", "a postgres:// URL to keep the data in PostgreSQL instead of SQLite in -data")
	schema := flag.String("database-schema", "refserver", "the PostgreSQL schema that holds the tables; created when missing")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *addr, *data, *database, *schema); err != nil {
		log.Fatalf("refserver: %v", err)
	}
}

func run(ctx context.Context, addr, dir, database, schema string) error {
	var db store
	var err error
	where := dir
	if database != "" {
		db, err = openPostgres(ctx, database, schema)
		where = "PostgreSQL schema " + schema
	} else {
		db, err = openSQLite(ctx, dir)
	}
	if err != nil {
		return err
	}
	defer db.close()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           routes(db, database != ""),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
	fmt.Printf("refserver: serving at http://%s (data in %s)\n", ln.Addr(), where)
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

// store is the SQL the routes need, on SQLite or on PostgreSQL.
type store interface {
	ping(ctx context.Context) error
	get(ctx context.Context, id string) (product, error)
	// list returns up to limit products priced above minPrice, dearest first.
	list(ctx context.Context, minPrice int64, limit int) ([]product, error)
	// create inserts p and returns the response to send, stored under k when k is not nil.
	create(ctx context.Context, p product, now time.Time, k *keyed) (response, error)
	// setStock updates a product's stock if its version is still version; errNotFound if not.
	setStock(ctx context.Context, id string, stock, version int64, now time.Time) (product, error)
	// order reserves the stock of o's items, fills in their names and prices and o's total,
	// inserts o, and returns the response to send, stored under k when k is not nil;
	// errNotFound when a product is missing or short of stock.
	order(ctx context.Context, o *order, now time.Time, k *keyed) (response, error)
	// replay returns the response stored under k, if any.
	replay(ctx context.Context, k *keyed) (*response, error)
	close()
}

// errNotFound is a missing row, or one a conditional write did not match.
var errNotFound = errors.New("not found")

// errKeyTaken is a write whose key already has a live response: the write rolled back, and
// the request is answered by replaying that response.
var errKeyTaken = errors.New("idempotency key taken")

// timeLayout is Plinth's served timestamp format.
const timeLayout = "2006-01-02T15:04:05.000000Z"

// The subjects of the harness's tokens, which the reference does not read: the admin seeds and
// creates products, the customer orders.
const (
	admin    = "root"
	customer = "alice"
)

// routes serves the shop's routes from db; idempotent stores the response of every write
// sent with an Idempotency-Key, and answers a repeated key with it.
func routes(db store, idempotent bool) http.Handler {
	s := &server{db: db, idempotent: idempotent}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /readyz", s.ready)
	mux.HandleFunc("GET /v1/products", s.list)
	mux.HandleFunc("POST /v1/products", s.create)
	mux.HandleFunc("GET /v1/products/{id}", s.get)
	mux.HandleFunc("PATCH /v1/products/{id}", s.patch)
	mux.HandleFunc("POST /v1/orders", s.order)
	return mux
}

type server struct {
	db         store
	idempotent bool
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

// orderItem is stored as Plinth stores it: JSON with members sorted by name.
type orderItem struct {
	Name           string `json:"name"`
	ProductID      string `json:"product_id"`
	Quantity       int64  `json:"quantity"`
	UnitPriceCents int64  `json:"unit_price_cents"`
}

// order is an orders row, with members in Plinth's order.
type order struct {
	ID         string      `json:"id"`
	CustomerID string      `json:"customer_id"`
	Status     string      `json:"status"`
	Items      []orderItem `json:"items"`
	TotalCents int64       `json:"total_cents"`
	Note       *string     `json:"note"`
	CreatedAt  string      `json:"created_at"`
	UpdatedAt  string      `json:"updated_at"`
	Version    int64       `json:"version"`
}

// response is a write's answer, rendered before the write commits so that the PostgreSQL
// reference can store it under the request's Idempotency-Key, as Plinth does.
type response struct {
	status int
	header map[string]string
	body   []byte
}

// encode is res as Plinth's HTTP transport stores it: a line of JSON with the status and the
// headers, then the body.
func (res response) encode() ([]byte, error) {
	head, err := json.Marshal(struct {
		V      int               `json:"v"`
		Status int               `json:"status"`
		Header map[string]string `json:"header"`
	}{1, res.status, res.header})
	return append(append(head, '\n'), res.body...), err
}

// decodeResponse reads what encode wrote.
func decodeResponse(stored []byte) (*response, error) {
	line, body, _ := bytes.Cut(stored, []byte{'\n'})
	var head struct {
		Status int               `json:"status"`
		Header map[string]string `json:"header"`
	}
	err := json.Unmarshal(line, &head)
	return &response{status: head.Status, header: head.Header, body: body}, err
}

func created(location string, v any) (response, error) {
	b, err := json.Marshal(v)
	return response{status: http.StatusCreated, body: b,
		header: map[string]string{"Content-Type": "application/json", "ETag": etag(1), "Location": location}}, err
}

// keyed is a write sent with an Idempotency-Key: where its response is stored.
type keyed struct {
	scope, operation, key string
	fingerprint           string // of the request body
}

// keyOf returns the request's key, or nil when it has none or the server keeps no keys.
func (s *server) keyOf(r *http.Request, subject string, body []byte) *keyed {
	key := r.Header.Get("Idempotency-Key")
	if key == "" || !s.idempotent {
		return nil
	}
	sum := sha256.Sum256(body)
	return &keyed{scope: "sub:" + subject, operation: r.Method + " " + r.URL.Path, key: key, fingerprint: hex.EncodeToString(sum[:])}
}

// readJSON reads the request body and decodes it into v; it answers 400 and returns nil when
// it cannot.
func readJSON(w http.ResponseWriter, r *http.Request, v any) []byte {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
	if err == nil {
		err = json.Unmarshal(body, v)
	}
	if err != nil {
		http.Error(w, "malformed JSON", http.StatusBadRequest)
		return nil
	}
	return body
}

// replay answers a keyed request whose write found its key taken, from the stored response,
// as Plinth does: the write goes first, and only a retry reads.
func (s *server) replay(w http.ResponseWriter, r *http.Request, k *keyed) {
	res, err := s.db.replay(r.Context(), k)
	if err == nil && res == nil {
		err = errors.New("the key's response has expired since")
	}
	if err != nil {
		fail(w, err)
		return
	}
	send(w, *res)
}

func (s *server) ready(w http.ResponseWriter, r *http.Request) {
	if err := s.db.ping(r.Context()); err != nil {
		http.Error(w, "not ready", http.StatusServiceUnavailable)
		return
	}
	reply(w, http.StatusOK, map[string]string{"status": "ready"})
}

func (s *server) get(w http.ResponseWriter, r *http.Request) {
	p, err := s.db.get(r.Context(), r.PathValue("id"))
	if err != nil {
		fail(w, err)
		return
	}
	w.Header().Set("ETag", etag(p.Version))
	reply(w, http.StatusOK, p)
}

// list understands exactly the benchmark's query: filter=price_cents > N, sort=-price_cents.
func (s *server) list(w http.ResponseWriter, r *http.Request) {
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
	items, err := s.db.list(r.Context(), min, limit+1)
	if err != nil {
		fail(w, err)
		return
	}
	page := struct {
		Items      []product `json:"items"`
		NextCursor *string   `json:"next_cursor"`
	}{Items: items}
	if len(page.Items) > limit {
		page.Items = page.Items[:limit]
		next := page.Items[limit-1].ID
		page.NextCursor = &next
	}
	reply(w, http.StatusOK, page)
}

func (s *server) create(w http.ResponseWriter, r *http.Request) {
	var in struct {
		SKU         string  `json:"sku"`
		Name        string  `json:"name"`
		Description *string `json:"description"`
		PriceCents  int64   `json:"price_cents"`
		Stock       int64   `json:"stock"`
		Active      *bool   `json:"active"`
	}
	body := readJSON(w, r, &in)
	if body == nil {
		return
	}
	k := s.keyOf(r, admin, body)
	now := time.Now().UTC().Truncate(time.Microsecond)
	stamp := now.Format(timeLayout)
	p := product{ID: newID(), SKU: in.SKU, Name: in.Name, Description: in.Description, PriceCents: in.PriceCents,
		Stock: in.Stock, Active: in.Active == nil || *in.Active, CreatedAt: stamp, UpdatedAt: stamp, Version: 1}
	res, err := s.db.create(r.Context(), p, now, k)
	if errors.Is(err, errKeyTaken) {
		s.replay(w, r, k)
		return
	}
	if err != nil {
		fail(w, err)
		return
	}
	send(w, res)
}

func (s *server) patch(w http.ResponseWriter, r *http.Request) {
	version, err := strconv.ParseInt(strings.Trim(r.Header.Get("If-Match"), `"`), 10, 64)
	if err != nil {
		http.Error(w, "If-Match is required", http.StatusPreconditionRequired)
		return
	}
	var in struct {
		Stock int64 `json:"stock"`
	}
	if readJSON(w, r, &in) == nil {
		return
	}
	p, err := s.db.setStock(r.Context(), r.PathValue("id"), in.Stock, version, time.Now().UTC().Truncate(time.Microsecond))
	if errors.Is(err, errNotFound) {
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

func (s *server) order(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Items []orderItem `json:"items"`
		Note  *string     `json:"note"`
	}
	body := readJSON(w, r, &in)
	if body == nil {
		return
	}
	k := s.keyOf(r, customer, body)
	now := time.Now().UTC().Truncate(time.Microsecond)
	stamp := now.Format(timeLayout)
	o := &order{ID: newID(), CustomerID: customer, Status: "pending", Items: in.Items, Note: in.Note,
		CreatedAt: stamp, UpdatedAt: stamp, Version: 1}
	res, err := s.db.order(r.Context(), o, now, k)
	if errors.Is(err, errKeyTaken) {
		s.replay(w, r, k)
		return
	}
	if errors.Is(err, errNotFound) {
		http.Error(w, "no such product, or not enough stock", http.StatusConflict)
		return
	}
	if err != nil {
		fail(w, err)
		return
	}
	send(w, res)
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

func send(w http.ResponseWriter, res response) {
	for k, v := range res.header {
		w.Header().Set(k, v)
	}
	w.WriteHeader(res.status)
	w.Write(res.body)
}

func fail(w http.ResponseWriter, err error) {
	if errors.Is(err, errNotFound) {
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
