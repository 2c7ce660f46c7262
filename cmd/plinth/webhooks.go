package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/plinth-dev/plinth"
	"github.com/plinth-dev/plinth/internal/engine"
	"github.com/plinth-dev/plinth/internal/spec"
	"github.com/plinth-dev/plinth/internal/store"
	"github.com/plinth-dev/plinth/internal/store/open"
	"github.com/plinth-dev/plinth/internal/worker"
)

// webhooksCmd works on the dead-letter list of a data folder, beside a running server or not:
// a replayed delivery is sent by the server within a second. It goes through the same service
// as the admin routes (worker.Worker), as an admin: whoever can open the database is one.
func webhooksCmd(stdout io.Writer) *cobra.Command {
	var file, dataDir, database, schema string
	openAdmin := func(ctx context.Context) (*webhookAdmin, error) {
		src, err := os.ReadFile(file)
		if err != nil {
			return nil, err
		}
		model, diags := spec.Compile(file, src)
		if diags.HasErrors() {
			return nil, &plinth.SpecError{Diagnostics: diags}
		}
		// The spec's planned migrations bind this command as they bind serve: it takes a
		// database that has applied them, and changes no schema they manage.
		db, err := open.Open(ctx, model, open.Options{Database: database, DataDir: dataDir, Schema: schema,
			Migrations: filepath.Join(filepath.Dir(file), "migrations")})
		if err != nil {
			return nil, err
		}
		w, err := worker.New(worker.Config{Model: model, Store: db})
		if err != nil {
			db.Close()
			return nil, err
		}
		return &webhookAdmin{Worker: w, db: db, ctx: engine.WithPrincipal(ctx, engine.Principal{Subject: "plinth-cli", Role: engine.RoleAdmin})}, nil
	}
	cmd := &cobra.Command{Use: "webhooks", Short: "List, replay and discard dead webhook deliveries"}
	cmd.PersistentFlags().StringVar(&file, "spec", "plinth.yaml", "the spec file")
	cmd.PersistentFlags().StringVar(&dataDir, "data", plinth.DefaultDataDir, "the data folder")
	cmd.PersistentFlags().StringVar(&database, "database", os.Getenv("PLINTH_DATABASE"), "a postgres:// URL (default $PLINTH_DATABASE; empty: SQLite in --data)")
	cmd.PersistentFlags().StringVar(&schema, "database-schema", "public", "the PostgreSQL schema")
	cmd.AddCommand(&cobra.Command{
		Use:   "dead",
		Short: "List deliveries that ran out of attempts",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			a, err := openAdmin(cmd.Context())
			if err != nil {
				return reportSpecError(cmd.ErrOrStderr(), err)
			}
			defer a.db.Close()
			dead, err := a.DeadLetters(a.ctx, 1000)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tWEBHOOK\tEVENT\tRECORD\tATTEMPTS\tLAST STATUS\tLAST ERROR\tAT")
			for _, d := range dead {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%s\t%s\n", d.ID, d.Subscription, d.EventType, d.RecordID,
					d.Attempts, d.LastStatus, d.LastError, d.UpdatedAt.Format(time.RFC3339))
			}
			return tw.Flush()
		},
	})
	cmd.AddCommand(deadLetterCmd(stdout, openAdmin, "replay", "Deliver dead deliveries again", "replayed",
		func(a *webhookAdmin, ids []string) (int, error) { return a.Replay(a.ctx, ids) }))
	cmd.AddCommand(deadLetterCmd(stdout, openAdmin, "discard", "Delete dead deliveries", "discarded",
		func(a *webhookAdmin, ids []string) (int, error) { return a.Discard(a.ctx, ids) }))
	return cmd
}

// webhookAdmin is the webhook service on an opened database, with an admin's context.
type webhookAdmin struct {
	*worker.Worker
	db  store.DB
	ctx context.Context
}

// deadLetterCmd is a subcommand that acts on the dead deliveries named by id, or on all of
// them with --all, and says how many it acted on.
func deadLetterCmd(stdout io.Writer, openAdmin func(context.Context) (*webhookAdmin, error), name, short, done string,
	act func(a *webhookAdmin, ids []string) (int, error)) *cobra.Command {
	var all bool
	c := &cobra.Command{
		Use:   name + " ID... | --all",
		Short: short,
		RunE: func(cmd *cobra.Command, ids []string) error {
			if all == (len(ids) > 0) {
				return errors.New("name delivery ids, or pass --all")
			}
			a, err := openAdmin(cmd.Context())
			if err != nil {
				return reportSpecError(cmd.ErrOrStderr(), err)
			}
			defer a.db.Close()
			n, err := act(a, ids)
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "%s %d deliveries\n", done, n)
			return nil
		},
	}
	c.Flags().BoolVar(&all, "all", false, name+" every dead delivery")
	return c
}
