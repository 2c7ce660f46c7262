// Package sqlstore is what the SQL drivers (internal/store/sqlite and internal/store/postgres)
// share: the decisions of their migrations that do not depend on the dialect (including the
// one-time conversion of outcomes stored by earlier versions), and the SQL and encodings that
// read the same in both. Each driver runs the statements in its own transaction, with its own
// library.
package sqlstore
