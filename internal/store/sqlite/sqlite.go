// Package sqlite stores records in one SQLite file (WAL mode) with modernc.org/sqlite, a
// pure-Go driver. Writes go through a single connection, so they never contend with each
// other inside the process; reads use a pool that runs alongside them.
package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	oteltrace "go.opentelemetry.io/otel/trace"
	sqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/plinth-dev/plinth/internal/fault"
	"github.com/plinth-dev/plinth/internal/query"
	"github.com/plinth-dev/plinth/internal/spec"
	"github.com/plinth-dev/plinth/internal/store"
	"github.com/plinth-dev/plinth/internal/store/sqlstore"
	"github.com/plinth-dev/plinth/internal/store/sqlwhere"
	"github.com/plinth-dev/plinth/internal/trace"
)

// FileName is the database file inside the data folder.
const FileName = "plinth.db"

// Options tune the driver. The zero value is a sensible default.
type Options struct {
	Logger   *slog.Logger
	Readers  int           // reader connections; default 2×GOMAXPROCS, at least 4
	BusyWait time.Duration // how long a statement waits for another process's lock; default 5s
	// Planned are the planned migrations of the spec (sqlstore.ReadFiles for Driver): Open
	// refuses a database that has not applied them all.
	Planned []*sqlstore.File
	// PlannedOnly makes Open refuse any change to the schema, rather than make the changes
	// a start may make (new tables, columns and indexes).
	PlannedOnly bool
	// Observer is told the durations of reads and group commits, the writer's queue and
	// retries; default none.
	Observer store.Observer
}

// DB is a Plinth store on SQLite.
type DB struct {
	*sqlstore.Queue // the outbox's reads, the webhook queue and the leases

	write  *sql.DB
	read   *sql.DB
	log    *slog.Logger
	tables map[string]*table
	obs    store.Observer

	writes   chan *writeReq
	stopping chan struct{} // closed by Close
	stopped  chan struct{} // closed when the writer has returned

	// The checkpointer's connection; committed wakes it after a group commits, and
	// checkpointed is closed when it has returned.
	ckpt          *sql.DB
	committed     chan struct{}
	checkpointed  chan struct{}
	writerStarted bool // set by Open once everything else succeeded
	closeOnce     sync.Once

	// Statements of the internal tables, prepared once like those of the records.
	getOutcome, putOutcome, appendEvent *sql.Stmt

	// Statements a group had to prepare inside its transaction (savepoints, partial updates,
	// the webhook queue's),
	// kept by SQL once the writer's connection is free, so that later groups need not
	// prepare them again; toKeep lists those the last group prepared. Only the writer
	// goroutine touches them.
	kept   map[string]*sql.Stmt
	toKeep []string
	// groups counts the group transactions begun, to number them in spans; only the writer
	// goroutine touches it.
	groups uint64
}

// maxKeptStmts bounds the statements kept for the writer; past it, groups prepare afresh.
const maxKeptStmts = 128

var (
	_ store.Store  = (*DB)(nil)
	_ store.Queue  = (*DB)(nil) // by its sqlstore.Queue
	_ store.Leaser = (*DB)(nil)
)

