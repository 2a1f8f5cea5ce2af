package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/cohort-clv/cohort/clv"
	"github.com/cohort-clv/cohort/job"
	"github.com/cohort-clv/cohort/synth"
)

type demoFlags struct {
	out       string
	customers int
	seed      uint64
	threads   int
	device    string
	json      bool
	quiet     bool
}

func newDemoCmd() *cobra.Command {
	f := &demoFlags{}
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Generate a synthetic shop, train and evaluate on it, print where the report is",
		Long: `demo shows cohort end to end on one machine with no setup and no data of your own.
It generates a shop of --customers customers who first buy in a 12-week cohort
and come and go for 78 weeks like the CDNOW record-store customers (cohort gen's
defaults), then runs cohort train with the first 39 weeks as calibration and the
next 39 as holdout. Everything lands in --out:

  shop.csv.gz   the generated transaction log (customer_id,date,amount)
  model/        the trained model, ready for cohort predict
  metrics.json  deep model vs BG/NBD + Gamma-Gamma on the test customers
  report.html   the report: open it in a browser

Customers in the synthetic shop buy and drop out exactly as BG/NBD says, so
the baseline's purchase model is the true one: expect it to match or beat the
deep model at telling who buys again (AUC, AUC of P(return), Spearman). Its
spend model leaves something out. The shop draws every amount, the first
purchase's included, around the customer's own spend level; Gamma-Gamma, by
the BTYD convention, learns that level from repeat purchases only, and gives
customers with no repeat purchase yet (six in ten here) the population mean.
The deep model sees the first amount (the spend_first feature), and so ranks
spend better (normalized Gini). It beats a convention, not the truth:
Gamma-Gamma with the first amount as well, at the shop's true parameters,
ranks better still. On real data (try the CDNOW set with cohort train) no
model is the true one, and the comparison is open.

Example:
  cohort demo --out cohort-demo && xdg-open cohort-demo/report.html`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runDemo(cmd, f) },
	}
	fs := cmd.Flags()
	fs.StringVar(&f.out, "out", "cohort-demo", "directory for the generated shop, the model and the report; an earlier demo's files there are replaced")
	fs.IntVar(&f.customers, "customers", 20000, "customers in the synthetic shop")
	fs.Uint64Var(&f.seed, "seed", 1, "random seed for the shop and the model")
	fs.IntVar(&f.threads, "threads", 0, "CPU threads for reading the log and the compute kernels (default 0: all cores)")
	fs.StringVar(&f.device, "device", "cpu", deviceHelp)
	fs.BoolVar(&f.json, "json", false, "print the training result as JSON on stdout")
	fs.BoolVarP(&f.quiet, "quiet", "q", false, "no progress on stderr")
	return cmd
}

func runDemo(cmd *cobra.Command, f *demoFlags) (err error) {
	if f.customers < 100 {
		return fmt.Errorf("--customers must be at least 100 for a train/validation/test split, got %d", f.customers)
	}
	if f.threads < 0 {
		return fmt.Errorf("--threads must be >= 0 (0: all cores), got %d", f.threads)
	}
	dir, err := openRunDir(f.out)
	if err != nil {
		return err
	}
	defer func() { dir.close(err != nil) }()
	if err := clearDemoDir(cmd.ErrOrStderr(), f.out, f.quiet); err != nil {
		return err
	}
	cfg := synth.DefaultConfig(synth.BGNBD)
	cfg.Customers, cfg.Seed = f.customers, f.seed
	cfg.Start = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	cfg.End = cfg.Start.AddDate(0, 0, 78*7)
	shop := filepath.Join(f.out, demoShop)
	if !f.quiet {
		fmt.Fprintf(cmd.ErrOrStderr(), "generating %d customers over 78 weeks -> %s\n", f.customers, shop)
	}
	if err := writeSynthLog(cmd.Context(), shop, cfg); err != nil {
		return fmt.Errorf("demo: generate shop: %w", err)
	}
	horizon, err := clv.ParseHorizon("39w")
	if err != nil {
		return err
	}
	spec := job.DefaultSpec()
	spec.Data, spec.Out, spec.Threads = shop, f.out, f.threads
	spec.Model.Seed = f.seed
	spec.Read.CalibrationEnd = cfg.Start.AddDate(0, 0, 39*7-1)
	spec.Read.Horizon = horizon
	// The shop runs 78 weeks whether or not anyone bought on its last days
	// (a small one often ends a few quiet days early).
	spec.Read.DataEnd = cfg.End.AddDate(0, 0, -1)
	be, release, err := openBackend(f.device, f.threads)
	if err != nil {
		return err
	}
	defer release()
	var ev job.Events
	if !f.quiet {
		ev = newProgress(cmd.ErrOrStderr(), spec.Model.WithDefaults().MaxEpochs).events()
	}
	res, err := job.Train(cmd.Context(), be, spec, ev)
	if err != nil {
		// As train: no model without its metrics.
		if _, rerr := removeOutputs(f.out, runOutputs()...); rerr != nil {
			err = errors.Join(err, rerr)
		}
		return fmt.Errorf("demo: %w", err)
	}
	if f.json {
		enc := json.NewEncoder(cmd.OutOrStdout())
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	if err := printResult(cmd.OutOrStdout(), res); err != nil {
		return err
	}
	_, err = fmt.Fprintf(cmd.OutOrStdout(), "\nopen %s in a browser; score customers with:\n  cohort predict --model %s --data %s --out %s\n",
		res.ReportPath, res.ModelDir, shop, filepath.Join(f.out, "predictions.csv"))
	return err
}

// demoShop is the log demo generates into its --out: a directory holding
// it is an earlier demo's.
const demoShop = "shop.csv.gz"

// clearDemoDir removes an earlier demo's outputs from dir, since a demo is
// meant to start fresh and `cohort demo` twice must work (it is the
// README's first command). A directory holding another run (a model or
// metrics without a demo's shop beside them) is refused: the demo would
// destroy it.
func clearDemoDir(stderr io.Writer, dir string, quiet bool) error {
	if name := finishedRun(dir); name != "" {
		if _, err := os.Lstat(filepath.Join(dir, demoShop)); err != nil {
			return fmt.Errorf("--out %s holds a run that is not a demo's (%s, and no %s): pick another --out for the demo",
				dir, describeOutputs([]string{name}), demoShop)
		}
	}
	removed, err := removeOutputs(dir, append(runOutputs(), demoShop)...)
	if err != nil {
		return fmt.Errorf("--out %s: %w", dir, err)
	}
	if len(removed) > 0 && !quiet {
		fmt.Fprintf(stderr, "replacing the earlier demo in %s\n", dir)
	}
	return nil
}
