package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"database/sql/driver"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	msqlite "modernc.org/sqlite"

	"github.com/plinth-dev/plinth/internal/fault"
	"github.com/plinth-dev/plinth/internal/store"
)

// lockFromOutside holds the database's write lock from a second connection, as another
// process would, until the returned function is called.
func lockFromOutside(t *testing.T, dir string) func() {
	t.Helper()
	other, err := sql.Open("sqlite", "file:"+filepath.Join(dir, FileName))
	if err != nil {
		t.Fatal(err)
	}
	conn, err := other.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(context.Background(), "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	return func() {
		conn.ExecContext(context.Background(), "ROLLBACK")
		conn.Close()
		other.Close()
	}
}

func insertOne(db *DB, id string) error {
	return db.Write(context.Background(), func(t store.Tx) error {
		_, err := t.(*tx).tx.Exec(`INSERT INTO "things" ("id","created_at","updated_at","version") VALUES (?, 't', 't', 1)`, id)
		return err
	})
}

// onRetry is a log destination that calls the function it holds, once, when the driver logs
// that it retries a busy write: the moment a write has met another process's lock.
type onRetry struct {
	fn   atomic.Pointer[func()]
	once sync.Once
}

func (w *onRetry) Write(p []byte) (int, error) {
	if fn := w.fn.Load(); fn != nil && bytes.Contains(p, []byte("transient database failure, retrying")) {
		w.once.Do(*fn)
	}
	return len(p), nil
}

func TestWriteRetriesWhileLocked(t *testing.T) {
	dir := t.TempDir()
	retry := &onRetry{}
	db, err := Open(context.Background(), dir, mustCompile(t, baseSpec),
		Options{BusyWait: 20 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(retry, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()

	// A lock held briefly is waited out by the retries: the other process lets go once the
	// write has met its lock and is retrying, and the write succeeds.
	unlock := lockFromOutside(t, dir)
	released := false
	release := func() { unlock(); released = true }
	retry.fn.Store(&release)
	if err := insertOne(db, "a"); err != nil {
		t.Fatalf("write while briefly locked: %v", err)
	}
	if !released {
		t.Fatal("the write succeeded without meeting the lock: the test checked nothing")
	}

	// A lock held past every retry is a 503-class error, not a hang and not a 500.
	retry.fn.Store(nil)
	unlock = lockFromOutside(t, dir)
	defer unlock()
	start := time.Now()
	err = insertOne(db, "b")
	if fault.CodeOf(err) != fault.Unavailable {
		t.Fatalf("write while locked: %v, want Unavailable", err)
	}
	if waited := time.Since(start); waited > 10*time.Second {
		t.Errorf("gave up only after %s", waited)
	}
}

// TestWritePanicIsContained: a bug in one write's function fails that write alone; the
// writer goes on serving the others.
func TestWritePanicIsContained(t *testing.T) {
	db, err := Open(context.Background(), t.TempDir(), mustCompile(t, baseSpec), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.Write(context.Background(), func(store.Tx) error { panic("bug") })
	if fault.CodeOf(err) != fault.Internal {
		t.Fatalf("a panicking write: %v", err)
	}
	if err := insertOne(db, "after"); err != nil {
		t.Fatalf("the writer stopped after a panic: %v", err)
	}
}

// cancelling is the request a trigger cancels through the SQL function plinth_test_cancel,
// so that the cancellation lands inside a statement, where the driver would interrupt it.
var cancelling atomic.Pointer[context.CancelFunc]

func init() {
	msqlite.MustRegisterScalarFunction("plinth_test_cancel", 0, func(*msqlite.FunctionContext, []driver.Value) (driver.Value, error) {
		if cancel := cancelling.Load(); cancel != nil {
			(*cancel)()
		}
		return nil, nil
	})
}

// TestCancelledWriteSparesItsGroup: a client that goes away while its write runs must not undo
// the other writes committed in the same group. (SQLite rolls back the whole transaction when
// a write statement is interrupted, and the driver interrupts on cancellation.)
func TestCancelledWriteSparesItsGroup(t *testing.T) {
	db, err := Open(context.Background(), t.TempDir(), mustCompile(t, baseSpec), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cancelling.Store(&cancel)
	defer cancelling.Store(nil)
	// Inserting the record "b" cancels its request from inside the statement, which then goes
	// on for a while, through a trigger on the writer's connection.
	if _, err := db.write.Exec(`CREATE TEMP TABLE sink (i INTEGER);
		CREATE TEMP TRIGGER slow AFTER INSERT ON "things" WHEN NEW."id" = 'b' BEGIN
		  SELECT plinth_test_cancel();
		  INSERT INTO sink WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 2000000) SELECT i FROM c;
		END`); err != nil {
		t.Fatal(err)
	}
	things, _ := mustCompile(t, baseSpec).Resource("things")
	write := func(ctx context.Context, id string) *writeReq {
		return &writeReq{ctx: ctx, done: make(chan error, 1), fn: func(x store.Tx) error {
			return x.Insert(ctx, things, store.FromMap(map[string]any{"id": id, "created_at": time.Now(), "updated_at": time.Now(), "version": int64(1)}))
		}}
	}
	// One group, "b" between two bystanders, as the writer gathers writes queued while it is
	// busy; committed here directly, so that the grouping does not depend on timing.
	group := []*writeReq{write(context.Background(), "a"), write(ctx, "b"), write(context.Background(), "c")}
	db.commitGroup(group)
	if ctx.Err() == nil {
		t.Fatal("the trigger did not cancel the request of b: the test checked nothing")
	}
	for i, id := range []string{"a", "b", "c"} {
		if err := <-group[i].done; err != nil && id != "b" {
			t.Errorf("bystander write %s failed: %v", id, err)
		}
	}
	var n int
	db.read.QueryRow(`SELECT count(*) FROM "things" WHERE "id" IN ('a', 'c')`).Scan(&n)
	if n != 2 {
		t.Errorf("%d of the two bystander writes survived a cancelled write in their group", n)
	}
}
