// Package postgres stores records in PostgreSQL with pgx, for deployments where several
// Plinth processes serve one database. It behaves as the SQLite driver does: the same tables,
// columns, index names, list semantics, errors, idempotency and outbox rules, checked by the
// shared suite in internal/store/storetest. Where PostgreSQL differs (concurrent writers, the
// order of sequence numbers, text without U+0000), the comments say how the difference is
// closed or where it remains.
package postgres

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.opentelemetry.io/otel/attribute"
	oteltrace "go.opentelemetry.io/otel/trace"

	"github.com/plinth-dev/plinth/internal/fault"
	"github.com/plinth-dev/plinth/internal/query"
	"github.com/plinth-dev/plinth/internal/spec"
	"github.com/plinth-dev/plinth/internal/store"
	"github.com/plinth-dev/plinth/internal/store/sqlstore"
	"github.com/plinth-dev/plinth/internal/store/sqlwhere"
	"github.com/plinth-dev/plinth/internal/trace"
)

// Options tune the driver. The zero value is a sensible default.
type Options struct {
	Logger *slog.Logger
	// Schema holds every table; default "public". It is created when missing.
	Schema string
	// MaxConns bounds the connection pool; default pgxpool's, max(4, number of CPUs).
	MaxConns int
	// StatementTimeout bounds every statement (the server's statement_timeout); zero keeps
	// the server's setting. Migrations run without it.
	StatementTimeout time.Duration
	// ApplicationName is shown in pg_stat_activity; default the URL's, else "plinth".
	ApplicationName string
	// Planned are the planned migrations of the spec (sqlstore.ReadFiles for Driver): Open
	// refuses a database that has not applied them all.
	Planned []*sqlstore.File
	// PlannedOnly makes Open refuse any change to the schema, rather than make the changes
	// a start may make (new tables, columns and indexes).
	PlannedOnly bool
	// Observer is told the durations of reads and write transactions, and retries; default
	// none.
	Observer store.Observer
}

// DB is a Plinth store on PostgreSQL.
type DB struct {
	*sqlstore.Queue // the outbox's reads, the webhook queue and the leases

	pool   *pgxpool.Pool
	log    *slog.Logger
	obs    store.Observer
	schema string
	tables map[string]*table

	outcomes               string            // the qualified table name of stored outcomes
	getOutcome, putOutcome string            // statements of stored outcomes (sqlstore.OutcomeSQL)
	internal               *sqlstore.Dialect // the internal tables' statements
	eventsLock             int64             // the advisory lock that orders the outbox
}

var (
	_ store.Pooled = (*DB)(nil)
	_ store.Store  = (*DB)(nil)
	_ store.Queue  = (*DB)(nil) // by its sqlstore.Queue
	_ store.Leaser = (*DB)(nil)
)

// Open connects to the database at url (a postgres:// URL or a DSN pgx understands), migrates
// the schema to model and returns the store. A migration that would lose data, or leave
// records that break the spec, is refused with a *store.MigrationError saying why, and changes
// nothing. The database must use the UTF8 encoding.
func Open(ctx context.Context, url string, model *spec.Model, opts Options) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	params := cfg.ConnConfig.RuntimeParams
	params["application_name"] = cmp.Or(opts.ApplicationName, params["application_name"], "plinth")
	if opts.StatementTimeout > 0 {
		params["statement_timeout"] = strconv.FormatInt(max(1, opts.StatementTimeout.Milliseconds()), 10)
	}
	if opts.MaxConns > 0 {
		cfg.MaxConns = int32(opts.MaxConns)
	}
	schema := cmp.Or(opts.Schema, "public")
	db := &DB{
		log:        cmp.Or(opts.Logger, slog.New(slog.DiscardHandler)),
		schema:     schema,
		tables:     map[string]*table{},
		outcomes:   quote(schema) + "." + quote(sqlstore.OutcomesTable),
		internal:   internalDialect(schema),
		eventsLock: lockKey("events", schema),
		obs:        opts.Observer,
	}
	if db.obs == nil {
		db.obs = store.NopObserver{}
	}
	db.getOutcome, db.putOutcome = sqlstore.OutcomeSQL(db.outcomes, dialect.Placeholder)
	db.Queue = sqlstore.NewQueue(db.internal, model, db.runner())
	if db.pool, err = pgxpool.NewWithConfig(ctx, cfg); err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	var encoding string
	if err := db.pool.QueryRow(ctx, "SHOW server_encoding").Scan(&encoding); err != nil {
		db.pool.Close()
		return nil, fmt.Errorf("postgres: connect: %w", err)
	}
	if encoding != "UTF8" {
		db.pool.Close()
		return nil, fmt.Errorf("postgres: the database's encoding is %s; Plinth needs UTF8", encoding)
	}
	if err := migrate(ctx, db, model, opts); err != nil {
		db.pool.Close()
		return nil, err
	}
	for _, r := range model.Resources {
		db.tables[r.Name] = newTable(schema, r)
	}
	return db, nil
}