// Open opens (creating if needed) the database in dir, migrates it to model and prepares
// its statements. A migration that would lose data, or leave records that break the spec, is
// refused with a *store.MigrationError saying why, and changes nothing.
func Open(ctx context.Context, dir string, model *spec.Model, opts Options) (*DB, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create data folder: %w", err)
	}
	path := filepath.Join(dir, FileName)
	busy := cmp.Or(opts.BusyWait, 5*time.Second)
	db := &DB{log: cmp.Or(opts.Logger, slog.New(slog.DiscardHandler)), tables: map[string]*table{}, obs: opts.Observer,
		writes: make(chan *writeReq), stopping: make(chan struct{}), stopped: make(chan struct{}),
		committed: make(chan struct{}, 1), checkpointed: make(chan struct{})}
	if db.obs == nil {
		db.obs = store.NopObserver{}
	}
	db.Queue = sqlstore.NewQueue(&internalDialect, model, db.runner())
	var err error
	// The writer keeps its temporary files in memory: group commit gives every write its own
	// savepoint, and their sub-journals would otherwise be a file written on every write.
	if db.write, err = sql.Open("sqlite", dsn(path, busy, "temp_store(MEMORY)")); err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	db.write.SetMaxOpenConns(1)
	db.write.SetMaxIdleConns(1)
	db.write.SetConnMaxLifetime(0)
	if err := db.write.PingContext(ctx); err != nil {
		db.write.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	readers := opts.Readers
	if readers == 0 {
		readers = max(4, 2*runtime.GOMAXPROCS(0))
	}
	if db.read, err = sql.Open("sqlite", dsn(path, busy, "query_only(1)")); err != nil {
		db.write.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	db.read.SetMaxOpenConns(readers)
	db.read.SetMaxIdleConns(readers)
	if db.ckpt, err = sql.Open("sqlite", dsn(path, busy)); err != nil {
		db.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	db.ckpt.SetMaxOpenConns(1)
	if err := migrate(ctx, db.write, model, opts, db.log); err != nil {
		db.Close()
		return nil, err
	}
	for _, r := range model.Resources {
		t, err := prepareTable(ctx, db, r)
		if err != nil {
			db.Close()
			return nil, err
		}
		db.tables[r.Name] = t
	}
	for _, s := range []struct {
		dst **sql.Stmt
		db  *sql.DB
		sql string
	}{
		{&db.getOutcome, db.read, getOutcomeSQL},
		{&db.putOutcome, db.write, putOutcomeSQL},
		{&db.appendEvent, db.write, appendEventSQL},
	} {
		if *s.dst, err = s.db.PrepareContext(ctx, s.sql); err != nil {
			db.Close()
			return nil, fmt.Errorf("prepare: %w", err)
		}
	}
	db.startWriter()
	return db, nil
}

// dsn opens the database file at path: WAL, foreign keys on, write transactions that take
// the writer lock at once, and busy the wait for another process's lock; extra are more
// pragmas.
func dsn(path string, busy time.Duration, extra ...string) string {
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busy.Milliseconds()))
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Add("_pragma", "foreign_keys(ON)")
	for _, p := range extra {
		q.Add("_pragma", p)
	}
	q.Set("_txlock", "immediate")
	return "file:" + path + "?" + q.Encode()
}

// Close stops the writer and closes every connection. The group being written finishes;
// writes still waiting for the writer fail with Unavailable. Close may be called more than once.
func (db *DB) Close() error {
	db.closeOnce.Do(func() {
		close(db.stopping)
		if db.writerStarted {
			<-db.stopped
			<-db.checkpointed
		}
	})
	var errs []error
	for _, t := range db.tables {
		errs = append(errs, t.close())
	}
	for _, s := range []*sql.Stmt{db.getOutcome, db.putOutcome, db.appendEvent} {
		if s != nil {
			errs = append(errs, s.Close())
		}
	}
	for _, s := range db.kept { // the writer has stopped
		errs = append(errs, s.Close())
	}
	if db.read != nil {
		errs = append(errs, db.read.Close())
	}
	if db.ckpt != nil {
		errs = append(errs, db.ckpt.Close())
	}
	if db.write != nil {
		errs = append(errs, db.write.Close())
	}
	return errors.Join(errs...)
}

// Ping checks that the database answers.
func (db *DB) Ping(ctx context.Context) error {
	return db.read.PingContext(ctx)
}

func (db *DB) table(r *spec.Resource) *table { return db.tables[r.Name] }

// observeRead observes a read of records that started at start.
func (db *DB) observeRead(start time.Time) { db.obs.Transaction(false, time.Since(start)) }

// Get implements store.Store.
func (db *DB) Get(ctx context.Context, r *spec.Resource, id string) (*store.Record, error) {
	defer db.observeRead(time.Now())
	t := db.table(r)
	rec, err := t.scanOne(t.getRead.QueryContext(ctx, id))
	return rec, db.classify(err, t)
}

// GetMany implements store.Store.
func (db *DB) GetMany(ctx context.Context, r *spec.Resource, ids []string) ([]*store.Record, error) {
	defer db.observeRead(time.Now())
	t := db.table(r)
	var out []*store.Record
	const chunk = 500
	for len(ids) > 0 {
		n := min(chunk, len(ids))
		args := make([]any, n)
		for i, id := range ids[:n] {
			args[i] = id
		}
		q := t.selectSQL + " WHERE \"id\" IN (" + strings.TrimSuffix(strings.Repeat("?,", n), ",") + ")"
		rows, err := db.read.QueryContext(ctx, q, args...)
		recs, err := t.scanAll(rows, err)
		if err != nil {
			return nil, db.classify(err, t)
		}
		out = append(out, recs...)
		ids = ids[n:]
	}
	return out, nil
}

