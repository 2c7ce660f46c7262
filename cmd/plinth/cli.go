package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/getkin/kin-openapi/openapi3"
	"github.com/spf13/cobra"

	"github.com/plinth-dev/plinth"
	"github.com/plinth-dev/plinth/internal/apidiff"
	"github.com/plinth-dev/plinth/internal/auth"
	"github.com/plinth-dev/plinth/internal/httpapi"
	"github.com/plinth-dev/plinth/internal/logsink"
	"github.com/plinth-dev/plinth/internal/openapi"
	"github.com/plinth-dev/plinth/internal/spec"
	apiversion "github.com/plinth-dev/plinth/internal/version"
)

// version is set at build time with -ldflags "-X main.version=v1.2.3"; otherwise it comes
// from the module's build information.
var version = ""

// exitError carries an exit code for failures that have already been reported.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit %d", e.code) }

// Main runs the command line with args and returns the process exit code.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := newRoot(stdout, stderr)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	var ee exitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.code
	default:
		fmt.Fprintln(stderr, "plinth:", err)
		return 1
	}
}

func newRoot(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:           "plinth",
		Short:         "Plinth serves a declarative spec as a production-grade API",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(serveCmd(stdout, stderr), checkCmd(stdout), diffCmd(stdout, stderr, apidiff.Compare), openapiCmd(stdout), initCmd(stdout), tokenCmd(stdout),
		webhooksCmd(stdout), migrateCmd(stdout, stderr), observabilityCmd(stdout), healthcheckCmd(stdout), versionCmd(stdout))
	return root
}

func serveCmd(stdout, stderr io.Writer) *cobra.Command {
	s := &server{}
	var level, access, cacheSize string
	var auto, metrics, limits, shedding bool
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve a spec's API over HTTP",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var lv slog.Level
			if err := lv.UnmarshalText([]byte(level)); err != nil {
				return fmt.Errorf("--log-level: %w", err)
			}
			// Requests log through a sink that writes in the background, many lines at a time
			// under load; warnings and errors are written before logging them returns, and
			// what is left when serve returns.
			sink := logsink.New(stderr)
			defer sink.Close()
			s.Logger = slog.New(logsink.Handler(slog.NewJSONHandler(sink, &slog.HandlerOptions{Level: lv}), sink, slog.LevelWarn))
			s.AccessLog = sink
			s.DisableMetrics, s.DisableRateLimits, s.EnableShedding = !metrics, !limits, shedding
			var err error
			if s.MetricsAccess, err = parseMetricsAccess(access); err != nil {
				return err
			}
			if s.CacheSize, err = parseCacheSize(cacheSize); err != nil {
				return err
			}
			if cmd.Flags().Changed("auto-migrate") {
				s.AutoMigrate = plinth.AutoMigrateOff
				if auto {
					s.AutoMigrate = plinth.AutoMigrateOn
				}
			}
			if err := s.Open(cmd.Context()); err != nil {
				t := &target{spec: s.SpecFile, data: s.DataDir, database: s.Database, schema: s.DatabaseSchema}
				return reportMigration(stderr, t, reportSpecError(stderr, err))
			}
			where := s.DataDir
			if s.Database != "" {
				where = "PostgreSQL"
			}
			fmt.Fprintf(stdout, "plinth: serving %s at %s (data in %s)\n", s.app.Name(), s.URL(), where)
			return s.Run(cmd.Context())
		},
	}
	f := cmd.Flags()
	f.StringVar(&s.SpecFile, "spec", "plinth.yaml", "the spec file")
	f.StringVar(&s.Addr, "addr", "127.0.0.1:8080", "the address to listen on")
	f.StringVar(&s.DataDir, "data", plinth.DefaultDataDir, "the data folder (SQLite database and generated keys)")
	f.StringVar(&s.Database, "database", os.Getenv("PLINTH_DATABASE"), "a postgres:// URL to keep the data in PostgreSQL (default $PLINTH_DATABASE; empty: SQLite in --data)")
	f.StringVar(&s.DatabaseSchema, "database-schema", "public", "the PostgreSQL schema that holds the tables")
	f.IntVar(&s.DatabasePool, "database-pool", 0, "PostgreSQL connections per process (default max(4, CPUs); application_name and other settings go in the URL)")
	f.DurationVar(&s.StatementTO, "statement-timeout", 0, "bound on every PostgreSQL statement (default: the server's)")
	f.StringVar(&cacheSize, "cache-size", "64MB", "memory of the read cache of records, such as 64MB or 1GiB; 0 turns it off")
	f.StringVar(&level, "log-level", "info", "debug, info, warn or error")
	f.DurationVar(&s.ShutdownTimeout, "shutdown-timeout", 15*time.Second, "how long in-flight requests may take to finish on shutdown")
	f.DurationVar(&s.DrainDelay, "drain-delay", 0, "on shutdown, how long /readyz answers 503 while requests are still accepted, before the listener closes")
	f.BoolVar(&s.Pprof, "pprof", false, "serve Go's profiler at /debug/pprof/ to role admin")
	f.BoolVar(&metrics, "metrics", true, "count Prometheus metrics (--metrics=false turns them off entirely)")
	f.StringVar(&access, "metrics-access", "admin", "who may read /metrics on --addr: admin (bearer tokens of role admin), "+
		"open (anyone: for a network-restricted listener) or off")
	f.StringVar(&s.MetricsAddr, "metrics-addr", "", "also serve /metrics, to anyone, on this address (a listener of its own)")
	f.StringVar(&s.RedisURL, "redis", os.Getenv("PLINTH_REDIS"), "a redis:// URL to share the rate limits between replicas (default $PLINTH_REDIS, else the spec's limits.redis; "+
		"empty: limits per process)")
	f.BoolVar(&limits, "rate-limits", true, "enforce the spec's rate limits and the defaults (--rate-limits=false turns them off)")
	f.BoolVar(&shedding, "shedding", false, "shed what an adaptive concurrency limit cannot take with 503 overloaded (off by default: see docs/load.md)")
	f.UintVar(&s.Shedding.MaxLimit, "max-concurrency", httpapi.DefaultMaxLimit, "the most API requests the adaptive limit lets run at once")
	f.BoolVar(&auto, "auto-migrate", false, "make the schema changes a start may make (new tables, columns, indexes); "+
		"default: on until the spec's migrations folder has planned migrations for the database")
	return cmd
}

