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
