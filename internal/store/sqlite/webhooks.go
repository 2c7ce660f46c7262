package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"

	"github.com/plinth-dev/plinth/internal/store"
	"github.com/plinth-dev/plinth/internal/store/sqlstore"
)

var _ store.Queue = (*DB)(nil)

// The webhook worker's tables: each subscription's place in the outbox, and the deliveries.
const (
	subscriptionsTable = `CREATE TABLE IF NOT EXISTS ` + sqlstore.Subscriptions + ` (
  "name" TEXT PRIMARY KEY NOT NULL,
  "cursor" INTEGER NOT NULL,
  "disabled_at" TEXT
) STRICT`
	deliveriesTable = `CREATE TABLE IF NOT EXISTS ` + sqlstore.Deliveries + ` (
  "id" TEXT PRIMARY KEY NOT NULL,
  "subscription" TEXT NOT NULL,
  "event_id" TEXT NOT NULL,
  "event_seq" INTEGER NOT NULL,
  "event_type" TEXT NOT NULL,
  "resource" TEXT NOT NULL,
  "record_id" TEXT NOT NULL,
  "payload" BLOB NOT NULL,
  "attempts" INTEGER NOT NULL,
  "state" TEXT NOT NULL,
  "next_at" TEXT NOT NULL,
  "last_status" INTEGER NOT NULL,
  "last_error" TEXT NOT NULL,
  "created_at" TEXT NOT NULL,
  "updated_at" TEXT NOT NULL
) STRICT`
)

var deliveriesDueIndex, deliveriesRecordIndex = sqlstore.DeliveriesIndexes(sqlstore.Deliveries)

const deliveryColumns = `"id", "subscription", "event_id", "event_seq", "event_type", "resource", "record_id", "payload",
  "attempts", "state", "next_at", "last_status", "last_error", "created_at", "updated_at"`

func ts(t time.Time) string { return t.UTC().Format(TimeLayout) }

// exec runs one statement in a write transaction of its own.
func (db *DB) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	var res sql.Result
	err := db.Write(ctx, func(t store.Tx) error {
		ctx := noCancel(ctx)
		var err error
		res, err = t.(*tx).exec(ctx, query, args...)
		return err
	})
	return res, err
}

// Subscription implements store.Queue.
func (db *DB) Subscription(ctx context.Context, name string) (store.Subscription, error) {
	sub := store.Subscription{Name: name}
	var disabled sql.NullString
	err := db.read.QueryRowContext(ctx, `SELECT "cursor", "disabled_at" FROM "_plinth_subscriptions" WHERE "name" = ?`, name).
		Scan(&sub.Cursor, &disabled)
	if errors.Is(err, sql.ErrNoRows) {
		// A new subscription starts at the end of the outbox: it is not sent the backlog.
		_, err = db.exec(ctx, `INSERT INTO "_plinth_subscriptions" ("name", "cursor")
			VALUES (?, (SELECT coalesce(max("seq"), 0) FROM "_plinth_events")) ON CONFLICT ("name") DO NOTHING`, name)
		if err != nil {
			return sub, err
		}
		return db.Subscription(ctx, name)
	}
	if err != nil {
		return sub, db.classify(err, nil)
	}
	if disabled.Valid {
		sub.Disabled, _ = time.Parse(TimeLayout, disabled.String)
	}
	return sub, nil
}

