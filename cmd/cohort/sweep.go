package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/cohort-clv/cohort/job"
	"github.com/cohort-clv/cohort/membership"
	"github.com/cohort-clv/cohort/sweeprun"
)

// sweepFlags are shared by sweep and its subcommands.
type sweepFlags struct {
	etcd    etcdFlags
	dir     string
	id      string
	resume  string
	quiet   bool
	json    bool
	out     string
	cluster bool
}

// sweepDir is where sweep id keeps its outputs and, without --etcd, its
// embedded etcd's data.
func (f *sweepFlags) sweepDir(id string) string { return filepath.Join(f.dir, id) }

// connect dials --etcd, or starts the embedded etcd of sweep id; create
// says whether a missing embedded etcd may be created.
func (f *sweepFlags) connect(ctx context.Context, id string, create bool) (*clientv3.Client, func(), error) {
	if f.etcd.endpoints != "" {
		cli, err := membership.Dial(ctx, f.etcd.config())
		if err != nil {
			return nil, nil, err
		}
		return cli, func() { cli.Close() }, nil
	}
	data := filepath.Join(f.sweepDir(id), "etcd")
	if _, err := os.Stat(data); err != nil && !create {
		return nil, nil, fmt.Errorf("sweep %s: no embedded etcd in %s (use --dir or --etcd): %w", id, data, err)
	}
	if err := os.MkdirAll(f.sweepDir(id), 0o755); err != nil {
		return nil, nil, fmt.Errorf("--dir: %w", err)
	}
	m, err := membership.StartEmbedded(ctx, data)
	if err != nil {
		return nil, nil, err
	}
	cli, err := membership.Dial(ctx, membership.Config{Endpoints: m.Endpoints()})
	if err != nil {
		m.Close()
		return nil, nil, err
	}
	return cli, func() { cli.Close(); m.Close() }, nil
}

func newSweepCmd() *cobra.Command {
	f := &sweepFlags{}
	cmd := &cobra.Command{
		Use:   "sweep SPEC.yaml | sweep --resume ID",
		Short: "Tune a CLV model: train many configurations in parallel, stop bad ones early, keep the best",
		Long: `sweep reads the data once, then trains the configurations that a sampler
(grid, random, bayes or tpe) proposes from the spec's search space, --parallel at
a time on this machine, stopping bad ones early (asha, median or none). Every
piece of sweep state (spec, sampler state, stopper state, every trial) lives in
etcd, written transactionally: an interrupted sweep continues with --resume ID,
losing nothing. Without --etcd, an etcd runs inside the process with its data in
DIR/ID/etcd.

It writes into DIR/ID: best/ (the best trial's run directory, ready for cohort
predict), results.csv, best-so-far.png and param-NAME.png.

Spec (YAML):
  data: CDNOW_master.txt
  calibration_end: "1997-09-30"
  horizon: 39w
  columns: {customer: "", date: "", amount: ""}   # as train's flags; optional
  # also optional, as train's flags: format, header, delimiter, date_format,
  # decimal (quote it: ","), skip_bad_rows, negative, data_end
  model: {max_epochs: 30, patience: -1}             # base config; optional
  space:
    parameters:
      - {name: hidden, type: categorical, values: ["64", "128,64", "256,128"]}
      - {name: lr, type: float, min: 0.0001, max: 0.01, log: true}
      - {name: weight_decay, type: float, min: 0, max: 0.001}
      - {name: batch, type: int, min: 128, max: 1024, log: true}
      # any of: ` + sweeprun.ParameterNames() + `
  sampler: {algorithm: tpe}     # grid, random, bayes, tpe
  trials: 32
  parallel: 4
  early_stopping: {rule: asha, asha: {min_resource: 1, eta: 3}}
  seed: 1

Example:
  cohort sweep cdnow.yaml --id cdnow1
  cohort sweep --resume cdnow1
  cohort sweep status cdnow1
  cohort sweep results cdnow1 --out results.csv

With --cluster (and --etcd), the sweep runs on a cluster instead: the leading
coordinator proposes the trials and trains each on workers_per_trial of the
cluster's workers (default 1), parallel trials at a time; all its state lives
in etcd, so when the coordinator dies a standby resumes it where it was. This
command only submits the sweep and follows it (Ctrl-C stops following, not the
sweep; --resume ID --cluster follows it again). The outputs go to DIR/ID as a
path on the coordinators: use shared storage.
  cohort sweep cdnow.yaml --cluster --etcd e1:2379 --dir /runs/sweeps --id cdnow2`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return runSweep(cmd, f, args) },
	}
	pf := cmd.PersistentFlags()
	f.etcd.bind(pf)
	pf.StringVar(&f.dir, "dir", "sweeps", "directory holding one directory per sweep (outputs, embedded etcd)")
	fs := cmd.Flags()
	fs.StringVar(&f.id, "id", "", "sweep id (default: sweep-YYYYMMDD-HHMMSS)")
	fs.StringVar(&f.resume, "resume", "", "continue sweep ID from its state in etcd")
	fs.BoolVarP(&f.quiet, "quiet", "q", false, "no progress on stderr")
	fs.BoolVar(&f.json, "json", false, "print the outcome as JSON on stdout: the best trial and its run (test metrics, files)")
	fs.BoolVar(&f.cluster, "cluster", false, "run the trials on the cluster's workers: the leading coordinator runs the sweep (needs --etcd); with --resume, follow a cluster sweep")
	cmd.AddCommand(newSweepStatusCmd(f), newSweepResultsCmd(f))
	return cmd
}

