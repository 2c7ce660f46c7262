package postgres

import (
	"context"
	"flag"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/plinth-dev/plinth/internal/spec"
	"github.com/plinth-dev/plinth/internal/store/sqlstore"
	"github.com/plinth-dev/plinth/internal/store/storetest"
)

var update = flag.Bool("update", false, "rewrite golden files")

// newDatabase is a database in a schema of t's own, for the migration suites.
func newDatabase(t *testing.T) storetest.Database {
	url, schema := testURL(t), newSchema(t)
	return storetest.Database{
		Open: func(model *spec.Model, o storetest.OpenOptions) (storetest.ClosingStore, error) {
			db, err := Open(context.Background(), url, model, Options{Schema: schema, Logger: o.Log, Planned: o.Planned, PlannedOnly: o.PlannedOnly})
			if err != nil {
				return nil, err
			}
			return db, nil
		},
		Migrator: func(batch int) (*sqlstore.Migrator, func() error, error) {
			return OpenMigrator(context.Background(), url, MigratorOptions{Schema: schema, BatchSize: batch})
		},
		Exec: func(stmt string) error {
			ctx := context.Background()
			conn, err := pgx.Connect(ctx, url)
			if err != nil {
				return err
			}
			defer conn.Close(ctx)
			_, err = conn.Exec(ctx, "SET search_path TO "+quote(schema)+"; "+stmt)
			return err
		},
	}
}

// TestMigrationSuite runs the migration checks every driver passes.
func TestMigrationSuite(t *testing.T) {
	testURL(t) // fail once, not in every subtest, when the database is not configured
	storetest.RunMigrations(t, newDatabase)
}

// TestSchemaGolden: spec in, PostgreSQL's DDL out, for the specs the spec package's golden
// tests read, in the schema "plinth".
func TestSchemaGolden(t *testing.T) {
	testURL(t)
	storetest.RunSchemaGolden(t, newDDL("plinth"), *update, newDatabase)
}

// catalog lists names from a query over the catalog ($1 is the schema), sorted.
func catalog(t *testing.T, schema, sql string) []string {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, testURL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, sql, schema)
	if err != nil {
		t.Fatal(err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

// TestTextColumnsCompareBytes checks that every text column has the "C" collation, whatever
// the database's default: sorting and startsWith ranges depend on it.
func TestTextColumnsCompareBytes(t *testing.T) {
	t.Parallel()
	src, err := os.ReadFile("../../spec/testdata/valid/kitchen.yaml")
	if err != nil {
		t.Fatal(err)
	}
	schema := newSchema(t)
	openTest(t, mustCompile(t, string(src)), Options{Schema: schema})
	bad := catalog(t, schema, `SELECT table_name || '.' || column_name || ' ' || coalesce(collation_name, 'default')
		FROM information_schema.columns WHERE table_schema = $1 AND data_type = 'text' AND coalesce(collation_name, '') <> 'C'`)
	if len(bad) > 0 {
		t.Errorf("text columns without COLLATE \"C\": %v", bad)
	}
}

// TestConcurrentOpen starts several processes' worth of stores at once on a new schema: the
// advisory lock makes one of them migrate, and the others find nothing to do.
func TestConcurrentOpen(t *testing.T) {
	t.Parallel()
	schema := newSchema(t)
	m := mustCompile(t, itemsSpec+"    indexes: [[n]]\n  others:\n    fields:\n      item: {type: ref, resource: items}\n")
	logs := &logCounter{}
	var wg sync.WaitGroup
	errs := make([]error, 6)
	for i := range errs {
		wg.Go(func() {
			db, err := Open(context.Background(), testURL(t), m, Options{Schema: schema, Logger: slog.New(logs), MaxConns: 2})
			if err == nil {
				db.Close()
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("open %d: %v", i, err)
		}
	}
	if n := logs.count("created schema"); n != 1 {
		t.Errorf("the schema was created %d times", n)
	}
	if n := logs.count("created table"); n != 2 {
		t.Errorf("%d tables were created, want 2: %v", n, logs.messages())
	}
}

// logCounter is a slog.Handler that keeps messages.
type logCounter struct {
	mu   sync.Mutex
	msgs []string
}

func (l *logCounter) Enabled(context.Context, slog.Level) bool { return true }
func (l *logCounter) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *logCounter) WithGroup(string) slog.Handler            { return l }
func (l *logCounter) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.msgs = append(l.msgs, r.Message)
	return nil
}

func (l *logCounter) messages() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.msgs)
}

// count returns how many messages start with one of the prefixes.
func (l *logCounter) count(prefixes ...string) int {
	n := 0
	for _, m := range l.messages() {
		for _, p := range prefixes {
			if strings.HasPrefix(m, p) {
				n++
				break
			}
		}
	}
	return n
}

// TestPlannedSuite runs the planned-migration checks every driver passes.
func TestPlannedSuite(t *testing.T) {
	testURL(t)
	storetest.RunPlanned(t, newDatabase)
}
