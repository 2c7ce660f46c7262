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
