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
