// Package open chooses and opens a store: SQLite in a data folder, or PostgreSQL by URL.
package open

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"time"

	"github.com/plinth-dev/plinth/internal/spec"
	"github.com/plinth-dev/plinth/internal/store"
	"github.com/plinth-dev/plinth/internal/store/postgres"
	"github.com/plinth-dev/plinth/internal/store/sqlite"
	"github.com/plinth-dev/plinth/internal/store/sqlstore"
)

// Options say which database to open.
type Options struct {
	Database         string // a postgres:// URL, or empty for SQLite in DataDir
	DataDir          string
	Schema           string        // PostgreSQL only
	Pool             int           // PostgreSQL only
	StatementTimeout time.Duration // PostgreSQL only
	Logger           *slog.Logger
	// Migrations is the folder of the spec's planned migrations, a folder in it for each
	// kind of database (see Kind); empty for none.
	Migrations string
	// AutoMigrate says whether a start makes the changes it may make itself (new tables,
	// columns and indexes). Nil means yes, unless the folder has planned migrations for the
	// kind of database: a team that plans its migrations has them reviewed, every one.
	AutoMigrate *bool
	// Observer is told what the driver measures; default none.
	Observer store.Observer
	// BatchSize is how many rows a backfill of a planned migration changes at once (Migrator).
	BatchSize int
}

// errDatabase refuses a database that is neither.
var errDatabase = errors.New("the database must be a postgres:// URL, or empty for SQLite in the data folder")

// Kind is the kind of database that database names: postgres.Driver or sqlite.Driver, and
// the name of its folder of planned migrations.
func Kind(database string) (string, error) {
	switch {
	case strings.HasPrefix(database, "postgres://") || strings.HasPrefix(database, "postgresql://"):
		return postgres.Driver, nil
	case database == "":
		return sqlite.Driver, nil
	}
	return "", errDatabase
}

// Files reads the planned migrations of the database's kind (sqlstore.ReadFiles).
func Files(o Options) ([]*sqlstore.File, error) {
	kind, err := Kind(o.Database)
	if err != nil || o.Migrations == "" {
		return nil, err
	}
	return sqlstore.ReadFiles(o.Migrations, kind)
}

// Open opens and migrates the database for model.
func Open(ctx context.Context, model *spec.Model, o Options) (store.DB, error) {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	kind, err := Kind(o.Database)
	if err != nil {
		return nil, err
	}
	files, err := Files(o)
	if err != nil {
		return nil, err
	}
	plannedOnly := len(files) > 0
	if o.AutoMigrate != nil {
		plannedOnly = !*o.AutoMigrate
	}
	if kind == postgres.Driver {
		return postgres.Open(ctx, o.Database, model, postgres.Options{Logger: log.With("component", "postgres"),
			Schema: o.Schema, MaxConns: o.Pool, StatementTimeout: o.StatementTimeout, Planned: files, PlannedOnly: plannedOnly,
			Observer: o.Observer})
	}
	return sqlite.Open(ctx, o.DataDir, model, sqlite.Options{Logger: log.With("component", "sqlite"), Planned: files,
		PlannedOnly: plannedOnly, Observer: o.Observer})
}

// Migrator opens the database for planned migrations (see sqlstore.Migrator); close
// closes it.
func Migrator(ctx context.Context, o Options) (m *sqlstore.Migrator, close func() error, err error) {
	kind, err := Kind(o.Database)
	if err != nil {
		return nil, nil, err
	}
	if kind == postgres.Driver {
		return postgres.OpenMigrator(ctx, o.Database, postgres.MigratorOptions{Schema: o.Schema, BatchSize: o.BatchSize})
	}
	return sqlite.OpenMigrator(ctx, o.DataDir, sqlite.MigratorOptions{BatchSize: o.BatchSize})
}
