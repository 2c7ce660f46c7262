CREATE TABLE "products" (
  "id" TEXT PRIMARY KEY NOT NULL,
  "created_at" TEXT NOT NULL,
  "updated_at" TEXT NOT NULL,
  "version" INTEGER NOT NULL,
  "sku" TEXT,
  "name" TEXT,
  "description" TEXT,
  "price_cents" INTEGER,
  "stock" INTEGER,
  "active" INTEGER
) STRICT;
CREATE TABLE "customers" (
  "id" TEXT PRIMARY KEY NOT NULL,
  "created_at" TEXT NOT NULL,
  "updated_at" TEXT NOT NULL,
  "version" INTEGER NOT NULL,
  "user_id" TEXT,
  "email" TEXT,
  "name" TEXT
) STRICT;
CREATE TABLE "orders" (
  "id" TEXT PRIMARY KEY NOT NULL,
  "created_at" TEXT NOT NULL,
  "updated_at" TEXT NOT NULL,
  "version" INTEGER NOT NULL,
  "customer_id" TEXT,
  "status" TEXT,
  "items" TEXT,
  "total_cents" INTEGER,
  "note" TEXT
) STRICT;
CREATE UNIQUE INDEX "ux_products_sku" ON "products" ("sku");
CREATE INDEX "ix_products_created_at" ON "products" ("created_at", "id");
CREATE INDEX "ix_products_price_cents" ON "products" ("price_cents", "id");
CREATE UNIQUE INDEX "ux_customers_user_id" ON "customers" ("user_id");
CREATE INDEX "ix_customers_created_at" ON "customers" ("created_at", "id");
CREATE INDEX "ix_orders_created_at" ON "orders" ("created_at", "id");
CREATE INDEX "ix_orders_customer_id_status" ON "orders" ("customer_id", "status", "id");
INSERT INTO "_plinth_fields" ("resource", "field", "signature", "no_nulls", "retired") VALUES
  ('products', 'sku', 'string', TRUE, FALSE),
  ('products', 'name', 'string', TRUE, FALSE),
  ('products', 'description', 'string', FALSE, FALSE),
  ('products', 'price_cents', 'integer', TRUE, FALSE),
  ('products', 'stock', 'integer', TRUE, FALSE),
  ('products', 'active', 'boolean', TRUE, FALSE),
  ('customers', 'user_id', 'string', TRUE, FALSE),
  ('customers', 'email', 'string', TRUE, FALSE),
  ('customers', 'name', 'string', TRUE, FALSE),
  ('orders', 'customer_id', 'string', TRUE, FALSE),
  ('orders', 'status', 'enum', TRUE, FALSE),
  ('orders', 'items', 'array(object)', TRUE, FALSE),
  ('orders', 'total_cents', 'integer', FALSE, FALSE),
  ('orders', 'note', 'string', FALSE, FALSE)
ON CONFLICT ("resource", "field") DO UPDATE SET "signature" = excluded."signature", "no_nulls" = excluded."no_nulls", "retired" = excluded."retired";
