package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"net/http"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// postgresSchema is Plinth's table layout for the shop on PostgreSQL
// (internal/store/postgres/testdata/shop.sql, and the outbox and idempotency tables of
// internal/store/postgres), in the reference's own schema; {schema} is its quoted name.
var postgresSchema = []string{
	`CREATE SCHEMA IF NOT EXISTS {schema}`,
	`CREATE TABLE IF NOT EXISTS {schema}."products" (
  "id" TEXT COLLATE "C" NOT NULL, "created_at" TIMESTAMPTZ NOT NULL, "updated_at" TIMESTAMPTZ NOT NULL,
  "version" BIGINT NOT NULL, "sku" TEXT COLLATE "C", "name" TEXT COLLATE "C", "description" TEXT COLLATE "C",
  "price_cents" BIGINT, "stock" BIGINT, "active" BOOLEAN, CONSTRAINT "pk_products" PRIMARY KEY ("id"))`,
	`CREATE UNIQUE INDEX IF NOT EXISTS "ux_products_sku" ON {schema}."products" ("sku" NULLS FIRST)`,
	`CREATE INDEX IF NOT EXISTS "ix_products_created_at" ON {schema}."products" ("created_at", "id")`,
	`CREATE INDEX IF NOT EXISTS "ix_products_price_cents" ON {schema}."products" ("price_cents" NULLS FIRST, "id")`,
	`CREATE TABLE IF NOT EXISTS {schema}."orders" (
  "id" TEXT COLLATE "C" NOT NULL, "created_at" TIMESTAMPTZ NOT NULL, "updated_at" TIMESTAMPTZ NOT NULL,
  "version" BIGINT NOT NULL, "customer_id" TEXT COLLATE "C", "status" TEXT COLLATE "C", "items" JSONB,
  "total_cents" BIGINT, "note" TEXT COLLATE "C", CONSTRAINT "pk_orders" PRIMARY KEY ("id"))`,
	`CREATE INDEX IF NOT EXISTS "ix_orders_created_at" ON {schema}."orders" ("created_at", "id")`,
	`CREATE INDEX IF NOT EXISTS "ix_orders_customer_id_status" ON {schema}."orders" ("customer_id" NULLS FIRST, "status" NULLS FIRST, "id")`,
	`CREATE TABLE IF NOT EXISTS {schema}."_plinth_events" (
  "seq" BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, "id" TEXT COLLATE "C" NOT NULL,
  "type" TEXT COLLATE "C" NOT NULL, "resource" TEXT COLLATE "C" NOT NULL, "record_id" TEXT COLLATE "C" NOT NULL,
  "time" TIMESTAMPTZ NOT NULL, "actor" TEXT COLLATE "C" NOT NULL, "data" JSONB NOT NULL)`,
	`CREATE TABLE IF NOT EXISTS {schema}."_plinth_outcomes" (
  "scope" BYTEA NOT NULL, "operation" BYTEA NOT NULL, "key" BYTEA NOT NULL, "fingerprint" BYTEA NOT NULL,
  "response" BYTEA NOT NULL, "created_at" TIMESTAMPTZ NOT NULL, "expires_at" TIMESTAMPTZ NOT NULL,
  PRIMARY KEY ("scope", "operation", "key"))`,
	`CREATE INDEX IF NOT EXISTS "_plinth_outcomes_expires" ON {schema}."_plinth_outcomes" ("expires_at")`,
}

// The columns of a product, as the statements below return them (twice for the conditional
// updates: the row before, joined as "o", and after, as "p").
const (
	pgProductCols = `"id", "sku", "name", "description", "price_cents", "stock", "active", "created_at", "updated_at", "version"`
	pgOldAndNew   = `o."id", o."sku", o."name", o."description", o."price_cents", o."stock", o."active", o."created_at", o."updated_at", o."version", ` +
		`p."id", p."sku", p."name", p."description", p."price_cents", p."stock", p."active", p."created_at", p."updated_at", p."version"`
)

// postgresDB does per request the SQL work Plinth's PostgreSQL driver does, in as few
// statements as the work allows, on a pgxpool of the same default size (max(4, CPUs)), with
// pgx preparing and caching each statement per connection as it does for Plinth:
//
//   - a write sent with an Idempotency-Key stores its response in the write's transaction, and
//     only when the key already has a live response rolls back and reads it, to replay it;
//   - every written row appends an event to the outbox (an order: the order and its product),
//     last thing before COMMIT, under a transaction-scoped advisory lock with a pg_notify: the
//     outbox order of docs/decisions/0009-postgres-outbox-order.md, which makes writes commit
//     one at a time;
//   - an event of an update holds the row before and after: the conditional UPDATE joins the
//     row to itself to return both, where Plinth reads the row FOR UPDATE first. (Under a
//     concurrent update of the same row the joined "before" may predate it; nothing reads the
//     reference's events.)
type postgresDB struct {
	pool                        *pgxpool.Pool
	lock                        int64  // the outbox's advisory lock
	channel                     string // its notification channel
	get1, list1, insert, setStk string
	reserve, insertOrd, events  string
	putIdem, getIdem            string
}

