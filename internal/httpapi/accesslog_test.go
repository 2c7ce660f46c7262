package httpapi_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/plinth-dev/plinth"
)

// lockedBuffer is a log destination that takes concurrent writes.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) lines(t *testing.T) []map[string]any {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for line := range strings.Lines(l.b.String()) {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("a log line is not a JSON object: %v: %q", err, line)
		}
		if m["msg"] == "request" {
			out = append(out, m)
		}
	}
	return out
}

// TestAccessLineReadsAsSlogs serves the same requests with the access line written by hand
// (Options.AccessLog, as plinth serve does) and through slog's JSON handler, and holds the two
// to the same keys, in the same order, with the same values: the log a user reads and parses
// is one, whichever way it was written.
func TestAccessLineReadsAsSlogs(t *testing.T) {
	requests := func(s *metricsShop) {
		s.send("GET", "/v1/products?limit=1", "", "")
		s.send("GET", "/v1/products/nope\"\u00e9", s.member, "")
		s.send("POST", "/v1/products", s.admin, `{"sku":"A-1","name":"Mug","price_cents":100}`)
		s.send("GET", "/nowhere", "", "", "X-Request-Id", "req-1")
	}
	logs := map[string]*lockedBuffer{}
	for _, hand := range []bool{false, true} {
		buf := &lockedBuffer{}
		opts := plinth.Options{Logger: slog.New(slog.NewJSONHandler(buf, nil))}
		if hand {
			opts.AccessLog = buf
		}
		requests(startMetricsShop(t, opts))
		logs[map[bool]string{false: "slog", true: "hand"}[hand]] = buf
	}
	bySlog, byHand := logs["slog"].lines(t), logs["hand"].lines(t)
	if len(bySlog) != 4 || len(byHand) != 4 {
		t.Fatalf("access lines: %d through slog, %d by hand; want 4 each", len(bySlog), len(byHand))
	}
	keys := func(line string) []string {
		var ks []string
		dec := json.NewDecoder(strings.NewReader(line))
		dec.Token()
		for dec.More() {
			k, _ := dec.Token()
			ks = append(ks, k.(string))
			var v any
			dec.Decode(&v)
		}
		return ks
	}
	for i := range bySlog {
		s, h := bySlog[i], byHand[i]
		for _, k := range []string{"time", "duration_ms"} {
			if _, ok := h[k]; !ok {
				t.Errorf("line %d by hand has no %s: %v", i, k, h)
			}
			delete(s, k)
			delete(h, k)
		}
		if i == 3 && (s["request_id"] != "req-1" || h["request_id"] != "req-1") {
			t.Errorf("the client's request id: %v through slog, %v by hand", s["request_id"], h["request_id"])
		}
		delete(s, "request_id") // random, but for the one the client named
		delete(h, "request_id")
		sj, _ := json.Marshal(s)
		hj, _ := json.Marshal(h)
		if !bytes.Equal(sj, hj) {
			t.Errorf("line %d:\nslog %s\nhand %s", i, sj, hj)
		}
	}
	slogLines := strings.Split(strings.TrimSpace(logs["slog"].b.String()), "\n")
	handLines := strings.Split(strings.TrimSpace(logs["hand"].b.String()), "\n")
	var slogKeys, handKeys []string
	for _, l := range slogLines {
		if strings.Contains(l, `"msg":"request"`) {
			slogKeys = keys(l)
			break
		}
	}
	for _, l := range handLines {
		if strings.Contains(l, `"msg":"request"`) {
			handKeys = keys(l)
			break
		}
	}
	if strings.Join(slogKeys, ",") != strings.Join(handKeys, ",") {
		t.Errorf("keys in order:\nslog %v\nhand %v", slogKeys, handKeys)
	}
}
