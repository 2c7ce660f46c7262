package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/plinth-dev/plinth/internal/query"
	"github.com/plinth-dev/plinth/internal/spec"
	"github.com/plinth-dev/plinth/internal/store"
	"github.com/plinth-dev/plinth/internal/store/sqlstore"
)

// table holds a resource's columns and prepared statements, derived once from the model so
// that no request builds SQL for plain reads and writes.
type table struct {
	name      string
	resource  *spec.Resource
	cols      []spec.Column // system columns first: id, created_at, updated_at, version
	fields    map[string]query.Field
	selectSQL string

	getRead, getWrite, insert, update, del *sql.Stmt

	// lists holds prepared list statements by their SQL: values travel as parameters, so a
	// client's query shape repeats even when its values change.
	listMu sync.Mutex
	lists  map[string]*sql.Stmt

	// partials holds the partial UPDATEs built so far, by the set of columns they write (bit
	// i for t.cols[i]), up to maxPartials: a resource's writes change a few shapes over and
	// over, and clients choosing every subset cannot grow memory.
	partialMu sync.Mutex
	partials  map[uint64]string
}

// partialUpdateSQL is the UPDATE of the given columns (indexes into t.cols, ascending) plus
// updated_at and version.
func (t *table) partialUpdateSQL(cols []int) string {
	if len(t.cols) > 64 {
		return t.buildPartialUpdate(cols)
	}
	var set uint64
	for _, i := range cols {
		set |= 1 << i
	}
	t.partialMu.Lock()
	defer t.partialMu.Unlock()
	if q, ok := t.partials[set]; ok {
		return q
	}
	q := t.buildPartialUpdate(cols)
	if len(t.partials) < maxPartials {
		if t.partials == nil {
			t.partials = map[uint64]string{}
		}
		t.partials[set] = q
	}
	return q
}

// maxPartials bounds the partial UPDATEs a table remembers.
const maxPartials = 256

func (t *table) buildPartialUpdate(cols []int) string {
	sets := make([]string, 0, len(cols)+2)
	for _, i := range cols {
		sets = append(sets, quote(t.cols[i].Name)+" = ?")
	}
	sets = append(sets, `"updated_at" = ?`, `"version" = ?`)
	return "UPDATE " + quote(t.name) + " SET " + strings.Join(sets, ", ") + ` WHERE "id" = ? AND "version" = ?`
}

// maxListStmts bounds the prepared list statements per table. Past it, further shapes run
// unprepared: a client inventing shapes cannot grow memory, and no statement is ever closed
// under a query that is about to use it.
const maxListStmts = 64

// listQuery runs a list statement, prepared when its shape is one of the first seen.
func (t *table) listQuery(ctx context.Context, db *sql.DB, query string, args []any) (*sql.Rows, error) {
	t.listMu.Lock()
	s, ok := t.lists[query]
	if !ok && len(t.lists) < maxListStmts {
		var err error
		if s, err = db.PrepareContext(ctx, query); err != nil {
			t.listMu.Unlock()
			return nil, err
		}
		if t.lists == nil {
			t.lists = map[string]*sql.Stmt{}
		}
		t.lists[query] = s
	}
	t.listMu.Unlock()
	if s == nil {
		return db.QueryContext(ctx, query, args...)
	}
	return s.QueryContext(ctx, args...)
}

func prepareTable(ctx context.Context, db *DB, r *spec.Resource) (*table, error) {
	t := &table{name: r.Name, resource: r, cols: r.Columns(), fields: r.QueryFields()}
	names := make([]string, len(t.cols))
	for i, c := range t.cols {
		names[i] = quote(c.Name)
	}
	tbl := quote(r.Name)
	t.selectSQL = "SELECT " + strings.Join(names, ", ") + " FROM " + tbl
	sets := make([]string, 0, len(names)-1)
	for _, n := range names[1:] {
		sets = append(sets, n+" = ?")
	}
	stmts := []struct {
		dst **sql.Stmt
		db  *sql.DB
		sql string
	}{
		{&t.getRead, db.read, t.selectSQL + ` WHERE "id" = ?`},
		{&t.getWrite, db.write, t.selectSQL + ` WHERE "id" = ?`},
		{&t.insert, db.write, "INSERT INTO " + tbl + " (" + strings.Join(names, ", ") + ") VALUES (" +
			strings.TrimSuffix(strings.Repeat("?, ", len(names)), ", ") + ")"},
		{&t.update, db.write, "UPDATE " + tbl + " SET " + strings.Join(sets, ", ") + ` WHERE "id" = ? AND "version" = ?`},
		{&t.del, db.write, "DELETE FROM " + tbl + ` WHERE "id" = ?`},
	}
	for _, s := range stmts {
		stmt, err := s.db.PrepareContext(ctx, s.sql)
		if err != nil {
			t.close()
			return nil, fmt.Errorf("prepare %s: %w", r.Name, err)
		}
		*s.dst = stmt
	}
	return t, nil
}

