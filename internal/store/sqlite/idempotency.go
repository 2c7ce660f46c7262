package sqlite

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/plinth-dev/plinth/internal/store"
)

// idempotencyTable keeps stored outcomes. Its name starts with an underscore, which resource
// names cannot, so it never collides with a resource.
const idempotencyTable = `CREATE TABLE IF NOT EXISTS "_plinth_idempotency" (
  "scope" TEXT NOT NULL,
  "method" TEXT NOT NULL,
  "path" TEXT NOT NULL,
  "key" TEXT NOT NULL,
  "fingerprint" TEXT NOT NULL,
  "status" INTEGER NOT NULL,
  "header" TEXT NOT NULL,
  "body" BLOB NOT NULL,
  "created_at" TEXT NOT NULL,
  "expires_at" TEXT NOT NULL,
  PRIMARY KEY ("scope", "method", "path", "key")
) STRICT`

const idempotencyIndex = `CREATE INDEX IF NOT EXISTS "_plinth_idempotency_expires" ON "_plinth_idempotency" ("expires_at")`

const getIdempotencySQL = `SELECT "fingerprint", "status", "header", "body", "created_at", "expires_at"
FROM "_plinth_idempotency" WHERE "scope" = ? AND "method" = ? AND "path" = ? AND "key" = ?`

// putIdempotencySQL stores an outcome. An expired outcome that the sweep has not reached yet
// gives way to the new one; a live one does not, and the insert changes nothing.
const putIdempotencySQL = `INSERT INTO "_plinth_idempotency"
  ("scope", "method", "path", "key", "fingerprint", "status", "header", "body", "created_at", "expires_at")
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT ("scope", "method", "path", "key") DO UPDATE SET
  "fingerprint" = excluded."fingerprint", "status" = excluded."status", "header" = excluded."header",
  "body" = excluded."body", "created_at" = excluded."created_at", "expires_at" = excluded."expires_at"
WHERE "_plinth_idempotency"."expires_at" <= excluded."created_at"`

// GetIdempotency implements store.Store.
func (db *DB) GetIdempotency(ctx context.Context, scope, method, path, key string) (*store.IdempotencyRecord, error) {
	row := db.getIdem.QueryRowContext(ctx, scope, method, path, key)
	rec := &store.IdempotencyRecord{Scope: scope, Method: method, Path: path, Key: key}
	var header, created, expires string
	err := row.Scan(&rec.Fingerprint, &rec.Response.Status, &header, &rec.Response.Body, &created, &expires)
	if err != nil {
		return nil, db.classify(err, nil)
	}
	if err := json.Unmarshal([]byte(header), &rec.Response.Header); err != nil {
		return nil, fmt.Errorf("idempotency header: %w", err)
	}
	if rec.CreatedAt, err = time.Parse(TimeLayout, created); err != nil {
		return nil, err
	}
	if rec.ExpiresAt, err = time.Parse(TimeLayout, expires); err != nil {
		return nil, err
	}
	return rec, nil
}

// SweepIdempotency implements store.Store.
func (db *DB) SweepIdempotency(ctx context.Context, now time.Time, limit int) (int, error) {
	var n int64
	err := db.Write(ctx, func(t store.Tx) error {
		ctx := noCancel(ctx)
		res, err := t.(*tx).exec(ctx, `DELETE FROM "_plinth_idempotency" WHERE rowid IN (
			SELECT rowid FROM "_plinth_idempotency" WHERE "expires_at" <= ? LIMIT ?)`, now.UTC().Format(TimeLayout), limit)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return int(n), err
}

// PutIdempotency implements store.Tx.
func (x *tx) PutIdempotency(ctx context.Context, rec store.IdempotencyRecord) error {
	ctx = noCancel(ctx)
	header, err := json.Marshal(rec.Response.Header)
	if err != nil {
		return err
	}
	body := rec.Response.Body
	if body == nil {
		body = []byte{}
	}
	res, err := x.tx.StmtContext(ctx, x.db.putIdem).ExecContext(ctx,
		rec.Scope, rec.Method, rec.Path, rec.Key, rec.Fingerprint, rec.Response.Status, string(header), body,
		rec.CreatedAt.UTC().Format(TimeLayout), rec.ExpiresAt.UTC().Format(TimeLayout))
	if err == nil {
		if n, _ := res.RowsAffected(); n == 0 {
			return store.ErrKeyTaken(errors.New("a live outcome is stored under this key"))
		}
		return nil
	}
	return x.db.classify(err, nil)
}
