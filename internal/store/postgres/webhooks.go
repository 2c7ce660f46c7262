package postgres

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/plinth-dev/plinth/internal/store"
	"github.com/plinth-dev/plinth/internal/store/sqlstore"
)

var (
	_ store.Queue  = (*DB)(nil)
	_ store.Leaser = (*DB)(nil)
)

// The webhook worker's tables and the leases, as in the SQLite driver. Claims take rows with
// FOR UPDATE SKIP LOCKED, so replicas claiming at once take different deliveries.
const (
	subscriptionsTable = `CREATE TABLE IF NOT EXISTS {schema}.` + sqlstore.Subscriptions + ` (
  "name" TEXT COLLATE "C" PRIMARY KEY,
  "cursor" BIGINT NOT NULL,
  "disabled_at" TIMESTAMPTZ
)`
	deliveriesTable = `CREATE TABLE IF NOT EXISTS {schema}.` + sqlstore.Deliveries + ` (
  "id" TEXT COLLATE "C" PRIMARY KEY,
  "subscription" TEXT COLLATE "C" NOT NULL,
  "event_id" TEXT COLLATE "C" NOT NULL,
  "event_seq" BIGINT NOT NULL,
  "event_type" TEXT COLLATE "C" NOT NULL,
  "resource" TEXT COLLATE "C" NOT NULL,
  "record_id" TEXT COLLATE "C" NOT NULL,
  "payload" BYTEA NOT NULL,
  "attempts" INTEGER NOT NULL,
  "state" TEXT COLLATE "C" NOT NULL,
  "next_at" TIMESTAMPTZ NOT NULL,
  "last_status" INTEGER NOT NULL,
  "last_error" TEXT COLLATE "C" NOT NULL,
  "created_at" TIMESTAMPTZ NOT NULL,
  "updated_at" TIMESTAMPTZ NOT NULL
)`
	leasesTable = `CREATE TABLE IF NOT EXISTS {schema}.` + sqlstore.Leases + ` (
  "name" TEXT COLLATE "C" PRIMARY KEY,
  "owner" TEXT COLLATE "C" NOT NULL,
  "until" TIMESTAMPTZ NOT NULL
)`
)

var deliveriesDueIndex, deliveriesRecordIndex = sqlstore.DeliveriesIndexes("{schema}." + sqlstore.Deliveries)

const deliveryColumns = `"id", "subscription", "event_id", "event_seq", "event_type", "resource", "record_id", "payload",
  "attempts", "state", "next_at", "last_status", "last_error", "created_at", "updated_at"`

// q puts the schema into a statement written with {schema}.
func (db *DB) q(stmt string) string { return strings.ReplaceAll(stmt, "{schema}", quote(db.schema)) }

// Subscription implements store.Queue.
func (db *DB) Subscription(ctx context.Context, name string) (store.Subscription, error) {
	sub := store.Subscription{Name: name}
	// A new subscription starts at the end of the outbox: it is not sent the backlog.
	if _, err := db.pool.Exec(ctx, db.q(`INSERT INTO {schema}."_plinth_subscriptions" ("name", "cursor")
		VALUES ($1, (SELECT coalesce(max("seq"), 0) FROM {schema}."_plinth_events")) ON CONFLICT ("name") DO NOTHING`), name); err != nil {
		return sub, db.classify(err, nil)
	}
	var disabled *time.Time
	err := db.pool.QueryRow(ctx, db.q(`SELECT "cursor", "disabled_at" FROM {schema}."_plinth_subscriptions" WHERE "name" = $1`), name).
		Scan(&sub.Cursor, &disabled)
	if err != nil {
		return sub, db.classify(err, nil)
	}
	if disabled != nil {
		sub.Disabled = disabled.UTC()
	}
	return sub, nil
}

// Enqueue implements store.Queue.
func (db *DB) Enqueue(ctx context.Context, name string, from, after int64, ds []store.Delivery) error {
	return db.Write(ctx, func(t store.Tx) error {
		x := t.(*tx).tx
		tag, err := x.Exec(ctx, db.q(`UPDATE {schema}."_plinth_subscriptions" SET "cursor" = $1 WHERE "name" = $2 AND "cursor" = $3`), after, name, from)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return store.ErrCursorMoved
		}
		for _, d := range ds {
			if _, err := x.Exec(ctx, db.q(`INSERT INTO {schema}."_plinth_deliveries" (`+deliveryColumns+`)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)`),
				d.ID, d.Subscription, d.EventID, d.EventSeq, d.EventType, d.Resource, d.RecordID, d.Payload,
				d.Attempts, string(d.State), d.NextAt, d.LastStatus, d.LastError, d.CreatedAt, d.UpdatedAt); err != nil {
				return err
			}
		}
		return nil
	})
}

