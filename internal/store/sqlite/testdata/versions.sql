CREATE TABLE "products" (
  "id" TEXT PRIMARY KEY NOT NULL,
  "created_at" TEXT NOT NULL,
  "updated_at" TEXT NOT NULL,
  "version" INTEGER NOT NULL,
  "sku" TEXT,
  "price_cents" INTEGER,
  "legacy_code" TEXT
) STRICT;
CREATE TABLE "orders" (
  "id" TEXT PRIMARY KEY NOT NULL,
  "created_at" TEXT NOT NULL,
  "updated_at" TEXT NOT NULL,
  "version" INTEGER NOT NULL,
  "status" TEXT,
  "channel" TEXT,
  "items" TEXT
) STRICT;
CREATE TABLE "reviews" (
  "id" TEXT PRIMARY KEY NOT NULL,
  "created_at" TEXT NOT NULL,
  "updated_at" TEXT NOT NULL,
  "version" INTEGER NOT NULL,
  "product" TEXT REFERENCES "products" ("id") ON DELETE RESTRICT,
  "stars" INTEGER
) STRICT;
CREATE UNIQUE INDEX "ux_products_sku" ON "products" ("sku");
CREATE INDEX "ix_products_created_at" ON "products" ("created_at", "id");
CREATE INDEX "ix_products_price_cents" ON "products" ("price_cents", "id");
CREATE INDEX "ix_orders_created_at" ON "orders" ("created_at", "id");
CREATE INDEX "ix_reviews_product" ON "reviews" ("product", "id");
CREATE INDEX "ix_reviews_created_at" ON "reviews" ("created_at", "id");
INSERT INTO "_plinth_fields" ("resource", "field", "signature", "no_nulls", "retired") VALUES
  ('products', 'sku', 'string', TRUE, FALSE),
  ('products', 'price_cents', 'integer', TRUE, FALSE),
  ('products', 'legacy_code', 'string', FALSE, FALSE),
  ('orders', 'status', 'enum', TRUE, FALSE),
  ('orders', 'channel', 'enum', TRUE, FALSE),
  ('orders', 'items', 'array(object)', FALSE, FALSE),
  ('reviews', 'product', 'ref(products)', TRUE, FALSE),
  ('reviews', 'stars', 'integer', TRUE, FALSE)
ON CONFLICT ("resource", "field") DO UPDATE SET "signature" = excluded."signature", "no_nulls" = excluded."no_nulls", "retired" = excluded."retired";
