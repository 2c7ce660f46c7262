package postgres

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/plinth-dev/plinth/internal/fault"
	"github.com/plinth-dev/plinth/internal/query"
	"github.com/plinth-dev/plinth/internal/spec"
	"github.com/plinth-dev/plinth/internal/store"
	"github.com/plinth-dev/plinth/internal/store/jsonval"
	"github.com/plinth-dev/plinth/internal/store/sqlstore"
)

// table holds a resource's columns and the SQL of its plain reads and writes, derived once
// from the model; pgx prepares and caches each statement per connection.
type table struct {
	name     string
	resource *spec.Resource
	qualName string // "schema"."table"
	cols     []spec.Column
	fields   map[string]query.Field
	// uniques maps a unique constraint or index name to its fields, so that a violation
	// names the fields a client sent.
	uniques map[string][]string

	selectSQL, getSQL, getForUpdateSQL, insertSQL, updateSQL, deleteSQL string
}

func newTable(schema string, r *spec.Resource) *table {
	t := &table{name: r.Name, resource: r, qualName: quote(schema) + "." + quote(r.Name),
		cols: r.Columns(), fields: r.QueryFields(), uniques: map[string][]string{}}
	t.uniques[sqlstore.PrimaryKeyName(r.Name)] = []string{"id"}
	for _, ix := range r.Indexes {
		if ix.Unique {
			t.uniques[sqlstore.IndexName(r.Name, ix)] = ix.Fields
		}
	}
	names := make([]string, len(t.cols))
	params := make([]string, len(t.cols))
	for i, c := range t.cols {
		names[i] = quote(c.Name)
		params[i] = "$" + strconv.Itoa(i+1)
	}
	t.selectSQL = "SELECT " + strings.Join(names, ", ") + " FROM " + t.qualName
	t.getSQL = t.selectSQL + ` WHERE "id" = $1`
	t.getForUpdateSQL = t.getSQL + " FOR UPDATE"
	t.insertSQL = "INSERT INTO " + t.qualName + " (" + strings.Join(names, ", ") + ") VALUES (" + strings.Join(params, ", ") + ")"
	sets := make([]string, 0, len(names)-1)
	for i, n := range names[1:] {
		sets = append(sets, n+" = $"+strconv.Itoa(i+1))
	}
	n := len(sets)
	t.updateSQL = "UPDATE " + t.qualName + " SET " + strings.Join(sets, ", ") +
		` WHERE "id" = $` + strconv.Itoa(n+1) + ` AND "version" = $` + strconv.Itoa(n+2)
	t.deleteSQL = "DELETE FROM " + t.qualName + ` WHERE "id" = $1`
	return t
}

// args encodes a record's values in column order. Values PostgreSQL cannot hold (text with
// U+0000) are the client's Invalid; anything else that does not encode is Internal.
func (t *table) args(rec *store.Record) ([]any, error) {
	args, err := sqlstore.Args(t.cols, rec, encodeValue)
	var ce *sqlstore.ColumnError
	switch {
	case err == nil:
		return args, nil
	case errors.As(err, &ce) && errors.Is(err, errNUL):
		return nil, nulFault(ce.Column, ce.Value, err)
	}
	return nil, fault.Wrap(fault.Internal, fmt.Errorf("%s.%w", t.name, err), "could not store the record")
}

// scanDests returns scan destinations, one per column, typed by kind so that NULL scans as
// not valid (nil for JSONB) and JSONB arrives as its text. They hold values, not pointers, so
// that one set serves every row of a query: record copies the values out, and pgx neither
// allocates a value per column nor goes through reflection to fill them.
func (t *table) scanDests() []any {
	dests := make([]any, len(t.cols))
	for i, c := range t.cols {
		switch c.Kind {
		case query.KindString:
			dests[i] = new(pgtype.Text)
		case query.KindInteger:
			dests[i] = new(pgtype.Int8)
		case query.KindNumber:
			dests[i] = new(pgtype.Float8)
		case query.KindBool:
			dests[i] = new(pgtype.Bool)
		case query.KindTimestamp:
			dests[i] = new(pgtype.Timestamptz)
		default:
			dests[i] = new([]byte)
		}
	}
	return dests
}

// record converts scanned destinations to a record: the value types *store.Record documents,
// timestamps in UTC, JSON decoded and conformed to the field's type.
func (t *table) record(dests []any) (*store.Record, error) {
	rec := &store.Record{Fields: make(map[string]any, len(t.cols)-len(spec.SystemFields))}
	// The system columns come first (spec.Resource.Columns): read them unboxed.
	id, created, updated := dests[0].(*pgtype.Text), dests[1].(*pgtype.Timestamptz), dests[2].(*pgtype.Timestamptz)
	version := dests[3].(*pgtype.Int8)
	if !id.Valid || !created.Valid || !updated.Valid || !version.Valid {
		return nil, fmt.Errorf("%s: a row without its id, version or timestamps", t.name)
	}
	rec.ID, rec.Version = id.String, version.Int64
	rec.CreatedAt, rec.UpdatedAt = created.Time.UTC(), updated.Time.UTC()
	for i := len(spec.SystemFields); i < len(t.cols); i++ {
		c := t.cols[i]
		var v any
		switch d := dests[i].(type) {
		case *pgtype.Text:
			if d.Valid {
				v = d.String
			}
		case *pgtype.Int8:
			if d.Valid {
				v = d.Int64
			}
		case *pgtype.Float8:
			if d.Valid {
				v = d.Float64
			}
		case *pgtype.Bool:
			if d.Valid {
				v = d.Bool
			}
		case *pgtype.Timestamptz:
			if d.Valid {
				v = d.Time.UTC()
			}
		case *[]byte:
			if *d != nil {
				x, err := jsonval.Decode(string(*d))
				if err != nil {
					return nil, fmt.Errorf("%s.%s: %w", t.name, c.Name, err)
				}
				v = c.Field.Conform(x)
			}
		}
		rec.Fields[c.Name] = v
	}
	return rec, nil
}

// scanAll reads every row of rows as a record.
func (t *table) scanAll(rows pgx.Rows, err error) ([]*store.Record, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*store.Record
	dests := t.scanDests()
	for rows.Next() {
		if err := rows.Scan(dests...); err != nil {
			return nil, err
		}
		rec, err := t.record(dests)
		if err != nil {
			return nil, err
		}
		out = append(out, rec)
	}
	return out, rows.Err()
}

// scanOne reads the one row of rows; NotFound when there is none.
func (t *table) scanOne(rows pgx.Rows, err error) (*store.Record, error) {
	recs, err := t.scanAll(rows, err)
	if err != nil {
		return nil, err
	}
	if len(recs) == 0 {
		return nil, fault.New(fault.NotFound, "no such record")
	}
	return recs[0], nil
}
