package sqlstore

import (
	"fmt"
	"slices"

	"github.com/plinth-dev/plinth/internal/query"
	"github.com/plinth-dev/plinth/internal/spec"
	"github.com/plinth-dev/plinth/internal/store"
)

// Refuse is the error of a migration that found problems, sorted; nil when there are none.
func Refuse(problems []string) error {
	if len(problems) == 0 {
		return nil
	}
	return &store.MigrationError{Problems: slices.Sorted(slices.Values(problems))}
}

// ColumnProblems lists what r asks of its existing table that would lose data: a column whose
// type is not typeName's for the field's kind (retyping is not automatic), and a column the
// spec no longer has (dropping is not automatic). columns maps each column to its type, as
// typeName spells it.
func ColumnProblems(r *spec.Resource, columns map[string]string, typeName func(query.Kind) string) []string {
	var problems []string
	want := map[string]bool{}
	for _, c := range r.Columns() {
		want[c.Name] = true
		if have, ok := columns[c.Name]; ok && have != typeName(c.Kind) {
			problems = append(problems, fmt.Sprintf("%s.%s is stored as %s but the spec now needs %s (retyping a field is not automatic)", r.Name, c.Name, have, typeName(c.Kind)))
		}
	}
	for name := range columns {
		if !want[name] {
			problems = append(problems, fmt.Sprintf("%s.%s has data but is no longer in the spec (dropping a field is not automatic)", r.Name, name))
		}
	}
	return problems
}

// Rows is a query's result as the drivers' libraries give it (database/sql and pgx alike).
type Rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
}

// FieldsColumns is the select list that ScanFields reads from the "_plinth_fields" table.
const FieldsColumns = `"resource", "field", "signature", "no_nulls"`

// ScanFields reads what the last migration stored of each field (FieldsColumns) and compares
// it with the model. It returns a problem for every field whose signature changed (see
// spec.Model.Retyped), and the fields known to hold no null: resource → field → true.
func ScanFields(rows Rows, model *spec.Model) (retyped []string, noNulls map[string]map[string]bool, err error) {
	noNulls = map[string]map[string]bool{}
	for rows.Next() {
		var res, field, sig string
		var none bool
		if err := rows.Scan(&res, &field, &sig, &none); err != nil {
			return nil, nil, err
		}
		if problem := model.Retyped(res, field, sig); problem != "" {
			retyped = append(retyped, problem)
		}
		if none {
			if noNulls[res] == nil {
				noNulls[res] = map[string]bool{}
			}
			noNulls[res][field] = true
		}
	}
	return retyped, noNulls, rows.Err()
}
