package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	shopSeed = flag.Uint64("shop.seed", 0, "seed of TestShopModel's operations; 0 picks one (printed with -v and on failure)")
	shopLong = flag.Bool("shop.long", false, "run TestShopModel for many more operations (also PLINTH_SHOP_LONG=1)")
)

// Rounds of the short run (every `go test`) and of the long one. A round is about fifteen
// operations, or one concurrent scenario, followed by the full check.
const (
	shopShortRounds = 16
	shopLongRounds  = 600
)

// TestShopModel is a model-based test of the shop: random sequences of operations by admins,
// customers and anonymous callers run against the real server, on both databases, while the
// test keeps its own model of what must be true and checks the server against it after every
// round (model_check_test.go): no 5xx; stock now + what orders that are not cancelled hold ==
// the stock admins set; every acknowledged write readable, and in the change feed; nobody
// reads what their rules hide. The operations, hostile ones included, are in
// model_ops_test.go. A seed repeats the operations; concurrent rounds also depend on timing.
func TestShopModel(t *testing.T) {
	seed := *shopSeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	rounds := shopShortRounds
	if *shopLong || os.Getenv("PLINTH_SHOP_LONG") != "" {
		rounds = shopLongRounds
	}
	eachDatabase(t, func(t *testing.T, db database) {
		t.Logf("seed %d (rerun with -shop.seed=%d)", seed, seed)
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("reproduce with: go test ./cmd/plinth -run 'TestShopModel/%s$' -shop.seed=%d", db.name, seed)
			}
		})
		h := newShopRun(t, db, seed)
		for range rounds {
			h.round()
			h.checkAll()
		}
		h.checkWholeFeed()
	})
}

// actor is one caller: an admin, a customer, or anonymous (empty sub and token).
type actor struct {
	sub   string
	admin bool
	token string
}

func (a *actor) String() string {
	switch {
	case a.sub == "":
		return "anonymous"
	case a.admin:
		return a.sub + " (admin)"
	}
	return a.sub + " (customer)"
}

// call is one request and what the model allows as its answer.
type call struct {
	who      *actor
	method   string
	path     string
	body     any    // sent as JSON; a string is sent as it is
	key      string // Idempotency-Key, if any
	ifMatch  string
	header   []string // more request headers: name, value, ...
	want     []int    // the statuses the model allows
	why      string   // what the model expects and why, for messages
	field    string   // a field that a 422 must name
	noReplay bool     // the first answer is not one the server stores for replays
	// check, if set, checks any answer the model allows.
	check func(res response)
	// then checks a 2xx answer that is not a replay and moves the model on.
	then func(res response)
}

// answered is a keyed call with its first answer, which every replay must repeat.
type answered struct {
	c   *call
	res response
}

// shopRun is one run of the model test against one server.
type shopRun struct {
	t         *testing.T
	srv       *running
	seed      uint64
	rng       *rand.Rand
	admins    []*actor
	customers []*actor
	anon      *actor
	m         *shopModel
	feeds     []*feedReader // the admin's first: it is the one whose events are checked against acks
	index     feedIndex
	keyed     []answered
	serial    int      // makes SKUs, emails and notes unique
	trace     []string // the latest requests and answers, shown on failure
	failing   bool     // the run is failing: no more checks on the way out
}

// traceLength is how many of the latest requests a failure shows.
const traceLength = 40

func newShopRun(t *testing.T, db database, seed uint64) *shopRun {
	// The model is of the engine's rules; the shop's rate limits would refuse its bursts of
	// order creates, whatever the model says.
	s := db.server(t, shopSpec)
	s.DisableRateLimits = true
	srv := startServerWith(t, s)
	h := &shopRun{t: t, srv: srv, seed: seed, rng: rand.New(rand.NewPCG(seed, seed^0x5eed)), m: newShopModel(), anon: &actor{}}
	for _, sub := range []string{"root", "ops"} {
		h.admins = append(h.admins, &actor{sub: sub, admin: true, token: srv.token(sub, "admin")})
	}
	for _, sub := range []string{"alice", "bob", "carol"} {
		h.customers = append(h.customers, &actor{sub: sub, token: srv.token(sub, "customer")})
	}
	for _, a := range append(append([]*actor{h.admins[0]}, h.customers...), h.anon) {
		h.feeds = append(h.feeds, &feedReader{who: a})
	}
	return h
}

