package sqlite

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestCheckpointerCopiesTheLog writes far fewer pages than SQLite's own checkpoint threshold
// (1,000) and watches them reach the database file: only the checkpointer copies them there.
func TestCheckpointerCopiesTheLog(t *testing.T) {
	dir := t.TempDir()
	db, err := Open(context.Background(), dir, mustCompile(t, baseSpec), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	file := filepath.Join(dir, FileName)
	size := func() int64 {
		fi, err := os.Stat(file)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	before := size()
	pad := strings.Repeat("x", 1000)
	for i := range 200 { // about 60 pages of rows and as many of the primary key's index
		if err := insertOne(db, fmt.Sprintf("%s-%d", pad, i)); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for size() < before+100_000 {
		if time.Now().After(deadline) {
			t.Fatalf("the database file stayed at %d bytes (%d before the writes): nothing checkpointed the log", size(), before)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