// Close closes every connection, waiting for connections in use to be released.
func (db *DB) Close() error {
	db.pool.Close()
	return nil
}

// Ping checks that the database answers; Unavailable when it does not.
func (db *DB) Ping(ctx context.Context) error {
	return db.classify(db.pool.Ping(ctx), nil)
}

func (db *DB) table(r *spec.Resource) *table { return db.tables[r.Name] }

// observeRead observes a read of records that started at start.
func (db *DB) observeRead(start time.Time) { db.obs.Transaction(false, time.Since(start)) }

// observeWrite observes a write transaction that started at start.
func (db *DB) observeWrite(start time.Time) { db.obs.Transaction(true, time.Since(start)) }

// retried counts a write transaction run again.
func (db *DB) retried() { db.obs.Retry(Driver) }

// PoolStats implements store.Pooled.
func (db *DB) PoolStats() store.PoolStats {
	s := db.pool.Stat()
	return store.PoolStats{Acquired: s.AcquiredConns(), Idle: s.IdleConns(), Constructing: s.ConstructingConns(),
		Max: s.MaxConns(), AcquireWait: s.AcquireDuration(), EmptyAcquires: s.EmptyAcquireCount()}
}

// Get implements store.Store.
func (db *DB) Get(ctx context.Context, r *spec.Resource, id string) (*store.Record, error) {
	defer db.observeRead(time.Now())
	t := db.table(r)
	if !sqlstore.Storable(id) {
		return nil, fault.New(fault.NotFound, "no such record")
	}
	rows, err := db.pool.Query(ctx, t.getSQL, id)
	rec, err := t.scanOne(rows, err)
	return rec, db.classify(err, t)
}

// GetMany implements store.Store. The records come in id order.
func (db *DB) GetMany(ctx context.Context, r *spec.Resource, ids []string) ([]*store.Record, error) {
	defer db.observeRead(time.Now())
	t := db.table(r)
	keep := storableIDs(ids)
	if len(keep) == 0 {
		return nil, nil
	}
	rows, err := db.pool.Query(ctx, t.selectSQL+` WHERE "id" = ANY($1::text[]) ORDER BY "id"`, keep)
	recs, err := t.scanAll(rows, err)
	if err != nil {
		return nil, db.classify(err, t)
	}
	return recs, nil
}

// List implements store.Store.
func (db *DB) List(ctx context.Context, r *spec.Resource, q query.Select) ([]*store.Record, error) {
	defer db.observeRead(time.Now())
	return db.list(ctx, db.pool, r, q)
}

// querier is what runs a query: the pool, or a transaction.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

func (db *DB) list(ctx context.Context, on querier, r *spec.Resource, q query.Select) ([]*store.Record, error) {
	t := db.table(r)
	stmt, args, err := t.listSQL(q)
	if err != nil {
		return nil, err
	}
	rows, err := on.Query(ctx, stmt, args...)
	recs, err := t.scanAll(rows, err)
	return recs, db.classify(err, t)
}

// listSQL renders a selection as one SELECT with its parameters.
func (t *table) listSQL(q query.Select) (string, []any, error) {
	return sqlwhere.Select(&dialect, t.selectSQL, q, t.fields, quote)
}

// orderSQL renders a sort key. System columns are never NULL and sort without a NULLS
// clause, which lets their plain indexes serve the order.
func orderSQL(s query.Sort) string {
	switch {
	case isSystem(s.Field) && s.Desc:
		return quote(s.Field) + " DESC"
	case isSystem(s.Field):
		return quote(s.Field) + " ASC"
	case s.Desc:
		return quote(s.Field) + " DESC NULLS LAST"
	}
	return quote(s.Field) + " ASC NULLS FIRST"
}

