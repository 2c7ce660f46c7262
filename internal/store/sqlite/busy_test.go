package sqlite

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"github.com/plinth-dev/plinth/internal/engine"
	"github.com/plinth-dev/plinth/internal/fault"
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
	return db.Write(context.Background(), func(t engine.Tx) error {
		_, err := t.(*tx).tx.Exec(`INSERT INTO "things" ("id","created_at","updated_at","version") VALUES (?, 't', 't', 1)`, id)
		return err
	})
}

func TestWriteRetriesWhileLocked(t *testing.T) {
	dir := t.TempDir()
	db, err := Open(context.Background(), dir, mustCompile(t, baseSpec), Options{BusyWait: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()

	// A lock held briefly is waited out by the retries: the write succeeds.
	unlock := lockFromOutside(t, dir)
	time.AfterFunc(150*time.Millisecond, unlock)
	if err := insertOne(db, "a"); err != nil {
		t.Fatalf("write while briefly locked: %v", err)
	}

	// A lock held past every retry is a 503-class error, not a hang and not a 500.
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
	err = db.Write(context.Background(), func(engine.Tx) error { panic("bug") })
	if fault.CodeOf(err) != fault.Internal {
		t.Fatalf("a panicking write: %v", err)
	}
	if err := insertOne(db, "after"); err != nil {
		t.Fatalf("the writer stopped after a panic: %v", err)
	}
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
	// Inserting the record "b" takes a while, through a trigger on the writer's connection.
	if _, err := db.write.Exec(`CREATE TEMP TABLE sink (i INTEGER);
		CREATE TEMP TRIGGER slow AFTER INSERT ON "things" WHEN NEW."id" = 'b' BEGIN
		  INSERT INTO sink WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 2000000) SELECT i FROM c;
		END`); err != nil {
		t.Fatal(err)
	}
	things, _ := mustCompile(t, baseSpec).Resource("things")
	insert := func(ctx context.Context, id string) error {
		return db.Write(ctx, func(x engine.Tx) error {
			return x.Insert(ctx, things, engine.Record{"id": id, "created_at": time.Now(), "updated_at": time.Now(), "version": int64(1)})
		})
	}
	busy := make(chan struct{})
	go db.Write(context.Background(), func(x engine.Tx) error { // keeps the writer busy while the next group queues
		close(busy)
		time.Sleep(200 * time.Millisecond)
		return nil
	})
	<-busy
	ctx, cancel := context.WithCancel(context.Background())
	results := make(chan error, 3)
	go func() { results <- insert(context.Background(), "a") }()
	go func() {
		time.Sleep(20 * time.Millisecond)
		time.AfterFunc(300*time.Millisecond, cancel) // while "b" runs in the next group
		results <- insert(ctx, "b")
	}()
	go func() { time.Sleep(40 * time.Millisecond); results <- insert(context.Background(), "c") }()
	for range 3 {
		<-results
	}
	var n int
	db.read.QueryRow(`SELECT count(*) FROM "things" WHERE "id" IN ('a', 'c')`).Scan(&n)
	if n != 2 {
		t.Errorf("%d of the two bystander writes survived a cancelled write in their group", n)
	}
}
