CREATE TABLE "posts" (
  "id" TEXT PRIMARY KEY NOT NULL,
  "created_at" TEXT NOT NULL,
  "updated_at" TEXT NOT NULL,
  "version" INTEGER NOT NULL,
  "title" TEXT
) STRICT;
CREATE TABLE "comments" (
  "id" TEXT PRIMARY KEY NOT NULL,
  "created_at" TEXT NOT NULL,
  "updated_at" TEXT NOT NULL,
  "version" INTEGER NOT NULL,
  "post" TEXT REFERENCES "posts" ("id") ON DELETE RESTRICT,
  "parent" TEXT REFERENCES "comments" ("id") ON DELETE RESTRICT,
  "quotes" TEXT REFERENCES "comments" ("id") ON DELETE RESTRICT,
  "body" TEXT
) STRICT;
CREATE TABLE "pins" (
  "id" TEXT PRIMARY KEY NOT NULL,
  "created_at" TEXT NOT NULL,
  "updated_at" TEXT NOT NULL,
  "version" INTEGER NOT NULL,
  "post" TEXT REFERENCES "posts" ("id") ON DELETE RESTRICT,
  "comment" TEXT REFERENCES "comments" ("id") ON DELETE RESTRICT
) STRICT;
CREATE INDEX "ix_posts_created_at" ON "posts" ("created_at", "id");
CREATE INDEX "ix_comments_post" ON "comments" ("post", "id");
CREATE INDEX "ix_comments_parent" ON "comments" ("parent", "id");
CREATE INDEX "ix_comments_quotes" ON "comments" ("quotes", "id");
CREATE INDEX "ix_comments_created_at" ON "comments" ("created_at", "id");
CREATE INDEX "ix_pins_post" ON "pins" ("post", "id");
CREATE INDEX "ix_pins_comment" ON "pins" ("comment", "id");
CREATE INDEX "ix_pins_created_at" ON "pins" ("created_at", "id");
INSERT INTO "_plinth_fields" ("resource", "field", "signature", "no_nulls", "retired") VALUES
  ('posts', 'title', 'string', FALSE, FALSE),
  ('comments', 'post', 'ref(posts)', TRUE, FALSE),
  ('comments', 'parent', 'ref(comments)', FALSE, FALSE),
  ('comments', 'quotes', 'ref(comments)', FALSE, FALSE),
  ('comments', 'body', 'string', FALSE, FALSE),
  ('pins', 'post', 'ref(posts)', FALSE, FALSE),
  ('pins', 'comment', 'ref(comments)', FALSE, FALSE)
ON CONFLICT ("resource", "field") DO UPDATE SET "signature" = excluded."signature", "no_nulls" = excluded."no_nulls", "retired" = excluded."retired";
