package sqlite

import (
	"context"
	"time"
)

// checkpointEvery is the least time between two checkpoints while writes keep coming.
const checkpointEvery = 100 * time.Millisecond

// checkpointer copies committed pages from the write-ahead log into the database file, on a
// connection of its own, after writes and at most every checkpointEvery. Left to itself,
// SQLite checkpoints inside the commit that brings the log to 1,000 pages, and every write of
// that group waits for the copy and its fsync; a passive checkpoint on another connection
// runs beside the writer and the readers and waits for neither. SQLite's own checkpoint stays
// on as the backstop that bounds the log: only a checkpoint that ends between two write
// transactions lets the next one start the log afresh, and under steady writes this one
// rarely does; when SQLite's runs, this one has left it little to copy. It returns when db
// stops, after a last checkpoint.
func (db *DB) checkpointer() {
	defer close(db.checkpointed)
	pace := time.NewTimer(0)
	defer pace.Stop()
	for {
		select {
		case <-db.committed:
		case <-db.stopping:
			db.checkpoint()
			return
		}
		select {
		case <-pace.C:
		case <-db.stopping:
			db.checkpoint()
			return
		}
		db.checkpoint()
		pace.Reset(checkpointEvery)
	}
}

// checkpoint runs one passive checkpoint. A failure is left for the next, and logged unless
// another checkpoint was running: the log only grows meanwhile, and the readers see every
// committed page either way.
func (db *DB) checkpoint() {
	if _, err := db.ckpt.ExecContext(context.Background(), "PRAGMA wal_checkpoint(PASSIVE)"); err != nil && !isBusy(err) {
		db.log.Warn("sqlite checkpoint failed", "error", err)
	}
}
