package sqlstore

import (
	"context"
	"slices"
	"time"

	"github.com/plinth-dev/plinth/internal/spec"
	"github.com/plinth-dev/plinth/internal/store"
)

// Queue implements what the drivers keep in the internal tables: the outbox's reads and
// sweeps (store.Store's Events and SweepEvents), the webhook queue (store.Queue) and the
// leases (store.Leaser). A driver embeds it, giving its dialect and how it runs statements.
// Errors are the driver's, as its Runner gives them out, and store.ErrCursorMoved and
// store.ErrClaimLost.
type Queue struct {
	d     *Dialect
	run   Runner
	model *spec.Model
	// The tables, as statements name them.
	events, subscriptions, deliveries, leases string
}

// NewQueue returns the Queue of a driver's database, which holds model's resources.
func NewQueue(d *Dialect, model *spec.Model, run Runner) *Queue {
	if run.Alone == nil {
		run.Alone = alone(run.Write)
	}
	return &Queue{d: d, run: run, model: model, events: d.Table(Events), subscriptions: d.Table(Subscriptions),
		deliveries: d.Table(Deliveries), leases: d.Table(Leases)}
}

// alone runs each statement in a write of its own.
type alone func(ctx context.Context, fn func(Conn) error) error

func (w alone) Exec(ctx context.Context, query string, args ...any) (n int64, err error) {
	err = w(ctx, func(c Conn) error {
		n, err = c.Exec(ctx, query, args...)
		return err
	})
	return n, err
}

func (w alone) Query(ctx context.Context, scan func(Rows) error, query string, args ...any) error {
	return w(ctx, func(c Conn) error { return c.Query(ctx, scan, query, args...) })
}

// p is the n-th placeholder.
func (q *Queue) p(n int) string { return q.d.Placeholder(n) }

// list is the parameter of Dialect.In for values, less those no stored row can hold (see
// Storable): delivery ids are UUIDs and resources the spec's names. PostgreSQL would fail the
// statement on one, rather than match nothing.
func (q *Queue) list(values []string) any {
	return q.d.List(slices.DeleteFunc(slices.Clone(values), func(v string) bool { return !Storable(v) }))
}

// timeDest is a scan destination for a time column, read as the dialect reads it: nil is the
// zero time.
type timeDest struct {
	d *Dialect
	t *time.Time
}

func (c timeDest) Scan(v any) (err error) {
	*c.t = time.Time{}
	if v != nil {
		*c.t, err = c.d.ParseTime(v)
	}
	return err
}

// scanTime is a scan destination for a time column, into t.
func (q *Queue) scanTime(t *time.Time) timeDest { return timeDest{q.d, t} }

// Subscription implements store.Queue: a subscription is read, and made when it is missing.
func (q *Queue) Subscription(ctx context.Context, name string) (store.Subscription, error) {
	sub, ok, err := q.subscription(ctx, name)
	if ok || err != nil {
		return sub, err
	}
	// A new subscription starts at the end of the outbox: it is not sent the backlog.
	if _, err := q.run.Alone.Exec(ctx, `INSERT INTO `+q.subscriptions+` ("name", "cursor")
		VALUES (`+q.p(1)+`, (SELECT coalesce(max("seq"), 0) FROM `+q.events+`)) ON CONFLICT ("name") DO NOTHING`, name); err != nil {
		return sub, err
	}
	sub, _, err = q.subscription(ctx, name)
	return sub, err
}

// subscription reads a subscription; ok is false when there is none.
func (q *Queue) subscription(ctx context.Context, name string) (sub store.Subscription, ok bool, err error) {
	sub.Name = name
	err = q.run.Read.Query(ctx, func(rows Rows) error {
		if ok = rows.Next(); !ok {
			return rows.Err()
		}
		return rows.Scan(&sub.Cursor, q.scanTime(&sub.Disabled))
	}, `SELECT "cursor", "disabled_at" FROM `+q.subscriptions+` WHERE "name" = `+q.p(1), name)
	return sub, ok, err
}

// deliveryColumns are the deliveries' columns, in the order of deliveryArgs and scanDeliveries.
const deliveryColumns = `"id", "subscription", "event_id", "event_seq", "event_type", "resource", "record_id", "payload",
  "attempts", "state", "next_at", "last_status", "last_error", "created_at", "updated_at", "trace"`

// deliveryArgs are d's columns as parameters.
func (q *Queue) deliveryArgs(d store.Delivery) []any {
	return []any{d.ID, d.Subscription, d.EventID, d.EventSeq, d.EventType, d.Resource, d.RecordID, d.Payload,
		d.Attempts, string(d.State), q.d.Time(d.NextAt), d.LastStatus, d.LastError, q.d.Time(d.CreatedAt), q.d.Time(d.UpdatedAt), textOrNull(d.Trace)}
}