// Claim implements store.Queue. Due times are compared with the database's clock, not the
// caller's, so that replicas on hosts whose clocks differ agree on what is due and on when a
// claim runs out; the claim lasts until - now.
func (db *DB) Claim(ctx context.Context, now, until time.Time, limit int) ([]store.Delivery, error) {
	rows, err := db.pool.Query(ctx, db.q(`UPDATE {schema}."_plinth_deliveries" SET "next_at" = now() + $1::interval WHERE "id" IN (
		SELECT d."id" FROM {schema}."_plinth_deliveries" AS d
		WHERE d."state" = 'pending' AND d."next_at" <= now() + $2::interval
			  AND NOT EXISTS (SELECT 1 FROM {schema}."_plinth_subscriptions" AS s WHERE s."name" = d."subscription" AND s."disabled_at" IS NOT NULL)
		  AND NOT EXISTS (SELECT 1 FROM {schema}."_plinth_deliveries" AS e
		    WHERE e."subscription" = d."subscription" AND e."resource" = d."resource" AND e."record_id" = d."record_id"
		      AND e."state" = 'pending' AND e."event_seq" < d."event_seq")
		ORDER BY d."next_at", d."event_seq" LIMIT $3 FOR UPDATE SKIP LOCKED)
		RETURNING `+deliveryColumns), until.Sub(now), time.Duration(0), limit)
	if err != nil {
		return nil, db.classify(err, nil)
	}
	out, err := scanDeliveries(rows)
	for i := range out {
		out[i].Claimed = out[i].NextAt
	}
	return out, db.classify(err, nil)
}

// Deliveries implements store.Queue.
func (db *DB) Deliveries(ctx context.Context, state store.State, limit int) ([]store.Delivery, error) {
	rows, err := db.pool.Query(ctx, db.q(`SELECT `+deliveryColumns+` FROM {schema}."_plinth_deliveries"
		WHERE "state" = $1 ORDER BY "updated_at", "id" LIMIT $2`), string(state), limit)
	if err != nil {
		return nil, db.classify(err, nil)
	}
	out, err := scanDeliveries(rows)
	return out, db.classify(err, nil)
}

func scanDeliveries(rows pgx.Rows) ([]store.Delivery, error) {
	defer rows.Close()
	var out []store.Delivery
	for rows.Next() {
		var d store.Delivery
		var state string
		if err := rows.Scan(&d.ID, &d.Subscription, &d.EventID, &d.EventSeq, &d.EventType, &d.Resource, &d.RecordID,
			&d.Payload, &d.Attempts, &state, &d.NextAt, &d.LastStatus, &d.LastError, &d.CreatedAt, &d.UpdatedAt); err != nil {
			return nil, err
		}
		d.State = store.State(state)
		d.NextAt, d.CreatedAt, d.UpdatedAt = d.NextAt.UTC(), d.CreatedAt.UTC(), d.UpdatedAt.UTC()
		out = append(out, d)
	}
	return out, rows.Err()
}

// Save implements store.Queue.
func (db *DB) Save(ctx context.Context, d store.Delivery) error {
	tag, err := db.pool.Exec(ctx, db.q(`UPDATE {schema}."_plinth_deliveries" SET "attempts" = $1, "state" = $2, "next_at" = $3,
		"last_status" = $4, "last_error" = $5, "updated_at" = $6 WHERE "id" = $7 AND "next_at" = $8`),
		d.Attempts, string(d.State), d.NextAt, d.LastStatus, d.LastError, d.UpdatedAt, d.ID, d.Claimed)
	if err != nil {
		return db.classify(err, nil)
	}
	if tag.RowsAffected() == 0 {
		return store.ErrClaimLost
	}
	return nil
}

// Replay implements store.Queue. Replaying a subscription's deliveries also enables it again.
func (db *DB) Replay(ctx context.Context, ids []string, now time.Time) (int, error) {
	where, args, none := deadWhere(ids)
	if none {
		return 0, nil
	}
	at := "$" + strconv.Itoa(len(args)+1)
	var n int64
	err := db.Write(ctx, func(t store.Tx) error {
		x := t.(*tx).tx
		if _, err := x.Exec(ctx, db.q(`UPDATE {schema}."_plinth_subscriptions" SET "disabled_at" = NULL WHERE "name" IN (
			SELECT "subscription" FROM {schema}."_plinth_deliveries" WHERE `+where+`)`), args...); err != nil {
			return err
		}
		tag, err := x.Exec(ctx, db.q(`UPDATE {schema}."_plinth_deliveries" SET "state" = 'pending', "attempts" = 0,
			"next_at" = `+at+`, "updated_at" = `+at+`, "last_error" = '' WHERE `+where), append(args, now)...)
		n = tag.RowsAffected()
		return err
	})
	return int(n), err
}

