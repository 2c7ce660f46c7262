CREATE TABLE "products" (
  "id" TEXT PRIMARY KEY NOT NULL,
  "created_at" TEXT NOT NULL,
  "updated_at" TEXT NOT NULL,
  "version" INTEGER NOT NULL,
  "name" TEXT,
  "price" INTEGER,
  "stock" INTEGER,
  "tags" TEXT,
  "dims" TEXT
) STRICT;
CREATE TABLE "orders" (
  "id" TEXT PRIMARY KEY NOT NULL,
  "created_at" TEXT NOT NULL,
  "updated_at" TEXT NOT NULL,
  "version" INTEGER NOT NULL,
  "owner" TEXT,
  "lines" TEXT,
  "sum" INTEGER,
  "label" TEXT
) STRICT;
CREATE INDEX "ix_products_created_at" ON "products" ("created_at", "id");
CREATE INDEX "ix_orders_created_at" ON "orders" ("created_at", "id");
INSERT INTO "_plinth_fields" ("resource", "field", "signature", "no_nulls", "retired") VALUES
  ('products', 'name', 'string', TRUE, FALSE),
  ('products', 'price', 'integer', FALSE, FALSE),
  ('products', 'stock', 'integer', TRUE, FALSE),
  ('products', 'tags', 'array(string)', FALSE, FALSE),
  ('products', 'dims', 'object', FALSE, FALSE),
  ('orders', 'owner', 'string', TRUE, FALSE),
  ('orders', 'lines', 'array(object)', TRUE, FALSE),
  ('orders', 'sum', 'integer', FALSE, FALSE),
  ('orders', 'label', 'string', FALSE, FALSE)
ON CONFLICT ("resource", "field") DO UPDATE SET "signature" = excluded."signature", "no_nulls" = excluded."no_nulls", "retired" = excluded."retired";
