package harness

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
)

// target is one server under load: Plinth or the reference.
type target struct {
	name     string
	proc     *process
	customer string   // bearer token of customer alice (the reference ignores it)
	admin    string   // bearer token of an admin
	ids      []string // the seeded products' ids, in seed order
	app      string   // PostgreSQL: the application_name of the server's connections
}

// Kinds of scenario, which decide the targets they are held to.
const (
	kindRead  = "read"
	kindWrite = "write"
)

// scenario is one kind of request, sent by every connection in a closed loop.
type scenario struct {
	name string
	kind string
	// sqliteRPS is the target on SQLite: at least this fraction of the reference's req/s.
	sqliteRPS float64
	request   string // what is sent, for the report
	// workers prepares a round against t and returns the constructor of its workers.
	workers func(ctx context.Context, t *target, conns int) (func(id int) Worker, error)
}

// readIDs is how many seeded products the read and order scenarios cycle over.
const readIDs = 1000

// ownedPerConn is how many products each connection of the update scenario owns, so that
// connections never race for a version.
const ownedPerConn = 8

// listQuery is the list scenario's query string.
var listQuery = url.Values{"filter": {"price_cents > 500"}, "sort": {"-price_cents"}, "limit": {"20"}}.Encode()

func scenarios(seq *atomic.Int64) []scenario {
	return []scenario{
		{
			name: "read", kind: kindRead, sqliteRPS: 0.85,
			request: "GET /v1/products/{id} as a customer, cycling over 1,000 ids",
			workers: func(_ context.Context, t *target, _ int) (func(int) Worker, error) {
				ids := t.ids[:min(readIDs, len(t.ids))]
				return func(id int) Worker { return &readWorker{t: t, ids: ids, next: id * 31} }, nil
			},
		},
		{
			name: "list", kind: kindRead, sqliteRPS: 0.85,
			request: "GET /v1/products?" + listQuery + " (anonymous)",
			workers: func(_ context.Context, t *target, _ int) (func(int) Worker, error) {
				req := appendRequest(nil, "GET", "/v1/products?"+listQuery, t.proc.addr, "", nil, nil)
				return func(int) Worker { return fixedWorker(req) }, nil
			},
		},
		{
			name: "create", kind: kindWrite, sqliteRPS: 0.8,
			request: "POST /v1/products as admin, unique sku, with an Idempotency-Key",
			workers: func(_ context.Context, t *target, _ int) (func(int) Worker, error) {
				return func(int) Worker { return &createWorker{t: t, seq: seq} }, nil
			},
		},
		{
			name: "order", kind: kindWrite, sqliteRPS: 0.75,
			request: `POST /v1/orders as a customer, {"items":[{"product_id":ID,"quantity":1}]}, with an Idempotency-Key`,
			workers: func(_ context.Context, t *target, _ int) (func(int) Worker, error) {
				ids := t.ids[:min(readIDs, len(t.ids))]
				return func(id int) Worker { return &orderWorker{t: t, ids: ids, next: id * 31, seq: seq} }, nil
			},
		},
		{
			name: "update", kind: kindWrite, sqliteRPS: 0.8,
			request: `PATCH /v1/products/{id} {"stock":N} as admin with If-Match; each connection owns 8 products`,
			workers: func(ctx context.Context, t *target, conns int) (func(int) Worker, error) {
				return updateWorkers(ctx, t, conns, seq)
			},
		},
	}
}

// appendRequest appends an HTTP/1.1 request; body, when not nil, is sent as JSON.
func appendRequest(dst []byte, method, path, host, token string, headers []string, body []byte) []byte {
	dst = append(dst, method...)
	dst = append(dst, ' ')
	dst = append(dst, path...)
	dst = append(dst, " HTTP/1.1\r\nHost: "...)
	dst = append(dst, host...)
	dst = append(dst, "\r\n"...)
	if token != "" {
		dst = append(dst, "Authorization: Bearer "...)
		dst = append(dst, token...)
		dst = append(dst, "\r\n"...)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		dst = append(dst, headers[i]...)
		dst = append(dst, ": "...)
		dst = append(dst, headers[i+1]...)
		dst = append(dst, "\r\n"...)
	}
	if body != nil {
		dst = append(dst, "Content-Type: application/json\r\nContent-Length: "...)
		dst = strconv.AppendInt(dst, int64(len(body)), 10)
		dst = append(dst, "\r\n"...)
	}
	dst = append(dst, "\r\n"...)
	return append(dst, body...)
}

// fixedWorker sends the same request every time.
type fixedWorker []byte

func (w fixedWorker) Request(dst []byte) []byte { return append(dst, w...) }
func (w fixedWorker) Response(*Response)        {}

type readWorker struct {
	t    *target
	ids  []string
	next int
}

func (w *readWorker) Request(dst []byte) []byte {
	id := w.ids[w.next%len(w.ids)]
	w.next++
	return appendRequest(dst, "GET", "/v1/products/"+id, w.t.proc.addr, w.t.customer, nil, nil)
}

func (w *readWorker) Response(*Response) {}

type createWorker struct {
	t    *target
	seq  *atomic.Int64
	body []byte
}