// round runs one round: mostly a sequence of operations one at a time, whose answers the
// model predicts exactly; sometimes a scenario that runs operations concurrently.
func (h *shopRun) round() {
	switch n := h.rng.IntN(10); {
	case n < 6 || len(h.m.productIDs) < 2:
		for range 10 + h.rng.IntN(10) {
			h.step()
		}
	case n == 6:
		h.flashSale()
	case n == 7:
		h.parallelRetries()
	case n == 8:
		h.racingTransitions()
	default:
		h.mixed()
	}
}

// do sends c, checks the answer and moves the model on.
func (h *shopRun) do(c *call) response {
	h.t.Helper()
	res, err := h.send(c)
	if err != nil {
		h.failf(c, res, "%v", err)
	}
	h.accept(c, res)
	return res
}

// doAll sends calls at once, then checks every answer and moves the model on, in the order
// of the calls: the model's updates take the highest version, so that order does not matter.
func (h *shopRun) doAll(calls []*call) []response {
	h.t.Helper()
	out := h.sendAll(calls, nil)
	for i, c := range calls {
		h.accept(c, out[i])
	}
	return out
}

// sendAll sends calls at once and returns their answers; during, if not nil, runs beside them.
func (h *shopRun) sendAll(calls []*call, during func(done <-chan struct{}) error) []response {
	h.t.Helper()
	out := make([]response, len(calls))
	errs := make([]error, len(calls))
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i, c := range calls {
		wg.Go(func() {
			<-start
			out[i], errs[i] = h.send(c)
		})
	}
	done := make(chan struct{})
	var duringErr error
	var side sync.WaitGroup
	if during != nil {
		side.Go(func() { duringErr = during(done) })
	}
	close(start)
	wg.Wait()
	close(done)
	side.Wait()
	for i, err := range errs {
		if err != nil {
			h.failf(calls[i], out[i], "%v", err)
		}
	}
	if duringErr != nil {
		h.fatalf("beside the concurrent requests: %v", duringErr)
	}
	return out
}

func (h *shopRun) send(c *call) (response, error) {
	var hdr []string
	if c.key != "" {
		hdr = append(hdr, "Idempotency-Key", c.key)
	}
	if c.ifMatch != "" {
		hdr = append(hdr, "If-Match", c.ifMatch)
	}
	hdr = append(hdr, c.header...)
	return h.srv.try(c.method, c.path, c.who.token, c.body, hdr...)
}

// accept checks an answer against what the model allows, remembers keyed answers for later
// replays, and moves the model on after a success.
func (h *shopRun) accept(c *call, res response) {
	h.t.Helper()
	h.trace = append(h.trace, fmt.Sprintf("%s %s as %s %v -> %d %.300s", c.method, c.path, c.who, jsonBody(c.body), res.status, res.raw))
	if len(h.trace) > traceLength {
		h.trace = h.trace[1:]
	}
	h.checkAnswer(c, res)
	if c.check != nil {
		c.check(res)
	}
	if c.key != "" && !c.noReplay && res.header.Get("Idempotent-Replayed") == "" && !inFlight(res) {
		h.keyed = append(h.keyed, answered{c, res})
	}
	if res.status/100 == 2 && c.then != nil && res.header.Get("Idempotent-Replayed") == "" {
		c.then(res)
	}
}

// checkAnswer fails on a 5xx, on a status the model does not allow, and on an error that is
// not a complete problem document.
func (h *shopRun) checkAnswer(c *call, res response) {
	h.t.Helper()
	if res.status >= 500 {
		h.failf(c, res, "the server failed")
	}
	if !slices.Contains(c.want, res.status) {
		h.failf(c, res, "status %d; the model allows %v %s", res.status, c.want, c.why)
	}
	if res.status < 400 {
		resource, _, _ := strings.Cut(strings.TrimPrefix(c.path, "/v1/"), "/")
		if _, ok := res.body["id"]; ok && !whole(resource, res.body) {
			h.failf(c, res, "a record without all its members: unset fields are null")
		}
		return
	}
	if ct := res.header.Get("Content-Type"); ct != "application/problem+json" {
		h.failf(c, res, "an error with Content-Type %q", ct)
	}
	for _, k := range []string{"type", "title", "status", "detail", "instance", "request_id"} {
		if _, ok := res.body[k]; !ok {
			h.failf(c, res, "the problem document lacks %q", k)
		}
	}
	if res.status == 401 && res.header.Get("WWW-Authenticate") == "" {
		h.failf(c, res, "a 401 without WWW-Authenticate")
	}
	if res.status == 422 && c.field != "" && res.header.Get("Idempotent-Replayed") == "" {
		if res.body["type"] != "urn:plinth:problem:validation" {
			h.failf(c, res, "a 422 about %s that is not a validation problem", c.field)
		}
		if _, ok := res.fieldErrors()[c.field]; !ok {
			h.failf(c, res, "the field errors do not name %s", c.field)
		}
	}
}