// List implements store.Store.
func (db *DB) List(ctx context.Context, r *spec.Resource, q query.Select) ([]*store.Record, error) {
	defer db.observeRead(time.Now())
	t := db.table(r)
	stmt, args, err := t.listSQL(q)
	if err != nil {
		return nil, err
	}
	recs, err := t.scanAll(t.listQuery(ctx, db.read, stmt, args))
	return recs, db.classify(err, t)
}

// listSQL renders a selection as one SELECT with its parameters.
func (t *table) listSQL(q query.Select) (string, []any, error) {
	return sqlwhere.Select(&dialect, t.selectSQL, q, t.fields, quote)
}

// maxGroup bounds how many writes share one commit.
const maxGroup = 64

// writeReq is one Write waiting for the writer.
type writeReq struct {
	ctx    context.Context
	fn     func(store.Tx) error
	done   chan error
	queued time.Time // when it was handed to the writer
	// traced says the write has a span, for which the writer notes when the write's turn came
	// (began) and the group it was committed in; the writer sets them before done.
	traced bool
	began  time.Time
	group  groupInfo
	// state is queued until the writer begins the write, or its request gives up first:
	// whichever comes first wins, so that a write is either abandoned untouched or carried
	// through its commit.
	state atomic.Int32
}

// States of a writeReq.
const (
	writeQueued int32 = iota
	writeBegun
	writeAbandoned
)

// groupInfo is a group commit as the span of each of its writes shows it.
type groupInfo struct {
	seq  uint64 // the group's number since Open
	size int    // its writes
	pos  int    // the write's place in it, from 0
}

// Write implements store.Store. Writes queue for the one writer goroutine, which commits
// the writes waiting at the same moment together (group commit): each runs inside its own
// savepoint of one IMMEDIATE transaction, so a failing write rolls back alone, and every
// write is answered only after the commit that makes it durable. Concurrent writers thus share
// the cost of a commit instead of paying it one after another; a lone writer waits for no one.
// A transaction that meets another process's lock is retried with jittered backoff.
//
// Its span ("store write") shows how long the write waited for its turn
// (plinth.sqlite.wait_ms) and the group it was committed in: the group's number, its size and
// the write's place in it, so that writes of one group can be found together.
func (db *DB) Write(ctx context.Context, fn func(store.Tx) error) (err error) {
	req := &writeReq{fn: fn, done: make(chan error, 1), queued: time.Now(), traced: trace.Recording(ctx)}
	if req.traced {
		var span oteltrace.Span
		ctx, span = trace.Start(ctx, "store write", attribute.String("db.system.name", "sqlite"))
		defer func() {
			if !req.began.IsZero() {
				span.SetAttributes(attribute.Float64("plinth.sqlite.wait_ms", float64(req.began.Sub(req.queued).Microseconds())/1000),
					attribute.Int64("plinth.sqlite.group", int64(req.group.seq)), attribute.Int("plinth.sqlite.group_size", req.group.size),
					attribute.Int("plinth.sqlite.group_position", req.group.pos))
			}
			trace.End(span, err)
		}()
	}
	req.ctx = ctx
	select {
	case db.writes <- req:
	case <-ctx.Done():
		return fault.Wrap(fault.Unavailable, ctx.Err(), "the request was cancelled")
	case <-db.stopping:
		return fault.New(fault.Unavailable, "the server is shutting down")
	}
	select {
	case err := <-req.done:
		return err
	case <-ctx.Done():
		if req.state.CompareAndSwap(writeQueued, writeAbandoned) {
			return fault.Wrap(fault.Unavailable, ctx.Err(), "the request was cancelled")
		}
		return <-req.done // the write has begun: its commit completes, and so is answered
	}
}

// startWriter starts the writer goroutine; Open calls it last, so that a failed Open leaves
// nothing running.
func (db *DB) startWriter() {
	db.writerStarted = true
	go db.writer()
	go db.checkpointer()
}

