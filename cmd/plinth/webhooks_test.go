package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/plinth-dev/plinth/internal/testwait"
)

// testSecret is a Standard Webhooks secret: whsec_ and base64 of 32 bytes.
var testSecret = "whsec_" + base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))

// hit is one request a receiver got.
type hit struct {
	id, timestamp, signature string
	raw                      []byte
	body                     map[string]any
	at                       time.Time
	status                   int
}

// receiver is a webhook endpoint whose answers a test scripts. It checks every signature.
type receiver struct {
	t      *testing.T
	srv    *httptest.Server
	mu     sync.Mutex
	hits   []hit
	answer func(n int) int // the status for the n-th request (1-based)
}

func newReceiver(t *testing.T, answer func(n int) int) *receiver {
	r := &receiver{t: t, answer: answer}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		raw, _ := io.ReadAll(req.Body)
		h := hit{id: req.Header.Get("webhook-id"), timestamp: req.Header.Get("webhook-timestamp"),
			signature: req.Header.Get("webhook-signature"), raw: raw, at: time.Now()}
		if !validSignature(h.id, h.timestamp, raw, h.signature) {
			t.Errorf("a delivery with an invalid signature: %s", h.signature)
		}
		if req.Header.Get("traceparent") == "" {
			t.Error("a delivery without traceparent")
		}
		json.Unmarshal(raw, &h.body)
		r.mu.Lock()
		h.status = r.answer(len(r.hits) + 1)
		r.hits = append(r.hits, h)
		r.mu.Unlock()
		w.WriteHeader(h.status)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

// newFailingReceiver is a receiver that answers 500 until heal is called, 200 after.
func newFailingReceiver(t *testing.T) (recv *receiver, heal func()) {
	var healthy atomic.Bool
	recv = newReceiver(t, func(int) int {
		if healthy.Load() {
			return http.StatusOK
		}
		return http.StatusInternalServerError
	})
	return recv, func() { healthy.Store(true) }
}

// validSignature verifies as a Standard Webhooks receiver would: HMAC-SHA256 of id.ts.body.
func validSignature(id, ts string, body []byte, header string) bool {
	return signedWith(testSecret, id, ts, body, header)
}

// signedWith reports whether one of header's signatures was made with secret.
func signedWith(secret, id, ts string, body []byte, header string) bool {
	key, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id + "." + ts + "."))
	m.Write(body)
	want := "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil))
	for _, sig := range strings.Fields(header) {
		if hmac.Equal([]byte(sig), []byte(want)) {
			return true
		}
	}
	return false
}

func (r *receiver) snapshot() []hit {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]hit(nil), r.hits...)
}

// waitFor polls until cond holds, or fails after 15 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testwait.Within(t, 15*time.Second, what, cond)
}

// webhookStatus returns the status of the spec's first webhook, as an admin sees it.
func (r *running) webhookStatus(admin string) map[string]any {
	r.t.Helper()
	return r.do("GET", "/v1/_webhooks", admin, nil).expect(r.t, 200).body["items"].([]any)[0].(map[string]any)
}

// auditHook declares a second webhook, audit, on every ticket event, with a receiver of its
// own (hooksSpec's extra). Its deliveries are the positive signal a test waits for before
// checking that the first webhook sent nothing: once audit has an event, the worker has
// claimed whatever was due beside it, and stopping the server waits for those attempts.
func auditHook(t *testing.T) (extra string, audit *receiver) {
	audit = newReceiver(t, func(int) int { return http.StatusOK })
	t.Setenv("AUDIT_URL", audit.srv.URL)
	return `  audit:
    url: "${AUDIT_URL}"
    secret: "${HOOK_SECRET}"
    on: [tickets.created, tickets.updated]
`, audit
}

// has reports whether the receiver got an event of the type for the record.
func (r *receiver) has(typ, recordID string) bool {
	return slices.ContainsFunc(r.snapshot(), func(h hit) bool { return h.body["type"] == typ && h.body["record_id"] == recordID })
}

