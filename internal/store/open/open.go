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
)

// Options say which database to open.
type Options struct {
	Database         string // a postgres:// URL, or empty for SQLite in DataDir
	DataDir          string
	Schema           string        // PostgreSQL only
	Pool             int           // PostgreSQL only
	StatementTimeout time.Duration // PostgreSQL only
	Logger           *slog.Logger
}

// Open opens and migrates the database for model.
func Open(ctx context.Context, model *spec.Model, o Options) (store.DB, error) {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if strings.HasPrefix(o.Database, "postgres://") || strings.HasPrefix(o.Database, "postgresql://") {
		return postgres.Open(ctx, o.Database, model, postgres.Options{Logger: log.With("component", "postgres"),
			Schema: o.Schema, MaxConns: o.Pool, StatementTimeout: o.StatementTimeout})
	}
	if o.Database != "" {
		return nil, errors.New("the database must be a postgres:// URL, or empty for SQLite in the data folder")
	}
	return sqlite.Open(ctx, o.DataDir, model, sqlite.Options{Logger: log.With("component", "sqlite")})
}