// Write implements store.Store: fn runs in one READ COMMITTED transaction, run again with
// jittered backoff after a serialization failure, a deadlock or a lost connection, up to
// sqlstore.MaxAttempts times; then the error is Unavailable. A connection lost during COMMIT
// is not retried, since the write may have been applied: it is Unavailable at once. Its span
// ("store write") counts the attempts (plinth.store.attempts).
func (db *DB) Write(ctx context.Context, fn func(store.Tx) error) (err error) {
	attempts := 0
	if trace.Recording(ctx) {
		var span oteltrace.Span
		ctx, span = trace.Start(ctx, "store write", attribute.String("db.system.name", "postgresql"))
		defer func() {
			span.SetAttributes(attribute.Int("plinth.store.attempts", attempts))
			trace.End(span, err)
		}()
	}
	return sqlstore.Retry(ctx, db.log, "the database is busy or unreachable; try again shortly", db.retried, func() (bool, error) {
		attempts++
		defer db.observeWrite(time.Now())
		return db.writeOnce(ctx, fn)
	})
}

// writeOnce runs fn in a transaction; retry says that the transaction did not commit and may
// run again.
func (db *DB) writeOnce(ctx context.Context, fn func(store.Tx) error) (retry bool, err error) {
	pgTx, err := db.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.ReadCommitted})
	if err != nil {
		if transient(err) {
			return true, err
		}
		return false, db.classify(err, nil)
	}
	x := &tx{db: db, tx: pgTx}
	err = fn(x)
	if err == nil {
		err = x.appendEvents(ctx)
	}
	if err != nil {
		rollback(ctx, pgTx)
		return transient(err), err
	}
	// A commit once begun completes, whether or not its request is still waiting for it: cut
	// short, it would leave the write's fate unknown.
	if err := pgTx.Commit(context.WithoutCancel(ctx)); err != nil {
		if pgconn.SafeToRetry(err) || isCode(err, "40001", "40P01") {
			return true, err // certainly not committed
		}
		if ctx.Err() == nil && transient(err) {
			return false, fault.Wrap(fault.Unavailable, err, "the connection was lost while the write committed; it may or may not have been applied")
		}
		return false, db.classify(err, nil)
	}
	return false, nil
}

// rollback ends a failed transaction, even when ctx is done, so that the connection goes
// back to the pool clean (pgx closes it when ROLLBACK cannot be sent).
func rollback(ctx context.Context, t pgx.Tx) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	t.Rollback(ctx)
}

// tx is a write transaction.
type tx struct {
	db     *DB
	tx     pgx.Tx
	events []pendingEvent
	// read holds the records this transaction has read and not written since, by table and
	// id: a second Get of a row (an order's product, read for the reference, then by the
	// stock effect) costs no round trip. The row is locked since the first read.
	read map[string]*store.Record
}

// Get implements store.Tx: SELECT ... FOR UPDATE, so that the row stays locked until the
// transaction ends and a read-modify-write cannot lose a concurrent update.
func (x *tx) Get(ctx context.Context, r *spec.Resource, id string) (*store.Record, error) {
	t := x.db.table(r)
	if !sqlstore.Storable(id) {
		return nil, fault.New(fault.NotFound, "no such record")
	}
	key := t.name + "\x00" + id
	if rec, ok := x.read[key]; ok {
		return rec, nil
	}
	rows, err := x.tx.Query(ctx, t.getForUpdateSQL, id)
	rec, err := t.scanOne(rows, err)
	if err == nil {
		if x.read == nil {
			x.read = map[string]*store.Record{}
		}
		x.read[key] = rec
	}
	return rec, x.db.classify(err, t)
}

// forget drops what the transaction read of a row it writes.
func (x *tx) forget(t *table, id string) {
	delete(x.read, t.name+"\x00"+id)
}

// Insert implements store.Tx.
func (x *tx) Insert(ctx context.Context, r *spec.Resource, rec *store.Record) error {
	t := x.db.table(r)
	args, err := t.args(rec)
	if err != nil {
		return err
	}
	_, err = x.tx.Exec(ctx, t.insertSQL, args...)
	return x.db.classify(err, t)
}

