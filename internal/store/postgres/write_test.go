package postgres

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/plinth-dev/plinth/internal/fault"
	"github.com/plinth-dev/plinth/internal/store"
)

const itemsSpec = `
plinth: 1
name: writes
resources:
  items:
    fields:
      name: {type: string}
      n: {type: integer}
      tags: {type: array, of: {type: string}}
      extra: {type: json}
`

func record(id string, fields map[string]any) *store.Record {
	now := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	if fields == nil {
		fields = map[string]any{}
	}
	return &store.Record{ID: id, CreatedAt: now, UpdatedAt: now, Version: 1, Fields: fields}
}

// TestWriteRetriesLostConnection kills the transaction's connection during the first attempt:
// the write runs again on another connection and succeeds.
func TestWriteRetriesLostConnection(t *testing.T) {
	t.Parallel()
	m := mustCompile(t, itemsSpec)
	logs := &logCounter{}
	db := openTest(t, m, Options{Logger: slog.New(logs)})
	items, _ := m.Resource("items")
	ctx := context.Background()
	attempts := 0
	err := db.Write(ctx, func(x store.Tx) error {
		attempts++
		if err := x.Insert(ctx, items, record("a", nil)); err != nil {
			return err
		}
		if attempts == 1 {
			_, err := x.(*tx).tx.Exec(ctx, "SELECT pg_terminate_backend(pg_backend_pid())")
			return err
		}
		return nil
	})
	if err != nil {
		t.Fatalf("write: %v", err)
	}
	if attempts != 2 {
		t.Errorf("the write ran %d times, want 2", attempts)
	}
	if _, err := db.Get(ctx, items, "a"); err != nil {
		t.Errorf("get after the retried write: %v", err)
	}
	if n := logs.count("transient database failure"); n != 1 {
		t.Errorf("%d retries logged, want 1", n)
	}
}

// proxy forwards TCP connections to the database, and can cut them, as a network failure or
// a restarting server would.
type proxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	conns  []net.Conn
}

func startProxy(t *testing.T, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: target}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, s)
			p.mu.Unlock()
			go func() { io.Copy(s, c); s.Close() }()
			go func() { io.Copy(c, s); c.Close() }()
		}
	}()
	t.Cleanup(p.stop)
	return p
}

// cut closes every connection; new ones are still accepted.
func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// stop closes every connection and refuses new ones.
func (p *proxy) stop() {
	p.ln.Close()
	p.cut()
}

// TestUnavailable cuts the connections under a store: a write retries onto a new connection;
// with the database unreachable, every method answers Unavailable, promptly.
func TestUnavailable(t *testing.T) {
	t.Parallel()
	u, err := url.Parse(testURL(t))
	if err != nil {
		t.Fatal(err)
	}
	p := startProxy(t, u.Host)
	u.Host = p.ln.Addr().String()
	schema := newSchema(t)
	m := mustCompile(t, itemsSpec)
	items, _ := m.Resource("items")
	db, err := Open(context.Background(), u.String(), m, Options{Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	insert := func(id string) error {
		return db.Write(ctx, func(x store.Tx) error { return x.Insert(ctx, items, record(id, nil)) })
	}
	if err := insert("a"); err != nil {
		t.Fatal(err)
	}

	p.cut()
	if err := insert("b"); err != nil {
		t.Errorf("write after the connections were cut: %v, want a retry on a new connection", err)
	}

	p.stop()
	start := time.Now()
	wantFault(t, "write", insert("c"), fault.Unavailable)
	_, err = db.Get(ctx, items, "a")
	wantFault(t, "get", err, fault.Unavailable)
	wantFault(t, "ping", db.Ping(ctx), fault.Unavailable)
	if waited := time.Since(start); waited > 10*time.Second {
		t.Errorf("gave up only after %s", waited)
	}
}

func wantFault(t *testing.T, what string, err error, code fault.Code) *fault.Error {
	t.Helper()
	fe := fault.As(err)
	if fe == nil || fe.Code != code {
		t.Errorf("%s: %v, want %s", what, err, code)
		return nil
	}
	return fe
}

// TestEventsDoNotDeadlock runs two writes that lock rows in opposite orders around their
// events, as an order whose effect updates a product does beside a direct product update.
// The outbox lock is taken at commit, after every row lock, so neither waits for the other
// through it: no deadlock, no retry.
func TestEventsDoNotDeadlock(t *testing.T) {
	t.Parallel()
	m := mustCompile(t, itemsSpec)
	logs := &logCounter{}
	db := openTest(t, m, Options{Logger: slog.New(logs)})
	items, _ := m.Resource("items")
	ctx := context.Background()
	if err := db.Write(ctx, func(x store.Tx) error {
		if err := x.Insert(ctx, items, record("x", nil)); err != nil {
			return err
		}
		return x.Insert(ctx, items, record("p", nil))
	}); err != nil {
		t.Fatal(err)
	}
	aHolds, bHolds := make(chan struct{}), make(chan struct{})
	var aOnce, bOnce sync.Once
	wait := func(c chan struct{}) error {
		select {
		case <-c:
			return nil
		case <-time.After(5 * time.Second):
			return errors.New("the other write never got its lock")
		}
	}
	event := func(id string) store.Event {
		return store.Event{ID: id, Type: "items.updated", Resource: "items", RecordID: id, Time: time.Now(), Record: store.FromMap(map[string]any{"id": id})}
	}
	var wg sync.WaitGroup
	errs := make([]error, 2)
	wg.Go(func() {
		errs[0] = db.Write(ctx, func(x store.Tx) error {
			if _, err := x.Get(ctx, items, "x"); err != nil {
				return err
			}
			if err := x.AppendEvent(ctx, items, event("a")); err != nil {
				return err
			}
			aOnce.Do(func() { close(aHolds) })
			if err := wait(bHolds); err != nil {
				return err
			}
			_, err := x.Get(ctx, items, "p")
			return err
		})
	})
	wg.Go(func() {
		errs[1] = db.Write(ctx, func(x store.Tx) error {
			if _, err := x.Get(ctx, items, "p"); err != nil {
				return err
			}
			bOnce.Do(func() { close(bHolds) })
			if err := wait(aHolds); err != nil {
				return err
			}
			return x.AppendEvent(ctx, items, event("b"))
		})
	})
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("write %d: %v", i, err)
		}
	}
	if n := logs.count("transient database failure"); n != 0 {
		t.Errorf("%d retries: the writes deadlocked", n)
	}
	evs, err := db.Events(ctx, 0, nil, 10)
	if err != nil || len(evs) != 2 || evs[0].ID != "b" || evs[1].ID != "a" {
		t.Errorf("events %v, %v; want b then a, in commit order", evs, err)
	}
}

