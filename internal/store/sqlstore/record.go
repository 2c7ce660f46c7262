package sqlstore

import (
	"fmt"

	"github.com/plinth-dev/plinth/internal/query"
	"github.com/plinth-dev/plinth/internal/spec"
	"github.com/plinth-dev/plinth/internal/store"
	"github.com/plinth-dev/plinth/internal/store/jsonval"
)

// ColumnError is a value of a record that its driver could not encode for its column.
type ColumnError struct {
	Column string
	Value  any
	Err    error
}

func (e *ColumnError) Error() string { return fmt.Sprintf("%s: %v", e.Column, e.Err) }
func (e *ColumnError) Unwrap() error { return e.Err }

// Args encodes the values of rec in the order of cols (a resource's Columns) with the driver's
// encode; a member the record lacks, or holds as nil, is NULL. An error is a *ColumnError.
func Args(cols []spec.Column, rec *store.Record, encode func(query.Kind, any) (any, error)) ([]any, error) {
	args := make([]any, len(cols))
	for i, c := range cols {
		v, _ := rec.Value(c.Name)
		if v == nil {
			continue
		}
		enc, err := encode(c.Kind, v)
		if err != nil {
			return nil, &ColumnError{Column: c.Name, Value: v, Err: err}
		}
		args[i] = enc
	}
	return args, nil
}

// JSONText is how both drivers store the canonical value of a field of kind JSON (arrays,
// objects and json): the text jsonval.AppendExact writes, and ok false (store NULL) for a value
// that encodes to null, so that "no value" has one representation that IS NULL finds.
func JSONText(v any) (text string, ok bool, err error) {
	b, err := jsonval.AppendExact(nil, v)
	if err != nil || string(b) == "null" {
		return "", false, err
	}
	return string(b), true, nil
}