// Update implements store.Tx.
func (x *tx) Update(ctx context.Context, r *spec.Resource, rec *store.Record, prevVersion int64) error {
	t := x.db.table(r)
	if !sqlstore.Storable(rec.ID) {
		return fault.New(fault.Conflict, "the record changed while it was being updated; try again")
	}
	args, err := t.args(rec)
	if err != nil {
		return err
	}
	x.forget(t, rec.ID)
	tag, err := x.tx.Exec(ctx, t.updateSQL, append(args[1:], args[0], prevVersion)...)
	if err != nil {
		return x.db.classify(err, t)
	}
	if tag.RowsAffected() == 0 {
		return fault.New(fault.Conflict, "the record changed while it was being updated; try again")
	}
	return nil
}

// Delete implements store.Tx.
func (x *tx) Delete(ctx context.Context, r *spec.Resource, id string) error {
	t := x.db.table(r)
	if !sqlstore.Storable(id) {
		return fault.New(fault.NotFound, "no such record")
	}
	x.forget(t, id)
	tag, err := x.tx.Exec(ctx, t.deleteSQL, id)
	if err != nil {
		return x.db.classify(err, t)
	}
	if tag.RowsAffected() == 0 {
		return fault.New(fault.NotFound, "no such record")
	}
	return nil
}

// List implements store.Tx.
func (x *tx) List(ctx context.Context, r *spec.Resource, q query.Select) ([]*store.Record, error) {
	return x.db.list(ctx, x.tx, r, q)
}

// isCode reports whether err is a PostgreSQL error with one of the SQLSTATE codes.
func isCode(err error, codes ...string) bool {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return false
	}
	for _, c := range codes {
		if pe.Code == c {
			return true
		}
	}
	return false
}

// transient reports whether err is a failure that running the transaction again may cure:
// a serialization failure, a deadlock, or a connection that is lost or cannot be made.
func transient(err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return isCode(pe, "40001", "40P01") || unavailableCode(pe.Code)
	}
	return connectionLost(err)
}

// unavailableCode reports SQLSTATEs that mean the server cannot serve now: connection
// exceptions, shutdowns, and too many connections.
func unavailableCode(code string) bool {
	switch code {
	case "57P01", "57P02", "57P03", "53300":
		return true
	}
	return strings.HasPrefix(code, "08")
}

// connectionLost reports errors of the connection rather than of a statement.
func connectionLost(err error) bool {
	var ce *pgconn.ConnectError
	var ne net.Error
	return errors.As(err, &ce) || errors.As(err, &ne) || pgconn.SafeToRetry(err) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}

// classify turns driver errors into faults a client can act on; the rest stay internal.
// Serialization failures and deadlocks are returned as they are, for Write to retry.
func (db *DB) classify(err error, t *table) error { return sqlstore.Classify(err, t, cause) }

// cause reads what a PostgreSQL error means (see sqlstore.Classify), of a statement on t (nil
// when it is not a resource's).
func cause(err error, t *table) sqlstore.Cause {
	if errors.Is(err, pgx.ErrNoRows) {
		return sqlstore.Cause{Kind: sqlstore.NoRow}
	}
	var pe *pgconn.PgError
	switch {
	case !errors.As(err, &pe):
		if connectionLost(err) {
			return sqlstore.Cause{Kind: sqlstore.Unavailable}
		}
	case pe.Code == "23505":
		return sqlstore.Cause{Kind: sqlstore.Unique, Fields: uniqueColumns(pe, t)}
	case pe.Code == "23503":
		return sqlstore.Cause{Kind: sqlstore.Referenced}
	case pe.Code == "57014":
		return sqlstore.Cause{Kind: sqlstore.TooSlow}
	case unavailableCode(pe.Code):
		return sqlstore.Cause{Kind: sqlstore.Unavailable}
	}
	return sqlstore.Cause{} // including 40001 and 40P01, which Write retries
}

// uniqueColumns names the fields of a violated unique constraint: from the model when the
// constraint is one of the table's, else from the error's detail, "Key (a, b)=(...)".
func uniqueColumns(pe *pgconn.PgError, t *table) []string {
	if t != nil {
		if fields, ok := t.uniques[pe.ConstraintName]; ok {
			return fields
		}
	}
	rest, ok := strings.CutPrefix(pe.Detail, "Key (")
	if !ok {
		return nil
	}
	list, _, ok := strings.Cut(rest, ")=(")
	if !ok {
		return nil
	}
	var cols []string
	for _, c := range strings.Split(list, ", ") {
		cols = append(cols, strings.Trim(c, `"`))
	}
	return cols
}
