// Package sqlstore is what the SQL drivers (internal/store/sqlite and internal/store/postgres)
// share: the decisions of their migrations that do not depend on the dialect, and the SQL that
// reads the same in both; how database errors become faults (Classify), and how a write runs
// again after a transient failure (Retry). Each driver runs the statements in its own
// transaction, with its own library.
package sqlstore
