CREATE TABLE "authors" (
  "id" TEXT PRIMARY KEY NOT NULL,
  "created_at" TEXT NOT NULL,
  "updated_at" TEXT NOT NULL,
  "version" INTEGER NOT NULL,
  "name" TEXT,
  "email" TEXT
) STRICT;
CREATE TABLE "books" (
  "id" TEXT PRIMARY KEY NOT NULL,
  "created_at" TEXT NOT NULL,
  "updated_at" TEXT NOT NULL,
  "version" INTEGER NOT NULL,
  "title" TEXT,
  "isbn" TEXT,
  "site" TEXT,
  "ref_code" TEXT,
  "published_on" TEXT,
  "pages" INTEGER,
  "rating" REAL,
  "in_print" INTEGER,
  "genre" TEXT,
  "state" TEXT,
  "author" TEXT REFERENCES "authors" ("id") ON DELETE RESTRICT,
  "tags" TEXT,
  "chapters" TEXT,
  "dimensions" TEXT,
  "extra" TEXT,
  "release_at" TEXT,
  "added_by" TEXT,
  "reviewed_at" TEXT,
  "page_total" INTEGER,
  "label" TEXT
) STRICT;
CREATE TABLE "logs" (
  "id" TEXT PRIMARY KEY NOT NULL,
  "created_at" TEXT NOT NULL,
  "updated_at" TEXT NOT NULL,
  "version" INTEGER NOT NULL,
  "message" TEXT
) STRICT;
CREATE UNIQUE INDEX "ux_authors_email" ON "authors" ("email");
CREATE INDEX "ix_authors_created_at" ON "authors" ("created_at", "id");
CREATE UNIQUE INDEX "ux_books_isbn" ON "books" ("isbn");
CREATE INDEX "ix_books_author" ON "books" ("author", "id");
CREATE INDEX "ix_books_created_at" ON "books" ("created_at", "id");
CREATE INDEX "ix_books_genre_rating" ON "books" ("genre", "rating", "id");
CREATE UNIQUE INDEX "ux_books_title_author" ON "books" ("title", "author");
CREATE INDEX "ix_logs_created_at" ON "logs" ("created_at", "id");
INSERT INTO "_plinth_fields" ("resource", "field", "signature", "no_nulls", "retired") VALUES
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