// hooksSpec is a spec with one webhook on the given ticket events; extra is appended to its
// declaration.
func hooksSpec(t *testing.T, recv *receiver, on, extra string) string {
	t.Setenv("HOOK_URL", recv.srv.URL)
	t.Setenv("HOOK_SECRET", testSecret)
	path := filepath.Join(t.TempDir(), "plinth.yaml")
	src := `plinth: 1
name: desk
resources:
  tickets:
    fields:
      title: {type: string, max_length: 100, unique: true}
      state: {type: enum, values: [open, closed], default: open}
    access: {list: "true", read: "true", create: "true", update: "true"}
webhooks:
  desk:
    url: "${HOOK_URL}"
    secret: "${HOOK_SECRET}"
    on: [` + on + `]
` + extra
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestWebhookRetriesUntilSuccess(t *testing.T) { eachDatabase(t, testWebhookRetriesUntilSuccess) }

func testWebhookRetriesUntilSuccess(t *testing.T, db database) {
	recv := newReceiver(t, func(n int) int {
		if n <= 3 {
			return http.StatusServiceUnavailable
		}
		return http.StatusNoContent
	})
	srv := db.start(t, hooksSpec(t, recv, "tickets.created, tickets.updated", "    retry: {max_attempts: 6, initial: 20ms, max: 100ms}\n"))
	tk := srv.do("POST", "/v1/tickets", "", map[string]any{"title": "printer"}).expect(t, 201)
	waitFor(t, "a successful delivery", func() bool { h := recv.snapshot(); return len(h) > 0 && h[len(h)-1].status == 204 })
	// The record's next event goes only once the first is settled: when it has arrived, no
	// other attempt of the first can follow.
	srv.do("PATCH", "/v1/tickets/"+tk.body["id"].(string), "", map[string]any{"state": "closed"}).expect(t, 200)
	waitFor(t, "the next event's delivery", func() bool { return recv.has("tickets.updated", tk.body["id"].(string)) })
	hits := recv.snapshot()
	if len(hits) != 5 {
		t.Fatalf("%d requests, want 4 attempts of the first event and 1 of the next", len(hits))
	}
	hits = hits[:4]
	for _, h := range hits {
		if h.id != hits[0].id || h.body["id"] != hits[0].id || h.body["type"] != "tickets.created" {
			t.Errorf("attempts differ: %v vs %v", h.body["id"], hits[0].id)
		}
		if h.body["data"].(map[string]any)["record"].(map[string]any)["id"] != tk.body["id"] {
			t.Errorf("delivered record %v", h.body["data"])
		}
	}
	for i := 1; i < len(hits); i++ {
		if gap := hits[i].at.Sub(hits[i-1].at); gap > 2*time.Second {
			t.Errorf("attempt %d came %s after the previous one", i+1, gap)
		}
	}
}

func TestWebhookDeadLettersAndReplay(t *testing.T) { eachDatabase(t, testWebhookDeadLettersAndReplay) }

func testWebhookDeadLettersAndReplay(t *testing.T, db database) {
	recv, heal := newFailingReceiver(t)
	srv := db.start(t, hooksSpec(t, recv, "tickets.created, tickets.updated", "    retry: {max_attempts: 3, initial: 10ms, max: 20ms}\n"))
	admin := srv.token("root", "admin")
	srv.do("POST", "/v1/tickets", "", map[string]any{"title": "lost"}).expect(t, 201)
	var dead []any
	waitFor(t, "the dead letter", func() bool {
		dead = srv.do("GET", "/v1/_webhooks/dead", admin, nil).expect(t, 200).body["items"].([]any)
		return len(dead) == 1
	})
	d := dead[0].(map[string]any)
	if d["attempts"] != 3.0 || d["last_status"] != 500.0 || d["event_type"] != "tickets.created" {
		t.Errorf("dead letter: %v", d)
	}
	if n := len(recv.snapshot()); n != 3 {
		t.Errorf("%d attempts before the dead letter, want 3", n)
	}
	// Only admins see or replay dead letters.
	srv.do("GET", "/v1/_webhooks/dead", srv.token("bob", ""), nil).expect(t, 403)
	srv.do("POST", "/v1/_webhooks/replay", "", map[string]any{"all": true}).expect(t, 401)
	srv.do("POST", "/v1/_webhooks/replay", admin, map[string]any{"all": false}).expect(t, 400)

	// An id no delivery can have (PostgreSQL cannot even compare it) replays nothing.
	if got := srv.do("POST", "/v1/_webhooks/replay", admin, `{"ids": ["\u0000"]}`).expect(t, 200).body["replayed"]; got != 0.0 {
		t.Errorf("replaying an id with U+0000: %v", got)
	}

	heal()
	rep := srv.do("POST", "/v1/_webhooks/replay", admin, map[string]any{"ids": []any{d["id"]}}).expect(t, 200)
	if rep.body["replayed"] != 1.0 {
		t.Fatalf("replay: %s", rep.raw)
	}
	waitFor(t, "the replayed delivery", func() bool { h := recv.snapshot(); return h[len(h)-1].status == 200 })
	if hits := recv.snapshot(); hits[len(hits)-1].id != hits[0].id {
		t.Error("the replay changed the webhook-id")
	}
	// The receiver answers before the worker records it: wait for the record.
	waitFor(t, "the delivery to be recorded", func() bool {
		st := srv.webhookStatus(admin)
		return st["dead"] == 0.0 && st["delivered"] == 1.0 && st["pending"] == 0.0
	})
}

func TestWebhookBreakerAndOrder(t *testing.T) { eachDatabase(t, testWebhookBreakerAndOrder) }

func testWebhookBreakerAndOrder(t *testing.T, db database) {
	var mu sync.Mutex
	down := true
	recv := newReceiver(t, func(int) int {
		mu.Lock()
		defer mu.Unlock()
		if down {
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	})
	srv := db.start(t, hooksSpec(t, recv, "tickets.created, tickets.updated",
		"    retry: {max_attempts: 100, initial: 10ms, max: 20ms}\n    breaker: {failures: 2, delay: 400ms}\n"))
	admin := srv.token("root", "admin")
	id := srv.do("POST", "/v1/tickets", "", map[string]any{"title": "a"}).expect(t, 201).body["id"].(string)
	srv.do("PATCH", "/v1/tickets/"+id, "", map[string]any{"state": "closed"}).expect(t, 200)
	srv.do("PATCH", "/v1/tickets/"+id, "", map[string]any{"title": "b"}).expect(t, 200)
	other := srv.do("POST", "/v1/tickets", "", map[string]any{"title": "c"}).expect(t, 201).body["id"].(string)

	waitFor(t, "the breaker to open", func() bool { return srv.webhookStatus(admin)["breaker"] == "open" })
	// While the breaker is open, only a probe per 400 ms delay goes through, where retries
	// would come every 10-20 ms. Wait for six more attempts: each probe starts at least
	// 400 ms after the one before was answered, so they take at least that long, however
	// busy the machine. The window may hold one probe more than its length allows, an
	// attempt already under way when the breaker opened, and one at its edge.
	opened, before := time.Now(), len(recv.snapshot())
	var during int
	testwait.Within(t, time.Minute, "six probes of the open breaker", func() bool {
		during = len(recv.snapshot()) - before
		return during >= 6
	})
	if elapsed := time.Since(opened); during > int(elapsed/(400*time.Millisecond))+3 {
		t.Errorf("%d attempts in %s against a receiver that is down, behind an open breaker", during, elapsed.Round(time.Millisecond))
	}
	mu.Lock()
	down = false
	mu.Unlock()
	waitFor(t, "the backlog to drain", func() bool {
		st := srv.webhookStatus(admin)
		return st["delivered"] == 4.0 && st["breaker"] == "closed"
	})
	// Per record, events arrive in order: created, then the two updates.
	var seqs []float64
	seen := map[string]bool{}
	for _, h := range recv.snapshot() {
		if h.status != 200 || seen[h.id] {
			continue
		}
		seen[h.id] = true
		if h.body["record_id"] == id {
			seqs = append(seqs, h.body["seq"].(float64))
		} else if h.body["record_id"] != other {
			t.Errorf("unexpected record %v", h.body["record_id"])
		}
	}
	if len(seqs) != 3 || seqs[0] > seqs[1] || seqs[1] > seqs[2] {
		t.Errorf("deliveries of one record out of order: %v", seqs)
	}
}

// TestKillDuringDeliveries kills the server with SIGKILL while a thousand writes are being
// made and delivered, restarts it, and checks that every committed write's event reaches the
// receiver — once, after deduplicating by webhook-id — and that no failed write's does.
func TestKillDuringDeliveries(t *testing.T) {
	bin := buildBinary(t)
	eachDatabase(t, func(t *testing.T, db database) { testKillDuringDeliveries(t, db, bin) })
}

func testKillDuringDeliveries(t *testing.T, db database, bin string) {
	recv := newReceiver(t, func(int) int { return http.StatusOK })
	// A short timeout keeps short the claims the killed process leaves behind.
	specFile := hooksSpec(t, recv, "tickets.created", "    timeout: 1s\n")

	data := filepath.Join(t.TempDir(), "data")
	flags := db.serveFlags(t) // the restarted process serves the same database
	p := startProcess(t, bin, specFile, data, flags...)
	client := &http.Client{Timeout: 5 * time.Second}
	create := func(url, title string) (int, string) {
		res, err := client.Post(url+"/v1/tickets", "application/json", strings.NewReader(`{"title":"`+title+`"}`))
		if err != nil {
			return 0, ""
		}
		defer res.Body.Close()
		var doc map[string]any
		json.NewDecoder(res.Body).Decode(&doc)
		id, _ := doc["id"].(string)
		return res.StatusCode, id
	}
	const total = 1000
	var mu sync.Mutex
	acked := map[string]bool{} // record ids acknowledged with 201
	next := make(chan int)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for i := range next {
				title := "t" + strconv.Itoa(i)
				if i%10 == 9 {
					title = "t" + strconv.Itoa(i-1) // a duplicate: fails with 409, emits nothing
				}
				if status, id := create(p.url, title); status == 201 {
					mu.Lock()
					acked[id] = true
					mu.Unlock()
				}
			}
		})
	}
	for i := range total {
		if i == total/2 {
			// Half the writes are in: kill once deliveries are under way.
			testwait.Within(t, time.Minute, "the first delivery", func() bool { return len(recv.snapshot()) > 0 })
			p.cmd.Process.Signal(syscall.SIGKILL)
		}
		next <- i
	}
	close(next)
	wg.Wait()
	<-p.exited

	p2 := startProcess(t, bin, specFile, data, flags...)
	srv := p2.api(t, data)
	// Every record in the database is a committed write.
	var stored []string
	cursor := ""
	for {
		res, err := client.Get(p2.url + "/v1/tickets?limit=500&fields=id" + cursor)
		if err != nil {
			t.Fatal(err)
		}
		var page struct {
			Items []struct {
				ID string `json:"id"`
			} `json:"items"`
			Next *string `json:"next_cursor"`
		}
		jsonDecode(res, &page)
		for _, it := range page.Items {
			stored = append(stored, it.ID)
		}
		if page.Next == nil {
			break
		}
		cursor = "&cursor=" + *page.Next
	}
	for id := range acked {
		if !slices.Contains(stored, id) {
			t.Errorf("acknowledged record %s is missing", id)
		}
	}
	// A thousand deliveries on a busy 2-core machine, some only once the dead process's
	// claims expire: give them time. Then stop the server, so that nothing is under way.
	admin := srv.token("root", "admin")
	testwait.Within(t, 2*time.Minute, "every committed write's event to be delivered", func() bool {
		st := srv.webhookStatus(admin)
		return st["delivered"] == float64(len(stored)) && st["pending"] == 0.0 && st["dead"] == 0.0
	})
	p2.stop(t)
	checkDeliveredOnce(t, recv, map[string][]string{"tickets.created": stored}, 1)
}

