package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/plinth-dev/plinth/internal/spec"
)

// diffTrouble is plinth diff's exit status when it cannot compare (a spec that does not
// compile, a file it cannot read, bad arguments): 1 means a refused change, so CI can tell
// the two apart.
const diffTrouble = 2

// diffCmd is `plinth diff OLD NEW`, the breaking-change gate. more are the comparisons run
// after the spec-level one (spec.Compare merges their findings), such as one of the specs'
// OpenAPI documents.
func diffCmd(stdout, stderr io.Writer, more ...spec.Comparison) *cobra.Command {
	var format string
	trouble := func(format string, args ...any) error {
		fmt.Fprintf(stderr, "plinth diff: "+format+"\n", args...)
		return exitError{diffTrouble}
	}
	cmd := &cobra.Command{
		Use:   "diff OLD NEW",
		Short: "List the changes from one spec to the next; exit 1 on a breaking one unless the version rose",
		Long: "Compare two spec files and print every change, breaking or not, with its reason and its file:line:column " +
			"(in NEW for what was added or changed, in OLD for what was removed); docs/contract.md lists the kinds. " +
			"Exits 1 when a change is breaking and NEW's version is not higher than OLD's, 2 when a spec does not compile, 0 otherwise.",
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 2 {
				return trouble("give two spec files, OLD and NEW, not %d", len(args))
			}
			return nil
		},
		RunE: func(_ *cobra.Command, args []string) error {
			if format != "text" && format != "json" {
				return trouble("--format must be text or json, not %q", format)
			}
			var models [2]*spec.Model
			for i, file := range args {
				src, err := os.ReadFile(file)
				if err != nil {
					return trouble("%v", err)
				}
				m, diags := spec.Compile(file, src)
				if diags.HasErrors() {
					printDiagnostics(stderr, diags.Errors())
					return trouble("%s does not compile, so there is nothing to compare", file)
				}
				models[i] = m
			}
			rep, err := spec.Compare(models[0], models[1], more...)
			if err != nil {
				return trouble("%v", err)
			}
			if format == "json" {
				err = writeReportJSON(stdout, args[0], args[1], rep)
			} else {
				writeReport(stdout, args[0], args[1], rep)
			}
			if err != nil {
				return err
			}
			if rep.Refused() {
				return exitError{1}
			}
			return nil
		},
	}
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return trouble("%v", err) })
	cmd.Flags().StringVar(&format, "format", "text", "text, or json: {old, new, breaking, refused, changes: [...]}")
	return cmd
}

// writeReport prints one line per change, `file:line:column: breaking: reason [kind]` with a
// note on an indented line below, then the verdict.
func writeReport(w io.Writer, oldFile, newFile string, rep spec.Report) {
	for _, c := range rep.Changes {
		verdict := "non-breaking"
		if c.Breaking {
			verdict = "breaking"
		}
		fmt.Fprintf(w, "%s: %s: %s [%s]\n", c.Location, verdict, c.Reason, c.Kind)
		if c.Note != "" {
			fmt.Fprintf(w, "    note: %s\n", c.Note)
		}
	}
	fmt.Fprintf(w, "%s -> %s: ", oldFile, newFile)
	n, b := len(rep.Changes), rep.Breaking()
	switch {
	case n == 0:
		fmt.Fprintln(w, "no changes")
	case b == 0:
		fmt.Fprintf(w, "%d change(s), none breaking\n", n)
	case rep.VersionRose():
		fmt.Fprintf(w, "%d change(s), %d breaking: allowed, since version rose from %d to %d\n", n, b, rep.OldVersion, rep.NewVersion)
	default:
		fmt.Fprintf(w, "%d change(s), %d breaking: refused; publishing a breaking change takes a version above %d\n", n, b, rep.OldVersion)
	}
}

// jsonReport is what `plinth diff --format json` writes: both files and versions, the
// verdict, and every change. Every member is always present; strings are empty where they do
// not apply.
type jsonReport struct {
	Old      jsonSpec     `json:"old"`
	New      jsonSpec     `json:"new"`
	Breaking int          `json:"breaking"`
	Refused  bool         `json:"refused"`
	Changes  []jsonChange `json:"changes"`
}

type jsonSpec struct {
	File    string `json:"file"`
	Version int    `json:"version"`
}

type jsonChange struct {
	Kind     string       `json:"kind"`
	Breaking bool         `json:"breaking"`
	Reason   string       `json:"reason"`
	Resource string       `json:"resource"`
	Field    string       `json:"field"`
	Webhook  string       `json:"webhook"`
	Old      string       `json:"old"`
	New      string       `json:"new"`
	Note     string       `json:"note"`
	Source   string       `json:"source"`
	Location jsonLocation `json:"location"`
}

type jsonLocation struct {
	File   string `json:"file"`
	Line   int    `json:"line"`
	Column int    `json:"column"`
}

func writeReportJSON(w io.Writer, oldFile, newFile string, rep spec.Report) error {
	out := jsonReport{Old: jsonSpec{oldFile, rep.OldVersion}, New: jsonSpec{newFile, rep.NewVersion},
		Breaking: rep.Breaking(), Refused: rep.Refused(), Changes: make([]jsonChange, len(rep.Changes))}
	for i, c := range rep.Changes {
		out.Changes[i] = jsonChange{Kind: c.Kind, Breaking: c.Breaking, Reason: c.Reason, Resource: c.Resource, Field: c.Field,
			Webhook: c.Webhook, Old: c.Old, New: c.New, Note: c.Note, Source: c.Source,
			Location: jsonLocation{File: c.Location.File, Line: c.Location.Line, Column: c.Location.Col}}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}
