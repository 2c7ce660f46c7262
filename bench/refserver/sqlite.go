package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"time"

	_ "modernc.org/sqlite"
)

// sqliteSchema is Plinth's table layout for the shop on SQLite
// (internal/store/sqlite/testdata/shop.sql).
var sqliteSchema = []string{
	`CREATE TABLE IF NOT EXISTS "products" (
  "id" TEXT PRIMARY KEY NOT NULL, "created_at" TEXT NOT NULL, "updated_at" TEXT NOT NULL,
  "version" INTEGER NOT NULL, "sku" TEXT, "name" TEXT, "description" TEXT,
  "price_cents" INTEGER, "stock" INTEGER, "active" INTEGER) STRICT`,
	`CREATE UNIQUE INDEX IF NOT EXISTS "ux_products_sku" ON "products" ("sku")`,
	`CREATE INDEX IF NOT EXISTS "ix_products_price_cents" ON "products" ("price_cents")`,
	`CREATE TABLE IF NOT EXISTS "customers" (
  "id" TEXT PRIMARY KEY NOT NULL, "created_at" TEXT NOT NULL, "updated_at" TEXT NOT NULL,
  "version" INTEGER NOT NULL, "user_id" TEXT, "email" TEXT, "name" TEXT) STRICT`,
	`CREATE UNIQUE INDEX IF NOT EXISTS "ux_customers_user_id" ON "customers" ("user_id")`,
	`CREATE TABLE IF NOT EXISTS "orders" (
  "id" TEXT PRIMARY KEY NOT NULL, "created_at" TEXT NOT NULL, "updated_at" TEXT NOT NULL,
  "version" INTEGER NOT NULL, "customer_id" TEXT, "status" TEXT, "items" TEXT,
  "total_cents" INTEGER, "note" TEXT) STRICT`,
	`CREATE INDEX IF NOT EXISTS "ix_orders_customer_id_status" ON "orders" ("customer_id", "status")`,
}

const productCols = `"id", "sku", "name", "description", "price_cents", "stock", "active", "created_at", "updated_at", "version"`

// sqliteDB holds the two pools and the prepared statements, as Plinth's SQLite store does: one
// writer connection (BEGIN IMMEDIATE) and a pool of query-only readers. It writes no events
// and no idempotency records: on SQLite those are counted as what Plinth's guarantees cost.
type sqliteDB struct {
	write, read *sql.DB

	getProduct, listProducts   *sql.Stmt // readers
	insertProduct, updateStock *sql.Stmt // writer
	reserve, insertOrder       *sql.Stmt // writer
}

var _ store = (*sqliteDB)(nil)

func openSQLite(ctx context.Context, dir string) (*sqliteDB, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, "ref.db")
	dsn := func(extra ...string) string {
		q := url.Values{}
		q.Add("_pragma", "busy_timeout(5000)")
		q.Add("_pragma", "journal_mode(WAL)")
		q.Add("_pragma", "synchronous(NORMAL)")
		q.Add("_pragma", "foreign_keys(ON)")
		for _, p := range extra {
			q.Add("_pragma", p)
		}
		q.Set("_txlock", "immediate")
		return "file:" + path + "?" + q.Encode()
	}
	s := &sqliteDB{}
	var err error
	if s.write, err = sql.Open("sqlite", dsn()); err != nil {
		return nil, err
	}
	s.write.SetMaxOpenConns(1)
	s.write.SetMaxIdleConns(1)
	s.write.SetConnMaxLifetime(0)
	for _, q := range sqliteSchema {
		if _, err := s.write.ExecContext(ctx, q); err != nil {
			s.close()
			return nil, fmt.Errorf("schema: %w", err)
		}
	}
	readers := max(4, 2*runtime.GOMAXPROCS(0))
	if s.read, err = sql.Open("sqlite", dsn("query_only(1)")); err != nil {
		s.close()
		return nil, err
	}
	s.read.SetMaxOpenConns(readers)
	s.read.SetMaxIdleConns(readers)
	stmts := []struct {
		dst **sql.Stmt
		db  *sql.DB
		sql string
	}{
		{&s.getProduct, s.read, `SELECT ` + productCols + ` FROM "products" WHERE "id" = ?`},
		{&s.listProducts, s.read, `SELECT ` + productCols + ` FROM "products" WHERE "price_cents" > ? ORDER BY "price_cents" DESC, "id" LIMIT ?`},
		{&s.insertProduct, s.write, `INSERT INTO "products" ("id", "sku", "name", "description", "price_cents", "stock", "active", "created_at", "updated_at", "version") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 1)`},
		{&s.updateStock, s.write, `UPDATE "products" SET "stock" = ?, "updated_at" = ?, "version" = "version" + 1 WHERE "id" = ? AND "version" = ? RETURNING ` + productCols},
		{&s.reserve, s.write, `UPDATE "products" SET "stock" = "stock" - ?, "updated_at" = ?, "version" = "version" + 1 WHERE "id" = ? AND "stock" >= ? RETURNING "name", "price_cents"`},
		{&s.insertOrder, s.write, `INSERT INTO "orders" ("id", "created_at", "updated_at", "version", "customer_id", "status", "items", "total_cents", "note") VALUES (?, ?, ?, 1, ?, ?, ?, ?, ?)`},
	}
	for _, st := range stmts {
		if *st.dst, err = st.db.PrepareContext(ctx, st.sql); err != nil {
			s.close()
			return nil, fmt.Errorf("prepare: %w", err)
		}
	}
	return s, nil
}