// writer runs every write, in groups, until Close.
func (db *DB) writer() {
	defer close(db.stopped)
	for {
		var first *writeReq
		select {
		case first = <-db.writes:
		case <-db.stopping:
			return
		}
		batch := []*writeReq{first}
	gather:
		for len(batch) < maxGroup {
			select {
			case r := <-db.writes:
				batch = append(batch, r)
			default:
				break gather
			}
		}
		db.commitGroup(batch)
		select {
		case db.committed <- struct{}{}:
		default: // the checkpointer is already due
		}
	}
}

// commitGroup runs a group, again while it meets another process's lock, and answers each of
// its writes.
func (db *DB) commitGroup(writes []*writeReq) {
	start := time.Now()
	for _, w := range writes {
		db.obs.WriterWait(start.Sub(w.queued))
	}
	db.obs.GroupSize(len(writes))
	results := make([]error, len(writes))
	// The group's transaction outlives any one request.
	err := sqlstore.Retry(context.Background(), db.log, "the database is busy; try again shortly", db.retried, func() (bool, error) {
		err := db.runGroup(writes, results)
		return isBusy(err), err
	})
	db.obs.Transaction(true, time.Since(start))
	if err != nil {
		// Nothing of the group committed, so every write may be retried.
		if fault.As(err) == nil {
			err = fault.Wrap(fault.Unavailable, err, "the write could not be completed; try again")
		}
		for i := range results {
			if results[i] == nil {
				results[i] = err
			}
		}
	}
	for i, r := range writes {
		r.done <- results[i]
	}
	db.keepStatements()
}

// retried counts a group run again.
func (db *DB) retried() { db.obs.Retry(Driver) }

// keepStatements prepares on the writer's connection, now free, the statements the last
// group prepared inside its transaction.
func (db *DB) keepStatements() {
	for _, query := range db.toKeep {
		if _, ok := db.kept[query]; ok || len(db.kept) >= maxKeptStmts {
			continue
		}
		s, err := db.write.Prepare(query)
		if err != nil {
			continue // the next group prepares it in its transaction again
		}
		if db.kept == nil {
			db.kept = map[string]*sql.Stmt{}
		}
		db.kept[query] = s
	}
	db.toKeep = db.toKeep[:0]
}

// runGroup runs every write of a group in one transaction, each in its own savepoint, and
// commits. It sets results for the writes that failed on their own; an error it returns (from
// BEGIN or COMMIT) is the fate of every write that did not.
func (db *DB) runGroup(writes []*writeReq, results []error) error {
	ctx := context.Background() // the transaction outlives any one request
	sqlTx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer sqlTx.Rollback()
	g := &group{db: db, tx: sqlTx}
	db.groups++
	committed := false
	for i, r := range writes {
		results[i] = nil
		if r.traced {
			r.began, r.group = time.Now(), groupInfo{seq: db.groups, size: len(writes), pos: i}
		}
		if err := r.ctx.Err(); err != nil || !r.state.CompareAndSwap(writeQueued, writeBegun) {
			results[i] = fault.Wrap(fault.Unavailable, cmp.Or(err, context.Canceled), "the request was cancelled")
			continue
		}
		x := &tx{db: db, tx: sqlTx, group: g}
		if _, err := x.exec(ctx, "SAVEPOINT w"); err != nil {
			return err
		}
		if err := runWrite(r.fn, x); err != nil {
			results[i] = err
			if _, rbErr := x.exec(ctx, "ROLLBACK TO w"); rbErr != nil {
				return rbErr
			}
		} else {
			committed = true
		}
		if _, err := x.exec(ctx, "RELEASE w"); err != nil {
			return err
		}
	}
	if !committed {
		return nil
	}
	return sqlTx.Commit()
}

// noCancel detaches a statement from its request's cancellation. SQLite answers an
// interrupted write statement inside a transaction by rolling back the whole transaction,
// which under group commit would undo the other requests' writes too; a request that goes
// away is noticed between writes instead (runGroup), and each statement is short.
func noCancel(ctx context.Context) context.Context { return context.WithoutCancel(ctx) }

