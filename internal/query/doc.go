// Package query is the dialect-neutral form of a list query: the predicate that selects rows
// (Expr), and the compiler that turns a CEL filter or access rule into it (Compile, Plan.Bind).
//
// The predicate has exactly the meaning of the CEL expression it came from, evaluated over a
// record where a missing field is null, so that a driver filtering rows in the database
// selects the same rows as evaluating the CEL expression in memory would. A row is selected
// when the expression evaluates to true; false, an error and any other value all leave it out.
//
// The package imports only the standard library and cel-go: drivers render Expr to their SQL
// dialect without knowing CEL, and the compiler knows nothing of SQL.
package query
