CREATE TABLE "authors" (
  "id" TEXT PRIMARY KEY NOT NULL,
  "created_at" TEXT NOT NULL,
  "updated_at" TEXT NOT NULL,
  "version" INTEGER NOT NULL,
  "name" TEXT,
  "email" TEXT
) STRICT;
ux_authors_email ON authors (email) UNIQUE;

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
ux_books_isbn ON books (isbn) UNIQUE;
ix_books_author ON books (author);
ix_books_genre_rating ON books (genre, rating);
ux_books_title_author ON books (title, author) UNIQUE;

CREATE TABLE "logs" (
  "id" TEXT PRIMARY KEY NOT NULL,
  "created_at" TEXT NOT NULL,
  "updated_at" TEXT NOT NULL,
  "version" INTEGER NOT NULL,
  "message" TEXT
) STRICT;

