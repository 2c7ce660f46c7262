package sqlite

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/plinth-dev/plinth/internal/testwait"
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
	// Nothing announces a checkpoint made on another connection: the file's size is what shows it.
	testwait.Within(t, 10*time.Second, "the log to be checkpointed into the database file (nothing else copies it there)",
		func() bool { return size() >= before+100_000 })
}
