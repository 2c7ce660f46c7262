package logsink

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// slowDst records what reaches it and takes its time, as a pipe to a busy reader would.
type slowDst struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	writes int
	delay  time.Duration
}

func (d *slowDst) Write(p []byte) (int, error) {
	time.Sleep(d.delay)
	d.mu.Lock()
	defer d.mu.Unlock()
	d.writes++
	return d.buf.Write(p)
}

// TestEveryLineArrivesInOrder: lines from many goroutines all reach the destination, each
// goroutine's in the order written, none torn, fewer writes than lines when the destination
// is slow, and lines written after Close follow the rest.
func TestEveryLineArrivesInOrder(t *testing.T) {
	dst := &slowDst{delay: 200 * time.Microsecond}
	w := New(dst)
	const writers, lines = 8, 500
	var wg sync.WaitGroup
	for g := range writers {
		wg.Go(func() {
			for i := range lines {
				fmt.Fprintf(w, "g%d %d %s\n", g, i, strings.Repeat("x", 100+i%50))
			}
		})
	}
	wg.Wait()
	w.Close()
	fmt.Fprintf(w, "after close\n")
	w.Close()

	got := strings.Split(strings.TrimSuffix(dst.buf.String(), "\n"), "\n")
	if len(got) != writers*lines+1 || got[len(got)-1] != "after close" {
		t.Fatalf("%d lines, the last %q; want %d and the line written after Close", len(got), got[len(got)-1], writers*lines+1)
	}
	next := make([]int, writers)
	for _, line := range got[:len(got)-1] {
		var g, i int
		var pad string
		if _, err := fmt.Sscanf(line, "g%d %d %s", &g, &i, &pad); err != nil || len(pad) != 100+i%50 {
			t.Fatalf("torn line %q", line)
		}
		if i != next[g] {
			t.Fatalf("writer %d: line %d after %d", g, i, next[g]-1)
		}
		next[g]++
	}
	if dst.writes >= writers*lines {
		t.Errorf("%d writes for %d lines: nothing was coalesced", dst.writes, writers*lines)
	}
}

// TestBacklogIsBounded: when the destination stalls, writers wait rather than the backlog
// growing without bound, and nothing is dropped.
func TestBacklogIsBounded(t *testing.T) {
	dst := &slowDst{delay: 20 * time.Millisecond}
	w := New(dst)
	line := []byte(strings.Repeat("y", 64<<10-1) + "\n")
	for range 64 { // 4 MiB, four times the backlog
		w.Write(line)
		w.mu.Lock()
		backlog := len(w.buf)
		w.mu.Unlock()
		if backlog > maxBacklog+len(line) {
			t.Fatalf("backlog %d bytes, bound %d", backlog, maxBacklog)
		}
	}
	w.Close()
	if n := dst.buf.Len(); n != 64*len(line) {
		t.Errorf("%d bytes arrived, want %d", n, 64*len(line))
	}
}

// TestWarningsAreWrittenAtOnce: when a warning has been logged, it and every line before it
// are in the destination, so that a crash right after loses none of them.
func TestWarningsAreWrittenAtOnce(t *testing.T) {
	dst := &slowDst{delay: 20 * time.Millisecond}
	w := New(dst)
	defer w.Close()
	log := slog.New(Handler(slog.NewJSONHandler(w, nil), w, slog.LevelWarn)).With("component", "test")
	for i := range 20 {
		log.Info("busy", "i", i)
	}
	log.Warn("something is wrong")
	dst.mu.Lock()
	got := dst.buf.String()
	dst.mu.Unlock()
	if n := strings.Count(got, "\n"); n != 21 || !strings.Contains(got, "something is wrong") {
		t.Errorf("after the warning returned, %d lines had been written:\n%s", n, got)
	}
}
