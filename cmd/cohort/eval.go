package main

import (
	"encoding/json"
	"fmt"
	"os"

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

Example (a later calibration end on the same shop):
  cohort eval --model runs/cdnow/model --data CDNOW_master.txt --calibration-end 1997-12-31 --horizon 26w --out runs/eval
` + dataHelp,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runEval(cmd, f) },
	}
	fs := cmd.Flags()
	f.data.bind(fs)
	fs.StringVar(&f.model, "model", "", "model directory written by cohort train (RUN/model) (required)")
	fs.StringVar(&f.out, "out", "", "directory for metrics.json and report.html (required)")
	fs.StringVar(&f.split, "split", "test", "customers to score: test (hash split, unseen in training) or all")
	fs.IntVar(&f.threads, "threads", 0, "CPU threads for the compute kernels (default: all cores)")
	fs.StringVar(&f.device, "device", "cpu", deviceHelp)
	fs.IntVar(&f.importance, "importance-repeats", 0, "shuffles per feature for permutation importance (0: off)")
	fs.BoolVar(&f.json, "json", false, "print the result as JSON on stdout")
	return cmd
}

func runEval(cmd *cobra.Command, f *evalFlags) error {
	if f.model == "" || f.out == "" {
		return fmt.Errorf("--model and --out are required")
	}
	if f.split != "test" && f.split != "all" {
		return fmt.Errorf("--split %q: want test or all", f.split)
	}
	t, err := job.LoadTrained(f.model)
	if err != nil {
		return err
	}
	read, err := f.data.overlay(cmd.Flags(), t.Meta.Read)
	if err != nil {
		return err
	}
	if read.Horizon.IsZero() {
		return fmt.Errorf("--horizon is required: the holdout whose spend is compared with the predictions (the model was trained for %.1f weeks)", t.Meta.HorizonWeeks)
	}
	if err := os.MkdirAll(f.out, 0o755); err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	be, release, err := openBackend(f.device, f.threads)
	if err != nil {
		return err
	}
	defer release()
	res, err := t.Evaluate(cmd.Context(), be, f.data.path, read, f.out, f.split == "test", f.importance)
	if err != nil {
		return err
	}
	if f.json {
		enc := json.NewEncoder(cmd.OutOrStdout())
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	w := cmd.OutOrStdout()
	fmt.Fprintf(w, "holdout metrics on %d customers (%s):\n", res.Customers, f.split)
	printMetrics(w, res.Model, res.BaselineMetrics)
	printBootstrap(w, res.Bootstrap, res.Customers)
	printNoise(w, res.ModelNoise)
	fmt.Fprintf(w, "\nmetrics  %s\nreport   %s\n", res.MetricsPath, res.ReportPath)
	return nil
}
