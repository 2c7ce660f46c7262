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