// parseCacheSize reads --cache-size: 0 is plinth.Options' "off", a negative size.
func parseCacheSize(v string) (int64, error) {
	n, err := humanize.ParseBytes(v)
	if err != nil || n > math.MaxInt64 {
		return 0, fmt.Errorf("--cache-size: %q is not a size such as 64MB", v)
	}
	if n == 0 {
		return -1, nil
	}
	return int64(n), nil
}

// parseMetricsAccess reads --metrics-access.
func parseMetricsAccess(v string) (plinth.MetricsAccess, error) {
	switch v {
	case "admin":
		return plinth.MetricsAdmin, nil
	case "open":
		return plinth.MetricsOpen, nil
	case "off":
		return plinth.MetricsOff, nil
	}
	return 0, fmt.Errorf("--metrics-access: %q is not admin, open or off", v)
}

// reportSpecError prints every diagnostic of a bad spec; other errors pass through.
func reportSpecError(w io.Writer, err error) error {
	var se *plinth.SpecError
	if errors.As(err, &se) {
		printDiagnostics(w, se.Diagnostics)
		return exitError{1}
	}
	return err
}

// compileSpec reads and compiles a spec file; a spec with errors has its diagnostics printed
// on stderr and fails with exit code 1.
func compileSpec(file string, stderr io.Writer) (*spec.Model, error) {
	src, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	m, diags := spec.Compile(file, src)
	if diags.HasErrors() {
		return nil, reportSpecError(stderr, &plinth.SpecError{Diagnostics: diags})
	}
	return m, nil
}

func printDiagnostics(w io.Writer, diags spec.Diagnostics) {
	for _, d := range diags {
		fmt.Fprintln(w, d.String())
	}
}

func checkCmd(stdout io.Writer) *cobra.Command {
	var file, format string
	var strict bool
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Report every error and ambiguity in a spec",
		Long: "Report every error and ambiguity in a spec, each with file:line:column, a code and the fix to apply " +
			"(docs/lint.md lists the codes). Exits 1 on errors; with --strict, on warnings too.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if format != "text" && format != "json" {
				return fmt.Errorf("--format must be text or json, not %q", format)
			}
			src, err := os.ReadFile(file)
			if err != nil {
				return err
			}
			_, diags := spec.Compile(file, src)
			if strict {
				diags = diags.Strict()
			}
			if format == "json" {
				if err := writeDiagnosticsJSON(stdout, diags); err != nil {
					return err
				}
			} else {
				printDiagnostics(stdout, diags)
				errs := len(diags.Errors())
				fmt.Fprintf(stdout, "%s: %d error(s), %d warning(s)\n", file, errs, len(diags)-errs)
			}
			if diags.HasErrors() {
				return exitError{1}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&file, "spec", "plinth.yaml", "the spec file")
	f.BoolVar(&strict, "strict", false, "treat warnings as errors: report them as errors and exit 1 (for CI)")
	f.StringVar(&format, "format", "text", "text, or json: an array of {file, line, column, severity, code, message, fix}")
	return cmd
}

// jsonDiagnostic is one finding as `plinth check --format json` writes it. Line and column
// are 1-based, 0 when unknown; code and fix are empty for errors that have none.
type jsonDiagnostic struct {
	File     string `json:"file"`
	Line     int    `json:"line"`
	Column   int    `json:"column"`
	Severity string `json:"severity"`
	Code     string `json:"code"`
	Message  string `json:"message"`
	Fix      string `json:"fix"`
}

