package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/cohort-clv/cohort/eval/report"
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
	overwrite  bool
}

func newEvalCmd() *cobra.Command {
	f := &evalFlags{}
	cmd := &cobra.Command{
		Use:   "eval --model DIR/model --data FILE [--calibration-end DATE] [--horizon H] --out DIR",
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

eval replaces the metrics.json and report.html of an earlier eval in --out,
but refuses a directory that holds a training run (its model/, or a
metrics.json with an epoch history) unless --overwrite: train's metrics would
be lost. The files it replaces are removed before it starts. Another train or
eval writing into --out is refused at once.

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
	fs.StringVar(&f.out, "out", "", "directory for metrics.json and report.html, created if missing (required); a training run's directory needs --overwrite")
	fs.StringVar(&f.split, "split", "test", "customers to score: test (hash split, unseen in training) or all")
	fs.IntVar(&f.threads, "threads", 0, "CPU threads for reading the log and the compute kernels (default 0: all cores)")
	fs.StringVar(&f.device, "device", "cpu", deviceHelp)
	fs.IntVar(&f.importance, "importance-repeats", 0, "shuffles per feature for permutation importance, >= 0 (default 0: off; train's is 3)")
	fs.BoolVar(&f.json, "json", false, "print the result as JSON on stdout")
	fs.BoolVarP(&f.quiet, "quiet", "q", false, "no progress on stderr")
	fs.BoolVar(&f.overwrite, "overwrite", false, "replace the metrics.json and report.html of a training run in --out (its model/ stays)")
	return cmd
}

func runEval(cmd *cobra.Command, f *evalFlags) (err error) {
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
	dir, err := openRunDir(f.out)
	if err != nil {
		return err
	}
	// As train: no empty --out directory after a failure.
	defer func() { dir.close(err != nil) }()
	if err := clearEvalDir(f.out, f.overwrite); err != nil {
		return err
	}
	res, err := t.EvaluateWith(cmd.Context(), be, f.data.path, read, f.out, f.split == "test", f.importance, ev)
	if prog != nil {
		prog.endSteps()
	}
	if err != nil {
		// A report.html without its metrics.json would pass for a
		// finished eval.
		if _, rerr := removeOutputs(f.out, report.MetricsFile, report.HTMLFile); rerr != nil {
			err = errors.Join(err, fmt.Errorf("remove the failed eval's outputs: %w", rerr))
		}
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
	return printEval(&errWriter{w: cmd.OutOrStdout()}, res, inherited)
}

// printEval shows what reading the log counted and the metrics of both
// models; its error is the first write's that failed.
func printEval(w *errWriter, res *job.Evaluation, inherited bool) error {
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
	return w.err
}

// clearEvalDir refuses an --out that holds a training run, whose
// metrics.json and report.html an eval would replace, unless overwrite;
// then it removes the files the eval replaces, before the eval starts, so
// that an interruption leaves neither the old metrics beside a new report
// nor the other way round.
func clearEvalDir(dir string, overwrite bool) error {
	if why := trainingRun(dir); why != "" && !overwrite {
		var would []string
		for _, name := range []string{report.MetricsFile, report.HTMLFile} {
			if _, err := os.Lstat(filepath.Join(dir, name)); err == nil {
				would = append(would, name)
			}
		}
		if len(would) > 0 {
			return fmt.Errorf("--out %s holds a training run (%s): eval would replace its %s; add --overwrite to replace them, or pick another --out",
				dir, why, strings.Join(would, " and "))
		}
	}
	_, err := removeOutputs(dir, report.MetricsFile, report.HTMLFile)
	if err != nil {
		return fmt.Errorf("--out %s: %w", dir, err)
	}
	return nil
}

// trainingRun says what marks dir as a training run's directory (its
// model, or a metrics.json with the epoch history only training writes),
// "" when nothing does: an eval's own directory, or a new one.
func trainingRun(dir string) string {
	if _, err := os.Lstat(filepath.Join(dir, job.ModelDir)); err == nil {
		return job.ModelDir + "/"
	}
	raw, err := os.ReadFile(filepath.Join(dir, report.MetricsFile))
	if err != nil {
		return ""
	}
	var doc struct {
		History json.RawMessage `json:"history"`
	}
	if json.Unmarshal(raw, &doc) == nil && len(doc.History) > 0 && string(doc.History) != "null" {
		return "metrics.json with an epoch history"
	}
	return ""
}