func (s *sqliteDB) close() {
	for _, st := range []*sql.Stmt{s.getProduct, s.listProducts, s.insertProduct, s.updateStock, s.reserve, s.insertOrder} {
		if st != nil {
			st.Close()
		}
	}
	if s.read != nil {
		s.read.Close()
	}
	if s.write != nil {
		s.write.Close()
	}
}

func (s *sqliteDB) ping(ctx context.Context) error { return s.read.PingContext(ctx) }

type scanner interface{ Scan(dst ...any) error }

func scanProduct(sc scanner) (product, error) {
	var p product
	err := sc.Scan(&p.ID, &p.SKU, &p.Name, &p.Description, &p.PriceCents, &p.Stock, &p.Active, &p.CreatedAt, &p.UpdatedAt, &p.Version)
	if errors.Is(err, sql.ErrNoRows) {
		err = errNotFound
	}
	return p, err
}

func (s *sqliteDB) get(ctx context.Context, id string) (product, error) {
	return scanProduct(s.getProduct.QueryRowContext(ctx, id))
}

func (s *sqliteDB) list(ctx context.Context, minPrice int64, limit int) ([]product, error) {
	rows, err := s.listProducts.QueryContext(ctx, minPrice, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	items := make([]product, 0, limit)
	for rows.Next() {
		p, err := scanProduct(rows)
		if err != nil {
			return nil, err
		}
		items = append(items, p)
	}
	return items, rows.Err()
}

func (s *sqliteDB) create(ctx context.Context, p product, _ time.Time, _ *keyed) (response, error) {
	if _, err := s.insertProduct.ExecContext(ctx, p.ID, p.SKU, p.Name, p.Description, p.PriceCents, p.Stock, p.Active, p.CreatedAt, p.UpdatedAt); err != nil {
		return response{}, err
	}
	return created("/v1/products/"+p.ID, p)
}

func (s *sqliteDB) setStock(ctx context.Context, id string, stock, version int64, now time.Time) (product, error) {
	return scanProduct(s.updateStock.QueryRowContext(ctx, stock, now.Format(timeLayout), id, version))
}

func (s *sqliteDB) order(ctx context.Context, o *order, _ time.Time, _ *keyed) (response, error) {
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return response{}, err
	}
	defer tx.Rollback()
	// The shop reserves stock in the order's transaction; the same statement reads the price.
	reserve := tx.StmtContext(ctx, s.reserve)
	for i := range o.Items {
		it := &o.Items[i]
		err := reserve.QueryRowContext(ctx, it.Quantity, o.UpdatedAt, it.ProductID, it.Quantity).Scan(&it.Name, &it.UnitPriceCents)
		if errors.Is(err, sql.ErrNoRows) {
			return response{}, errNotFound
		}
		if err != nil {
			return response{}, err
		}
		o.TotalCents += it.Quantity * it.UnitPriceCents
	}
	items, err := json.Marshal(o.Items)
	if err != nil {
		return response{}, err
	}
	if _, err := tx.StmtContext(ctx, s.insertOrder).ExecContext(ctx, o.ID, o.CreatedAt, o.UpdatedAt, o.CustomerID, o.Status, string(items), o.TotalCents, o.Note); err != nil {
		return response{}, err
	}
	if err := tx.Commit(); err != nil {
		return response{}, err
	}
	return created("/v1/orders/"+o.ID, o)
}

// replay has nothing to replay: the SQLite reference keeps no idempotency records.
func (s *sqliteDB) replay(context.Context, *keyed) (*response, error) { return nil, nil }