// checkDeliveredOnce checks that the receiver got exactly one event of each type for each
// of its records (want maps event types to record ids), and no other event. No event came
// twice, unless one of the killed processes had its delivery under way when it died: those
// are sent again once their claims expire, at most 8 per process (a worker's deliveries in
// flight at once), each once.
func checkDeliveredOnce(t *testing.T, recv *receiver, want map[string][]string, killed int) {
	t.Helper()
	type event struct{ typ, record string }
	ids := map[event][]string{} // the webhook-ids of each record's events of a type
	sent := map[string]int{}    // requests per webhook-id
	of := map[string]event{}    // the event each webhook-id is
	for _, h := range recv.snapshot() {
		if sent[h.id]++; sent[h.id] == 1 {
			ev := event{h.body["type"].(string), h.body["record_id"].(string)}
			ids[ev] = append(ids[ev], h.id)
			of[h.id] = ev
		}
	}
	for typ, records := range want {
		for _, rec := range records {
			if n := len(ids[event{typ, rec}]); n != 1 {
				t.Errorf("%s of %s: %d distinct events delivered, want 1", typ, rec, n)
			}
			delete(ids, event{typ, rec})
		}
	}
	for ev, got := range ids {
		t.Errorf("unexpected %s events %v delivered for %s", ev.typ, got, ev.record)
	}
	var twice []string
	for id, n := range sent {
		if n > 2 || (n == 2 && killed == 0) {
			t.Errorf("event %s (%s of %s) was delivered %d times", id, of[id].typ, of[id].record, n)
		} else if n == 2 {
			twice = append(twice, id)
		}
	}
	if len(twice) > 8*killed {
		t.Errorf("%d events delivered twice (%v): more than the %d that %d killed process(es) can have had under way",
			len(twice), twice, 8*killed, killed)
	}
}

