// Package logsink hands log lines to their destination in the background, so that a request
// does not wait for a write system call to log itself.
package logsink

import (
	"context"
	"io"
	"log/slog"
	"sync"
)

// maxBacklog is how many bytes may wait for the destination before writers wait for it:
// lines are never dropped.
const maxBacklog = 1 << 20

// Writer collects what is written to it and passes it on to the destination from one
// goroutine, in order. Lines that arrive while a write is under way go out together in the
// next write, so under load many lines cost one system call; when idle, a line is written
// at once. Close writes what is left.
type Writer struct {
	dst       io.Writer
	mu        sync.Mutex
	drained   sync.Cond // signalled when the backlog has been handed on
	buf       []byte    // waiting to be written
	spare     []byte    // the buffer of the previous write, for reuse
	closed    bool
	queued    int64 // bytes accepted so far
	written   int64 // bytes handed to the destination so far
	closeOnce sync.Once
	ready     chan struct{} // capacity 1: there is something in buf
	stop      chan struct{}
	done      chan struct{}
}

// New starts a Writer in front of dst.
func New(dst io.Writer) *Writer {
	w := &Writer{dst: dst, ready: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	w.drained.L = &w.mu
	go w.run()
	return w
}

// Write queues p. It blocks only while the backlog is over maxBacklog. After Close it writes
// to the destination directly.
func (w *Writer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for len(w.buf) > maxBacklog && !w.closed {
		w.drained.Wait()
	}
	if w.closed {
		return w.dst.Write(p)
	}
	w.buf = append(w.buf, p...)
	w.queued += int64(len(p))
	select {
	case w.ready <- struct{}{}:
	default:
	}
	return len(p), nil
}

func (w *Writer) run() {
	defer close(w.done)
	for {
		select {
		case <-w.ready:
			w.flush()
		case <-w.stop:
			// The last backlog is written under the lock, so that writes made after Close
			// follow it rather than overtake it.
			w.mu.Lock()
			defer w.mu.Unlock()
			if len(w.buf) > 0 {
				w.dst.Write(w.buf)
			}
			w.buf, w.spare, w.closed = nil, nil, true
			w.drained.Broadcast()
			return
		}
	}
}

// flush hands the backlog to the destination. Write errors are dropped: there is nowhere
// left to report them.
func (w *Writer) flush() {
	w.mu.Lock()
	b := w.buf
	w.buf = w.spare[:0]
	w.mu.Unlock()
	if len(b) > 0 {
		w.dst.Write(b)
	}
	w.mu.Lock()
	w.spare = b
	w.written += int64(len(b))
	w.drained.Broadcast()
	w.mu.Unlock()
}

// Sync waits until everything written before it has been handed to the destination.
func (w *Writer) Sync() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	for target := w.queued; w.written < target && !w.closed; {
		w.drained.Wait()
	}
	return nil
}

// Close writes the backlog and makes later writes go straight to the destination. It is
// safe to call more than once.
func (w *Writer) Close() error {
	w.closeOnce.Do(func() { close(w.stop) })
	<-w.done
	return nil
}

// Handler wraps a handler that writes to w so that a record at level or above is in the
// destination before logging it returns: the lines that explain a crash are not left in the
// buffer when the process dies.
func Handler(h slog.Handler, w *Writer, level slog.Level) slog.Handler {
	return &syncHandler{Handler: h, w: w, level: level}
}

type syncHandler struct {
	slog.Handler
	w     *Writer
	level slog.Level
}

func (h *syncHandler) Handle(ctx context.Context, r slog.Record) error {
	err := h.Handler.Handle(ctx, r)
	if r.Level >= h.level {
		h.w.Sync()
	}
	return err
}

func (h *syncHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &syncHandler{Handler: h.Handler.WithAttrs(attrs), w: h.w, level: h.level}
}

func (h *syncHandler) WithGroup(name string) slog.Handler {
	return &syncHandler{Handler: h.Handler.WithGroup(name), w: h.w, level: h.level}
}
