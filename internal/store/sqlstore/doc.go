// Package sqlstore is what the SQL drivers (internal/store/sqlite and internal/store/postgres)
// share: above all the migration planner, which decides from a Catalog of the existing tables
// and the spec what to create, add, fill and drop, in what order and under which names, and
// what it refuses (Plan), then runs it (Migration.Apply); and the one-time conversion of
// outcomes stored by earlier versions. A driver only reads its catalog into a Catalog, spells
// its DDL (a DDL) and runs the statements in its own transaction, with its own library. The SQL
// and encodings that read the same in both drivers live here too.
package sqlstore
