package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/spf13/cobra"

	"github.com/plinth-dev/plinth/internal/obsgen"
)

func observabilityCmd(stdout io.Writer) *cobra.Command {
	var file, out string
	var opts obsgen.Options
	cmd := &cobra.Command{
		Use:   "observability",
		Short: "Write Prometheus rules, their promtool tests and a Grafana dashboard for a spec",
		Long: "Write into --out: " + obsgen.RulesFile + " (recording and burn-rate alerting rules for the spec's objectives, and alerts for " +
			"readiness, outbox lag, dead letters and open breakers), " + obsgen.RuleTestsFile + " (promtool test rules " + obsgen.RuleTestsFile +
			") and " + obsgen.DashboardFile + " (Grafana). docs/operations.md explains each alert.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			m, err := compileSpec(file, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			objectives := obsgen.Objectives(m)
			if err := obsgen.Write(out, m, objectives, opts); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "wrote %s, %s and %s in %s (%d objectives)\n", obsgen.RulesFile, obsgen.RuleTestsFile, obsgen.DashboardFile, out, len(objectives))
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&file, "spec", "plinth.yaml", "the spec file")
	f.StringVar(&out, "out", "observability", "the folder to write the files in (created if missing)")
	f.StringVar(&opts.Job, "job", "plinth", "the Prometheus job that scrapes the servers")
	f.StringVar(&opts.Runbook, "runbook", obsgen.DefaultRunbook, "the URL of the operations guide alerts link to")
	return cmd
}

// healthcheckCmd asks a server whether it is ready, for container health checks: the image
// has no curl.
func healthcheckCmd(stdout io.Writer) *cobra.Command {
	var url string
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "healthcheck",
		Short: "Exit 0 when a server's readiness URL answers 200, 1 otherwise",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
			if err != nil {
				return err
			}
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				return err
			}
			res.Body.Close()
			if res.StatusCode != http.StatusOK {
				return fmt.Errorf("%s answered %s", url, res.Status)
			}
			fmt.Fprintln(stdout, "ready")
			return nil
		},
	}
	cmd.Flags().StringVar(&url, "url", "http://127.0.0.1:8080/readyz", "the readiness URL")
	cmd.Flags().DurationVar(&timeout, "timeout", 3*time.Second, "how long to wait for the answer")
	return cmd
}