// scanDeliveries reads rows of deliveryColumns.
func (q *Queue) scanDeliveries(rows Rows) ([]store.Delivery, error) {
	var out []store.Delivery
	for rows.Next() {
		var d store.Delivery
		var state string
		if err := rows.Scan(&d.ID, &d.Subscription, &d.EventID, &d.EventSeq, &d.EventType, &d.Resource, &d.RecordID,
			&d.Payload, &d.Attempts, &state, q.scanTime(&d.NextAt), &d.LastStatus, &d.LastError, q.scanTime(&d.CreatedAt), q.scanTime(&d.UpdatedAt), nullText{&d.Trace}); err != nil {
			return nil, err
		}
		d.State = store.State(state)
		out = append(out, d)
	}
	return out, rows.Err()
}

// Enqueue implements store.Queue.
func (q *Queue) Enqueue(ctx context.Context, name string, from, after int64, ds []store.Delivery) error {
	return q.run.Write(ctx, func(c Conn) error {
		n, err := c.Exec(ctx, `UPDATE `+q.subscriptions+` SET "cursor" = `+q.p(1)+` WHERE "name" = `+q.p(2)+` AND "cursor" = `+q.p(3), after, name, from)
		if err != nil {
			return err
		}
		if n == 0 {
			return store.ErrCursorMoved
		}
		insert := `INSERT INTO ` + q.deliveries + ` (` + deliveryColumns + `) VALUES (` + params(q.d, 16) + `)`
		for _, d := range ds {
			if _, err := c.Exec(ctx, insert, q.deliveryArgs(d)...); err != nil {
				return err
			}
		}
		return nil
	})
}

// Claim implements store.Queue. A claim takes a delivery by moving its due time to the
// claim's end, which Claimed then holds (see Save).
func (q *Queue) Claim(ctx context.Context, now, until time.Time, limit int) ([]store.Delivery, error) {
	var out []store.Delivery
	err := q.run.Alone.Query(ctx, func(rows Rows) (err error) {
		out, err = q.scanDeliveries(rows)
		return err
	}, `UPDATE `+q.deliveries+` SET "next_at" = `+q.d.At(1)+` WHERE "id" IN (
		SELECT d."id" FROM `+q.deliveries+` AS d
		WHERE d."state" = 'pending' AND d."next_at" <= `+q.d.At(2)+`
		  AND NOT EXISTS (SELECT 1 FROM `+q.subscriptions+` AS s WHERE s."name" = d."subscription" AND s."disabled_at" IS NOT NULL)
		  AND NOT EXISTS (SELECT 1 FROM `+q.deliveries+` AS e
		    WHERE e."subscription" = d."subscription" AND e."resource" = d."resource" AND e."record_id" = d."record_id"
		      AND e."state" = 'pending' AND e."event_seq" < d."event_seq")
		ORDER BY d."next_at", d."event_seq" LIMIT `+q.p(3)+q.d.SkipLocked+`)
		RETURNING `+deliveryColumns, q.d.AtArg(now, until), q.d.AtArg(now, now), q.d.Limit(limit))
	if err != nil {
		return nil, err
	}
	for i := range out {
		out[i].Claimed = out[i].NextAt
	}
	return out, nil
}

// Deliveries implements store.Queue.
func (q *Queue) Deliveries(ctx context.Context, state store.State, limit int) ([]store.Delivery, error) {
	var out []store.Delivery
	err := q.run.Read.Query(ctx, func(rows Rows) (err error) {
		out, err = q.scanDeliveries(rows)
		return err
	}, `SELECT `+deliveryColumns+` FROM `+q.deliveries+`
		WHERE "state" = `+q.p(1)+` ORDER BY "updated_at", "id" LIMIT `+q.p(2), string(state), q.d.Limit(limit))
	return out, err
}

// Save implements store.Queue.
func (q *Queue) Save(ctx context.Context, d store.Delivery) error {
	n, err := q.run.Alone.Exec(ctx, `UPDATE `+q.deliveries+` SET "attempts" = `+q.p(1)+`, "state" = `+q.p(2)+`, "next_at" = `+q.p(3)+`,
		"last_status" = `+q.p(4)+`, "last_error" = `+q.p(5)+`, "updated_at" = `+q.p(6)+` WHERE "id" = `+q.p(7)+` AND "next_at" = `+q.p(8),
		d.Attempts, string(d.State), q.d.Time(d.NextAt), d.LastStatus, d.LastError, q.d.Time(d.UpdatedAt), d.ID, q.d.Time(d.Claimed))
	if err != nil {
		return err
	}
	if n == 0 {
		return store.ErrClaimLost
	}
	return nil
}

// dead selects the dead deliveries whose ids are the n-th parameter, or all of them when ids
// is empty; args is that parameter, if there is one.
func (q *Queue) dead(ids []string, n int) (where string, args []any) {
	if len(ids) == 0 {
		return `"state" = 'dead'`, nil
	}
	return `"state" = 'dead' AND ` + q.d.In(`"id"`, n), []any{q.list(ids)}
}

