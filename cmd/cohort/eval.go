package main

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/cohort-clv/cohort/job"
)

type evalFlags struct {
	data       dataFlags
	model      string
	out        string
	split      string
	threads    int
	device     string
	importance int
	json       bool
	quiet      bool
}

func newEvalCmd() *cobra.Command {
	f := &evalFlags{}
	cmd := &cobra.Command{
		Use:   "eval --model DIR/model --data FILE --calibration-end DATE --horizon H --out DIR",
		Short: "Evaluate a trained model and its baseline on labelled data",
		Long: `eval builds features up to --calibration-end and labels from the --horizon after it,
scores the customers with the trained model and its BG/NBD + Gamma-Gamma
baseline, and writes DIR/metrics.json and DIR/report.html.

--split test (the default) scores only the customers that the stable hash split
puts in the test part, which training never used: right when the data holds
the customers the model was trained on. --split all scores everyone, for data
of new customers or a later period.

The log is read with the column mapping used in training (flags given here
override it); the recent periods of the features come from the model.

--horizon defaults to the one the model was trained for, the only one it
predicts over; --calibration-end to the last date of the data minus it.

Examples:
  # the test customers of the training data again (the report of cohort train)
  cohort eval --model runs/cdnow/model --data CDNOW_master.txt --calibration-end 1997-09-30 --out runs/eval
  # everyone, on the latest 39 weeks of a newer log of the same shop
  cohort eval --model runs/cdnow/model --data shop-2026.csv --split all --out runs/eval-2026
` + dataHelp,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runEval(cmd, f) },
	}
	fs := cmd.Flags()
	f.data.bind(fs, forEval)
	fs.StringVar(&f.model, "model", "", "model directory written by cohort train (RUN/model) (required)")
	fs.StringVar(&f.out, "out", "", "directory for metrics.json and report.html, created if missing (required)")
	fs.StringVar(&f.split, "split", "test", "customers to score: test (hash split, unseen in training) or all")
	fs.IntVar(&f.threads, "threads", 0, "CPU threads for reading the log and the compute kernels (default 0: all cores)")
	fs.StringVar(&f.device, "device", "cpu", deviceHelp)
	fs.IntVar(&f.importance, "importance-repeats", 0, "shuffles per feature for permutation importance (>= 0; 0: off)")
	fs.BoolVar(&f.json, "json", false, "print the result as JSON on stdout")
	fs.BoolVarP(&f.quiet, "quiet", "q", false, "no progress on stderr")
	return cmd
}

func runEval(cmd *cobra.Command, f *evalFlags) error {
	if f.model == "" || f.out == "" {
		return fmt.Errorf("--model and --out are required")
	}
	if f.split != "test" && f.split != "all" {
		return fmt.Errorf("--split %q: want test or all", f.split)
	}
	if f.threads < 0 {
		return fmt.Errorf("--threads must be >= 0 (0: all cores), got %d", f.threads)
	}
	if f.importance < 0 {
		return fmt.Errorf("--importance-repeats must be >= 0 (0: off), got %d", f.importance)
	}
	t, err := job.LoadTrained(f.model)
	if err != nil {
		return err
	}
	read, err := f.data.overlay(cmd.Flags(), t.Meta.Read)
	if err != nil {
		return err
	}
	if err := refuseZeroHorizon(cmd.Flags(), read, fmt.Sprintf("leave --horizon out to evaluate over the %.1f weeks the model was trained for", t.Meta.HorizonWeeks)); err != nil {
		return err
	}
	if read.Horizon.IsZero() {
		// The model predicts over one horizon only (job.Trained.Evaluate
		// refuses another), so it is the default.
		read.Horizon = t.Meta.Read.Horizon
	}
	if read.Horizon.IsZero() {
		return fmt.Errorf("--horizon is required: the holdout whose spend is compared with the predictions (the model was trained for %.1f weeks)", t.Meta.HorizonWeeks)
	}
	read.Threads = f.threads
	var ev job.Events
	var prog *progress
	if !f.quiet {
		prog = newProgress(cmd.ErrOrStderr(), 0)
		read.Progress = prog.read
		if !f.json {
			// The evaluation's steps (permutation importance, bootstrap,
			// ...), which take minutes on a large shop.
			ev.Step = prog.step
		}
	}
	be, release, err := openBackend(f.device, f.threads)
	if err != nil {
		return err
	}
	defer release()
	undo, err := makeDirs(f.out)
	if err != nil {
		return err
	}
	res, err := t.EvaluateWith(cmd.Context(), be, f.data.path, read, f.out, f.split == "test", f.importance, ev)
	if prog != nil {
		prog.endSteps()
	}
	if err != nil {
		undo() // as train: no empty --out directory after a failure
		return err
	}
	printWarnings(cmd.ErrOrStderr(), res.Warnings)
	inherited := skipInherited(cmd.Flags(), t.Meta.Read)
	if f.json {
		noteSkipInherited(cmd.ErrOrStderr(), inherited, res.Ingest) // no summary to say it
		enc := json.NewEncoder(cmd.OutOrStdout())
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	w := cmd.OutOrStdout()
	if err := writeIngest(w, res.Ingest, 0, inherited); err != nil {
		return err
	}
	who := "test customers"
	if res.Scored == "all" {
		// Never "test customers": most of them may have trained the model.
		who = "customers"
		fmt.Fprintf(w, "\nholdout metrics on all %d customers, held out or not (%d of them trained the model or chose its epoch:\nin-sample if it was trained on this log):\n",
			res.Customers, res.InSample)
	} else {
		fmt.Fprintf(w, "\nholdout metrics on %d test customers:\n", res.Customers)
	}
	printMetrics(w, res.Model, res.BaselineMetrics)
	printMetricsLegend(w, res.Quantity)
	printBootstrapOf(w, res.Bootstrap, res.Customers, who)
	printNoise(w, res.ModelNoise)
	fmt.Fprintf(w, "\nmetrics  %s\nreport   %s\n", res.MetricsPath, res.ReportPath)
	return nil
}