// TestWebhookConditionRotationAndGone: `when` filters events, both secrets sign during a
// rotation, and a 410 Gone disables the webhook until an admin replays.
func TestWebhookConditionRotationAndGone(t *testing.T) {
	eachDatabase(t, testWebhookConditionRotationAndGone)
}

func testWebhookConditionRotationAndGone(t *testing.T, db database) {
	recv := newReceiver(t, func(int) int { return http.StatusGone })
	old := "whsec_" + base64.StdEncoding.EncodeToString([]byte("an-older-secret-of-32-bytes-long"))
	t.Setenv("HOOK_OLD_SECRET", old)
	audit, auditRecv := auditHook(t)
	specFile := hooksSpec(t, recv, "tickets.updated",
		"    previous_secret: \"${HOOK_OLD_SECRET}\"\n    when: 'record.state == \"closed\" && old.state != \"closed\"'\n"+audit)
	srv := db.start(t, specFile)
	admin := srv.token("root", "admin")
	id := srv.do("POST", "/v1/tickets", "", map[string]any{"title": "x"}).expect(t, 201).body["id"].(string)
	srv.do("PATCH", "/v1/tickets/"+id, "", map[string]any{"title": "y"}).expect(t, 200)
	srv.do("PATCH", "/v1/tickets/"+id, "", map[string]any{"state": "closed"}).expect(t, 200)
	waitFor(t, "the delivery", func() bool { return len(recv.snapshot()) == 1 })
	h := recv.snapshot()[0]
	if h.body["data"].(map[string]any)["record"].(map[string]any)["state"] != "closed" {
		t.Errorf("delivered %v", h.body)
	}
	if sigs := strings.Fields(h.signature); len(sigs) != 2 || !signedWith(old, h.id, h.timestamp, h.raw, h.signature) {
		t.Errorf("signatures during a rotation: %q (a receiver still on the old secret must accept it)", h.signature)
	}
	waitFor(t, "the webhook to be disabled", func() bool {
		st := srv.webhookStatus(admin)
		return st["disabled_at"] != nil && st["dead"] == 1.0
	})
	// While disabled, new matching events wait; the receiver hears nothing, while the other
	// webhook gets the same event.
	other := srv.do("POST", "/v1/tickets", "", map[string]any{"title": "z"}).expect(t, 201).body["id"].(string)
	srv.do("PATCH", "/v1/tickets/"+other, "", map[string]any{"state": "closed"}).expect(t, 200)
	waitFor(t, "the new event to wait, and the other webhook to get it", func() bool {
		return srv.webhookStatus(admin)["pending"] == 1.0 && auditRecv.has("tickets.updated", other)
	})
	srv.stop() // attempts under way are answered before it returns
	if n := len(recv.snapshot()); n != 1 {
		t.Errorf("%d deliveries to a receiver that answered 410", n)
	}
}