func (t *table) close() error {
	var errs []error
	t.listMu.Lock()
	for _, s := range t.lists {
		errs = append(errs, s.Close())
	}
	t.listMu.Unlock()

	for _, s := range []*sql.Stmt{t.getRead, t.getWrite, t.insert, t.update, t.del} {
		if s != nil {
			errs = append(errs, s.Close())
		}
	}
	return errors.Join(errs...)
}

// args encodes a record's values in column order.
func (t *table) args(rec *store.Record) ([]any, error) {
	args, err := sqlstore.Args(t.cols, rec, encodeValue)
	if err != nil {
		return nil, fmt.Errorf("%s.%w", t.name, err)
	}
	return args, nil
}

func (t *table) scanOne(rows *sql.Rows, err error) (*store.Record, error) {
	rec, _, err := t.scanStored(rows, err)
	return rec, err
}

// scanStored reads one row and also returns its stored values, as Update compares them.
func (t *table) scanStored(rows *sql.Rows, err error) (*store.Record, []any, error) {
	var stored []any
	recs, err := t.scan(rows, err, func(raw []any) { stored = append([]any(nil), raw...) })
	if err != nil {
		return nil, nil, err
	}
	if len(recs) == 0 {
		return nil, nil, sql.ErrNoRows
	}
	return recs[0], stored, nil
}

func (t *table) scanAll(rows *sql.Rows, err error) ([]*store.Record, error) {
	return t.scan(rows, err, nil)
}

// system reads the members every record has from a row's first columns (id, created_at,
// updated_at, version: spec.Model.Columns puts them first), without boxing them.
func (t *table) system(rec *store.Record, raw []any) error {
	var ok bool
	rec.ID, ok = raw[0].(string)
	version, vok := raw[3].(int64)
	if !ok || !vok || raw[1] == nil || raw[2] == nil {
		return fmt.Errorf("%s: a row without its id, version or timestamps", t.name)
	}
	rec.Version = version
	var err error
	if rec.CreatedAt, err = decodeTime(raw[1]); err != nil {
		return fmt.Errorf("%s.created_at: %w", t.name, err)
	}
	if rec.UpdatedAt, err = decodeTime(raw[2]); err != nil {
		return fmt.Errorf("%s.updated_at: %w", t.name, err)
	}
	return nil
}

// scan decodes every row; keep, when set, sees each row's stored values first.
func (t *table) scan(rows *sql.Rows, err error, keep func(raw []any)) ([]*store.Record, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*store.Record
	raw := make([]any, len(t.cols))
	ptrs := make([]any, len(t.cols))
	for i := range raw {
		ptrs[i] = &raw[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		if keep != nil {
			keep(raw)
		}
		rec := &store.Record{Fields: make(map[string]any, len(t.cols)-len(spec.SystemFields))}
		if err := t.system(rec, raw); err != nil {
			return nil, err
		}
		for i := len(spec.SystemFields); i < len(t.cols); i++ {
			c := t.cols[i]
			if raw[i] == nil {
				rec.Fields[c.Name] = nil
				continue
			}
			v, err := decodeValue(c.Kind, raw[i])
			if err != nil {
				return nil, fmt.Errorf("%s.%s: %w", t.name, c.Name, err)
			}
			if c.Kind == query.KindJSON {
				v = c.Field.Conform(v)
			}
			rec.Fields[c.Name] = v
		}
		out = append(out, rec)
	}
	return out, rows.Err()
}