// Enqueue implements store.Queue.
func (db *DB) Enqueue(ctx context.Context, name string, from, after int64, ds []store.Delivery) error {
	return db.Write(ctx, func(t store.Tx) error {
		ctx := noCancel(ctx)
		x := t.(*tx)
		res, err := x.exec(ctx, `UPDATE "_plinth_subscriptions" SET "cursor" = ? WHERE "name" = ? AND "cursor" = ?`, after, name, from)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return store.ErrCursorMoved
		}
		for _, d := range ds {
			if _, err := x.exec(ctx, `INSERT INTO "_plinth_deliveries" (`+deliveryColumns+`)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
				d.ID, d.Subscription, d.EventID, d.EventSeq, d.EventType, d.Resource, d.RecordID, d.Payload,
				d.Attempts, string(d.State), ts(d.NextAt), d.LastStatus, d.LastError, ts(d.CreatedAt), ts(d.UpdatedAt)); err != nil {
				return err
			}
		}
		return nil
	})
}

// Claim implements store.Queue.
func (db *DB) Claim(ctx context.Context, now, until time.Time, limit int) ([]store.Delivery, error) {
	var out []store.Delivery
	err := db.Write(ctx, func(t store.Tx) error {
		ctx := noCancel(ctx)
		rows, err := t.(*tx).query(ctx, `UPDATE "_plinth_deliveries" SET "next_at" = ? WHERE "id" IN (
			SELECT d."id" FROM "_plinth_deliveries" AS d
			WHERE d."state" = 'pending' AND d."next_at" <= ?
			  AND NOT EXISTS (SELECT 1 FROM "_plinth_subscriptions" AS s WHERE s."name" = d."subscription" AND s."disabled_at" IS NOT NULL)
			  AND NOT EXISTS (SELECT 1 FROM "_plinth_deliveries" AS e
			    WHERE e."subscription" = d."subscription" AND e."resource" = d."resource" AND e."record_id" = d."record_id"
			      AND e."state" = 'pending' AND e."event_seq" < d."event_seq")
			ORDER BY d."next_at", d."event_seq" LIMIT ?)
			RETURNING `+deliveryColumns, ts(until), ts(now), limit)
		if err != nil {
			return err
		}
		out, err = scanDeliveries(rows)
		for i := range out {
			out[i].Claimed = out[i].NextAt
		}
		return err
	})
	return out, err
}

// Deliveries implements store.Queue.
func (db *DB) Deliveries(ctx context.Context, state store.State, limit int) ([]store.Delivery, error) {
	return db.deliveries(ctx, `SELECT `+deliveryColumns+` FROM "_plinth_deliveries"
		WHERE "state" = ? ORDER BY "updated_at", "id" LIMIT ?`, string(state), limit)
}

func (db *DB) deliveries(ctx context.Context, query string, args ...any) ([]store.Delivery, error) {
	rows, err := db.read.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, db.classify(err, nil)
	}
	out, err := scanDeliveries(rows)
	return out, db.classify(err, nil)
}

func scanDeliveries(rows *sql.Rows) ([]store.Delivery, error) {
	defer rows.Close()
	var out []store.Delivery
	for rows.Next() {
		var d store.Delivery
		var state, next, created, updated string
		if err := rows.Scan(&d.ID, &d.Subscription, &d.EventID, &d.EventSeq, &d.EventType, &d.Resource, &d.RecordID,
			&d.Payload, &d.Attempts, &state, &next, &d.LastStatus, &d.LastError, &created, &updated); err != nil {
			return nil, err
		}
		d.State = store.State(state)
		d.NextAt, _ = time.Parse(TimeLayout, next)
		d.CreatedAt, _ = time.Parse(TimeLayout, created)
		d.UpdatedAt, _ = time.Parse(TimeLayout, updated)
		out = append(out, d)
	}
	return out, rows.Err()
}

// Save implements store.Queue.
func (db *DB) Save(ctx context.Context, d store.Delivery) error {
	res, err := db.exec(ctx, `UPDATE "_plinth_deliveries" SET "attempts" = ?, "state" = ?, "next_at" = ?,
		"last_status" = ?, "last_error" = ?, "updated_at" = ? WHERE "id" = ? AND "next_at" = ?`,
		d.Attempts, string(d.State), ts(d.NextAt), d.LastStatus, d.LastError, ts(d.UpdatedAt), d.ID, ts(d.Claimed))
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return store.ErrClaimLost
	}
	return nil
}

// Replay implements store.Queue. Replaying a subscription's deliveries also enables it again:
// an operator replays when the receiver is back.
func (db *DB) Replay(ctx context.Context, ids []string, now time.Time) (int, error) {
	where, args := deadWhere(ids, ts(now), ts(now))
	var n int64
	err := db.Write(ctx, func(t store.Tx) error {
		ctx := noCancel(ctx)
		// The statements vary with the number of ids, so they are not kept prepared.
		x := t.(*tx).tx
		if _, err := x.ExecContext(ctx, `UPDATE "_plinth_subscriptions" SET "disabled_at" = NULL WHERE "name" IN (
			SELECT "subscription" FROM "_plinth_deliveries" WHERE `+where+`)`, args[2:]...); err != nil {
			return err
		}
		res, err := x.ExecContext(ctx, `UPDATE "_plinth_deliveries" SET "state" = 'pending', "attempts" = 0,
			"next_at" = ?, "updated_at" = ?, "last_error" = '' WHERE `+where, args...)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return int(n), err
}

// Discard implements store.Queue.
func (db *DB) Discard(ctx context.Context, ids []string) (int, error) {
	where, args := deadWhere(ids)
	var n int64
	err := db.Write(ctx, func(t store.Tx) error {
		// The statement varies with the number of ids, so it is not kept prepared.
		res, err := t.(*tx).tx.ExecContext(noCancel(ctx), `DELETE FROM "_plinth_deliveries" WHERE `+where, args...)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return int(n), err
}

// deadWhere selects the dead deliveries with the given ids, or all of them when ids is empty;
// the ids' parameters follow args.
func deadWhere(ids []string, args ...any) (string, []any) {
	where := `"state" = 'dead'`
	if len(ids) > 0 {
		where += ` AND "id" IN (` + strings.TrimSuffix(strings.Repeat("?,", len(ids)), ",") + `)`
		for _, id := range ids {
			args = append(args, id)
		}
	}
	return where, args
}

// Disable implements store.Queue.
func (db *DB) Disable(ctx context.Context, name string, at time.Time) error {
	_, err := db.exec(ctx, `UPDATE "_plinth_subscriptions" SET "disabled_at" = ? WHERE "name" = ?`, ts(at), name)
	return err
}

// Counts implements store.Queue.
func (db *DB) Counts(ctx context.Context) (map[string]map[store.State]int, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT "subscription", "state", count(*) FROM "_plinth_deliveries" GROUP BY 1, 2`)
	if err != nil {
		return nil, db.classify(err, nil)
	}
	defer rows.Close()
	out, err := sqlstore.ScanCounts(rows)
	return out, db.classify(err, nil)
}

// SweepDeliveries deletes up to limit delivered deliveries last touched before before.
func (db *DB) SweepDeliveries(ctx context.Context, before time.Time, limit int) (int, error) {
	res, err := db.exec(ctx, `DELETE FROM "_plinth_deliveries" WHERE "id" IN (
		SELECT "id" FROM "_plinth_deliveries" WHERE "state" = 'delivered' AND "updated_at" < ? LIMIT ?)`, ts(before), limit)
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	return int(n), err
}

// leasesTable holds named leases, such as a schedule's current tick.
const leasesTable = `CREATE TABLE IF NOT EXISTS ` + sqlstore.Leases + ` (
  "name" TEXT PRIMARY KEY NOT NULL,
  "owner" TEXT NOT NULL,
  "until" TEXT NOT NULL
) STRICT`

// Lease implements store.Leaser: it takes the lease when it is free or has expired.
func (db *DB) Lease(ctx context.Context, name, owner string, now, until time.Time) (bool, error) {
	res, err := db.exec(ctx, `INSERT INTO "_plinth_leases" ("name", "owner", "until") VALUES (?, ?, ?)
		ON CONFLICT ("name") DO UPDATE SET "owner" = excluded."owner", "until" = excluded."until"
		WHERE "_plinth_leases"."until" <= ?`, name, owner, ts(until), ts(now))
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// Renew implements store.Leaser: the owner keeps the lease until until; false when it is no
// longer the owner's.
func (db *DB) Renew(ctx context.Context, name, owner string, now, until time.Time) (bool, error) {
	res, err := db.exec(ctx, `UPDATE "_plinth_leases" SET "until" = max("until", ?) WHERE "name" = ? AND "owner" = ?`,
		ts(until), name, owner)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// Cut implements store.Leaser: the owner's lease ends at until.
func (db *DB) Cut(ctx context.Context, name, owner string, now, until time.Time) error {
	_, err := db.exec(ctx, `UPDATE "_plinth_leases" SET "until" = ? WHERE "name" = ? AND "owner" = ?`, ts(until), name, owner)
	return err
}

var _ store.Leaser = (*DB)(nil)