// TestWebhookWithoutURLIsDisabled: the quickstart needs no receiver.
func TestWebhookWithoutURLIsDisabled(t *testing.T) { eachDatabase(t, testWebhookWithoutURLIsDisabled) }

func testWebhookWithoutURLIsDisabled(t *testing.T, db database) {
	recv := newReceiver(t, func(int) int { return http.StatusOK })
	specFile := hooksSpec(t, recv, "tickets.created", "")
	t.Setenv("HOOK_URL", "")
	t.Setenv("HOOK_SECRET", "")
	srv := db.start(t, specFile)
	srv.do("POST", "/v1/tickets", "", map[string]any{"title": "x"}).expect(t, 201)
	st := srv.do("GET", "/v1/_webhooks", srv.token("root", "admin"), nil).expect(t, 200).body["items"].([]any)[0].(map[string]any)
	if st["enabled"] != false {
		t.Errorf("status: %v", st)
	}
}

// TestWebhookBadSecretStopsTheStart: unsigned deliveries would be worse than none.
func TestWebhookBadSecretStopsTheStart(t *testing.T) {
	eachDatabase(t, testWebhookBadSecretStopsTheStart)
}

func testWebhookBadSecretStopsTheStart(t *testing.T, db database) {
	recv := newReceiver(t, func(int) int { return http.StatusOK })
	specFile := hooksSpec(t, recv, "tickets.created", "")
	t.Setenv("HOOK_SECRET", "not-a-secret")
	s := db.server(t, specFile)
	s.Addr, s.Logger = "127.0.0.1:0", slog.New(slog.DiscardHandler)
	err := s.Open(context.Background())
	if err == nil || !strings.Contains(err.Error(), "whsec_") {
		t.Fatalf("start with a malformed secret: %v", err)
	}
}

