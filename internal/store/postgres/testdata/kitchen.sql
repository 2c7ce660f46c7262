CREATE TABLE "plinth"."authors" (
  "id" TEXT COLLATE "C" NOT NULL,
  "created_at" TIMESTAMPTZ NOT NULL,
  "updated_at" TIMESTAMPTZ NOT NULL,
  "version" BIGINT NOT NULL,
  "name" TEXT COLLATE "C",
  "email" TEXT COLLATE "C",
  CONSTRAINT "pk_authors" PRIMARY KEY ("id")
);
CREATE TABLE "plinth"."books" (
  "id" TEXT COLLATE "C" NOT NULL,
  "created_at" TIMESTAMPTZ NOT NULL,
  "updated_at" TIMESTAMPTZ NOT NULL,
  "version" BIGINT NOT NULL,
  "title" TEXT COLLATE "C",
  "isbn" TEXT COLLATE "C",
  "site" TEXT COLLATE "C",
  "ref_code" TEXT COLLATE "C",
  "published_on" TEXT COLLATE "C",
  "pages" BIGINT,
  "rating" DOUBLE PRECISION,
  "in_print" BOOLEAN,
  "genre" TEXT COLLATE "C",
  "state" TEXT COLLATE "C",
  "author" TEXT COLLATE "C",
  "tags" JSONB,
  "chapters" JSONB,
  "dimensions" JSONB,
  "extra" JSONB,
  "release_at" TIMESTAMPTZ,
  "added_by" TEXT COLLATE "C",
  "reviewed_at" TIMESTAMPTZ,
  "page_total" BIGINT,
  "label" TEXT COLLATE "C",
  CONSTRAINT "pk_books" PRIMARY KEY ("id")
);
CREATE TABLE "plinth"."logs" (
  "id" TEXT COLLATE "C" NOT NULL,
  "created_at" TIMESTAMPTZ NOT NULL,
  "updated_at" TIMESTAMPTZ NOT NULL,
  "version" BIGINT NOT NULL,
  "message" TEXT COLLATE "C",
  CONSTRAINT "pk_logs" PRIMARY KEY ("id")
);
CREATE UNIQUE INDEX "ux_authors_email" ON "plinth"."authors" ("email" NULLS FIRST);
CREATE INDEX "ix_authors_created_at" ON "plinth"."authors" ("created_at", "id");
ALTER TABLE "plinth"."books" ADD CONSTRAINT "fk_books_author" FOREIGN KEY ("author") REFERENCES "plinth"."authors" ("id") ON DELETE RESTRICT;
CREATE UNIQUE INDEX "ux_books_isbn" ON "plinth"."books" ("isbn" NULLS FIRST);
CREATE INDEX "ix_books_author" ON "plinth"."books" ("author" NULLS FIRST, "id");
CREATE INDEX "ix_books_created_at" ON "plinth"."books" ("created_at", "id");
CREATE INDEX "ix_books_genre_rating" ON "plinth"."books" ("genre" NULLS FIRST, "rating" NULLS FIRST, "id");
CREATE UNIQUE INDEX "ux_books_title_author" ON "plinth"."books" ("title" NULLS FIRST, "author" NULLS FIRST);
CREATE INDEX "ix_logs_created_at" ON "plinth"."logs" ("created_at", "id");
INSERT INTO "plinth"."_plinth_fields" ("resource", "field", "signature", "no_nulls", "retired") VALUES
  ('authors', 'name', 'string', TRUE, FALSE),
  ('authors', 'email', 'string', FALSE, FALSE),
  ('books', 'title', 'string', TRUE, FALSE),
  ('books', 'isbn', 'string', FALSE, FALSE),
  ('books', 'site', 'string', FALSE, FALSE),
  ('books', 'ref_code', 'string', FALSE, FALSE),
  ('books', 'published_on', 'string', FALSE, FALSE),
  ('books', 'pages', 'integer', FALSE, FALSE),
  ('books', 'rating', 'number', FALSE, FALSE),
  ('books', 'in_print', 'boolean', TRUE, FALSE),
  ('books', 'genre', 'enum', FALSE, FALSE),
  ('books', 'state', 'enum', TRUE, FALSE),
  ('books', 'author', 'ref(authors)', TRUE, FALSE),
  ('books', 'tags', 'array(string)', FALSE, FALSE),
  ('books', 'chapters', 'array(object)', FALSE, FALSE),
  ('books', 'dimensions', 'object', FALSE, FALSE),
  ('books', 'extra', 'json', FALSE, FALSE),
  ('books', 'release_at', 'timestamp', FALSE, FALSE),
  ('books', 'added_by', 'string', TRUE, FALSE),
  ('books', 'reviewed_at', 'timestamp', TRUE, FALSE),
  ('books', 'page_total', 'integer', FALSE, FALSE),
  ('books', 'label', 'string', FALSE, FALSE),
  ('logs', 'message', 'string', FALSE, FALSE)
ON CONFLICT ("resource", "field") DO UPDATE SET "signature" = excluded."signature", "no_nulls" = excluded."no_nulls", "retired" = excluded."retired";
