CREATE TABLE "plinth"."posts" (
  "id" TEXT COLLATE "C" NOT NULL,
  "created_at" TIMESTAMPTZ NOT NULL,
  "updated_at" TIMESTAMPTZ NOT NULL,
  "version" BIGINT NOT NULL,
  "title" TEXT COLLATE "C",
  CONSTRAINT "pk_posts" PRIMARY KEY ("id")
);
CREATE TABLE "plinth"."comments" (
  "id" TEXT COLLATE "C" NOT NULL,
  "created_at" TIMESTAMPTZ NOT NULL,
  "updated_at" TIMESTAMPTZ NOT NULL,
  "version" BIGINT NOT NULL,
  "post" TEXT COLLATE "C",
  "parent" TEXT COLLATE "C",
  "quotes" TEXT COLLATE "C",
  "body" TEXT COLLATE "C",
  CONSTRAINT "pk_comments" PRIMARY KEY ("id")
);
CREATE TABLE "plinth"."pins" (
  "id" TEXT COLLATE "C" NOT NULL,
  "created_at" TIMESTAMPTZ NOT NULL,
  "updated_at" TIMESTAMPTZ NOT NULL,
  "version" BIGINT NOT NULL,
  "post" TEXT COLLATE "C",
  "comment" TEXT COLLATE "C",
  CONSTRAINT "pk_pins" PRIMARY KEY ("id")
);
CREATE INDEX "ix_posts_created_at" ON "plinth"."posts" ("created_at", "id");
ALTER TABLE "plinth"."comments" ADD CONSTRAINT "fk_comments_post" FOREIGN KEY ("post") REFERENCES "plinth"."posts" ("id") ON DELETE RESTRICT;
ALTER TABLE "plinth"."comments" ADD CONSTRAINT "fk_comments_parent" FOREIGN KEY ("parent") REFERENCES "plinth"."comments" ("id") ON DELETE RESTRICT;
ALTER TABLE "plinth"."comments" ADD CONSTRAINT "fk_comments_quotes" FOREIGN KEY ("quotes") REFERENCES "plinth"."comments" ("id") ON DELETE RESTRICT;
CREATE INDEX "ix_comments_post" ON "plinth"."comments" ("post" NULLS FIRST, "id");
CREATE INDEX "ix_comments_parent" ON "plinth"."comments" ("parent" NULLS FIRST, "id");
CREATE INDEX "ix_comments_quotes" ON "plinth"."comments" ("quotes" NULLS FIRST, "id");
CREATE INDEX "ix_comments_created_at" ON "plinth"."comments" ("created_at", "id");
ALTER TABLE "plinth"."pins" ADD CONSTRAINT "fk_pins_post" FOREIGN KEY ("post") REFERENCES "plinth"."posts" ("id") ON DELETE RESTRICT;
ALTER TABLE "plinth"."pins" ADD CONSTRAINT "fk_pins_comment" FOREIGN KEY ("comment") REFERENCES "plinth"."comments" ("id") ON DELETE RESTRICT;
CREATE INDEX "ix_pins_post" ON "plinth"."pins" ("post" NULLS FIRST, "id");
CREATE INDEX "ix_pins_comment" ON "plinth"."pins" ("comment" NULLS FIRST, "id");
CREATE INDEX "ix_pins_created_at" ON "plinth"."pins" ("created_at", "id");
INSERT INTO "plinth"."_plinth_fields" ("resource", "field", "signature", "no_nulls", "retired") VALUES
  ('posts', 'title', 'string', FALSE, FALSE),
  ('comments', 'post', 'ref(posts)', TRUE, FALSE),
  ('comments', 'parent', 'ref(comments)', FALSE, FALSE),
  ('comments', 'quotes', 'ref(comments)', FALSE, FALSE),
  ('comments', 'body', 'string', FALSE, FALSE),
  ('pins', 'post', 'ref(posts)', FALSE, FALSE),
  ('pins', 'comment', 'ref(comments)', FALSE, FALSE)
ON CONFLICT ("resource", "field") DO UPDATE SET "signature" = excluded."signature", "no_nulls" = excluded."no_nulls", "retired" = excluded."retired";
