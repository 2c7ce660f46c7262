// Package sqlstore is what the SQL drivers (internal/store/sqlite and internal/store/postgres)
// share of their migrations: the decisions that do not depend on the dialect, and the SQL that
// reads the same in both. Each driver runs the statements in its own transaction, with its own
// library.
package sqlstore
