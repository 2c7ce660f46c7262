package sqlstore

import (
	"context"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/plinth-dev/plinth/internal/store/sqlwhere"
)

// The internal tables, quoted, as both drivers name them. Each name starts with an underscore,
// which a resource's cannot, so that they never meet a resource's table.
const (
	Events        = `"_plinth_events"`        // the outbox
	Subscriptions = `"_plinth_subscriptions"` // each webhook's place in the outbox
	Deliveries    = `"_plinth_deliveries"`    // the webhook queue
	Leases        = `"_plinth_leases"`        // named leases, such as a schedule's tick
	Migrations    = `"_plinth_migrations"`    // the planned migrations applied, and how far
)

// DeliveriesIndexes is the DDL of the deliveries' indexes, on table (Deliveries as the
// driver's DDL qualifies it): due finds the pending deliveries whose time has come, which a
// claim takes; record finds a record's earlier pending deliveries, which hold its later
// ones back.
func DeliveriesIndexes(table string) (due, record string) {
	return `CREATE INDEX IF NOT EXISTS "_plinth_deliveries_due" ON ` + table + ` ("state", "next_at")`,
		`CREATE INDEX IF NOT EXISTS "_plinth_deliveries_record" ON ` + table + ` ("subscription", "resource", "record_id", "event_seq")`
}

// Dialect is what a driver writes its own way in the statements of the internal tables; the
// rest of those statements, and what is done with their results, is shared (see Queue).
type Dialect struct {
	// Dialect gives the placeholders and the LIMIT parameter, as in predicates.
	*sqlwhere.Dialect
	// Table is the name of an internal table (one of the constants above) as statements
	// spell it: qualified by its schema, where the driver has one.
	Table func(name string) string
	// Time is a time as the parameter of a time column. ParseTime reads such a column back,
	// as the driver scans it into an any (never nil), in UTC.
	Time      func(time.Time) any
	ParseTime func(v any) (time.Time, error)
	// At renders the n-th parameter as a moment, which AtArg gives as an offset t from the
	// caller's now. A driver whose replicas run on several hosts measures it from the
	// database's clock, so that replicas whose clocks differ agree on what is due and on when
	// a claim or a lease runs out; a driver on one host may take t as it is.
	At    func(n int) string
	AtArg func(now, t time.Time) any
	// Greatest names the function that returns the greater of its arguments.
	Greatest string
	// SkipLocked ends a subquery that picks the rows its statement changes: where writers run
	// at once, it locks them, passing over those another writer holds, so that concurrent
	// claims and sweeps take different rows. It is empty where writes run one at a time.
	SkipLocked string
	// In renders "col is one of the strings of the n-th parameter"; List is that parameter.
	In   func(col string, n int) string
	List func([]string) any
}

// Querier runs statements that read.
type Querier interface {
	// Query runs a statement and hands its rows to scan, which reads them and returns
	// rows.Err(); the rows are closed after.
	Query(ctx context.Context, scan func(Rows) error, query string, args ...any) error
}

// Conn runs statements: a driver's connection pool, or its transaction.
type Conn interface {
	Querier
	// Exec runs a statement and returns how many rows it changed.
	Exec(ctx context.Context, query string, args ...any) (int64, error)
}

// Runner is how a driver runs the shared statements. Errors come back as the driver gives
// them out: what its Querier and Conns return is what the shared code returns.
type Runner struct {
	// Read runs statements that only read, outside any write.
	Read Querier
	// Write runs fn in a write transaction: its statements commit together, or not at all.
	Write func(ctx context.Context, fn func(Conn) error) error
	// Alone, when set, runs a statement that writes, committed on its own. Without it, such
	// a statement runs in a Write of its own.
	Alone Conn
}

// params is the placeholders from 1 to n, separated by commas.
func params(d *Dialect, n int) string {
	ps := make([]string, n)
	for i := range ps {
		ps[i] = d.Placeholder(i + 1)
	}
	return strings.Join(ps, ", ")
}

// Storable reports whether s is text that every driver stores and compares as it is: UTF-8
// without U+0000, which PostgreSQL refuses.
func Storable(s string) bool { return strings.IndexByte(s, 0) < 0 && utf8.ValidString(s) }
