package sqlstore

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/plinth-dev/plinth/internal/spec"
	"github.com/plinth-dev/plinth/internal/store"
)

// Start is how a driver migrates when it opens, in one transaction of its own once the
// internal tables exist.
type Start struct {
	// Files are the planned files of the driver's kind of database.
	Files []*File
	// Auto applies the changes a start may make: new tables, columns and indexes, and
	// literal defaults filled in. Without it, any such change refuses the start.
	Auto bool
	// DDL spells the statements, with tables in the driver's schema.
	DDL *DDL
	// Dialect spells the statements of the internal tables.
	Dialect *Dialect
	// Catalog reads the database's catalog.
	Catalog func(ctx context.Context, c Conn) (*Catalog, error)
	Log     *slog.Logger
}

// Run brings the database to model in c, or refuses with a *store.MigrationError, changing
// nothing: when the database has not applied every planned file, or has applied one the
// files do not have; when the change would lose data or leave records that break the spec
// (see Plan); when it is one only a planned migration makes (a rename); and, without Auto,
// when there is any change to make.
func (s *Start) Run(ctx context.Context, c Conn, model *spec.Model) error {
	sts, err := states(ctx, c, s.Dialect, s.Files)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if err := behind(sts); err != nil {
		return err
	}
	cat, err := s.Catalog(ctx, c)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	plan, err := Plan(model, cat, s.DDL, counter(ctx, c), PlanOptions{})
	if err != nil {
		return err
	}
	changes := plan.Changes()
	switch {
	case plan.Planned():
		return &store.MigrationError{Problems: changes, Need: store.NeedPlan}
	case !s.Auto && len(changes) > 0:
		return &store.MigrationError{Problems: append(changes, "this database takes planned migrations only (auto-migrate is off)"), Need: store.NeedPlan}
	}
	return plan.Apply(ctx, c.Exec, s.Log)
}