// Replay implements store.Queue. Replaying a subscription's deliveries also enables it again:
// an operator replays when the receiver is back.
func (q *Queue) Replay(ctx context.Context, ids []string, now time.Time) (int, error) {
	var n int64
	err := q.run.Write(ctx, func(c Conn) error {
		where, args := q.dead(ids, 1)
		if _, err := c.Exec(ctx, `UPDATE `+q.subscriptions+` SET "disabled_at" = NULL WHERE "name" IN (
			SELECT "subscription" FROM `+q.deliveries+` WHERE `+where+`)`, args...); err != nil {
			return err
		}
		where, args = q.dead(ids, 3)
		var err error
		n, err = c.Exec(ctx, `UPDATE `+q.deliveries+` SET "state" = 'pending', "attempts" = 0,
			"next_at" = `+q.p(1)+`, "updated_at" = `+q.p(2)+`, "last_error" = '' WHERE `+where,
			append([]any{q.d.Time(now), q.d.Time(now)}, args...)...)
		return err
	})
	return int(n), err
}

// Discard implements store.Queue.
func (q *Queue) Discard(ctx context.Context, ids []string) (int, error) {
	where, args := q.dead(ids, 1)
	n, err := q.run.Alone.Exec(ctx, `DELETE FROM `+q.deliveries+` WHERE `+where, args...)
	return int(n), err
}

// Disable implements store.Queue.
func (q *Queue) Disable(ctx context.Context, name string, at time.Time) error {
	_, err := q.run.Alone.Exec(ctx, `UPDATE `+q.subscriptions+` SET "disabled_at" = `+q.p(1)+` WHERE "name" = `+q.p(2), q.d.Time(at), name)
	return err
}

// Counts implements store.Queue.
func (q *Queue) Counts(ctx context.Context) (map[string]map[store.State]int, error) {
	var out map[string]map[store.State]int
	err := q.run.Read.Query(ctx, func(rows Rows) (err error) {
		out, err = scanCounts(rows)
		return err
	}, `SELECT "subscription", "state", count(*) FROM `+q.deliveries+` GROUP BY 1, 2`)
	return out, err
}

// scanCounts reads rows of (subscription, state, count), as store.Queue's Counts returns them.
func scanCounts(rows Rows) (map[string]map[store.State]int, error) {
	out := map[string]map[store.State]int{}
	for rows.Next() {
		var sub, state string
		var n int
		if err := rows.Scan(&sub, &state, &n); err != nil {
			return nil, err
		}
		if out[sub] == nil {
			out[sub] = map[store.State]int{}
		}
		out[sub][store.State(state)] = n
	}
	return out, rows.Err()
}

// Backlog implements store.Queue.
func (q *Queue) Backlog(ctx context.Context) (store.Backlog, error) {
	b := store.Backlog{Subscriptions: map[string]store.SubscriptionBacklog{}}
	err := q.run.Read.Query(ctx, func(rows Rows) error {
		if rows.Next() {
			if err := rows.Scan(&b.Head); err != nil {
				return err
			}
		}
		return rows.Err()
	}, `SELECT coalesce(max("seq"), 0) FROM `+q.events)
	if err != nil {
		return b, err
	}
	err = q.run.Read.Query(ctx, func(rows Rows) error {
		for rows.Next() {
			var name string
			var s store.SubscriptionBacklog
			if err := rows.Scan(&name, &s.Cursor, q.scanTime(&s.Oldest)); err != nil {
				return err
			}
			b.Subscriptions[name] = s
		}
		return rows.Err()
	}, `SELECT s."name", s."cursor", (SELECT e."time" FROM `+q.events+` e WHERE e."seq" > s."cursor" ORDER BY e."seq" LIMIT 1)
		FROM `+q.subscriptions+` s`)
	if err != nil {
		return b, err
	}
	err = q.run.Read.Query(ctx, func(rows Rows) error {
		for rows.Next() {
			var name string
			var n int
			if err := rows.Scan(&name, &n); err != nil {
				return err
			}
			if s, ok := b.Subscriptions[name]; ok {
				s.Dead = n
				b.Subscriptions[name] = s
			}
		}
		return rows.Err()
	}, `SELECT "subscription", count(*) FROM `+q.deliveries+` WHERE "state" = 'dead' GROUP BY 1`)
	return b, err
}

// SweepDeliveries implements store.Queue.
func (q *Queue) SweepDeliveries(ctx context.Context, before time.Time, limit int) (int, error) {
	n, err := q.run.Alone.Exec(ctx, `DELETE FROM `+q.deliveries+` WHERE "id" IN (
		SELECT "id" FROM `+q.deliveries+` WHERE "state" = 'delivered' AND "updated_at" < `+q.p(1)+` LIMIT `+q.p(2)+`)`,
		q.d.Time(before), q.d.Limit(limit))
	return int(n), err
}
