package harness

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// The databases a run measures on, in this order by default.
const (
	dbSQLite   = "sqlite"
	dbPostgres = "postgres"
)

// postgresURLVar names the PostgreSQL server of the tests, which the run uses by default.
const postgresURLVar = "PLINTH_TEST_POSTGRES_URL"

// DefaultPostgresURL is the PostgreSQL server of the run when neither Config.PostgresURL nor
// $PLINTH_TEST_POSTGRES_URL names one.
const DefaultPostgresURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// backend is where one pass of the run keeps its data: SQLite files in the pass's folder, or
// two fresh schemas of a PostgreSQL server, one per server, dropped by close.
type backend struct {
	name string // dbSQLite or dbPostgres
	dir  string // the pass's folder: data folders and server logs

	url    string   // PostgreSQL only, from here on
	schema string   // Plinth's schema; the reference's is schema + "_ref"
	env    []string // the JWT key, which every Plinth process on a shared database must be given
	// plinthApp and refApp are the application_name of each server's connections, by which
	// backendCPU finds their backends.
	plinthApp, refApp string
	conn              *pgx.Conn // the harness's own: reads pg_stat_activity, drops the schemas
}

func openBackend(ctx context.Context, name, dir, pgURL string) (*backend, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	db := &backend{name: name, dir: dir}
	if name == dbSQLite {
		return db, nil
	}
	conn, err := pgx.Connect(ctx, pgURL)
	if err != nil {
		return nil, fmt.Errorf("connect to PostgreSQL (set -postgres or $%s): %w", postgresURLVar, err)
	}
	db.url, db.conn = pgURL, conn
	db.schema = "plinth_bench_" + randomHex(6)
	db.plinthApp, db.refApp = db.schema, db.schema+"_ref"
	db.env = []string{"PLINTH_JWT_SECRET=" + randomHex(24)}
	return db, nil
}

// where says where the pass keeps its data, for the progress log.
func (db *backend) where() string {
	if db.conn == nil {
		return "a fresh database per server in " + db.dir
	}
	cfg := db.conn.Config()
	return fmt.Sprintf("schemas %s and %s_ref of database %s at %s:%d", db.schema, db.schema, cfg.Database, cfg.Host, cfg.Port)
}

// plinthArgs are the flags of `plinth serve` (and bench/profserver) for this database.
func (db *backend) plinthArgs() []string {
	if db.conn == nil {
		return nil
	}
	return []string{"--database", withAppName(db.url, db.plinthApp), "--database-schema", db.schema}
}

// refArgs are the flags of bench/refserver for this database.
func (db *backend) refArgs() []string {
	if db.conn == nil {
		return nil
	}
	return []string{"--database", withAppName(db.url, db.refApp), "--database-schema", db.schema + "_ref"}
}

// close drops the pass's schemas, even when ctx is done.
func (db *backend) close() error {
	if db.conn == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	defer db.conn.Close(ctx)
	var errs []error
	for _, s := range []string{db.schema, db.schema + "_ref"} {
		if _, err := db.conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{s}.Sanitize()+" CASCADE"); err != nil {
			errs = append(errs, fmt.Errorf("drop schema %s: %w", s, err))
		}
	}
	return errors.Join(errs...)
}

// cpuByPID is the CPU time of processes so far, by process id.
type cpuByPID map[int]time.Duration

// since is the CPU time the processes have used since before; a process that was not there
// then counts from its start, one gone since is lost.
func (now cpuByPID) since(before cpuByPID) time.Duration {
	var d time.Duration
	for pid, t := range now {
		d += t - before[pid]
	}
	return d
}

// backendCPU is the CPU time of the PostgreSQL backends serving connections named app, read
// from /proc: empty on SQLite, and when the database server runs elsewhere (on another
// machine, or in a container whose process ids are not the harness's).
func (db *backend) backendCPU(ctx context.Context, app string) cpuByPID {
	out := cpuByPID{}
	if db.conn == nil {
		return out
	}
	rows, err := db.conn.Query(ctx, "SELECT pid FROM pg_stat_activity WHERE application_name = $1", app)
	if err != nil {
		return out
	}
	pids, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		return out
	}
	for _, pid := range pids {
		comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
		if err != nil || strings.TrimSpace(string(comm)) != "postgres" {
			continue
		}
		if t, err := cpuOf(int(pid)); err == nil {
			out[int(pid)] = t
		}
	}
	return out
}

// withAppName sets application_name in a postgres:// URL, or in a key=value DSN.
func withAppName(dsn, app string) string {
	if u, err := url.Parse(dsn); err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql") {
		q := u.Query()
		q.Set("application_name", app)
		u.RawQuery = q.Encode()
		return u.String()
	}
	return dsn + " application_name=" + app
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
