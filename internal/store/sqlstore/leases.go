package sqlstore

import (
	"context"
	"time"
)

// Lease implements store.Leaser: it takes the lease when it is free or has expired.
func (q *Queue) Lease(ctx context.Context, name, owner string, now, until time.Time) (bool, error) {
	n, err := q.run.Alone.Exec(ctx, `INSERT INTO `+q.leases+` ("name", "owner", "until") VALUES (`+q.p(1)+`, `+q.p(2)+`, `+q.d.At(3)+`)
		ON CONFLICT ("name") DO UPDATE SET "owner" = excluded."owner", "until" = excluded."until"
		WHERE `+q.leases+`."until" <= `+q.d.At(4), name, owner, q.d.AtArg(now, until), q.d.AtArg(now, now))
	return n == 1, err
}

// Renew implements store.Leaser: the owner keeps the lease until until, if that is later
// than it holds it already; false when it is no longer the owner's.
func (q *Queue) Renew(ctx context.Context, name, owner string, now, until time.Time) (bool, error) {
	n, err := q.run.Alone.Exec(ctx, `UPDATE `+q.leases+` SET "until" = `+q.d.Greatest+`("until", `+q.d.At(1)+`)
		WHERE "name" = `+q.p(2)+` AND "owner" = `+q.p(3), q.d.AtArg(now, until), name, owner)
	return n == 1, err
}

// Cut implements store.Leaser: the owner's lease ends at until.
func (q *Queue) Cut(ctx context.Context, name, owner string, now, until time.Time) error {
	_, err := q.run.Alone.Exec(ctx, `UPDATE `+q.leases+` SET "until" = `+q.d.At(1)+`
		WHERE "name" = `+q.p(2)+` AND "owner" = `+q.p(3), q.d.AtArg(now, until), name, owner)
	return err
}
