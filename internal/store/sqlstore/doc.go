// Package sqlstore is what the SQL drivers (internal/store/sqlite and internal/store/postgres)
// share, so that each keeps only its dialect and its execution:
//   - the migration planner, which decides from a Catalog of the existing tables and the spec
//     what to rename, create, add, convert, fill, retire and drop, in what order and under
//     which names, and what it refuses (Plan); what a start does with it (Start); planned
//     files, written for review and read back (Migration.Render, ParseFile, ReadFiles), and
//     their applier, which records each group it runs (Migrator); and the one-time conversion
//     of outcomes stored by earlier versions;
//   - the internal tables' statements and what is done with their results (Queue: the outbox's
//     reads, the webhook queue, the leases), written once for a Dialect;
//   - how database errors become faults (Classify), and how a write runs again after a
//     transient failure (Retry).
//
// A driver reads its catalog into a Catalog, spells its DDL (a DDL), and runs the statements
// with its own library, in its own transactions (Runner).
package sqlstore