func runSweep(cmd *cobra.Command, f *sweepFlags, args []string) error {
	ctx := cmd.Context()
	var spec *sweeprun.Spec
	id := f.resume
	switch {
	case f.resume != "" && len(args) > 0:
		return errors.New("give a spec file or --resume ID, not both")
	case f.resume == "" && len(args) == 0:
		return errors.New("a spec file is required (or --resume ID)")
	case f.resume == "":
		data, err := os.ReadFile(args[0])
		if err != nil {
			return fmt.Errorf("sweep: %w", err)
		}
		if spec, err = sweeprun.ParseSpec(data); err != nil {
			return fmt.Errorf("%s: %w", args[0], err)
		}
		id = f.id
		if id == "" {
			id = "sweep-" + time.Now().UTC().Format("20060102-150405")
		}
	}
	if err := membership.ValidName(id); err != nil {
		return fmt.Errorf("sweep id: %w", err)
	}
	if f.cluster {
		return runClusterSweep(cmd, f, id, spec)
	}
	cli, closeEtcd, err := f.connect(ctx, id, spec != nil)
	if err != nil {
		return err
	}
	defer closeEtcd()
	so, err := newSweepOutput(cmd)
	if err != nil {
		return err
	}
	opts := sweeprun.Options{Out: f.sweepDir(id), Logger: so.log}
	if !f.quiet {
		opts.Progress = so.progress
	}
	var res *sweeprun.Result
	if spec != nil {
		so.say(fmt.Sprintf("sweep %s: %d trials, %d in parallel, sampler %s, early stopping %s",
			id, spec.Trials, spec.Parallel, spec.Sampler.Algorithm, spec.EarlyStopping.Rule),
			"sweep started", "sweep", id, "trials", spec.Trials, "parallel", spec.Parallel,
			"sampler", spec.Sampler.Algorithm, "early_stopping", spec.EarlyStopping.Rule)
		res, err = sweeprun.Start(ctx, cli, id, spec, opts)
	} else {
		so.say("resuming sweep "+id, "sweep resumed", "sweep", id)
		res, err = sweeprun.Resume(ctx, cli, id, opts)
	}
	if err != nil {
		if ctx.Err() != nil {
			resume := fmt.Sprintf("cohort sweep --resume %s --dir %s", id, f.dir)
			so.say("stopped; continue with: "+resume, "sweep stopped", "sweep", id, "continue_with", resume)
		}
		return err
	}
	out := cmd.OutOrStdout()
	b := res.Best
	if f.json {
		return writeJSON(out, sweepResultDoc{Sweep: id, Best: b, Epochs: res.Epochs, Out: opts.Out,
			Results: filepath.Join(opts.Out, "results.csv"), BestRun: res.BestRun})
	}
	fmt.Fprintf(out, "best trial %d: validation loss %.6g, config %s\n", b.ID, b.Value, configText(b.Config))
	fmt.Fprintf(out, "epochs trained over all trials: %d\n\nholdout metrics of the best model on the %d test customers:\n",
		res.Epochs, res.BestRun.Split.Test)
	printMetrics(out, res.BestRun.Model, res.BestRun.BaselineMetrics)
	fmt.Fprintf(out, "\nmodel    %s\nreport   %s\nresults  %s\n", res.BestRun.ModelDir, res.BestRun.ReportPath,
		filepath.Join(opts.Out, "results.csv"))
	return nil
}