var _ store = (*postgresDB)(nil)

func openPostgres(ctx context.Context, url, schema string) (*postgresDB, error) {
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		return nil, err
	}
	q := pgx.Identifier{schema}.Sanitize()
	for _, ddl := range postgresSchema {
		if _, err := pool.Exec(ctx, strings.ReplaceAll(ddl, "{schema}", q)); err != nil {
			pool.Close()
			return nil, fmt.Errorf("schema: %w", err)
		}
	}
	h := fnv.New64a()
	h.Write([]byte("refserver events " + schema))
	products, orders, idem := q+`."products"`, q+`."orders"`, q+`."_plinth_outcomes"`
	return &postgresDB{
		pool:    pool,
		lock:    int64(h.Sum64()),
		channel: "refserver_events_" + schema,
		get1:    `SELECT ` + pgProductCols + ` FROM ` + products + ` WHERE "id" = $1`,
		list1: `SELECT ` + pgProductCols + ` FROM ` + products +
			` WHERE "price_cents" > $1 ORDER BY "price_cents" DESC NULLS LAST, "id" DESC LIMIT $2`,
		insert: `INSERT INTO ` + products + ` ("id", "sku", "name", "description", "price_cents", "stock", "active", "created_at", "updated_at", "version")
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 1)`,
		setStk: `UPDATE ` + products + ` p SET "stock" = $1, "updated_at" = $2, "version" = p."version" + 1
			FROM ` + products + ` o WHERE p."id" = $3 AND p."version" = $4 AND o."id" = p."id" RETURNING ` + pgOldAndNew,
		reserve: `UPDATE ` + products + ` p SET "stock" = p."stock" - $1, "updated_at" = $2, "version" = p."version" + 1
			FROM ` + products + ` o WHERE p."id" = $3 AND p."stock" >= $1 AND o."id" = p."id" RETURNING ` + pgOldAndNew,
		insertOrd: `INSERT INTO ` + orders + ` ("id", "created_at", "updated_at", "version", "customer_id", "status", "items", "total_cents", "note")
			VALUES ($1, $2, $3, 1, $4, $5, $6, $7, $8)`,
		events: `INSERT INTO ` + q + `."_plinth_events" ("id", "type", "resource", "record_id", "time", "actor", "data")
			VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		// As Plinth's: an expired outcome the sweep has not reached yet gives way to the new one.
		putIdem: `INSERT INTO ` + idem + ` ("scope", "operation", "key", "fingerprint", "response", "created_at", "expires_at")
			VALUES ($1, $2, $3, $4, $5, $6, $7)
			ON CONFLICT ("scope", "operation", "key") DO UPDATE SET
			  "fingerprint" = excluded."fingerprint", "response" = excluded."response",
			  "created_at" = excluded."created_at", "expires_at" = excluded."expires_at"
			WHERE "_plinth_outcomes"."expires_at" <= excluded."created_at"`,
		getIdem: `SELECT "fingerprint", "response" FROM ` + idem +
			` WHERE "scope" = $1 AND "operation" = $2 AND "key" = $3 AND "expires_at" > $4`,
	}, nil
}

func (s *postgresDB) close() { s.pool.Close() }

func (s *postgresDB) ping(ctx context.Context) error { return s.pool.Ping(ctx) }

// pgProduct scans a product's columns.
type pgProduct struct {
	p                product
	created, updated time.Time
}

func (x *pgProduct) dests() []any {
	p := &x.p
	return []any{&p.ID, &p.SKU, &p.Name, &p.Description, &p.PriceCents, &p.Stock, &p.Active, &x.created, &x.updated, &p.Version}
}

func (x *pgProduct) product() product {
	x.p.CreatedAt = x.created.UTC().Format(timeLayout)
	x.p.UpdatedAt = x.updated.UTC().Format(timeLayout)
	return x.p
}

func (s *postgresDB) get(ctx context.Context, id string) (product, error) {
	var x pgProduct
	err := s.pool.QueryRow(ctx, s.get1, id).Scan(x.dests()...)
	return x.product(), notFound(err)
}

func (s *postgresDB) list(ctx context.Context, minPrice int64, limit int) ([]product, error) {
	rows, err := s.pool.Query(ctx, s.list1, minPrice, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	items := make([]product, 0, limit)
	var x pgProduct
	dests := x.dests()
	for rows.Next() {
		x = pgProduct{}
		if err := rows.Scan(dests...); err != nil {
			return nil, err
		}
		items = append(items, x.product())
	}
	return items, rows.Err()
}

// event is an outbox row of the transaction being written.
type event struct {
	typ, resource, id string
	data              []byte
}

func newEvent(typ, resource, id string, record, old any) (event, error) {
	data, err := json.Marshal(struct {
		Record any `json:"record"`
		Old    any `json:"old,omitempty"`
	}{record, old})
	return event{typ: typ, resource: resource, id: id, data: data}, err
}

// commit appends the events under the outbox lock, stores the response under k when k is
// not nil, and commits tx.
func (s *postgresDB) commit(ctx context.Context, tx pgx.Tx, now time.Time, actor string, k *keyed, res response, evs ...event) error {
	if k != nil {
		stored, err := res.encode()
		if err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, s.putIdem, []byte(k.scope), []byte(k.operation), []byte(k.key),
			[]byte(k.fingerprint), stored, now, now.Add(24*time.Hour))
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return errKeyTaken
		}
	}
	b := &pgx.Batch{}
	b.Queue("SELECT pg_advisory_xact_lock($1)", s.lock)
	for _, ev := range evs {
		b.Queue(s.events, newID(), ev.typ, ev.resource, ev.id, now, actor, string(ev.data))
	}
	b.Queue("SELECT pg_notify($1, '')", s.channel)
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

func (s *postgresDB) create(ctx context.Context, p product, now time.Time, k *keyed) (response, error) {
	res, err := created("/v1/products/"+p.ID, p)
	if err != nil {
		return res, err
	}
	ev, err := newEvent("products.created", "products", p.ID, p, nil)
	if err != nil {
		return res, err
	}
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.ReadCommitted})
	if err != nil {
		return res, err
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if _, err := tx.Exec(ctx, s.insert, p.ID, p.SKU, p.Name, p.Description, p.PriceCents, p.Stock, p.Active, now, now); err != nil {
		return res, err
	}
	return res, s.commit(ctx, tx, now, admin, k, res, ev)
}

// update runs one of the conditional updates, which return the row before and after, and
// appends their products.updated event to evs.
func (s *postgresDB) update(ctx context.Context, tx pgx.Tx, evs []event, sql string, args ...any) (product, []event, error) {
	var old, cur pgProduct
	if err := tx.QueryRow(ctx, sql, args...).Scan(append(old.dests(), cur.dests()...)...); err != nil {
		return product{}, evs, notFound(err)
	}
	p := cur.product()
	ev, err := newEvent("products.updated", "products", p.ID, p, old.product())
	return p, append(evs, ev), err
}

func (s *postgresDB) setStock(ctx context.Context, id string, stock, version int64, now time.Time) (product, error) {
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.ReadCommitted})
	if err != nil {
		return product{}, err
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	p, evs, err := s.update(ctx, tx, nil, s.setStk, stock, now, id, version)
	if err != nil {
		return p, err
	}
	return p, s.commit(ctx, tx, now, admin, nil, response{}, evs...)
}

func (s *postgresDB) order(ctx context.Context, o *order, now time.Time, k *keyed) (response, error) {
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.ReadCommitted})
	if err != nil {
		return response{}, err
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	evs := make([]event, 1, 1+len(o.Items))
	for i := range o.Items {
		it := &o.Items[i]
		var p product
		if p, evs, err = s.update(ctx, tx, evs, s.reserve, it.Quantity, now, it.ProductID); err != nil {
			return response{}, err
		}
		it.Name, it.UnitPriceCents = p.Name, p.PriceCents
		o.TotalCents += it.Quantity * it.UnitPriceCents
	}
	items, err := json.Marshal(o.Items)
	if err != nil {
		return response{}, err
	}
	if _, err := tx.Exec(ctx, s.insertOrd, o.ID, now, now, o.CustomerID, o.Status, string(items), o.TotalCents, o.Note); err != nil {
		return response{}, err
	}
	res, err := created("/v1/orders/"+o.ID, o)
	if err != nil {
		return res, err
	}
	if evs[0], err = newEvent("orders.created", "orders", o.ID, o, nil); err != nil {
		return res, err
	}
	return res, s.commit(ctx, tx, now, customer, k, res, evs...)
}

func (s *postgresDB) replay(ctx context.Context, k *keyed) (*response, error) {
	var fingerprint, stored []byte
	err := s.pool.QueryRow(ctx, s.getIdem, []byte(k.scope), []byte(k.operation), []byte(k.key), time.Now()).
		Scan(&fingerprint, &stored)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if string(fingerprint) != k.fingerprint {
		return &response{status: http.StatusUnprocessableEntity, body: []byte("this Idempotency-Key was used with another body\n")}, nil
	}
	return decodeResponse(stored)
}

func notFound(err error) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return errNotFound
	}
	return err
}