func TestWebhooksCommand(t *testing.T) { eachDatabase(t, testWebhooksCommand) }

func testWebhooksCommand(t *testing.T, db database) {
	recv := newReceiver(t, func(int) int { return http.StatusInternalServerError })
	specFile := hooksSpec(t, recv, "tickets.created", "    retry: {max_attempts: 1}\n")
	srv := db.start(t, specFile)
	// Each command reaches the server's database: its data folder, or its PostgreSQL schema.
	webhooks := func(out, errOut io.Writer, args ...string) int {
		return Main(context.Background(), append(append([]string{"webhooks"}, args...), append([]string{"--spec", specFile}, srv.dbFlags...)...), out, errOut)
	}
	srv.do("POST", "/v1/tickets", "", map[string]any{"title": "x"}).expect(t, 201)
	waitFor(t, "the dead letter", func() bool {
		return len(srv.do("GET", "/v1/_webhooks/dead", srv.token("root", "admin"), nil).expect(t, 200).body["items"].([]any)) == 1
	})
	var out, errOut strings.Builder
	if code := webhooks(&out, &errOut, "dead"); code != 0 {
		t.Fatalf("webhooks dead: %d %s", code, errOut.String())
	}
	if !strings.Contains(out.String(), "tickets.created") || strings.Count(out.String(), "\n") != 2 {
		t.Errorf("webhooks dead printed:\n%s", out.String())
	}
	out.Reset()
	if code := webhooks(&out, &errOut, "replay", "--all"); code != 0 || out.String() != "replayed 1 deliveries\n" {
		t.Fatalf("webhooks replay: %d %q %s", code, out.String(), errOut.String())
	}
	waitFor(t, "the replayed attempt", func() bool { return len(recv.snapshot()) == 2 })
	if code := webhooks(&out, &errOut, "replay"); code == 0 {
		t.Error("replay without ids or --all succeeded")
	}
	// The replayed attempt failed too: the delivery is dead again, and discarding deletes it.
	waitFor(t, "the dead letter again", func() bool {
		return len(srv.do("GET", "/v1/_webhooks/dead", srv.token("root", "admin"), nil).expect(t, 200).body["items"].([]any)) == 1
	})
	out.Reset()
	if code := webhooks(&out, &errOut, "discard", "--all"); code != 0 || out.String() != "discarded 1 deliveries\n" {
		t.Fatalf("webhooks discard: %d %q %s", code, out.String(), errOut.String())
	}
	if n := len(srv.do("GET", "/v1/_webhooks/dead", srv.token("root", "admin"), nil).expect(t, 200).body["items"].([]any)); n != 0 {
		t.Errorf("%d dead letters after discarding all", n)
	}
}

// TestWebhookGoneStopsTheBacklog: after a 410, the deliveries already queued wait with the
// webhook instead of each being sent and dead-lettered.
func TestWebhookGoneStopsTheBacklog(t *testing.T) { eachDatabase(t, testWebhookGoneStopsTheBacklog) }

