package query

// Select is what a driver needs to run a list: which rows, in what order, how many.
// Where is already the conjunction of access rules, the caller's filter and the cursor.
type Select struct {
	Where Expr
	Order []Sort
	Limit int
}

// Sort orders by one column. Ascending puts NULLs first and descending puts them last in
// every driver, so that keyset cursors mean the same thing everywhere.
type Sort struct {
	Field string
	Desc  bool
}