// TestTextWithNUL: PostgreSQL cannot store U+0000 in text, which SQLite can. Such a value is
// the client's Invalid, naming the field; an id with one names no stored record.
func TestTextWithNUL(t *testing.T) {
	t.Parallel()
	m := mustCompile(t, itemsSpec)
	db := openTest(t, m, Options{})
	items, _ := m.Resource("items")
	ctx := context.Background()
	insert := func(rec *store.Record) error {
		return db.Write(ctx, func(x store.Tx) error { return x.Insert(ctx, items, rec) })
	}
	for _, tc := range []struct {
		rec   *store.Record
		field string
	}{
		{record("a", map[string]any{"name": "a\x00b"}), "name"},
		{record("a", map[string]any{"tags": []any{"ok", "x\x00"}}), "tags[1]"},
		{record("a", map[string]any{"extra": map[string]any{"k": []any{map[string]any{"deep": "\x00"}}}}), "extra.k[0].deep"},
		{record("a\x00", nil), "id"},
	} {
		fe := wantFault(t, "insert", insert(tc.rec), fault.Invalid)
		if fe != nil && (len(fe.Fields) != 1 || fe.Fields[0].Field != tc.field) {
			t.Errorf("insert %v: fields %+v, want %s", tc.rec, fe.Fields, tc.field)
		}
	}
	// Text that only looks like an escaped NUL is text.
	if err := insert(record("b", map[string]any{"name": `\u0000`, "extra": map[string]any{"k": `\u0000 \\u0000`}})); err != nil {
		t.Fatalf("insert of a backslash and u0000: %v", err)
	}
	got, err := db.Get(ctx, items, "b")
	if err != nil || got.Fields["name"] != `\u0000` || got.Fields["extra"].(map[string]any)["k"] != `\u0000 \\u0000` {
		t.Errorf("read back %v, %v", got, err)
	}

	_, err = db.Get(ctx, items, "b\x00")
	wantFault(t, "get", err, fault.NotFound)
	if recs, err := db.GetMany(ctx, items, []string{"b\x00", "b", "\xff"}); err != nil || len(recs) != 1 {
		t.Errorf("GetMany: %v, %v", recs, err)
	}
	err = db.Write(ctx, func(x store.Tx) error {
		if _, err := x.Get(ctx, items, "\x00"); fault.CodeOf(err) != fault.NotFound {
			t.Errorf("Tx.Get: %v, want NotFound", err)
		}
		wantFault(t, "update", x.Update(ctx, items, record("b\x00", nil), 1), fault.Conflict)
		wantFault(t, "delete", x.Delete(ctx, items, "b\x00"), fault.NotFound)
		wantFault(t, "event", x.AppendEvent(ctx, items, store.Event{ID: "e", Type: "items.created", Resource: "items",
			RecordID: "b", Actor: "x\x00", Time: time.Now(), Record: store.FromMap(map[string]any{"id": "b"})}), fault.Invalid)
		return nil
	})
	if err != nil {
		t.Errorf("the transaction went on after the refusals: %v", err)
	}
}

// TestStatementTimeout: a statement that waits past Options.StatementTimeout is Unavailable.
func TestStatementTimeout(t *testing.T) {
	t.Parallel()
	m := mustCompile(t, itemsSpec)
	db := openTest(t, m, Options{StatementTimeout: 100 * time.Millisecond, ApplicationName: "plinth-test"})
	items, _ := m.Resource("items")
	ctx := context.Background()
	if err := db.Write(ctx, func(x store.Tx) error { return x.Insert(ctx, items, record("a", nil)) }); err != nil {
		t.Fatal(err)
	}
	var name string
	if err := db.pool.QueryRow(ctx, "SELECT current_setting('application_name')").Scan(&name); err != nil || name != "plinth-test" {
		t.Errorf("application_name %q, %v", name, err)
	}
	// Hold the row from another transaction, so that Tx.Get waits for it.
	holder, err := db.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Rollback(ctx)
	if _, err := holder.Exec(ctx, `SELECT 1 FROM `+db.tables["items"].qualName+` WHERE "id" = 'a' FOR UPDATE`); err != nil {
		t.Fatal(err)
	}
	err = db.Write(ctx, func(x store.Tx) error {
		_, err := x.Get(ctx, items, "a")
		return err
	})
	wantFault(t, "a write that waits too long", err, fault.Unavailable)
}
