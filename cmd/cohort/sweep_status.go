package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/cohort-clv/cohort/sweeprun"
)

// inspect reads sweep id's state and trials, through the process that runs
// it when there is one.
func (f *sweepFlags) inspect(ctx context.Context, id string) (*sweeprun.Overview, error) {
	cli, closeEtcd, alone, err := f.open(ctx, id, connectRead)
	if err != nil {
		return nil, err
	}
	defer closeEtcd()
	return sweeprun.Inspect(ctx, cli, id, alone)
}

// sweepStatusDoc is what sweep status --json prints.
type sweepStatusDoc struct {
	Sweep string         `json:"sweep"`
	State sweeprun.State `json:"state"`
	// Holder is the process that runs the sweep, while it runs.
	Holder *sweeprun.Holder `json:"holder,omitempty"`
	// Resume is the command that continues a stopped local sweep.
	Resume string `json:"resume,omitempty"`
	// Error says why a failed sweep failed.
	Error  string           `json:"error,omitempty"`
	Trials []sweeprun.Trial `json:"trials"`
}

func newSweepStatusCmd(f *sweepFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "status ID",
		Short: "Show a sweep's state and every trial: status, objective, epochs, config (also while it runs)",
		Long: `status shows whether sweep ID is running, stopped, done or failed, and every
trial: its status, objective (validation loss), the epochs of its last
attempt, its attempts and its config.

A sweep is running while a process runs it (cohort sweep, or a cluster's
leading coordinator). Once that process has ended, the sweep is stopped
until it is resumed: trials it was training read "stopped" (a clean stop:
Ctrl-C, SIGTERM) or "interrupted" (the process was killed or died, which
counts against the spec's retries). Nothing trains them until
cohort sweep --resume ID (a cluster's next leading coordinator resumes its
sweeps by itself). The exit status is 0 in every state: read the state from
the last line, or from "state" with --json.`,
		Example: `  cohort sweep status cdnow1
  cohort sweep status cdnow1 --json | jq -r .state     # running, stopped, done or failed`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id := args[0]
			ov, err := f.inspect(cmd.Context(), id)
			if err != nil {
				return err
			}
			doc := sweepStatusDoc{Sweep: id, State: ov.State, Holder: ov.Holder, Error: ov.Error, Trials: ov.Trials}
			if ov.State == sweeprun.StateStopped && !ov.Cluster {
				doc.Resume = f.resumeCommand(id)
			}
			if doc.Trials == nil {
				doc.Trials = []sweeprun.Trial{} // [] rather than null: a sweep may have none yet
			}
			out := cmd.OutOrStdout()
			if f.json {
				return writeJSON(out, doc)
			}
			return printSweepStatus(out, doc, ov.Cluster)
		},
	}
	cmd.Flags().BoolVar(&f.json, "json", false, `print {"sweep", "state", "holder", "resume", "error", "trials"} as JSON (a trial that has no value, failed or not finished, has no "value")`)
	return cmd
}

// printSweepStatus prints the trials' table, the best trial, and a last
// line with the sweep's state and what to do about it.
func printSweepStatus(w io.Writer, doc sweepStatusDoc, cluster bool) error {
	ew := &errWriter{w: w}
	printTrials(ew, doc.Trials)
	switch doc.State {
	case sweeprun.StateRunning:
		by := ""
		if h := doc.Holder; h != nil {
			by = fmt.Sprintf(" (pid %d on %s)", h.PID, h.Host)
		}
		fmt.Fprintf(ew, "sweep %s is running%s\n", doc.Sweep, by)
	case sweeprun.StateStopped:
		if cluster {
			fmt.Fprintf(ew, "sweep %s is stopped: no coordinator runs it now; the cluster's leading coordinator resumes it (is one running?)\n", doc.Sweep)
		} else {
			fmt.Fprintf(ew, "sweep %s is stopped: no process runs it; continue it with: %s\n", doc.Sweep, doc.Resume)
		}
	case sweeprun.StateFailed:
		fmt.Fprintf(ew, "sweep %s failed: %s\n", doc.Sweep, doc.Error)
	default:
		fmt.Fprintf(ew, "sweep %s is %s\n", doc.Sweep, doc.State)
	}
	return ew.err
}

func printTrials(w io.Writer, trials []sweeprun.Trial) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TRIAL\tSTATUS\tVALUE\tEPOCHS\tATTEMPTS\tCONFIG")
	for _, t := range trials {
		v := ""
		if t.HasValue() {
			v = fmt.Sprintf("%.6g", t.Value)
		}
		cfg := sweeprun.ConfigText(t.Config)
		if t.Reason != "" {
			cfg += "  (" + t.Reason + ")"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%d\t%d\t%s\n", t.ID, t.Status, v, t.Epochs, t.Attempts, cfg)
	}
	tw.Flush()
	if b, ok := sweeprun.BestTrial(trials); ok {
		fmt.Fprintf(w, "best: trial %d, validation loss %.6g\n", b.ID, b.Value)
	}
}

func newSweepResultsCmd(f *sweepFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "results ID --out results.csv|-",
		Short: "Write one CSV row per trial of a sweep",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if f.out == "" {
				return errors.New("--out is required: the CSV file to write, or - for stdout")
			}
			if err := checkOutFile(f.out, "results.csv"); err != nil {
				return err
			}
			// Trials as status shows them: in a sweep no process runs, none
			// reads running.
			ov, err := f.inspect(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			space, err := ov.Spec.SearchSpace()
			if err != nil {
				return err
			}
			if f.out == "-" {
				return sweeprun.WriteResultsCSV(cmd.OutOrStdout(), space, ov.Trials)
			}
			if err := sweeprun.WriteResults(f.out, space, ov.Trials); err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "wrote %d trials of sweep %s to %s\n", len(ov.Trials), args[0], f.out)
			return nil
		},
	}
	cmd.Flags().StringVar(&f.out, "out", "", "CSV file to write, replacing it (required; - writes to stdout)")
	return cmd
}