// writeDiagnosticsJSON writes diags as one JSON array, [] when there are none.
func writeDiagnosticsJSON(w io.Writer, diags spec.Diagnostics) error {
	out := make([]jsonDiagnostic, len(diags))
	for i, d := range diags {
		out[i] = jsonDiagnostic{File: d.Pos.File, Line: d.Pos.Line, Column: d.Pos.Col, Severity: d.Severity.String(),
			Code: d.Code, Message: d.Message, Fix: d.Fix}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

// openapiCmd prints the OpenAPI document `plinth serve` serves for a spec at /openapi.json:
// with the webhook administration it always has, and its default body limit.
func openapiCmd(stdout io.Writer) *cobra.Command {
	var file, format string
	var number int
	cmd := &cobra.Command{
		Use:   "openapi",
		Short: "Print the OpenAPI 3.1 document of a spec's API, or of an older version it still serves",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			render, ok := map[string]func(*openapi3.T) ([]byte, error){"json": openapi.JSON, "yaml": openapi.YAML}[format]
			if !ok {
				return fmt.Errorf("--format must be json or yaml, not %q", format)
			}
			m, err := compileSpec(file, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			doc, err := document(m, number)
			if err != nil {
				return err
			}
			out, err := render(doc)
			if err != nil {
				return err
			}
			_, err = stdout.Write(out)
			return err
		},
	}
	cmd.Flags().StringVar(&file, "spec", "plinth.yaml", "the spec file")
	cmd.Flags().StringVar(&format, "format", "json", "json or yaml")
	cmd.Flags().IntVar(&number, "version", 0, "an older version the spec declares under versions: (default the current one)")
	return cmd
}

// document is the OpenAPI document `plinth serve` serves for version number of m: the current
// one for 0 or m.Version.
func document(m *spec.Model, number int) (*openapi3.T, error) {
	if number == 0 || number == m.Version {
		return openapi.Document(m, openapi.Options{Webhooks: true, SLOs: true, MaxBody: httpapi.DefaultMaxBody})
	}
	served := []string{strconv.Itoa(m.Version)}
	for _, v := range m.Versions {
		if v.Number == number {
			return apiversion.New(m, v).Document(httpapi.DefaultMaxBody)
		}
		served = append(served, strconv.Itoa(v.Number))
	}
	return nil, fmt.Errorf("--version %d: the spec serves versions %s", number, strings.Join(served, ", "))
}

func initCmd(stdout io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "init [DIR]",
		Short: "Write a commented starter spec",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := "."
			if len(args) == 1 {
				dir = args[0]
			}
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return err
			}
			path := filepath.Join(dir, "plinth.yaml")
			f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
			if errors.Is(err, os.ErrExist) {
				return fmt.Errorf("%s exists already; not overwriting it", path)
			}
			if err != nil {
				return err
			}
			if _, err := f.WriteString(starterSpec); err != nil {
				f.Close()
				return err
			}
			if err := f.Close(); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "wrote %s\nserve it with: plinth serve --spec %s\n", path, path)
			return nil
		},
	}
}

func tokenCmd(stdout io.Writer) *cobra.Command {
	var sub, role, dataDir, file string
	var ttl time.Duration
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Print a development bearer token that `plinth serve` accepts",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			model := &spec.Model{}
			if file != "" {
				m, err := compileSpec(file, cmd.ErrOrStderr())
				if err != nil {
					return err
				}
				model = m
			}
			signer, _, err := auth.ForModel(model, dataDir, nil)
			if err != nil {
				return err
			}
			tok, err := signer.Sign(sub, role, ttl)
			if err != nil {
				return err
			}
			fmt.Fprintln(stdout, tok)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&sub, "sub", "", "the subject (user id) the token speaks for (required)")
	f.StringVar(&role, "role", "", "the role, as access rules see it in auth.role")
	f.StringVar(&dataDir, "data", plinth.DefaultDataDir, "the data folder of the server that will accept the token")
	f.StringVar(&file, "spec", "", "the spec, to apply its auth settings (issuer, audience, roles, key variable)")
	f.DurationVar(&ttl, "ttl", 24*time.Hour, "how long the token is valid")
	cmd.MarkFlagRequired("sub")
	return cmd
}

func versionCmd(stdout io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			fmt.Fprintln(stdout, "plinth", versionString())
		},
	}
}

func versionString() string {
	if version != "" {
		return version
	}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "(devel)"
	}
	v := info.Main.Version
	for _, s := range info.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 12 && (v == "" || v == "(devel)") {
			v = "(devel) " + s.Value[:12]
		}
	}
	return strings.TrimSpace(v + " " + info.GoVersion)
}
