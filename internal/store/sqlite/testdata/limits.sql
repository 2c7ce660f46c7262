CREATE TABLE "orders" (
  "id" TEXT PRIMARY KEY NOT NULL,
  "created_at" TEXT NOT NULL,
  "updated_at" TEXT NOT NULL,
  "version" INTEGER NOT NULL,
  "note" TEXT
) STRICT;
CREATE INDEX "ix_orders_created_at" ON "orders" ("created_at", "id");
INSERT INTO "_plinth_fields" ("resource", "field", "signature", "no_nulls", "retired") VALUES
  ('orders', 'note', 'string', FALSE, FALSE)
ON CONFLICT ("resource", "field") DO UPDATE SET "signature" = excluded."signature", "no_nulls" = excluded."no_nulls", "retired" = excluded."retired";