// runClusterSweep submits spec as a cluster sweep (unless spec is nil: a
// sweep already submitted) and follows it until it is done.
func runClusterSweep(cmd *cobra.Command, f *sweepFlags, id string, spec *sweeprun.Spec) error {
	ctx := cmd.Context()
	if f.etcd.endpoints == "" {
		return errors.New("--cluster needs --etcd: the cluster's etcd, where coordinators pick the sweep up")
	}
	cli, closeEtcd, err := f.connect(ctx, id, false)
	if err != nil {
		return err
	}
	defer closeEtcd()
	so, err := newSweepOutput(cmd)
	if err != nil {
		return err
	}
	if spec != nil {
		out, err := filepath.Abs(f.sweepDir(id))
		if err != nil {
			return fmt.Errorf("--dir: %w", err)
		}
		if err := sweeprun.Submit(ctx, cli, id, spec, out); err != nil {
			return err
		}
		so.say(fmt.Sprintf("sweep %s submitted to the cluster: %d trials, %d in parallel on %d worker(s) each, sampler %s, early stopping %s",
			id, spec.Trials, spec.Parallel, spec.WorkersPerTrial, spec.Sampler.Algorithm, spec.EarlyStopping.Rule),
			"sweep submitted", "sweep", id, "trials", spec.Trials, "parallel", spec.Parallel, "workers_per_trial", spec.WorkersPerTrial,
			"sampler", spec.Sampler.Algorithm, "early_stopping", spec.EarlyStopping.Rule)
	}
	last := ""
	for {
		sum, err := sweeprun.Done(ctx, cli, id)
		if err != nil {
			return err
		}
		sp, trials, err := sweeprun.Load(ctx, cli, id)
		if err != nil {
			return err
		}
		p := sweeprun.ProgressOf(sp.Trials, trials)
		if line := sweepProgressLine(p); line != last && !f.quiet {
			so.progress(p)
			last = line
		}
		if sum != nil {
			if sum.Error != "" {
				return fmt.Errorf("sweep %s failed: %s", id, sum.Error)
			}
			out := cmd.OutOrStdout()
			if f.json {
				return writeJSON(out, clusterSweepDoc{Sweep: id, Summary: sum,
					Model: filepath.Join(sum.Out, sweeprun.BestDir, "model"), Results: filepath.Join(sum.Out, "results.csv")})
			}
			fmt.Fprintf(out, "best trial %d: validation loss %.6g; test normalized gini %.4f; %d of %d trials completed, %d epochs in all\n",
				sum.BestTrial, sum.BestValue, sum.NormalizedGini, sum.Completed, sum.Trials, sum.Epochs)
			fmt.Fprintf(out, "model    %s\nresults  %s\n", filepath.Join(sum.Out, sweeprun.BestDir, "model"), filepath.Join(sum.Out, "results.csv"))
			return nil
		}
		select {
		case <-ctx.Done():
			follow := fmt.Sprintf("cohort sweep --resume %s --cluster --etcd %s", id, f.etcd.endpoints)
			so.say("stopped following; the sweep goes on in the cluster: "+follow, "stopped following the sweep; it goes on in the cluster",
				"sweep", id, "follow_with", follow)
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// sweepOutput writes a sweep's progress and the trial events on stderr in
// one format, never two interleaved. With --log-format json everything is
// a JSON log record: progress too. Otherwise (text, or auto, whatever
// stderr is) progress is a human line per change and the trial events are
// text log lines, as cohort train prints a human line per epoch when
// stderr is not a terminal: auto alone would make the trial events JSON
// among human progress lines in a CI log.
type sweepOutput struct {
	w      io.Writer
	log    *slog.Logger // the trial events (sweeprun.Options.Logger) and, asJSON, the rest
	asJSON bool
}

func newSweepOutput(cmd *cobra.Command) (*sweepOutput, error) {
	// Trials log from their own goroutines while the loop prints progress.
	w := &lockedWriter{w: cmd.ErrOrStderr()}
	format, level := "auto", "info"
	if fl := cmd.Flag("log-format"); fl != nil {
		format = fl.Value.String()
	}
	if fl := cmd.Flag("log-level"); fl != nil {
		level = fl.Value.String()
	}
	if strings.EqualFold(format, "json") {
		return &sweepOutput{w: w, log: slog.Default(), asJSON: true}, nil
	}
	lg, err := newLogger(w, level, "text")
	if err != nil {
		return nil, err
	}
	return &sweepOutput{w: w, log: lg}, nil
}

// lockedWriter serialises writes, so lines from several goroutines never
// mix within a line.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// say writes line for people, or a record msg with attrs for machines.
func (o *sweepOutput) say(line, msg string, attrs ...any) {
	if o.asJSON {
		o.log.Info(msg, attrs...)
		return
	}
	fmt.Fprintln(o.w, line)
}

// progress is sweeprun.Options.Progress.
func (o *sweepOutput) progress(p sweeprun.Progress) {
	attrs := []any{"done", p.Done, "budget", p.Budget, "pruned", p.Pruned, "failed", p.Failed, "running", p.Running}
	if p.Best != nil {
		attrs = append(attrs, "best_value", p.Best.Value, "best_trial", p.Best.ID)
	}
	o.say(sweepProgressLine(p), "sweep progress", attrs...)
}

func sweepProgressLine(p sweeprun.Progress) string {
	best := "none yet"
	if p.Best != nil {
		best = fmt.Sprintf("%.6g (trial %d)", p.Best.Value, p.Best.ID)
	}
	return fmt.Sprintf("trials %d/%d done (%d pruned, %d failed), %d running, best %s",
		p.Done, p.Budget, p.Pruned, p.Failed, p.Running, best)
}

func configText(c map[string]any) string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%v", k, c[k])
	}
	return strings.Join(parts, " ")
}

func newSweepStatusCmd(f *sweepFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "status ID",
		Short: "Show every trial of a sweep: status, objective, epochs, config",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cli, closeEtcd, err := f.connect(cmd.Context(), args[0], false)
			if err != nil {
				return err
			}
			defer closeEtcd()
			_, trials, err := sweeprun.Load(cmd.Context(), cli, args[0])
			if err != nil {
				return err
			}
			if f.json {
				return writeJSON(cmd.OutOrStdout(), trials)
			}
			printTrials(cmd.OutOrStdout(), trials)
			return nil
		},
	}
	cmd.Flags().BoolVar(&f.json, "json", false, "print the trials as JSON")
	return cmd
}

