package sqlstore

import (
	"errors"

	"github.com/plinth-dev/plinth/internal/store"
	"github.com/plinth-dev/plinth/internal/store/sqlwhere"
)

// OutcomesTable keeps the outcomes of writes made under an idempotency key (store.Outcome).
// Its name starts with an underscore, which resource names cannot, so it never collides with
// a resource. Each driver creates it with its own column types: scope, operation, key and
// fingerprint as text or bytes, response as bytes, the two times as it stores times, and
// (scope, operation, key) as the primary key.
const OutcomesTable = "_plinth_outcomes"

// OutcomeSQL returns the statements of stored outcomes on table (its quoted name, qualified
// where the dialect has schemas), with the dialect's placeholders. get takes scope,
// operation and key, and returns fingerprint, response, created_at and expires_at. put takes
// the columns in store.Outcome's order; an expired outcome that the sweep has not reached yet
// gives way to the new one, a live one does not and the insert changes nothing (see
// PutResult). Where writers run concurrently, an insert of a key another transaction is
// inserting waits for it, then sees its row.
func OutcomeSQL(table string, p func(n int) string) (get, put string) {
	get = `SELECT "fingerprint", "response", "created_at", "expires_at" FROM ` + table +
		` WHERE "scope" = ` + p(1) + ` AND "operation" = ` + p(2) + ` AND "key" = ` + p(3)
	put = `INSERT INTO ` + table + ` ("scope", "operation", "key", "fingerprint", "response", "created_at", "expires_at")
VALUES (` + p(1) + `, ` + p(2) + `, ` + p(3) + `, ` + p(4) + `, ` + p(5) + `, ` + p(6) + `, ` + p(7) + `)
ON CONFLICT ("scope", "operation", "key") DO UPDATE SET
  "fingerprint" = excluded."fingerprint", "response" = excluded."response",
  "created_at" = excluded."created_at", "expires_at" = excluded."expires_at"
WHERE ` + sqlwhere.Quote(OutcomesTable) + `."expires_at" <= excluded."created_at"`
	return get, put
}

// PutResult is what put (see OutcomeSQL) returns, from the number of rows it changed: nil, or
// the error that store.IsKeyTaken when a live outcome kept the key.
func PutResult(rows int64) error {
	if rows == 0 {
		return store.ErrKeyTaken(errors.New("a live outcome is stored under this key"))
	}
	return nil
}

// LegacyOutcomesTable is where versions before store.Outcome kept outcomes, in the HTTP
// transport's terms: "scope", "method", "path" and "key" for the key, "fingerprint", and the
// response as "status" (an integer), "header" (a JSON object of strings, as encoding/json
// writes it) and "body" (bytes); "created_at" and "expires_at" as OutcomesTable has them.
const LegacyOutcomesTable = "_plinth_idempotency"

// OutcomeDialect is what a driver's SQL spells its own way in ConvertOutcomes.
type OutcomeDialect struct {
	// Table is the quoted name of a table, qualified where the dialect has schemas.
	Table func(name string) string
	// Lock, when set, is the statement that keeps other transactions out of a table (named as
	// Table names it) until this one ends; a dialect whose write transactions exclude each
	// other needs none.
	Lock func(table string) string
	// Append is text's UTF-8 followed by bytes, as one value of bytes; text and bytes are SQL
	// expressions.
	Append func(text, bytes string) string
}

// ConvertOutcomes returns the statements, to run in order in the migration's transaction
// once OutcomesTable exists, that move every outcome of LegacyOutcomesTable into it and drop
// the legacy table, so that a client retrying after an upgrade a request it made before gets
// the answer stored then, and nothing runs twice. The key's method and path become the
// operation "METHOD path" (a method never holds a space), as the HTTP transport names it. An
// outcome whose key is in OutcomesTable already (a database that went back to an earlier
// version and forward again) keeps the converted one. (The WHERE TRUE is SQLite's: without a
// WHERE, it would read ON CONFLICT as the SELECT's join constraint.)
//
// Every legacy outcome is an HTTP response: the HTTP transport was the only one that stored
// them. So the conversion writes what that transport reads, and must know its encoding:
// version 1 of its envelope (internal/httpapi/response.go), a line of JSON
// {"v":1,"status":…,"header":{…}} and then the body's bytes. The legacy header column is
// already such a JSON object, without a newline, so the envelope is built by concatenation
// alone, and the body is kept byte for byte. TestUpgradeKeepsStoredOutcomes in cmd/plinth
// replays converted outcomes through the server on both databases, so the two cannot drift.
func ConvertOutcomes(d OutcomeDialect) []string {
	legacy, outcomes := d.Table(LegacyOutcomesTable), d.Table(OutcomesTable)
	head := `'{"v":1,"status":' || "status" || ',"header":' || "header" || '}` + "\n'"
	var stmts []string
	if d.Lock != nil {
		stmts = append(stmts, d.Lock(legacy))
	}
	return append(stmts,
		`INSERT INTO `+outcomes+` ("scope", "operation", "key", "fingerprint", "response", "created_at", "expires_at")
SELECT "scope", "method" || ' ' || "path", "key", "fingerprint", `+d.Append(head, `"body"`)+`, "created_at", "expires_at"
FROM `+legacy+` WHERE TRUE
ON CONFLICT ("scope", "operation", "key") DO NOTHING`,
		`DROP TABLE `+legacy)
}