// runWrite runs one write's function, turning a panic into an error: the writer goroutine
// serves every request, and a bug met by one must not stop the others or the process.
func runWrite(fn func(store.Tx) error, x *tx) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fault.Wrap(fault.Internal, fmt.Errorf("panic in a write: %v\n%s", v, debug.Stack()), "the write could not be completed")
		}
	}()
	return fn(x)
}

// group holds what the writes of one group transaction share: statements prepared inside it
// (a statement cannot be prepared on the writer's connection while the transaction holds it,
// so they live as long as the transaction, and the writer keeps them afterwards).
type group struct {
	db    *DB
	tx    *sql.Tx
	stmts map[string]*sql.Stmt
	// bound holds the statements of the writer's connection bound to the group's transaction
	// (database/sql builds a new one at each Tx.StmtContext), for as long as it lasts.
	bound map[*sql.Stmt]*sql.Stmt
}

// bind is s, a statement prepared on the writer's connection, for use in the transaction.
func (g *group) bind(ctx context.Context, s *sql.Stmt) *sql.Stmt {
	if b, ok := g.bound[s]; ok {
		return b
	}
	if g.bound == nil {
		g.bound = map[*sql.Stmt]*sql.Stmt{}
	}
	b := g.tx.StmtContext(ctx, s)
	g.bound[s] = b
	return b
}

func (g *group) prepare(ctx context.Context, query string) (*sql.Stmt, error) {
	if s, ok := g.db.kept[query]; ok {
		return g.bind(ctx, s), nil
	}
	if s, ok := g.stmts[query]; ok {
		return s, nil
	}
	s, err := g.tx.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	if g.stmts == nil {
		g.stmts = map[string]*sql.Stmt{}
	}
	g.stmts[query] = s
	g.db.toKeep = append(g.db.toKeep, query)
	return s, nil
}

// tx is a write transaction.
type tx struct {
	db    *DB
	tx    *sql.Tx
	group *group
	// rows remembers the rows this write has read or changed, by table and id: a second Get
	// of a row read before (an order's product, read for the reference, then by the stock
	// effect) is answered without a query, and Update writes only the columns that change,
	// since SQLite rewrites the index entries of every column it is told to set, changed or
	// not. A tx lives for one write, inside its savepoint, so what it remembers cannot
	// outlive a rollback.
	rows map[string]row
}

// row is a row as this write last saw it: its stored column values and, when it was read
// rather than written, the record as read.
type row struct {
	rec    *store.Record
	stored []any
}

// exec runs a statement of the store's own, prepared once for the writer's connection.
func (x *tx) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	s, err := x.group.prepare(ctx, query)
	if err != nil {
		return nil, err
	}
	return s.ExecContext(ctx, args...)
}

// query is exec for a statement that returns rows.
func (x *tx) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	s, err := x.group.prepare(ctx, query)
	if err != nil {
		return nil, err
	}
	return s.QueryContext(ctx, args...)
}

func (x *tx) remember(t *table, id string, rec *store.Record, stored []any) {
	if x.rows == nil {
		x.rows = map[string]row{}
	}
	x.rows[t.name+"\x00"+id] = row{rec: rec, stored: stored}
}

func (x *tx) Get(ctx context.Context, r *spec.Resource, id string) (*store.Record, error) {
	t := x.db.table(r)
	if seen := x.rows[t.name+"\x00"+id]; seen.rec != nil {
		return seen.rec, nil
	}
	ctx = noCancel(ctx)
	rec, stored, err := t.scanStored(x.group.bind(ctx, t.getWrite).QueryContext(ctx, id))
	if err == nil {
		x.remember(t, id, rec, stored)
	}
	return rec, x.db.classify(err, t)
}

func (x *tx) Insert(ctx context.Context, r *spec.Resource, rec *store.Record) error {
	ctx = noCancel(ctx)
	t := x.db.table(r)
	args, err := t.args(rec)
	if err != nil {
		return fault.Wrap(fault.Internal, err, "could not store the record")
	}
	if _, err = x.group.bind(ctx, t.insert).ExecContext(ctx, args...); err != nil {
		return x.db.classify(err, t)
	}
	x.remember(t, rec.ID, nil, args)
	return nil
}

