CREATE TABLE "plinth"."orders" (
  "id" TEXT COLLATE "C" NOT NULL,
  "created_at" TIMESTAMPTZ NOT NULL,
  "updated_at" TIMESTAMPTZ NOT NULL,
  "version" BIGINT NOT NULL,
  "note" TEXT COLLATE "C",
  CONSTRAINT "pk_orders" PRIMARY KEY ("id")
);
CREATE INDEX "ix_orders_created_at" ON "plinth"."orders" ("created_at", "id");
INSERT INTO "plinth"."_plinth_fields" ("resource", "field", "signature", "no_nulls", "retired") VALUES
  ('orders', 'note', 'string', FALSE, FALSE)
ON CONFLICT ("resource", "field") DO UPDATE SET "signature" = excluded."signature", "no_nulls" = excluded."no_nulls", "retired" = excluded."retired";