func (w *createWorker) Request(dst []byte) []byte {
	n := w.seq.Add(1)
	w.body = fmt.Appendf(w.body[:0], `{"sku":"BN-%d","name":"Bench product %d","price_cents":%d,"stock":1,"active":true}`, n, n, 100+n%9900)
	return appendRequest(dst, "POST", "/v1/products", w.t.proc.addr, w.t.admin,
		[]string{"Idempotency-Key", "bench-" + strconv.FormatInt(n, 10)}, w.body)
}

func (w *createWorker) Response(*Response) {}

type orderWorker struct {
	t    *target
	ids  []string
	next int
	seq  *atomic.Int64
	body []byte
}

func (w *orderWorker) Request(dst []byte) []byte {
	id := w.ids[w.next%len(w.ids)]
	w.next++
	w.body = fmt.Appendf(w.body[:0], `{"items":[{"product_id":%q,"quantity":1}]}`, id)
	return appendRequest(dst, "POST", "/v1/orders", w.t.proc.addr, w.t.customer,
		[]string{"Idempotency-Key", "bench-" + strconv.FormatInt(w.seq.Add(1), 10)}, w.body)
}

func (w *orderWorker) Response(*Response) {}

// owned is a product an update worker alone writes, with the version it last saw; version 0
// means unknown, and the worker reads it again.
type owned struct {
	id      string
	version int64
}

// updateWorkers gives each connection its own products at the end of the seed, and reads
// their current versions first.
func updateWorkers(ctx context.Context, t *target, conns int, seq *atomic.Int64) (func(int) Worker, error) {
	need := conns * ownedPerConn
	if len(t.ids) < readIDs+need {
		return nil, fmt.Errorf("update needs %d seeded products beyond the first %d", need, readIDs)
	}
	products := make([]owned, need)
	client := &http.Client{}
	defer client.CloseIdleConnections()
	for i := range products {
		products[i].id = t.ids[len(t.ids)-need+i]
		req, err := http.NewRequestWithContext(ctx, "GET", "http://"+t.proc.addr+"/v1/products/"+products[i].id, nil)
		if err != nil {
			return nil, err
		}
		req.Header.Set("Authorization", "Bearer "+t.admin)
		res, err := client.Do(req)
		if err != nil {
			return nil, fmt.Errorf("%s: read a product to update: %w", t.name, err)
		}
		res.Body.Close()
		if products[i].version = versionOf(res.Header.Get("ETag")); res.StatusCode != http.StatusOK || products[i].version == 0 {
			return nil, fmt.Errorf("%s: read a product to update: status %d, ETag %q", t.name, res.StatusCode, res.Header.Get("ETag"))
		}
	}
	return func(id int) Worker {
		return &updateWorker{t: t, products: products[id*ownedPerConn : (id+1)*ownedPerConn], seq: seq}
	}, nil
}

type updateWorker struct {
	t        *target
	products []owned
	next     int
	cur      *owned
	seq      *atomic.Int64
	body     []byte
}

func (w *updateWorker) Request(dst []byte) []byte {
	w.cur = &w.products[w.next%len(w.products)]
	w.next++
	path := "/v1/products/" + w.cur.id
	if w.cur.version == 0 {
		return appendRequest(dst, "GET", path, w.t.proc.addr, w.t.admin, nil, nil)
	}
	w.body = fmt.Appendf(w.body[:0], `{"stock":%d}`, w.seq.Add(1))
	return appendRequest(dst, "PATCH", path, w.t.proc.addr, w.t.admin,
		[]string{"If-Match", `"` + strconv.FormatInt(w.cur.version, 10) + `"`}, w.body)
}

func (w *updateWorker) Response(r *Response) {
	if r.Status == http.StatusOK {
		w.cur.version = versionOf(r.ETag)
	} else {
		w.cur.version = 0
	}
}

// versionOf reads the version from an ETag such as "3"; 0 when it is not one.
func versionOf(etag string) int64 {
	v, err := strconv.ParseInt(strings.Trim(etag, `"`), 10, 64)
	if err != nil || v < 1 {
		return 0
	}
	return v
}

// seedWorker creates the seed products, numbered by an atomic counter so that the same
// products (same sku, name, price and stock) are created on every target.
type seedWorker struct {
	t    *target
	n    *atomic.Int64
	ids  []string
	cur  int64
	body []byte
}

func (w *seedWorker) Request(dst []byte) []byte {
	w.cur = w.n.Add(1) - 1
	w.body = fmt.Appendf(w.body[:0], `{"sku":"SEED-%06d","name":"Seed product %d","price_cents":%d,"stock":%d}`,
		w.cur, w.cur, seedPrice(w.cur), seedStock)
	return appendRequest(dst, "POST", "/v1/products", w.t.proc.addr, w.t.admin, nil, w.body)
}

func (w *seedWorker) Response(r *Response) {
	if r.Status == http.StatusCreated && w.cur < int64(len(w.ids)) {
		w.ids[w.cur] = strings.TrimPrefix(r.Location, "/v1/products/")
	}
}

// seedStock is enough stock that the order scenario, which reserves one unit per order,
// never runs out.
const seedStock = 1_000_000_000

// seedPrice gives the first 10,000 products distinct prices from 1.00 to 100.99 (7919 is prime
// to 10,000), so that a list sorted by price has no ties and about 96% pass the list filter.
func seedPrice(i int64) int64 { return 100 + (i*7919)%10000 }
