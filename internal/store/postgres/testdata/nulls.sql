CREATE TABLE "plinth"."products" (
  "id" TEXT COLLATE "C" NOT NULL,
  "created_at" TIMESTAMPTZ NOT NULL,
  "updated_at" TIMESTAMPTZ NOT NULL,
  "version" BIGINT NOT NULL,
  "name" TEXT COLLATE "C",
  "price" BIGINT,
  "stock" BIGINT,
  "tags" JSONB,
  "dims" JSONB,
  CONSTRAINT "pk_products" PRIMARY KEY ("id")
);
CREATE TABLE "plinth"."orders" (
  "id" TEXT COLLATE "C" NOT NULL,
  "created_at" TIMESTAMPTZ NOT NULL,
  "updated_at" TIMESTAMPTZ NOT NULL,
  "version" BIGINT NOT NULL,
  "owner" TEXT COLLATE "C",
  "lines" JSONB,
  "sum" BIGINT,
  "label" TEXT COLLATE "C",
  CONSTRAINT "pk_orders" PRIMARY KEY ("id")
);
CREATE INDEX "ix_products_created_at" ON "plinth"."products" ("created_at", "id");
CREATE INDEX "ix_orders_created_at" ON "plinth"."orders" ("created_at", "id");
INSERT INTO "plinth"."_plinth_fields" ("resource", "field", "signature", "no_nulls", "retired") VALUES
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
