package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/plinth-dev/plinth/internal/store"
)

// idempotencyTable keeps stored outcomes. Its name starts with an underscore, which resource
// names cannot, so it never collides with a resource. The key columns are BYTEA: a key is
// scoped to a request path, which may hold any bytes (%00, %FF), and TEXT refuses some; the
// SQLite driver keeps such keys, so this one must too.
const idempotencyTable = `CREATE TABLE IF NOT EXISTS {schema}."_plinth_idempotency" (
  "scope" BYTEA NOT NULL,
  "method" BYTEA NOT NULL,
  "path" BYTEA NOT NULL,
  "key" BYTEA NOT NULL,
  "fingerprint" BYTEA NOT NULL,
  "status" INTEGER NOT NULL,
  "header" TEXT COLLATE "C" NOT NULL,
  "body" BYTEA NOT NULL,
  "created_at" TIMESTAMPTZ NOT NULL,
  "expires_at" TIMESTAMPTZ NOT NULL,
  PRIMARY KEY ("scope", "method", "path", "key")
)`

const idempotencyIndex = `CREATE INDEX IF NOT EXISTS "_plinth_idempotency_expires" ON {schema}."_plinth_idempotency" ("expires_at")`

// GetIdempotency implements store.Store.
func (db *DB) GetIdempotency(ctx context.Context, scope, method, path, key string) (*store.IdempotencyRecord, error) {
	row := db.pool.QueryRow(ctx, `SELECT "fingerprint", "status", "header", "body", "created_at", "expires_at"
		FROM `+db.idempotency+` WHERE "scope" = $1 AND "method" = $2 AND "path" = $3 AND "key" = $4`,
		[]byte(scope), []byte(method), []byte(path), []byte(key))
	rec := &store.IdempotencyRecord{Scope: scope, Method: method, Path: path, Key: key}
	var fingerprint []byte
	var header string
	var status int32
	err := row.Scan(&fingerprint, &status, &header, &rec.Response.Body, &rec.CreatedAt, &rec.ExpiresAt)
	if err != nil {
		return nil, db.classify(err, nil)
	}
	rec.Fingerprint = string(fingerprint)
	rec.Response.Status = int(status)
	if err := json.Unmarshal([]byte(header), &rec.Response.Header); err != nil {
		return nil, fmt.Errorf("idempotency header: %w", err)
	}
	rec.CreatedAt, rec.ExpiresAt = rec.CreatedAt.UTC(), rec.ExpiresAt.UTC()
	return rec, nil
}

// SweepIdempotency implements store.Store. Rows another sweeper is deleting are skipped
// rather than waited for.
func (db *DB) SweepIdempotency(ctx context.Context, now time.Time, limit int) (int, error) {
	var n int64
	err := db.Write(ctx, func(t store.Tx) error {
		tag, err := t.(*tx).tx.Exec(ctx, `DELETE FROM `+db.idempotency+` WHERE ("scope", "method", "path", "key") IN (
			SELECT "scope", "method", "path", "key" FROM `+db.idempotency+`
			WHERE "expires_at" <= $1 LIMIT $2 FOR UPDATE SKIP LOCKED)`, now, sqlLimit(limit))
		n = tag.RowsAffected()
		return err
	})
	return int(n), err
}

// PutIdempotency implements store.Tx.
func (x *tx) PutIdempotency(ctx context.Context, rec store.IdempotencyRecord) error {
	header, err := json.Marshal(rec.Response.Header)
	if err != nil {
		return err
	}
	body := rec.Response.Body
	if body == nil {
		body = []byte{}
	}
	// An expired outcome that the sweep has not reached yet gives way to the new one; a live
	// one does not, and the insert changes nothing. A concurrent insert of the same key waits
	// for the other transaction, then sees its row.
	tag, err := x.tx.Exec(ctx, `INSERT INTO `+x.db.idempotency+`
		("scope", "method", "path", "key", "fingerprint", "status", "header", "body", "created_at", "expires_at")
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
		ON CONFLICT ("scope", "method", "path", "key") DO UPDATE SET
		  "fingerprint" = excluded."fingerprint", "status" = excluded."status", "header" = excluded."header",
		  "body" = excluded."body", "created_at" = excluded."created_at", "expires_at" = excluded."expires_at"
		WHERE "_plinth_idempotency"."expires_at" <= excluded."created_at"`,
		[]byte(rec.Scope), []byte(rec.Method), []byte(rec.Path), []byte(rec.Key), []byte(rec.Fingerprint),
		int32(rec.Response.Status), string(header), body,
		rec.CreatedAt.UTC().Truncate(time.Microsecond), rec.ExpiresAt.UTC().Truncate(time.Microsecond))
	if err != nil {
		return x.db.classify(err, nil)
	}
	if tag.RowsAffected() == 0 {
		return store.ErrKeyTaken(errors.New("a live outcome is stored under this key"))
	}
	return nil
}

// sqlLimit is a LIMIT parameter: a negative limit means none, as in SQLite.
func sqlLimit(n int) any {
	if n < 0 {
		return nil
	}
	return int64(n)
}
