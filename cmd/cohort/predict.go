package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/cohort-clv/cohort/clv"
	"github.com/cohort-clv/cohort/job"
)

type predictFlags struct {
	data    dataFlags
	model   string
	out     string
	threads int
	device  string
	json    bool
	quiet   bool
}

func newPredictCmd() *cobra.Command {
	f := &predictFlags{}
	cmd := &cobra.Command{
		Use:   "predict --model DIR/model --data FILE --out FILE.csv|FILE.parquet|-",
		Short: "Score every customer of a transaction log with a trained model",
		Long: `predict builds each customer's features from all purchases up to --calibration-end
(default: the last date in the data) and writes one row per customer:

  customer_id                  the customer
  p_return                     probability the customer spends anything in the model's horizon
  expected_spend               expected spend over the horizon (the model was trained for it)
  decile                       1 = the top tenth of customers by expected_spend, 10 = the bottom
  baseline_expected_purchases  BG/NBD expected purchases over the horizon
  baseline_p_alive             BG/NBD probability the customer is still active
  baseline_expected_spend      BG/NBD + Gamma-Gamma expected spend over the horizon

The horizon is the one the model was trained for, and so are the recent
periods of its features: both come from the model. The log is read with the
column mapping used in training; flags given here override it. Output is
Parquet when --out ends in .parquet, CSV otherwise; --out - (or /dev/stdout)
writes CSV to stdout. The summary goes to stderr (-q leaves it out), and the
--json summary to stdout, or to stderr when the predictions go there.

Example:
  cohort predict --model runs/cdnow/model --data CDNOW_master.txt --out predictions.csv
  cohort predict --model runs/cdnow/model --data CDNOW_master.txt --out - | head
` + dataHelp,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runPredict(cmd, f) },
	}
	fs := cmd.Flags()
	f.data.bind(fs, forPredict)
	fs.StringVar(&f.model, "model", "", "model directory written by cohort train (RUN/model) (required)")
	fs.StringVar(&f.out, "out", "", `predictions file: .csv or .parquet; "-" writes CSV to stdout (required); missing directories are created`)
	fs.IntVar(&f.threads, "threads", 0, "CPU threads for reading the log and the compute kernels (default 0: all cores)")
	fs.StringVar(&f.device, "device", "cpu", deviceHelp)
	fs.BoolVar(&f.json, "json", false, `print a JSON summary on stdout (on stderr when --out is stdout)`)
	fs.BoolVarP(&f.quiet, "quiet", "q", false, "no progress and no summary on stderr")
	return cmd
}

// predictSummary is what predict prints.
type predictSummary struct {
	Out          string           `json:"out"`
	Customers    int              `json:"customers"`
	HorizonWeeks float64          `json:"horizon_weeks"`
	Ingest       clv.IngestReport `json:"ingest"`
	Warnings     []string         `json:"warnings,omitempty"`
}

func runPredict(cmd *cobra.Command, f *predictFlags) error {
	if f.model == "" {
		return fmt.Errorf("--model is required: the model directory written by cohort train (RUN/model)")
	}
	if f.out == "" {
		return fmt.Errorf(`--out is required: a .csv or .parquet file for the predictions, or "-" for stdout`)
	}
	if f.threads < 0 {
		return fmt.Errorf("--threads must be >= 0 (0: all cores), got %d", f.threads)
	}
	if err := checkOutFile(f.out, "predictions.csv"); err != nil {
		return err
	}
	ctx := cmd.Context()
	stdout, stderr := cmd.OutOrStdout(), cmd.ErrOrStderr()
	dataOnStdout := toStdout(f.out, stdout)
	// --out /dev/stdout is --out -: the CSV goes to the stream this
	// process was given (appending to a file opened with >>), not to a
	// file opened anew.
	stream := f.out == "-" || dataOnStdout && !isParquet(f.out)
	if !stream {
		if err := checkOutFileWritable(f.out); err != nil {
			return err
		}
	}
	t, err := job.LoadTrained(f.model)
	if err != nil {
		return err
	}
	read, err := f.data.overlay(cmd.Flags(), t.Meta.Read)
	if err != nil {
		return err
	}
	if cmd.Flags().Changed("horizon") || !read.Horizon.IsZero() {
		return fmt.Errorf("--horizon: the model predicts over the %.1f weeks it was trained for; leave --horizon out", t.Meta.HorizonWeeks)
	}
	read.Threads = f.threads
	if !f.quiet {
		read.Progress = newProgress(stderr, 0).read
	}
	be, release, err := openBackend(f.device, f.threads)
	if err != nil {
		return err
	}
	defer release()
	scored, err := t.Score(ctx, be, f.data.path, read)
	if err != nil {
		return err
	}
	// Score looks at ctx only while it reads: a Ctrl-C or SIGTERM during
	// the scoring must not end in a replaced file and exit 0.
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("predict: %w", err)
	}
	if err := writePredictions(ctx, stdout, f.out, stream, scored.Predictions); err != nil {
		return err
	}
	// The signal came while the file was written (job.WritePredictions
	// cannot be stopped): the file is whole, but the run was stopped.
	if err := stoppedAfter(ctx, f.out); err != nil {
		return err
	}
	sum := predictSummary{Out: f.out, Customers: len(scored.Predictions), HorizonWeeks: scored.HorizonWeeks, Ingest: scored.Ingest,
		Warnings: scored.Warnings}
	printWarnings(stderr, scored.Warnings)
	inherited := skipInherited(cmd.Flags(), t.Meta.Read)
	if f.json || f.quiet {
		// No summary to say it: say on stderr why bad rows were skipped.
		noteSkipInherited(stderr, inherited, scored.Ingest)
	}
	if f.json {
		w := stdout
		if dataOnStdout {
			w = stderr // stdout carries the predictions
		}
		if err := json.NewEncoder(w).Encode(sum); err != nil {
			return err
		}
		return stoppedAfter(ctx, f.out)
	}
	if f.quiet {
		return stoppedAfter(ctx, f.out)
	}
	// The summary is a diagnostic: stderr, whatever --out is.
	w := &errWriter{w: stderr}
	if err := writeIngest(w, scored.Ingest, 0, inherited); err != nil {
		return err
	}
	dest := filepath.Clean(f.out)
	if f.out == "-" {
		dest = "stdout"
	}
	fmt.Fprintf(w, "scored %d customers as of %s over the next %.1f weeks -> %s\n",
		sum.Customers, scored.Ingest.CalibrationEnd.Format("2006-01-02"), sum.HorizonWeeks, dest)
	if w.err != nil {
		return w.err
	}
	return stoppedAfter(ctx, f.out)
}

// writePredictions writes ps as CSV to stdout when stream, else to the
// file out, creating its missing directories.
func writePredictions(ctx context.Context, stdout io.Writer, out string, stream bool, ps []job.Prediction) error {
	if !stream {
		undo, err := makeOutFileDir(out)
		if err != nil {
			return err
		}
		if err := job.WritePredictions(out, ps); err != nil {
			undo()
			return err
		}
		return nil
	}
	if err := job.WritePredictionsCSV(ctxWriter{ctx: ctx, w: stdout}, ps); err != nil {
		return fmt.Errorf("predict: write to stdout: %w", err)
	}
	return nil
}
