CREATE TABLE "plinth"."products" (
  "id" TEXT COLLATE "C" NOT NULL,
  "created_at" TIMESTAMPTZ NOT NULL,
  "updated_at" TIMESTAMPTZ NOT NULL,
  "version" BIGINT NOT NULL,
  "sku" TEXT COLLATE "C",
  "name" TEXT COLLATE "C",
  "description" TEXT COLLATE "C",
  "price_cents" BIGINT,
  "stock" BIGINT,
  "active" BOOLEAN,
  CONSTRAINT "pk_products" PRIMARY KEY ("id")
);
CREATE TABLE "plinth"."customers" (
  "id" TEXT COLLATE "C" NOT NULL,
  "created_at" TIMESTAMPTZ NOT NULL,
  "updated_at" TIMESTAMPTZ NOT NULL,
  "version" BIGINT NOT NULL,
  "user_id" TEXT COLLATE "C",
  "email" TEXT COLLATE "C",
  "name" TEXT COLLATE "C",
  CONSTRAINT "pk_customers" PRIMARY KEY ("id")
);
CREATE TABLE "plinth"."orders" (
  "id" TEXT COLLATE "C" NOT NULL,
  "created_at" TIMESTAMPTZ NOT NULL,
  "updated_at" TIMESTAMPTZ NOT NULL,
  "version" BIGINT NOT NULL,
  "customer_id" TEXT COLLATE "C",
  "status" TEXT COLLATE "C",
  "items" JSONB,
  "total_cents" BIGINT,
  "note" TEXT COLLATE "C",
  CONSTRAINT "pk_orders" PRIMARY KEY ("id")
);
CREATE UNIQUE INDEX "ux_products_sku" ON "plinth"."products" ("sku" NULLS FIRST);
CREATE INDEX "ix_products_created_at" ON "plinth"."products" ("created_at", "id");
CREATE INDEX "ix_products_price_cents" ON "plinth"."products" ("price_cents" NULLS FIRST, "id");
CREATE UNIQUE INDEX "ux_customers_user_id" ON "plinth"."customers" ("user_id" NULLS FIRST);
CREATE INDEX "ix_customers_created_at" ON "plinth"."customers" ("created_at", "id");
CREATE INDEX "ix_orders_created_at" ON "plinth"."orders" ("created_at", "id");
CREATE INDEX "ix_orders_customer_id_status" ON "plinth"."orders" ("customer_id" NULLS FIRST, "status" NULLS FIRST, "id");
INSERT INTO "plinth"."_plinth_fields" ("resource", "field", "signature", "no_nulls", "retired") VALUES
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
