CREATE TABLE "plinth"."products" (
  "id" TEXT COLLATE "C" NOT NULL,
  "created_at" TIMESTAMPTZ NOT NULL,
  "updated_at" TIMESTAMPTZ NOT NULL,
  "version" BIGINT NOT NULL,
  "sku" TEXT COLLATE "C",
  "price_cents" BIGINT,
  "legacy_code" TEXT COLLATE "C",
  CONSTRAINT "pk_products" PRIMARY KEY ("id")
);
CREATE TABLE "plinth"."orders" (
  "id" TEXT COLLATE "C" NOT NULL,
  "created_at" TIMESTAMPTZ NOT NULL,
  "updated_at" TIMESTAMPTZ NOT NULL,
  "version" BIGINT NOT NULL,
  "status" TEXT COLLATE "C",
  "channel" TEXT COLLATE "C",
  "items" JSONB,
  CONSTRAINT "pk_orders" PRIMARY KEY ("id")
);
CREATE TABLE "plinth"."reviews" (
  "id" TEXT COLLATE "C" NOT NULL,
  "created_at" TIMESTAMPTZ NOT NULL,
  "updated_at" TIMESTAMPTZ NOT NULL,
  "version" BIGINT NOT NULL,
  "product" TEXT COLLATE "C",
  "stars" BIGINT,
  CONSTRAINT "pk_reviews" PRIMARY KEY ("id")
);
CREATE UNIQUE INDEX "ux_products_sku" ON "plinth"."products" ("sku" NULLS FIRST);
CREATE INDEX "ix_products_created_at" ON "plinth"."products" ("created_at", "id");
CREATE INDEX "ix_products_price_cents" ON "plinth"."products" ("price_cents" NULLS FIRST, "id");
CREATE INDEX "ix_orders_created_at" ON "plinth"."orders" ("created_at", "id");
ALTER TABLE "plinth"."reviews" ADD CONSTRAINT "fk_reviews_product" FOREIGN KEY ("product") REFERENCES "plinth"."products" ("id") ON DELETE RESTRICT;
CREATE INDEX "ix_reviews_product" ON "plinth"."reviews" ("product" NULLS FIRST, "id");
CREATE INDEX "ix_reviews_created_at" ON "plinth"."reviews" ("created_at", "id");
INSERT INTO "plinth"."_plinth_fields" ("resource", "field", "signature", "no_nulls", "retired") VALUES
  ('products', 'sku', 'string', TRUE, FALSE),
  ('products', 'price_cents', 'integer', TRUE, FALSE),
  ('products', 'legacy_code', 'string', FALSE, FALSE),
  ('orders', 'status', 'enum', TRUE, FALSE),
  ('orders', 'channel', 'enum', TRUE, FALSE),
  ('orders', 'items', 'array(object)', FALSE, FALSE),
  ('reviews', 'product', 'ref(products)', TRUE, FALSE),
  ('reviews', 'stars', 'integer', TRUE, FALSE)
ON CONFLICT ("resource", "field") DO UPDATE SET "signature" = excluded."signature", "no_nulls" = excluded."no_nulls", "retired" = excluded."retired";
