package main

import (
	"bufio"
	"bytes"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sync"
	"syscall"
	"testing"
	"time"
)

// buildBinary builds the real plinth command once per test.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "plinth")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	return bin
}

// process is a plinth serve started as its own process.
type process struct {
	cmd    *exec.Cmd
	url    string
	exited chan error
	logs   *lockedWriter // its stderr: the JSON log
}

// startProcess runs `plinth serve` and waits until it reports its address. extra are more
// flags, such as --database.
func startProcess(t *testing.T, bin, specFile, dataDir string, extra ...string) *process {
	t.Helper()
	args := append([]string{"serve", "--spec", specFile, "--addr", "127.0.0.1:0", "--data", dataDir, "--log-level", "info"}, extra...)
	cmd := exec.Command(bin, args...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	logs := &lockedWriter{}
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &process{cmd: cmd, exited: make(chan error, 1), logs: logs}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			<-p.exited
		}
		if t.Failed() {
			t.Logf("server log:\n%s", logs.String())
		}
	})
	urls := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		re := regexp.MustCompile(`at (http://127\.0\.0\.1:\d+)`)
		for sc.Scan() {
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				urls <- m[1]
			}
		}
		p.exited <- cmd.Wait()
	}()
	select {
	case p.url = <-urls:
	case err := <-p.exited:
		t.Fatalf("the server exited at start: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("the server did not report its address")
	}
	return p
}

// api returns a client of the process's API, which mints tokens for dataDir.
func (p *process) api(t *testing.T, dataDir string) *running {
	return &running{t: t, url: p.url, dataDir: dataDir, client: newClient()}
}

// stop sends SIGTERM, as a process manager would, and waits for the process to exit 0:
// requests and webhook attempts under way are answered first.
func (p *process) stop(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.exited:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the server did not stop after SIGTERM")
	}
}

// TestBinaryServesAndDrainsOnSIGTERM serves the shop from the real binary and stops it with
// SIGTERM as a process manager would: it must exit 0 with its data intact.
func TestBinaryServesAndDrainsOnSIGTERM(t *testing.T) {
	bin := buildBinary(t)
	data := t.TempDir()
	p := startProcess(t, bin, shopSpec, data)
	res, err := http.Get(p.url + "/v1/products")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("list: %d", res.StatusCode)
	}
	p.stop(t)
	if _, err := os.Stat(filepath.Join(data, "plinth.db")); err != nil {
		t.Errorf("database: %v", err)
	}
}

const notesSpec = `plinth: 1
name: notes
resources:
  notes:
    idempotency: required
    fields:
      title: {type: string, max_length: 100}
    access: {list: "true", read: "true", create: "true"}
`

// TestKillDuringKeyedWrites kills the server with SIGKILL in the middle of a stream of keyed
// creates, restarts it, and retries every key: each key replays its original response or runs
// once, no record exists twice, and no acknowledged create is lost.
func TestKillDuringKeyedWrites(t *testing.T) {
	bin := buildBinary(t)
	dir := t.TempDir()
	specFile := filepath.Join(dir, "plinth.yaml")
	if err := os.WriteFile(specFile, []byte(notesSpec), 0o644); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "data")
	// Hundreds of anonymous creates from one address at once are over the default rate limit.
	p := startProcess(t, bin, specFile, data, "--rate-limits=false")
	client := &http.Client{Timeout: 5 * time.Second}
	post := func(url, key string) (int, []byte, http.Header, error) {
		req, _ := http.NewRequest("POST", url+"/v1/notes", bytes.NewReader([]byte(`{"title":"`+key+`"}`)))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Idempotency-Key", key)
		res, err := client.Do(req)
		if err != nil {
			return 0, nil, nil, err
		}
		defer res.Body.Close()
		var b bytes.Buffer
		_, err = b.ReadFrom(res.Body)
		return res.StatusCode, b.Bytes(), res.Header, err
	}

	const total = 400
	keys := make([]string, total)
	for i := range keys {
		keys[i] = newKey()
	}
	var mu sync.Mutex
	acked := map[string][]byte{} // key → the 201 body the client saw
	var sent sync.WaitGroup
	next := make(chan string)
	for w := 0; w < 4; w++ {
		sent.Add(1)
		go func() {
			defer sent.Done()
			for k := range next {
				status, body, _, err := post(p.url, k)
				if err == nil && status == 201 {
					mu.Lock()
					acked[k] = body
					mu.Unlock()
				}
			}
		}()
	}
	for i, k := range keys {
		if i == total/2 {
			p.cmd.Process.Signal(syscall.SIGKILL)
		}
		next <- k
	}
	close(next)
	sent.Wait()
	<-p.exited
	t.Logf("%d of %d creates were acknowledged before the kill", len(acked), total)
	if len(acked) == 0 || len(acked) == total {
		t.Fatalf("%d of %d creates were acknowledged; the kill did not land mid-stream", len(acked), total)
	}

	p2 := startProcess(t, bin, specFile, data, "--rate-limits=false")
	for _, k := range keys {
		status, body, header, err := post(p2.url, k)
		if err != nil || status != 201 {
			t.Fatalf("retry of %s: %d %v %s", k, status, err, body)
		}
		if first, ok := acked[k]; ok {
			if header.Get("Idempotent-Replayed") != "true" || !bytes.Equal(first, body) {
				t.Fatalf("an acknowledged create was not replayed byte for byte:\n%s\n%s", first, body)
			}
		}
	}
	// Every key exists exactly once.
	seen := map[string]int{}
	cursor := ""
	for {
		res, err := client.Get(p2.url + "/v1/notes?limit=500&fields=title" + cursor)
		if err != nil {
			t.Fatal(err)
		}
		var page struct {
			Items []struct {
				Title string `json:"title"`
			} `json:"items"`
			Next *string `json:"next_cursor"`
		}
		if err := jsonDecode(res, &page); err != nil {
			t.Fatal(err)
		}
		for _, it := range page.Items {
			seen[it.Title]++
		}
		if page.Next == nil {
			break
		}
		cursor = "&cursor=" + *page.Next
	}
	if len(seen) != total {
		t.Errorf("%d distinct notes, want %d", len(seen), total)
	}
	for k, n := range seen {
		if n != 1 {
			t.Errorf("note %s exists %d times", k, n)
		}
	}
}
