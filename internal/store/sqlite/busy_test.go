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