func testWebhookGoneStopsTheBacklog(t *testing.T, db database) {
	recv := newReceiver(t, func(int) int { return http.StatusGone })
	audit, auditRecv := auditHook(t)
	srv := db.start(t, hooksSpec(t, recv, "tickets.created, tickets.updated", audit))
	admin := srv.token("root", "admin")
	id := srv.do("POST", "/v1/tickets", "", map[string]any{"title": "a"}).expect(t, 201).body["id"].(string)
	srv.do("PATCH", "/v1/tickets/"+id, "", map[string]any{"title": "b"}).expect(t, 200)
	srv.do("PATCH", "/v1/tickets/"+id, "", map[string]any{"title": "c"}).expect(t, 200)
	// The later events wait until an admin replays, while the other webhook gets them and one
	// written after the 410.
	waitFor(t, "the webhook to be disabled", func() bool { return srv.webhookStatus(admin)["disabled_at"] != nil })
	later := srv.do("POST", "/v1/tickets", "", map[string]any{"title": "d"}).expect(t, 201).body["id"].(string)
	var st map[string]any
	waitFor(t, "the backlog to wait, and the other webhook to get the later event", func() bool {
		st = srv.webhookStatus(admin)
		return st["pending"] == 3.0 && auditRecv.has("tickets.created", later)
	})
	srv.stop() // attempts under way are answered before it returns
	if n := len(recv.snapshot()); n != 1 || st["dead"] != 1.0 || st["delivered"] != 0.0 {
		t.Errorf("after a 410: %d requests, status %v", n, st)
	}
}

// TestWebhookRedirectIsNotFollowed: a 3xx is a failed attempt, and the payload goes nowhere else.
func TestWebhookRedirectIsNotFollowed(t *testing.T) {
	eachDatabase(t, testWebhookRedirectIsNotFollowed)
}

func testWebhookRedirectIsNotFollowed(t *testing.T, db database) {
	elsewhere := newReceiver(t, func(int) int { return http.StatusOK })
	var recv *receiver
	recv = newReceiver(t, func(int) int { return http.StatusFound })
	recv.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, elsewhere.srv.URL, http.StatusFound)
	})
	srv := db.start(t, hooksSpec(t, recv, "tickets.created", "    retry: {max_attempts: 2, initial: 10ms, max: 20ms}\n"))
	admin := srv.token("root", "admin")
	srv.do("POST", "/v1/tickets", "", map[string]any{"title": "a"}).expect(t, 201)
	waitFor(t, "the dead letter", func() bool {
		return len(srv.do("GET", "/v1/_webhooks/dead", admin, nil).expect(t, 200).body["items"].([]any)) == 1
	})
	if n := len(elsewhere.snapshot()); n != 0 {
		t.Errorf("the redirect was followed %d times", n)
	}
}

// TestWebhookStatusIsForAdmins: the status and dead letters name receivers and carry records.
func TestWebhookStatusIsForAdmins(t *testing.T) { eachDatabase(t, testWebhookStatusIsForAdmins) }

func testWebhookStatusIsForAdmins(t *testing.T, db database) {
	recv := newReceiver(t, func(int) int { return http.StatusOK })
	srv := db.start(t, hooksSpec(t, recv, "tickets.created", ""))
	srv.do("GET", "/v1/_webhooks", "", nil).expect(t, 401)
	srv.do("GET", "/v1/_webhooks", srv.token("bob", "customer"), nil).expect(t, 403)
	srv.do("GET", "/v1/_webhooks/dead", "", nil).expect(t, 401)
}

// TestWebhookConditionErrorIsDeadLettered: an event whose `when` cannot be evaluated is kept
// in the dead letters, with the reason, rather than dropped.
func TestWebhookConditionErrorIsDeadLettered(t *testing.T) {
	eachDatabase(t, testWebhookConditionErrorIsDeadLettered)
}

