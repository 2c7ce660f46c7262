package main

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/plinth-dev/plinth/internal/store/pgtest"
	"github.com/plinth-dev/plinth/internal/testwait"
)

// replicaSet is several plinth processes serving one PostgreSQL schema.
type replicaSet struct {
	t      *testing.T
	bin    string
	spec   string
	url    string
	schema string
	procs  []*process
	client *http.Client
	start0 time.Time // when the first process started: its schedules start with it
}

// startReplicas builds the binary and starts n processes of specFile on a fresh schema.
func startReplicas(t *testing.T, specFile string, n int) *replicaSet {
	t.Helper()
	url := pgtest.URL(t)
	t.Setenv("PLINTH_JWT_SECRET", strings.Repeat("r", 40))
	rs := &replicaSet{t: t, bin: buildBinary(t), spec: specFile, url: url,
		schema: pgtest.Schema(t, url), client: &http.Client{Timeout: 10 * time.Second}}
	rs.start0 = time.Now()
	for range n {
		rs.start()
	}
	return rs
}

// start adds one more process to the set. The first migrates; the others find the schema
// ready (or wait for the migration lock).
func (rs *replicaSet) start() *process {
	p := startProcess(rs.t, rs.bin, rs.spec, rs.t.TempDir(), "--database", rs.url, "--database-schema", rs.schema)
	rs.procs = append(rs.procs, p)
	return p
}

// post sends a JSON body to one replica.
func (rs *replicaSet) post(p *process, path, token string, body any, headers ...string) (int, map[string]any, error) {
	raw, _ := json.Marshal(body)
	req, _ := http.NewRequest("POST", p.url+path, strings.NewReader(string(raw)))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := rs.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	var doc map[string]any
	json.NewDecoder(res.Body).Decode(&doc)
	return res.StatusCode, doc, nil
}

