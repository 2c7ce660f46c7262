package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/plinth-dev/plinth"
	"github.com/plinth-dev/plinth/internal/spec"
	"github.com/plinth-dev/plinth/internal/store"
	"github.com/plinth-dev/plinth/internal/store/open"
	"github.com/plinth-dev/plinth/internal/store/sqlstore"
)

// words is what a planned file's name may say after its number.
var words = regexp.MustCompile(`^[a-z0-9_]+$`)

// target is the spec and the database a migrate command works on, as its flags give them.
type target struct {
	spec, data, database, schema string
}

// flags adds the flags that name the target, as serve names them.
func (t *target) flags(cmd *cobra.Command) {
	f := cmd.PersistentFlags()
	f.StringVar(&t.spec, "spec", "plinth.yaml", "the spec file; its planned migrations are in the folder migrations beside it")
	f.StringVar(&t.data, "data", plinth.DefaultDataDir, "the data folder (SQLite)")
	f.StringVar(&t.database, "database", os.Getenv("PLINTH_DATABASE"), "a postgres:// URL (default $PLINTH_DATABASE; empty: SQLite in --data)")
	f.StringVar(&t.schema, "database-schema", "public", "the PostgreSQL schema")
}

// folder is the spec's folder of planned migrations.
func (t *target) folder() string { return filepath.Join(filepath.Dir(t.spec), "migrations") }

// options open the target's database.
func (t *target) options() open.Options {
	return open.Options{Database: t.database, DataDir: t.data, Schema: t.schema, Migrations: t.folder()}
}

// command is a plinth command on the target, as a user would type it again: the database
// flags only where they differ from the defaults, and a URL's password left out (it comes
// from $PLINTH_DATABASE when that is where it was).
func (t *target) command(sub string, extra ...string) string {
	parts := []string{"plinth", sub, "--spec", shellQuote(t.spec)}
	switch {
	case t.database == "" && t.data != plinth.DefaultDataDir:
		parts = append(parts, "--data", shellQuote(t.data))
	case t.database != "" && t.database != os.Getenv("PLINTH_DATABASE"):
		parts = append(parts, "--database", shellQuote(redacted(t.database)))
	}
	if t.database != "" && t.schema != "public" {
		parts = append(parts, "--database-schema", shellQuote(t.schema))
	}
	return strings.Join(append(parts, extra...), " ")
}

// redacted is a database URL without its password.
func redacted(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "postgres://…"
	}
	return u.Redacted()
}

// shellQuote quotes s for a POSIX shell where it needs it.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./:@=") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// hint is what to run about a database that refused: the command that brings it to the spec.
func (t *target) hint(need store.MigrationNeed) string {
	switch need {
	case store.NeedApply:
		return "run: " + t.command("migrate apply")
	case store.NeedPlan:
		return "run: " + t.command("migrate plan") + "\nreview the file it writes, then: " + t.command("migrate apply")
	case store.NeedDataLoss:
		return "to plan them as expand/contract steps, run: " + t.command("migrate plan", "--allow-data-loss")
	case store.NeedNewerSpec:
		return "see: " + t.command("migrate status")
	}
	return ""
}

// reportMigration prints a refusal of the database with the command that resolves it, and
// exits 1; other errors pass through.
func reportMigration(w io.Writer, t *target, err error) error {
	var me *store.MigrationError
	if !errors.As(err, &me) {
		return err
	}
	fmt.Fprintln(w, "plinth:", me.Error())
	if h := t.hint(me.Need); h != "" {
		fmt.Fprintln(w, h)
	}
	return exitError{1}
}

func migrateCmd(stdout, stderr io.Writer) *cobra.Command {
	t := &target{}
	cmd := &cobra.Command{Use: "migrate", Short: "Plan, apply and list reviewed schema migrations"}
	t.flags(cmd)
	cmd.AddCommand(migratePlanCmd(stdout, stderr, t), migrateApplyCmd(stdout, stderr, t), migrateStatusCmd(stdout, stderr, t))
	return cmd
}

// migrator opens the target's database for planned migrations, with its files and the
// compiled spec (nil unless withSpec).
func (t *target) migrator(ctx context.Context, stderr io.Writer, batch int, withSpec bool) (*sqlstore.Migrator, []*sqlstore.File, *spec.Model, func() error, error) {
	var model *spec.Model
	if withSpec {
		src, err := os.ReadFile(t.spec)
		if err != nil {
			return nil, nil, nil, nil, err
		}
		m, diags := spec.Compile(t.spec, src)
		if diags.HasErrors() {
			return nil, nil, nil, nil, reportSpecError(stderr, &plinth.SpecError{Diagnostics: diags})
		}
		model = m
	}
	o := t.options()
	o.BatchSize = batch
	files, err := open.Files(o)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	m, closeDB, err := open.Migrator(ctx, o)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	return m, files, model, closeDB, nil
}

