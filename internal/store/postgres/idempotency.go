package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/plinth-dev/plinth/internal/store"
	"github.com/plinth-dev/plinth/internal/store/sqlstore"
)

// outcomesTable keeps stored outcomes (see sqlstore.OutcomesTable). The key columns are
// BYTEA: the HTTP transport scopes a key to the request path, which may hold any bytes (%00,
// %FF), and TEXT refuses some; the SQLite driver keeps such keys, so this one must too.
const outcomesTable = `CREATE TABLE IF NOT EXISTS {schema}."_plinth_outcomes" (
  "scope" BYTEA NOT NULL,
  "operation" BYTEA NOT NULL,
  "key" BYTEA NOT NULL,
  "fingerprint" BYTEA NOT NULL,
  "response" BYTEA NOT NULL,
  "created_at" TIMESTAMPTZ NOT NULL,
  "expires_at" TIMESTAMPTZ NOT NULL,
  PRIMARY KEY ("scope", "operation", "key")
)`

const outcomesIndex = `CREATE INDEX IF NOT EXISTS "_plinth_outcomes_expires" ON {schema}."_plinth_outcomes" ("expires_at")`

// Outcome implements store.Store.
func (db *DB) Outcome(ctx context.Context, scope, operation, key string) (*store.Outcome, error) {
	o := &store.Outcome{Scope: scope, Operation: operation, Key: key}
	var fingerprint []byte
	err := db.pool.QueryRow(ctx, db.getOutcome, []byte(scope), []byte(operation), []byte(key)).
		Scan(&fingerprint, &o.Response, &o.CreatedAt, &o.ExpiresAt)
	if err != nil {
		return nil, db.classify(err, nil)
	}
	o.Fingerprint = string(fingerprint)
	o.CreatedAt, o.ExpiresAt = o.CreatedAt.UTC(), o.ExpiresAt.UTC()
	return o, nil
}

// SweepOutcomes implements store.Store. Rows another sweeper is deleting are skipped rather
// than waited for.
func (db *DB) SweepOutcomes(ctx context.Context, now time.Time, limit int) (int, error) {
	var n int64
	err := db.Write(ctx, func(t store.Tx) error {
		tag, err := t.(*tx).tx.Exec(ctx, `DELETE FROM `+db.outcomes+` WHERE ("scope", "operation", "key") IN (
			SELECT "scope", "operation", "key" FROM `+db.outcomes+`
			WHERE "expires_at" <= $1 LIMIT $2 FOR UPDATE SKIP LOCKED)`, now, sqlLimit(limit))
		n = tag.RowsAffected()
		return err
	})
	return int(n), err
}

// PutOutcome implements store.Tx.
func (x *tx) PutOutcome(ctx context.Context, o store.Outcome) error {
	response := o.Response
	if response == nil {
		response = []byte{} // bytes, not NULL
	}
	tag, err := x.tx.Exec(ctx, x.db.putOutcome,
		[]byte(o.Scope), []byte(o.Operation), []byte(o.Key), []byte(o.Fingerprint), response,
		o.CreatedAt.UTC().Truncate(time.Microsecond), o.ExpiresAt.UTC().Truncate(time.Microsecond))
	if err != nil {
		return x.db.classify(err, nil)
	}
	return sqlstore.PutResult(tag.RowsAffected())
}

// sqlLimit is a LIMIT parameter: a negative limit means none, as in SQLite.
func sqlLimit(n int) any {
	if n < 0 {
		return nil
	}
	return int64(n)
}

// outcomeDialect is PostgreSQL's spelling of the conversion of legacy outcomes in schema.
// Processes of an earlier version may still be using the legacy table: the lock waits for
// their transactions, so that none commits an outcome after the copy, and keeps later ones
// out until the table is gone (they fail then, storing nothing, and their clients retry).
func outcomeDialect(schema string) sqlstore.OutcomeDialect {
	return sqlstore.OutcomeDialect{
		Table:  func(name string) string { return quote(schema) + "." + quote(name) },
		Lock:   func(table string) string { return "LOCK TABLE " + table + " IN ACCESS EXCLUSIVE MODE" },
		Append: func(text, bytes string) string { return "convert_to(" + text + ", 'UTF8') || " + bytes },
	}
}

// convertOutcomes converts the outcomes of a database from before store.Outcome in schema, if
// it has any (see sqlstore.ConvertOutcomes), in the migration's transaction tx; outcomesTable
// must exist.
func convertOutcomes(ctx context.Context, tx pgx.Tx, schema string) error {
	d := outcomeDialect(schema)
	var legacy bool
	err := tx.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, d.Table(sqlstore.LegacyOutcomesTable)).Scan(&legacy)
	if err != nil || !legacy {
		return err
	}
	for _, stmt := range sqlstore.ConvertOutcomes(d) {
		if _, err := tx.Exec(ctx, stmt); err != nil {
			return err
		}
	}
	return nil
}