func (rs *replicaSet) get(p *process, path, token string) map[string]any {
	req, _ := http.NewRequest("GET", p.url+path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := rs.client.Do(req)
	if err != nil {
		rs.t.Fatal(err)
	}
	var doc map[string]any
	jsonDecode(res, &doc)
	return doc
}

// replicaSpec is the shop, with its webhook on every new order and product and its schedule
// every second.
func replicaSpec(t *testing.T, recv *receiver) string {
	t.Setenv("FULFILLMENT_URL", recv.srv.URL)
	t.Setenv("FULFILLMENT_SECRET", testSecret)
	src, err := os.ReadFile(shopSpec)
	if err != nil {
		t.Fatal(err)
	}
	s := strings.Replace(string(src), "on: [orders.updated]\n    when: 'record.status == \"paid\" && old.status != \"paid\"'", "on: [orders.created, products.created]", 1)
	s = strings.Replace(s, "every: 1m", "every: 1s", 1)
	if s == string(src) {
		t.Fatal("the shop spec changed; update replicaSpec")
	}
	path := filepath.Join(t.TempDir(), "plinth.yaml")
	os.WriteFile(path, []byte(s), 0o644)
	return path
}

// TestThreeReplicas: three processes on one PostgreSQL database, clients spread across them.
func TestThreeReplicas(t *testing.T) {
	recv := newReceiver(t, func(int) int { return http.StatusOK })
	rs := startReplicas(t, replicaSpec(t, recv), 3)
	admin := rs.procs[0].token(t, "root", "admin")

	// Fifty orders for the last ten mugs, spread over the replicas, sell ten.
	_, prod, err := rs.post(rs.procs[0], "/v1/products", admin, map[string]any{"sku": "RS-1", "name": "Mug", "price_cents": 100, "stock": 10})
	if err != nil || prod["id"] == nil {
		t.Fatalf("product: %v %v", prod, err)
	}
	pid := prod["id"].(string)
	var mu sync.Mutex
	statuses := map[int]int{}
	var orders []string // the ids of the orders created
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Go(func() {
			tok := rs.procs[0].token(t, "buyer"+uuid.NewString()[:8], "customer")
			status, doc, err := rs.post(rs.procs[i%3], "/v1/orders", tok,
				map[string]any{"items": []any{map[string]any{"product_id": pid, "quantity": 1}}}, "Idempotency-Key", newKey())
			if err != nil {
				t.Error(err)
			}
			mu.Lock()
			statuses[status]++
			if status == 201 {
				orders = append(orders, doc["id"].(string))
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	if statuses[201] != 10 || statuses[409] != 40 {
		t.Fatalf("answers to 50 orders for 10 mugs: %v", statuses)
	}
	if stock := rs.get(rs.procs[1], "/v1/products/"+pid, "")["stock"]; stock != 0.0 {
		t.Errorf("stock %v", stock)
	}

	// A hundred retries of one keyed create, spread over the replicas, make one record.
	key := newKey()
	var created, replayed, inFlight int
	var keyed string // the id of the record the key made
	for i := range 100 {
		wg.Go(func() {
			status, doc, err := rs.post(rs.procs[i%3], "/v1/products", admin,
				map[string]any{"sku": "RS-KEY", "name": "Keyed", "price_cents": 1}, "Idempotency-Key", key)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil:
				t.Error(err)
			case status == 201 && doc["sku"] == "RS-KEY":
				created++
				keyed, _ = doc["id"].(string)
			case status == 409:
				inFlight++
			default:
				t.Errorf("keyed create: %d %v", status, doc)
			}
		})
	}
	wg.Wait()
	replayed = created - 1
	list := rs.get(rs.procs[2], "/v1/products?filter=sku%20%3D%3D%20%22RS-KEY%22", "")["items"].([]any)
	if len(list) != 1 || created+inFlight != 100 {
		t.Errorf("%d records; %d answers with the record (%d of them replays), %d in flight", len(list), created, replayed, inFlight)
	}

	// The events of the two products and ten orders are all delivered, whichever replica
	// matched and sent them.
	api := rs.procs[1].api(t, t.TempDir())
	waitFor(t, "the twelve events' deliveries", func() bool {
		st := api.webhookStatus(admin)
		return st["delivered"] == 12.0 && st["pending"] == 0.0 && st["dead"] == 0.0
	})

	// The schedule runs once per period across the three processes. Wait for two more runs,
	// then check that there were no more than the schedule's lease allows since the first
	// process started.
	runs := func() int {
		n := 0
		for _, p := range rs.procs {
			n += p.logs.count(`"msg":"schedule ran"`)
		}
		return n
	}
	before := runs()
	testwait.Within(t, time.Minute, "two more runs of the schedule", func() bool { return runs() >= before+2 })
	n, elapsed := runs(), time.Since(rs.start0)
	if most := mostScheduleRuns(elapsed, time.Second); n > most {
		t.Errorf("%d schedule runs by three processes in %s of a 1 s schedule, at most %d once per period",
			n, elapsed.Round(time.Millisecond), most)
	}

	// Once the replicas have drained, nothing is under way: each event was delivered exactly
	// once, since no replica died.
	for _, p := range rs.procs {
		p.stop(t)
	}
	checkDeliveredOnce(t, recv, map[string][]string{"products.created": {pid, keyed}, "orders.created": orders}, 0)
}

// TestKillOneReplica: SIGKILL one of three processes in the middle of a write load. Every
// acknowledged write is in the database, every committed write's event is delivered, and the
// other replicas answer every request throughout.
func TestKillOneReplica(t *testing.T) {
	recv := newReceiver(t, func(int) int { return http.StatusOK })
	rs := startReplicas(t, replicaSpec(t, recv), 3)
	admin := rs.procs[0].token(t, "root", "admin")
	var mu sync.Mutex
	acked := map[string]bool{}
	survivorFailures, killedFailures := 0, 0
	var wg sync.WaitGroup
	for w := range 6 {
		wg.Go(func() {
			p := rs.procs[w%3]
			for i := range 60 {
				status, doc, err := rs.post(p, "/v1/products", admin,
					map[string]any{"sku": "K-" + strings.ToUpper(uuid.NewString()[:12]), "name": "n", "price_cents": i})
				mu.Lock()
				switch {
				case status == 201:
					acked[doc["id"].(string)] = true
				case p == rs.procs[0]:
					killedFailures++
				default:
					survivorFailures++
					t.Errorf("replica %d answered %d %v (%v) while another died", w%3, status, doc, err)
				}
				mu.Unlock()
			}
		})
	}
	// Kill the first replica once the load is well under way on all three.
	testwait.Within(t, time.Minute, "thirty acknowledged writes", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(acked) >= 30
	})
	rs.procs[0].cmd.Process.Signal(syscall.SIGKILL)
	wg.Wait()
	if survivorFailures > 0 {
		t.Fatalf("%d requests to surviving replicas failed", survivorFailures)
	}
	if killedFailures == 0 {
		t.Fatal("every request to the killed replica succeeded: the kill came after the load")
	}
	// Every acknowledged write is there.
	var stored []string
	cursor := ""
	for {
		page := rs.get(rs.procs[1], "/v1/products?limit=500&fields=id"+cursor, "")
		for _, it := range page["items"].([]any) {
			stored = append(stored, it.(map[string]any)["id"].(string))
		}
		next, _ := page["next_cursor"].(string)
		if next == "" {
			break
		}
		cursor = "&cursor=" + next
	}
	for id := range acked {
		if !slices.Contains(stored, id) {
			t.Errorf("acknowledged product %s is missing", id)
		}
	}
	// Every stored product's event is delivered, some only once the dead replica's claims
	// expire; then the survivors drain, so that nothing is under way.
	api := rs.procs[1].api(t, t.TempDir())
	testwait.Within(t, 2*time.Minute, "every stored product's event to be delivered", func() bool {
		st := api.webhookStatus(admin)
		return st["delivered"] == float64(len(stored)) && st["pending"] == 0.0 && st["dead"] == 0.0
	})
	rs.procs[1].stop(t)
	rs.procs[2].stop(t)
	checkDeliveredOnce(t, recv, map[string][]string{"products.created": stored}, 1)
}

// token mints a token for the process's data folder (the key comes from the environment).
func (p *process) token(t *testing.T, sub, role string) string {
	t.Helper()
	r := &running{t: t, dataDir: t.TempDir()}
	return r.token(sub, role)
}