func inFlight(res response) bool { return res.status == 409 && res.header.Get("Retry-After") != "" }

// failf fails the run with the request, the answer and the seed.
func (h *shopRun) failf(c *call, res response, format string, args ...any) {
	h.t.Helper()
	if strings.HasPrefix(c.path, "/v1/products") && c.method != "GET" {
		// The model did not take this answer, so it does not know the stock admins set.
		h.failing = true
	}
	h.fatalf("%s\nrequest: %s %s as %s (Idempotency-Key %q, If-Match %q, headers %q)\n  body: %v\nresponse: %d %s\n  headers: %v",
		fmt.Sprintf(format, args...), c.method, c.path, c.who, c.key, c.ifMatch, c.header, jsonBody(c.body), res.status, res.raw, res.header)
}

// fatalf fails the run, naming the seed and showing the latest requests. A broken stock
// invariant explains many later mismatches (an order refused, a list that differs), so it
// is checked on the way out too.
func (h *shopRun) fatalf(format string, args ...any) {
	h.t.Helper()
	h.t.Errorf("%s\nseed: %d\nthe latest requests, oldest first:\n  %s", fmt.Sprintf(format, args...), h.seed, strings.Join(h.trace, "\n  "))
	if !h.failing {
		h.failing = true
		h.checkStock(h.listAll(h.anon, "products", ""), h.listAll(h.admins[0], "orders", ""))
	}
	h.t.FailNow()
}

// jsonBody is a request body as it was sent.
func jsonBody(body any) string {
	if s, raw := body.(string); raw {
		return s
	}
	if body == nil {
		return ""
	}
	b, _ := json.Marshal(body)
	return string(b)
}

// Random choices.

func (h *shopRun) chance(n int) bool { return h.rng.IntN(n) == 0 }

func (h *shopRun) admin() *actor    { return h.admins[h.rng.IntN(len(h.admins))] }
func (h *shopRun) customer() *actor { return h.customers[h.rng.IntN(len(h.customers))] }

// anyone is an admin, a customer or anonymous.
func (h *shopRun) anyone() *actor {
	switch h.rng.IntN(4) {
	case 0:
		return h.admin()
	case 1:
		return h.anon
	}
	return h.customer()
}

func (h *shopRun) key() string { return h.uuid() }

// uuid returns a random UUIDv7-shaped string from the run's generator, so that a seed repeats
// its keys and missing ids too.
func (h *shopRun) uuid() string {
	var b [16]byte
	for i := range b {
		b[i] = byte(h.rng.Uint32())
	}
	b[6] = b[6]&0x0f | 0x70
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

func (h *shopRun) next() int { h.serial++; return h.serial }

// jsonValue is v as it comes back from JSON: numbers as float64, structs as maps.
func jsonValue(v any) any {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		panic(err)
	}
	return out
}

// sameJSON reports whether a and b are the same JSON value. Values decoded from answers
// compare as they are; those the test built (with ints, say) go through JSON first.
func sameJSON(a, b any) bool {
	return reflect.DeepEqual(a, b) || reflect.DeepEqual(jsonValue(a), jsonValue(b))
}

// keep holds the members of rec named in names, for messages and comparisons.
func keep(rec map[string]any, names ...string) map[string]any {
	out := map[string]any{}
	for _, n := range names {
		out[n] = rec[n]
	}
	return out
}

func num(v any) int64   { f, _ := v.(float64); return int64(f) }
func text(v any) string { s, _ := v.(string); return s }

// withoutID replaces id in a problem document's members that may mention it, so that the
// answers about two records can be compared.
func withoutID(s, id string) string { return strings.ReplaceAll(s, id, "ID") }