func migratePlanCmd(stdout, stderr io.Writer, t *target) *cobra.Command {
	var allowLoss bool
	var name string
	cmd := &cobra.Command{
		Use:   "plan",
		Short: "Write the steps from the database's schema to the spec's as a numbered file to review",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			m, files, model, closeDB, err := t.migrator(cmd.Context(), stderr, 0, true)
			if err != nil {
				return err
			}
			defer closeDB()
			next := sqlstore.NextName(files, "")
			plan, err := m.Plan(cmd.Context(), model, files, strings.TrimSuffix(next, "_"), allowLoss)
			if err != nil {
				return reportMigration(stderr, t, err)
			}
			fp := sqlstore.Fingerprint(model)
			if len(plan.Steps) == 0 {
				fmt.Fprintf(stdout, "the database is at the spec (schema fingerprint %s): nothing to plan\n", fp)
				for _, n := range plan.Notes {
					fmt.Fprintln(stdout, "note:", n)
				}
				return nil
			}
			if name == "" {
				name = plan.Slug()
			}
			if !words.MatchString(name) {
				return fmt.Errorf("--name %q: use lowercase letters, digits and underscores", name)
			}
			name = next + name
			path, err := plan.WriteFile(t.folder(), sqlstore.Header{Name: name, Driver: m.Driver, Fingerprint: fp, Spec: filepath.Base(t.spec)})
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "wrote %s (%d statements)\n", path, len(plan.Steps))
			for _, n := range plan.Notes {
				fmt.Fprintln(stdout, "note:", n)
			}
			fmt.Fprintf(stdout, "review it, then run: %s\n", t.command("migrate apply"))
			return nil
		},
	}
	cmd.Flags().BoolVar(&allowLoss, "allow-data-loss", false, "plan drops and retypes: retire removed fields, convert retyped ones, drop what earlier plans retired")
	cmd.Flags().StringVar(&name, "name", "", "the words of the file's name (default: from its first change)")
	return cmd
}

func migrateApplyCmd(stdout, stderr io.Writer, t *target) *cobra.Command {
	var batch int
	cmd := &cobra.Command{
		Use:   "apply",
		Short: "Run the planned migrations the database has not applied, in order, under a lock",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if batch < 1 {
				return errors.New("--batch-size must be 1 or more")
			}
			m, files, _, closeDB, err := t.migrator(cmd.Context(), stderr, batch, false)
			if err != nil {
				return err
			}
			defer closeDB()
			ran, err := m.Apply(cmd.Context(), files, &bar{w: stderr})
			for _, name := range ran {
				fmt.Fprintln(stdout, "applied", name)
			}
			if err != nil {
				return reportMigration(stderr, t, err)
			}
			if len(ran) == 0 {
				fmt.Fprintf(stdout, "nothing to apply: the database has applied all %d planned migrations\n", len(files))
			}
			return nil
		},
	}
	cmd.Flags().IntVar(&batch, "batch-size", 1000, "rows a backfill changes in one transaction")
	return cmd
}

func migrateStatusCmd(stdout, stderr io.Writer, t *target) *cobra.Command {
	return &cobra.Command{
		Use:   "status",
		Short: "List the planned migrations, applied and pending, and whether the spec needs another",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			m, files, model, closeDB, err := t.migrator(cmd.Context(), stderr, 0, true)
			if err != nil {
				return err
			}
			defer closeDB()
			sts, err := m.Status(cmd.Context(), files)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "STATE\tMIGRATION\tSTEPS\tAPPLIED AT")
			for _, st := range sts {
				steps, at := fmt.Sprint(st.Done), ""
				if st.File != nil {
					steps = fmt.Sprintf("%d/%d", st.Done, len(st.File.Groups))
				}
				if !st.AppliedAt.IsZero() {
					at = st.AppliedAt.UTC().Format(time.RFC3339)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", st.State, st.Name, steps, at)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "%s database; the spec's schema fingerprint is %s\n", m.Driver, sqlstore.Fingerprint(model))
			plan, err := m.Plan(cmd.Context(), model, files, "", false)
			var me *store.MigrationError
			switch {
			case errors.As(err, &me):
				fmt.Fprintln(stdout, strings.SplitN(me.Error(), "\n", 2)[0])
				fmt.Fprintln(stdout, t.hint(me.Need))
			case err != nil:
				return err
			case len(plan.Steps) == 0:
				fmt.Fprintln(stdout, "the database is at the spec")
			default:
				fmt.Fprintf(stdout, "the spec asks %d statements that no planned migration has yet\nrun: %s\n", len(plan.Steps), t.command("migrate plan"))
			}
			return nil
		},
	}
}

// bar shows a backfill's progress on a terminal's standard error, as a progress bar.
type bar struct {
	w io.Writer
	b *progressbar.ProgressBar
}

func (p *bar) Start(what string, total int64) {
	p.b = progressbar.NewOptions64(total, progressbar.OptionSetWriter(p.w), progressbar.OptionSetDescription(what),
		progressbar.OptionShowCount(), progressbar.OptionSetWidth(30), progressbar.OptionSetRenderBlankState(true))
}

func (p *bar) Add(n int64) { p.b.Add64(n) }

func (p *bar) Finish() {
	p.b.Finish()
	fmt.Fprintln(p.w)
}
