// Package sqlstore is what the SQL drivers (internal/store/sqlite and internal/store/postgres)
// share: the decisions of their migrations that do not depend on the dialect; the internal
// tables' statements and what is done with their results (Queue: the outbox's reads, the
// webhook queue, the leases), written once for a Dialect; how database errors become faults
// (Classify), and how a write runs again after a transient failure (Retry). Each driver keeps
// its dialect and runs the statements with its own library, in its own transactions (Runner).
package sqlstore
