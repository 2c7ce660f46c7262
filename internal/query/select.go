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

// After is where a page of ReferringPage ends: the ref and the id of its last record.
type After struct {
	Ref any
	ID  string
}

// ReferringPage selects up to limit records whose ref field holds one of ids, after the record
// after (nil for the first page). It reads in the order of the ref's index (the ref, then id),
// which serves the page as it is: in id order, PostgreSQL may walk the whole table by its primary
// key instead. A delete finds what refers to it this way; the drivers' plan tests check that it
// uses the index.
func ReferringPage(field string, ids []any, limit int, after *After) Select {
	in := In{Field: field, Values: ids}
	sel := Select{Where: in, Order: []Sort{{Field: field}, {Field: "id"}}, Limit: limit}
	if after != nil {
		sel.Where = And{Terms: []Expr{in, Or{Terms: []Expr{
			Compare{Field: field, Op: Gt, Value: after.Ref},
			And{Terms: []Expr{
				Compare{Field: field, Op: Eq, Value: after.Ref},
				Compare{Field: "id", Op: Gt, Value: after.ID},
			}},
		}}}}
	}
	return sel
}