func printTrials(w io.Writer, trials []sweeprun.Trial) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TRIAL\tSTATUS\tVALUE\tEPOCHS\tATTEMPTS\tCONFIG")
	for _, t := range trials {
		v := ""
		if t.Status == sweeprun.Completed || t.Status == sweeprun.Pruned {
			v = fmt.Sprintf("%.6g", t.Value)
		}
		cfg := configText(t.Config)
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
			cli, closeEtcd, err := f.connect(cmd.Context(), args[0], false)
			if err != nil {
				return err
			}
			defer closeEtcd()
			spec, trials, err := sweeprun.Load(cmd.Context(), cli, args[0])
			if err != nil {
				return err
			}
			space, err := spec.SearchSpace()
			if err != nil {
				return err
			}
			if f.out == "-" {
				return sweeprun.WriteResultsCSV(cmd.OutOrStdout(), space, trials)
			}
			return sweeprun.WriteResults(f.out, space, trials)
		},
	}
	cmd.Flags().StringVar(&f.out, "out", "", "CSV file to write (required; - writes to stdout)")
	return cmd
}

// sweepResultDoc is what sweep --json prints when a local sweep ends.
type sweepResultDoc struct {
	Sweep   string         `json:"sweep"`
	Best    sweeprun.Trial `json:"best_trial"`
	Epochs  int            `json:"epochs"`
	Out     string         `json:"out"`
	Results string         `json:"results"`
	// BestRun is the best trial's run, as cohort train --json prints it.
	BestRun *job.Result `json:"best_run"`
}

// clusterSweepDoc is what sweep --cluster --json prints when the cluster's
// sweep ends: the coordinator's summary and where its files are.
type clusterSweepDoc struct {
	Sweep string `json:"sweep"`
	*sweeprun.Summary
	Model   string `json:"model"`
	Results string `json:"results"`
}

// writeJSON prints v indented, as every --json of cohort does.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