func (x *tx) Update(ctx context.Context, r *spec.Resource, rec *store.Record, prevVersion int64) error {
	ctx = noCancel(ctx)
	t := x.db.table(r)
	args, err := t.args(rec)
	if err != nil {
		return fault.Wrap(fault.Internal, err, "could not store the record")
	}
	id := rec.ID
	stmt, params := t.update, append(args[1:], id, prevVersion)
	if seen, ok := x.rows[t.name+"\x00"+id]; ok && seen.stored[3] == prevVersion {
		// Columns 0-3 are id, created_at, updated_at and version; of the fields, only those
		// whose stored value differs are written.
		var changed []int
		for i := len(spec.SystemFields); i < len(t.cols); i++ {
			if seen.stored[i] != args[i] {
				changed = append(changed, i)
			}
		}
		partial, err := x.group.prepare(ctx, t.partialUpdateSQL(changed))
		if err != nil {
			return x.db.classify(err, t)
		}
		params = make([]any, 0, len(changed)+4)
		for _, i := range changed {
			params = append(params, args[i])
		}
		params = append(params, args[2], args[3], id, prevVersion)
		res, err := partial.ExecContext(ctx, params...)
		return x.updated(res, err, t, id, args)
	}
	res, err := x.group.bind(ctx, stmt).ExecContext(ctx, params...)
	return x.updated(res, err, t, id, args)
}

// updated turns the outcome of an UPDATE into the answer Update gives, and remembers the
// row's new stored values (a Get reads the record afresh, as the store gives it back).
func (x *tx) updated(res sql.Result, err error, t *table, id string, stored []any) error {
	if err != nil {
		return x.db.classify(err, t)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fault.New(fault.Conflict, "the record changed while it was being updated; try again")
	}
	x.remember(t, id, nil, stored)
	return nil
}

func (x *tx) Delete(ctx context.Context, r *spec.Resource, id string) error {
	ctx = noCancel(ctx)
	t := x.db.table(r)
	res, err := x.group.bind(ctx, t.del).ExecContext(ctx, id)
	if err != nil {
		return x.db.classify(err, t)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fault.New(fault.NotFound, "no such record")
	}
	delete(x.rows, t.name+"\x00"+id)
	return nil
}

// List implements store.Tx. Its statements are not kept: a delete's lists carry as many ids
// as it found, so their shapes rarely repeat.
func (x *tx) List(ctx context.Context, r *spec.Resource, q query.Select) ([]*store.Record, error) {
	ctx = noCancel(ctx)
	t := x.db.table(r)
	stmt, args, err := t.listSQL(q)
	if err != nil {
		return nil, err
	}
	recs, err := t.scanAll(x.tx.QueryContext(ctx, stmt, args...))
	return recs, x.db.classify(err, t)
}

func isBusy(err error) bool {
	var se *sqlite.Error
	if errors.As(err, &se) {
		code := se.Code() & 0xff
		return code == sqlite3.SQLITE_BUSY || code == sqlite3.SQLITE_LOCKED
	}
	return false
}

// classify turns driver errors into faults a client can act on; the rest stay internal.
func (db *DB) classify(err error, t *table) error { return sqlstore.Classify(err, t, cause) }

// cause reads what a SQLite error means (see sqlstore.Classify). A busy database is not a
// cause of its own: Write retries it.
func cause(err error, _ *table) sqlstore.Cause {
	if errors.Is(err, sql.ErrNoRows) {
		return sqlstore.Cause{Kind: sqlstore.NoRow}
	}
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return sqlstore.Cause{}
	}
	switch se.Code() {
	case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
		return sqlstore.Cause{Kind: sqlstore.Unique, Fields: uniqueColumns(se.Error())}
	case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY, sqlite3.SQLITE_CONSTRAINT_TRIGGER:
		if strings.Contains(se.Error(), "FOREIGN KEY") {
			return sqlstore.Cause{Kind: sqlstore.Referenced}
		}
	}
	return sqlstore.Cause{}
}

// uniqueColumns extracts the columns from "UNIQUE constraint failed: t.a, t.b".
func uniqueColumns(msg string) []string {
	_, list, ok := strings.Cut(msg, "constraint failed: ")
	if !ok {
		return nil
	}
	list, _, _ = strings.Cut(list, " (")
	var cols []string
	for _, part := range strings.Split(list, ",") {
		part = strings.TrimSpace(part)
		if _, col, ok := strings.Cut(part, "."); ok {
			cols = append(cols, col)
		}
	}
	return cols
}
