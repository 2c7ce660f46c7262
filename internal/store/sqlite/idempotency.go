package sqlite

import (
	"context"
	"database/sql"
	"time"

	"github.com/plinth-dev/plinth/internal/store"
	"github.com/plinth-dev/plinth/internal/store/sqlstore"
)

// outcomesTable keeps stored outcomes (see sqlstore.OutcomesTable).
const outcomesTable = `CREATE TABLE IF NOT EXISTS "_plinth_outcomes" (
  "scope" TEXT NOT NULL,
  "operation" TEXT NOT NULL,
  "key" TEXT NOT NULL,
  "fingerprint" TEXT NOT NULL,
  "response" BLOB NOT NULL,
  "created_at" TEXT NOT NULL,
  "expires_at" TEXT NOT NULL,
  PRIMARY KEY ("scope", "operation", "key")
) STRICT`

const outcomesIndex = `CREATE INDEX IF NOT EXISTS "_plinth_outcomes_expires" ON "_plinth_outcomes" ("expires_at")`

var getOutcomeSQL, putOutcomeSQL = sqlstore.OutcomeSQL(quote(sqlstore.OutcomesTable), dialect.Placeholder)

// Outcome implements store.Store.
func (db *DB) Outcome(ctx context.Context, scope, operation, key string) (*store.Outcome, error) {
	o := &store.Outcome{Scope: scope, Operation: operation, Key: key}
	var created, expires string
	err := db.getOutcome.QueryRowContext(ctx, scope, operation, key).Scan(&o.Fingerprint, &o.Response, &created, &expires)
	if err != nil {
		return nil, db.classify(err, nil)
	}
	if o.CreatedAt, err = time.Parse(TimeLayout, created); err != nil {
		return nil, err
	}
	if o.ExpiresAt, err = time.Parse(TimeLayout, expires); err != nil {
		return nil, err
	}
	return o, nil
}

// SweepOutcomes implements store.Store.
func (db *DB) SweepOutcomes(ctx context.Context, now time.Time, limit int) (int, error) {
	var n int64
	err := db.Write(ctx, func(t store.Tx) error {
		ctx := noCancel(ctx)
		res, err := t.(*tx).exec(ctx, `DELETE FROM "_plinth_outcomes" WHERE rowid IN (
			SELECT rowid FROM "_plinth_outcomes" WHERE "expires_at" <= ? LIMIT ?)`, now.UTC().Format(TimeLayout), limit)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return int(n), err
}

// PutOutcome implements store.Tx.
func (x *tx) PutOutcome(ctx context.Context, o store.Outcome) error {
	ctx = noCancel(ctx)
	response := o.Response
	if response == nil {
		response = []byte{} // a BLOB, not NULL
	}
	res, err := x.group.bind(ctx, x.db.putOutcome).ExecContext(ctx,
		o.Scope, o.Operation, o.Key, o.Fingerprint, response,
		o.CreatedAt.UTC().Format(TimeLayout), o.ExpiresAt.UTC().Format(TimeLayout))
	if err != nil {
		return x.db.classify(err, nil)
	}
	n, _ := res.RowsAffected()
	return sqlstore.PutResult(n)
}

// outcomeDialect is SQLite's spelling of the conversion of legacy outcomes. Its write
// transactions exclude each other (they begin IMMEDIATE), so the legacy table needs no lock.
var outcomeDialect = sqlstore.OutcomeDialect{
	Table:  quote,
	Append: func(text, bytes string) string { return "CAST(" + text + " || " + bytes + " AS BLOB)" },
}

// convertOutcomes converts the outcomes of a database from before store.Outcome, if it has
// any (see sqlstore.ConvertOutcomes), in the migration's transaction tx; outcomesTable must
// exist.
func convertOutcomes(ctx context.Context, tx *sql.Tx) error {
	var legacy bool
	err := tx.QueryRowContext(ctx, `SELECT count(*) > 0 FROM sqlite_schema WHERE "type" = 'table' AND "name" = ?`,
		sqlstore.LegacyOutcomesTable).Scan(&legacy)
	if err != nil || !legacy {
		return err
	}
	for _, stmt := range sqlstore.ConvertOutcomes(outcomeDialect) {
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			return err
		}
	}
	return nil
}