func testWebhookConditionErrorIsDeadLettered(t *testing.T, db database) {
	recv := newReceiver(t, func(int) int { return http.StatusOK })
	srv := db.start(t, hooksSpec(t, recv, "tickets.created", "    when: 'record.title.size() > old.title.size()'\n"))
	admin := srv.token("root", "admin")
	srv.do("POST", "/v1/tickets", "", map[string]any{"title": "x"}).expect(t, 201) // old has no title
	var dead []any
	waitFor(t, "the dead letter", func() bool {
		dead = srv.do("GET", "/v1/_webhooks/dead", admin, nil).expect(t, 200).body["items"].([]any)
		return len(dead) == 1
	})
	if msg, _ := dead[0].(map[string]any)["last_error"].(string); !strings.Contains(msg, "when condition") {
		t.Errorf("dead letter: %v", dead[0])
	}
	// Replayed, it is sent after all; once that is recorded and the server has stopped, the
	// replay must be the only request the receiver got.
	srv.do("POST", "/v1/_webhooks/replay", admin, map[string]any{"all": true}).expect(t, 200)
	waitFor(t, "the replayed delivery to be recorded", func() bool {
		st := srv.webhookStatus(admin)
		return st["delivered"] == 1.0 && st["dead"] == 0.0
	})
	srv.stop()
	if n := len(recv.snapshot()); n != 1 {
		t.Errorf("%d requests for an event whose condition failed, want only its replay", n)
	}
}

// TestDeadLettersAreDiscarded: an admin deletes dead deliveries by id or all at once; nothing
// else is touched, and nobody else may.
func TestDeadLettersAreDiscarded(t *testing.T) { eachDatabase(t, testDeadLettersAreDiscarded) }

func testDeadLettersAreDiscarded(t *testing.T, db database) {
	recv, heal := newFailingReceiver(t)
	srv := db.start(t, hooksSpec(t, recv, "tickets.created", "    retry: {max_attempts: 1}\n"))
	admin := srv.token("root", "admin")
	for _, title := range []string{"a", "b", "c"} {
		srv.do("POST", "/v1/tickets", "", map[string]any{"title": title}).expect(t, 201)
	}
	var dead []any
	waitFor(t, "three dead letters", func() bool {
		dead = srv.do("GET", "/v1/_webhooks/dead", admin, nil).expect(t, 200).body["items"].([]any)
		return len(dead) == 3
	})
	first := dead[0].(map[string]any)["id"]
	srv.do("POST", "/v1/_webhooks/discard", "", map[string]any{"all": true}).expect(t, 401)
	srv.do("POST", "/v1/_webhooks/discard", srv.token("bob", ""), map[string]any{"all": true}).expect(t, 403)
	if p := srv.do("POST", "/v1/_webhooks/discard", admin, map[string]any{"ids": []any{}}).expect(t, 400); p.body["type"] != "urn:plinth:problem:invalid-discard" {
		t.Errorf("empty ids: %s", p.raw)
	}
	if got := srv.do("POST", "/v1/_webhooks/discard", admin, map[string]any{"ids": []any{first}}).expect(t, 200).body["discarded"]; got != 1.0 {
		t.Errorf("discarding one: %v", got)
	}
	if got := srv.do("POST", "/v1/_webhooks/discard", admin, map[string]any{"ids": []any{first}}).expect(t, 200).body["discarded"]; got != 0.0 {
		t.Errorf("discarding it again: %v", got)
	}
	// An id no delivery can have (PostgreSQL cannot even compare it) discards nothing.
	if got := srv.do("POST", "/v1/_webhooks/discard", admin, `{"ids": ["\u0000"]}`).expect(t, 200).body["discarded"]; got != 0.0 {
		t.Errorf("discarding an id with U+0000: %v", got)
	}
	if n := len(srv.do("GET", "/v1/_webhooks/dead", admin, nil).expect(t, 200).body["items"].([]any)); n != 2 {
		t.Errorf("%d dead letters after discarding one of three", n)
	}
	// A delivered delivery is not a dead letter: discarding all leaves it.
	heal()
	srv.do("POST", "/v1/tickets", "", map[string]any{"title": "d"}).expect(t, 201)
	waitFor(t, "the delivery", func() bool { return srv.webhookStatus(admin)["delivered"] == 1.0 })
	if got := srv.do("POST", "/v1/_webhooks/discard", admin, map[string]any{"all": true}).expect(t, 200).body["discarded"]; got != 2.0 {
		t.Errorf("discarding all: %v", got)
	}
	if st := srv.webhookStatus(admin); st["dead"] != 0.0 || st["delivered"] != 1.0 || st["pending"] != 0.0 {
		t.Errorf("after discarding all: %v", st)
	}
}