// Discard implements store.Queue.
func (db *DB) Discard(ctx context.Context, ids []string) (int, error) {
	where, args, none := deadWhere(ids)
	if none {
		return 0, nil
	}
	tag, err := db.pool.Exec(ctx, db.q(`DELETE FROM {schema}."_plinth_deliveries" WHERE `+where), args...)
	if err != nil {
		return 0, db.classify(err, nil)
	}
	return int(tag.RowsAffected()), nil
}

// deadWhere selects the dead deliveries with the given ids (parameter $1), or all of them
// when ids is empty. none says that ids named only ids no delivery can have: PostgreSQL
// would refuse to compare them (text with U+0000) instead of matching nothing, as SQLite does.
func deadWhere(ids []string) (where string, args []any, none bool) {
	if len(ids) == 0 {
		return `"state" = 'dead'`, nil, false
	}
	keep := storableIDs(ids)
	return `"state" = 'dead' AND "id" = ANY($1)`, []any{keep}, len(keep) == 0
}

// Disable implements store.Queue.
func (db *DB) Disable(ctx context.Context, name string, at time.Time) error {
	_, err := db.pool.Exec(ctx, db.q(`UPDATE {schema}."_plinth_subscriptions" SET "disabled_at" = $1 WHERE "name" = $2`), at, name)
	return db.classify(err, nil)
}

// Counts implements store.Queue.
func (db *DB) Counts(ctx context.Context) (map[string]map[store.State]int, error) {
	rows, err := db.pool.Query(ctx, db.q(`SELECT "subscription", "state", count(*) FROM {schema}."_plinth_deliveries" GROUP BY 1, 2`))
	if err != nil {
		return nil, db.classify(err, nil)
	}
	defer rows.Close()
	out, err := sqlstore.ScanCounts(rows)
	return out, db.classify(err, nil)
}

// SweepDeliveries implements store.Queue.
func (db *DB) SweepDeliveries(ctx context.Context, before time.Time, limit int) (int, error) {
	tag, err := db.pool.Exec(ctx, db.q(`DELETE FROM {schema}."_plinth_deliveries" WHERE "id" IN (
		SELECT "id" FROM {schema}."_plinth_deliveries" WHERE "state" = 'delivered' AND "updated_at" < $1 LIMIT $2)`), before, limit)
	if err != nil {
		return 0, db.classify(err, nil)
	}
	return int(tag.RowsAffected()), nil
}

// Lease implements store.Leaser: it takes the lease when it is free or has expired, for
// until - now, measured by the database's clock so that replicas on different hosts agree.
func (db *DB) Lease(ctx context.Context, name, owner string, now, until time.Time) (bool, error) {
	tag, err := db.pool.Exec(ctx, db.q(`INSERT INTO {schema}."_plinth_leases" ("name", "owner", "until") VALUES ($1, $2, now() + $3::interval)
		ON CONFLICT ("name") DO UPDATE SET "owner" = excluded."owner", "until" = excluded."until"
		WHERE {schema}."_plinth_leases"."until" <= now()`), name, owner, until.Sub(now))
	if err != nil {
		return false, db.classify(err, nil)
	}
	return tag.RowsAffected() == 1, nil
}

// Cut implements store.Leaser: the owner's lease ends until - now from now, by the
// database's clock.
func (db *DB) Cut(ctx context.Context, name, owner string, now, until time.Time) error {
	_, err := db.pool.Exec(ctx, db.q(`UPDATE {schema}."_plinth_leases" SET "until" = now() + $3::interval
		WHERE "name" = $1 AND "owner" = $2`), name, owner, until.Sub(now))
	return db.classify(err, nil)
}

// Renew implements store.Leaser: the owner keeps the lease until - now longer, by the
// database's clock; false when it is no longer the owner's.
func (db *DB) Renew(ctx context.Context, name, owner string, now, until time.Time) (bool, error) {
	tag, err := db.pool.Exec(ctx, db.q(`UPDATE {schema}."_plinth_leases" SET "until" = greatest("until", now() + $3::interval)
		WHERE "name" = $1 AND "owner" = $2`), name, owner, until.Sub(now))
	if err != nil {
		return false, db.classify(err, nil)
	}
	return tag.RowsAffected() == 1, nil
}
