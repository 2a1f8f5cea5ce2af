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
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/cohort-clv/cohort/job"
	"github.com/cohort-clv/cohort/membership"
	"github.com/cohort-clv/cohort/sweeprun"
)

// sweepFlags are shared by sweep and its subcommands.
type sweepFlags struct {
	etcd     etcdFlags
	dir      string
	id       string
	resume   string
	quiet    bool
	json     bool
	out      string
	cluster  bool
	trials   int
	parallel int
}

// sweepDir is where sweep id keeps its outputs and, without --etcd, its
// embedded etcd's data.
func (f *sweepFlags) sweepDir(id string) string { return filepath.Join(f.dir, id) }

// errSweepInUse means another process holds a sweep's embedded etcd.
var errSweepInUse = errors.New("locked by another process")

// sweepLockPath is the lock file of a sweep directory (sweeplock_*.go) and
// sweepEndpointPath the client URL of the embedded etcd its holder serves.
func sweepLockPath(dir string) string     { return filepath.Join(dir, "lock") }
func sweepEndpointPath(dir string) string { return filepath.Join(dir, "etcd.endpoint") }

// connectMode says what a command does with a sweep's store.
type connectMode int

const (
	connectCreate connectMode = iota // a new sweep: the embedded etcd may be created
	connectRun                       // resume or delete: this process must be the only one
	connectRead                      // status, results: may read the store of a running sweep
)

// inUse is the error of a sweep that another process runs.
func (f *sweepFlags) inUse(id string) error {
	return fmt.Errorf("sweep %s is in use by another cohort process (running?); see its trials with: cohort sweep status %s --dir %s",
		id, id, f.dir)
}

// connect dials --etcd, or starts the embedded etcd of sweep id. The
// embedded etcd is locked to one process: while another runs the sweep,
// connectRead dials that process's etcd (read-only use) and the other
// modes fail at once rather than wait for its lock.
func (f *sweepFlags) connect(ctx context.Context, id string, mode connectMode) (*clientv3.Client, func(), error) {
	cli, release, _, err := f.open(ctx, id, mode)
	return cli, release, err
}

// open is connect, and also says whether this process holds the sweep's
// embedded etcd itself (alone): then no other process can be running the
// sweep.
func (f *sweepFlags) open(ctx context.Context, id string, mode connectMode) (cli *clientv3.Client, release func(), alone bool, err error) {
	if f.etcd.endpoints != "" {
		cli, err := membership.Dial(ctx, f.etcd.config())
		if err != nil {
			return nil, nil, false, err
		}
		return cli, func() { cli.Close() }, false, nil
	}
	dir := f.sweepDir(id)
	data := filepath.Join(dir, "etcd")
	if _, err := os.Stat(data); err != nil && mode != connectCreate {
		return nil, nil, false, fmt.Errorf("sweep %s: no embedded etcd in %s (use --dir or --etcd): %w", id, data, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, nil, false, fmt.Errorf("--dir: %w", err)
	}
	unlock, err := lockSweepDir(dir)
	if errors.Is(err, errSweepInUse) {
		if mode == connectRead {
			if cli, err := dialRunning(ctx, dir); err == nil {
				return cli, func() { cli.Close() }, false, nil
			}
		}
		return nil, nil, false, f.inUse(id)
	}
	if err != nil {
		return nil, nil, false, err
	}
	m, err := membership.StartEmbedded(ctx, data)
	if err != nil {
		unlock()
		return nil, nil, false, err
	}
	cli, err = membership.Dial(ctx, membership.Config{Endpoints: m.Endpoints()})
	if err != nil {
		m.Close()
		unlock()
		return nil, nil, false, err
	}
	// Readers of a running sweep dial this (best effort: without it they
	// only learn that the sweep is in use).
	ep := sweepEndpointPath(dir)
	_ = os.WriteFile(ep, []byte(strings.Join(m.Endpoints(), ",")), 0o644)
	return cli, func() { cli.Close(); os.Remove(ep); m.Close(); unlock() }, true, nil
}

// resumeCommand is the command line that continues a stopped local sweep.
func (f *sweepFlags) resumeCommand(id string) string {
	if f.etcd.endpoints != "" {
		return fmt.Sprintf("cohort sweep --resume %s --etcd %s --dir %s", id, f.etcd.endpoints, f.dir)
	}
	return fmt.Sprintf("cohort sweep --resume %s --dir %s", id, f.dir)
}

// dialRunning dials the embedded etcd that the process holding dir's lock
// serves, giving up within two seconds.
func dialRunning(ctx context.Context, dir string) (*clientv3.Client, error) {
	b, err := os.ReadFile(sweepEndpointPath(dir))
	if err != nil {
		return nil, err
	}
	return membership.Dial(ctx, membership.Config{Endpoints: strings.Split(strings.TrimSpace(string(b)), ","),
		DialTimeout: 2 * time.Second, Logger: slog.New(slog.DiscardHandler)})
}

func newSweepCmd() *cobra.Command {
	f := &sweepFlags{}
	cmd := &cobra.Command{
		Use:   "sweep SPEC.yaml | sweep --resume ID",
		Short: "Tune a CLV model: train many configurations in parallel, stop bad ones early, keep the best",
		Long: `sweep reads the data once, then trains the configurations that a sampler
(grid, random, bayes or tpe) proposes from the spec's search space, the spec's
parallel (or --parallel) at a time on this machine's CPUs, stopping bad ones
early (asha, median or none). Every piece of sweep state (spec, sampler state,
stopper state, every trial) lives in etcd, written transactionally: an
interrupted sweep continues with --resume ID. Finished trials are kept; a
trial that was running starts again from its first epoch. Ctrl-C or SIGTERM
records the running trials as stopped, which costs none of their retries;
only an attempt whose process died (killed, crashed) counts. Without --etcd,
an etcd runs inside the process with its data in DIR/ID/etcd; while a sweep
runs, sweep status and results on it read that process's etcd. sweep status
says whether the sweep is running, stopped, done or failed. It logs each
trial's start and end (-q: only failures), and with --log-level debug every
epoch of every trial.

It writes into DIR/ID: best/ (the best trial's run directory, ready for cohort
predict), results.csv, best-so-far.png and param-NAME.png.

Every trial starts from the model cohort train would build (its defaults:
weight_decay 1e-4, seed 1, patience 15...), with the spec's model block and
then the trial's parameters applied, so the best trial's settings give the
same model again: as cohort train flags (--hidden, --lr, --weight-decay,
--batch, ...), or, for warmup_steps, clip_norm, beta1, beta2, eps and cosine,
which train has no flags for, in the model block of a job spec for cohort
submit. best/ already holds that model. Values are checked before anything runs:
a zero that would mean "the default" (lr 0, batch 0, patience 0) is refused.

Spec (YAML):
  data: CDNOW_master.txt           # relative paths start at the spec's directory
  calibration_end: "1997-09-30"
  horizon: 39w
  columns: {customer: "", date: "", amount: ""}   # as train's flags; optional
  # also optional, as train's flags: format, header, delimiter, date_format,
  # decimal (quote it: ","), skip_bad_rows, negative, data_end
  model: {max_epochs: 30, patience: -1, hidden: "128,64"}   # base config; optional
  # model keys: hidden, lr, weight_decay, beta1, beta2, eps, batch, max_epochs
  # (train's --epochs), patience, clip_norm, warmup_steps, cosine, seed, ensemble
  space:
    parameters:
      - {name: hidden, type: categorical, values: ["64", "128,64", "256,128"]}
      - {name: lr, type: float, min: 0.0001, max: 0.01, log: true, grid: 3}
      - {name: weight_decay, type: float, min: 0, max: 0.001}
      - {name: batch, type: int, min: 128, max: 1024, log: true}
      - {name: warmup_steps, type: int, min: 0, max: 500, when: {hidden: ["256,128"]}}
      # any of: ` + sweeprun.ParameterNames() + `
      # grid: how many points a numeric parameter has in a grid sweep
      # (default 5; an int range of at most 10 values: every value)
      # when: the parameter exists only when each named categorical
      # parameter declared above it takes one of the listed values
  sampler: {algorithm: tpe}     # grid, random, bayes, tpe
  trials: 32                    # the budget (or --trials); a grid may hold fewer
  parallel: 4                   # trials at once (or --parallel)
  threads: 0                    # CPU threads shared by the parallel trials (0: all)
  retries: 2                    # reruns of a trial interrupted by a crash (its
                                # process killed or died); a stop by Ctrl-C or
                                # SIGTERM is not one and does not count
  workers_per_trial: 1          # with --cluster: workers that train each trial
  early_stopping: {rule: asha, asha: {min_resource: 1, eta: 3}}   # or median, none
  seed: 1                       # the sampler's seed (which trials it proposes);
                                # omitted, 0: every run of the spec proposes the
                                # same trials. The model's seed is model.seed.

Example:
  cohort sweep cdnow.yaml --id cdnow1
  cohort sweep cdnow.yaml --id cdnow2 --trials 8 --parallel 2
  cohort sweep --resume cdnow1
  cohort sweep status cdnow1
  cohort sweep results cdnow1 --out results.csv
  cohort sweep delete cdnow2

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
	fs.StringVar(&f.resume, "resume", "", "continue sweep ID from its state in etcd (a finished sweep: say so and print its outcome)")
	fs.BoolVarP(&f.quiet, "quiet", "q", false, "no progress on stderr: only warnings and errors")
	fs.BoolVar(&f.json, "json", false, "print the outcome as JSON on stdout: the best trial and its run (test metrics, files)")
	fs.BoolVar(&f.cluster, "cluster", false, "run the trials on the cluster's workers: the leading coordinator runs the sweep (needs --etcd); with --resume, follow a cluster sweep")
	fs.IntVar(&f.trials, "trials", 0, "how many trials to run, instead of the spec's trials (a new sweep)")
	fs.IntVar(&f.parallel, "parallel", 0, "how many trials train at once, instead of the spec's parallel (a new sweep)")
	cmd.AddCommand(newSweepStatusCmd(f), newSweepResultsCmd(f), newSweepDeleteCmd(f))
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
	case f.resume != "" && (f.trials != 0 || f.parallel != 0):
		return errors.New("--trials and --parallel set up a new sweep; a resumed sweep keeps its spec's")
	case f.resume == "":
		var err error
		if spec, err = sweeprun.ParseSpecFile(args[0]); err != nil {
			return fmt.Errorf("sweep: %w", err)
		}
		if err := overrideSpec(spec, f); err != nil {
			return err
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
	so, err := newSweepOutput(cmd, f.quiet)
	if err != nil {
		return err
	}
	// Absolute, so that every path the sweep prints or stores (results,
	// the best model) reads the same from any directory, as a cluster
	// sweep's do.
	dir, err := filepath.Abs(f.sweepDir(id))
	if err != nil {
		return fmt.Errorf("--dir: %w", err)
	}
	// This process is the sweep's only runner (the lock, or the ids of an
	// --etcd sweep), so a signal is a clean stop: the running trials are
	// recorded as stopped and their attempts do not count against retries.
	opts := sweeprun.Options{Out: dir, Logger: so.log, RecordStops: true}
	if !f.quiet {
		opts.Progress = so.progress
	}
	if spec != nil {
		// Refuse a taken id and bad data before anything is created.
		if f.etcd.endpoints == "" {
			if _, err := os.Stat(filepath.Join(f.sweepDir(id), "etcd")); err == nil {
				return f.exists(id)
			}
		}
		so.header(id, spec)
		so.note(fmt.Sprintf("reading %s", spec.Data), "reading the data", "data", spec.Data)
		if opts.Prepared, err = sweeprun.Prepare(ctx, spec); err != nil {
			return fmt.Errorf("sweep %s (nothing was created; fix the spec and run it again): %w", id, err)
		}
	}
	mode := connectRun
	if spec != nil {
		mode = connectCreate
	}
	cli, closeEtcd, err := f.connect(ctx, id, mode)
	if err != nil {
		return err
	}
	defer closeEtcd()
	var res *sweeprun.Result
	if spec != nil {
		res, err = sweeprun.Start(ctx, cli, id, spec, opts)
		if errors.Is(err, sweeprun.ErrExists) {
			return f.exists(id)
		}
	} else {
		if sum, derr := sweeprun.Done(ctx, cli, id); derr == nil && sum == nil {
			so.note("resuming sweep "+id, "sweep resumed", "sweep", id)
		}
		res, err = sweeprun.Resume(ctx, cli, id, opts)
	}
	if err != nil {
		if ctx.Err() != nil {
			resume := f.resumeCommand(id)
			so.say("stopped; continue with: "+resume, "sweep stopped", "sweep", id, "continue_with", resume)
		}
		return err
	}
	b := res.Best
	bestDir := filepath.Join(opts.Out, sweeprun.BestDir)
	if res.AlreadyFinished {
		so.say(fmt.Sprintf("sweep %s already finished: best trial %d (validation loss %.6g), its run in %s; nothing to do",
			id, b.ID, b.Value, bestDir), "sweep already finished", "sweep", id, "best_trial", b.ID, "best_value", b.Value, "best_dir", bestDir)
	}
	out := cmd.OutOrStdout()
	completed := 0
	for _, t := range res.Trials {
		if t.Status == sweeprun.Completed {
			completed++
		}
	}
	if f.json {
		return writeJSON(out, sweepResultDoc{Sweep: id, Best: b, Trials: len(res.Trials), Completed: completed, Epochs: res.Epochs,
			Out: opts.Out, Model: filepath.Join(bestDir, job.ModelDir), Results: filepath.Join(opts.Out, "results.csv"), BestRun: res.BestRun})
	}
	fmt.Fprintf(out, "best trial %d: validation loss %.6g, config %s\n", b.ID, b.Value, sweeprun.ConfigText(b.Config))
	fmt.Fprintf(out, "%d of %d trials completed; epochs trained over all trials: %d\n", completed, len(res.Trials), res.Epochs)
	if r := res.BestRun; r != nil {
		fmt.Fprintf(out, "\nholdout metrics of the best model on the %d test customers:\n", r.Split.Test)
		printMetrics(out, r.Model, r.BaselineMetrics)
		fmt.Fprintf(out, "\nmodel    %s\nreport   %s\nresults  %s\n", r.ModelDir, r.ReportPath, filepath.Join(opts.Out, "results.csv"))
		return nil
	}
	fmt.Fprintf(out, "model    %s\nresults  %s\n", filepath.Join(bestDir, job.ModelDir), filepath.Join(opts.Out, "results.csv"))
	return nil
}

// overrideSpec applies --trials and --parallel to a new sweep's spec.
func overrideSpec(spec *sweeprun.Spec, f *sweepFlags) error {
	if f.trials < 0 || f.parallel < 0 {
		return fmt.Errorf("--trials %d, --parallel %d: want >= 1 (0: the spec's)", f.trials, f.parallel)
	}
	if f.trials > 0 {
		spec.Trials = f.trials
	}
	if f.parallel > 0 {
		spec.Parallel = f.parallel
	}
	return nil
}

// exists is the error of a new sweep whose id is taken: how to continue
// it, or to remove it.
func (f *sweepFlags) exists(id string) error {
	if f.etcd.endpoints != "" {
		return fmt.Errorf("sweep %s exists in etcd: continue it with cohort sweep --resume %s --etcd %s, pick another --id, or delete it with cohort sweep delete %s --etcd %s",
			id, id, f.etcd.endpoints, id, f.etcd.endpoints)
	}
	return fmt.Errorf("sweep %s exists in %s: continue it with cohort sweep --resume %s --dir %s, pick another --id, or delete it (removes %s and its outputs) with cohort sweep delete %s --dir %s",
		id, f.sweepDir(id), id, f.dir, f.sweepDir(id), id, f.dir)
}

// runClusterSweep submits spec as a cluster sweep (unless spec is nil: a
// sweep already submitted) and follows it until it is done.
func runClusterSweep(cmd *cobra.Command, f *sweepFlags, id string, spec *sweeprun.Spec) error {
	ctx := cmd.Context()
	if f.etcd.endpoints == "" {
		return errors.New("--cluster needs --etcd: the cluster's etcd, where coordinators pick the sweep up")
	}
	cli, closeEtcd, err := f.connect(ctx, id, connectRead)
	if err != nil {
		return err
	}
	defer closeEtcd()
	so, err := newSweepOutput(cmd, f.quiet)
	if err != nil {
		return err
	}
	if spec != nil {
		out, err := filepath.Abs(f.sweepDir(id))
		if err != nil {
			return fmt.Errorf("--dir: %w", err)
		}
		if err := sweeprun.Submit(ctx, cli, id, spec, out); err != nil {
			if errors.Is(err, sweeprun.ErrExists) {
				return f.exists(id)
			}
			return err
		}
		so.note(fmt.Sprintf("sweep %s submitted to the cluster: %d trials, %d in parallel on %d worker(s) each, sampler %s, early stopping %s",
			id, spec.Trials, spec.Parallel, spec.WorkersPerTrial, spec.Sampler.Algorithm, spec.EarlyStopping.Rule),
			"sweep submitted", "sweep", id, "trials", spec.Trials, "parallel", spec.Parallel, "workers_per_trial", spec.WorkersPerTrial,
			"sampler", spec.Sampler.Algorithm, "early_stopping", spec.EarlyStopping.Rule)
	}
	last := ""
	began := time.Now()
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
		p.Elapsed = time.Since(began)
		if line := sweepProgressLine(p); line != last && !f.quiet {
			so.progress(p)
			last = line
		}
		if sum != nil {
			if sum.Error != "" {
				return fmt.Errorf("sweep %s failed: %s", id, sum.Error)
			}
			var best sweeprun.Trial
			if sum.Best != nil {
				best = *sum.Best
			} else if b, ok := sweeprun.BestTrial(trials); ok {
				best = b
			} else {
				best = sweeprun.Trial{ID: sum.BestTrial, Value: sum.BestValue, Status: sweeprun.Completed}
			}
			out := cmd.OutOrStdout()
			model := filepath.Join(sum.Out, sweeprun.BestDir, job.ModelDir)
			results := filepath.Join(sum.Out, "results.csv")
			if f.json {
				return writeJSON(out, sweepResultDoc{Sweep: id, Best: best, Trials: sum.Trials, Completed: sum.Completed,
					Epochs: sum.Epochs, Out: sum.Out, Model: model, Results: results, BestRun: sum.BestRun})
			}
			fmt.Fprintf(out, "best trial %d: validation loss %.6g, config %s\n", best.ID, best.Value, sweeprun.ConfigText(best.Config))
			fmt.Fprintf(out, "test normalized gini %.4f; %d of %d trials completed, %d epochs in all\n",
				sum.NormalizedGini, sum.Completed, sum.Trials, sum.Epochs)
			fmt.Fprintf(out, "model    %s\nresults  %s\n", model, results)
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
	quiet  bool // -q: note says nothing
}

func newSweepOutput(cmd *cobra.Command, quiet bool) (*sweepOutput, error) {
	// Trials log from their own goroutines while the loop prints progress.
	w := &lockedWriter{w: cmd.ErrOrStderr()}
	format, level := "auto", "info"
	if fl := cmd.Flag("log-format"); fl != nil {
		format = fl.Value.String()
	}
	if fl := cmd.Flag("log-level"); fl != nil {
		level = fl.Value.String()
	}
	if quiet {
		// -q: the trial events only when something goes wrong.
		var lv slog.Level
		if lv.UnmarshalText([]byte(level)) == nil && lv < slog.LevelWarn {
			level = "warn"
		}
	}
	asJSON := strings.EqualFold(format, "json")
	if asJSON {
		format = "json"
	} else {
		format = "text"
	}
	lg, err := newLogger(w, level, format)
	if err != nil {
		return nil, err
	}
	return &sweepOutput{w: w, log: lg, asJSON: asJSON, quiet: quiet}, nil
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

// note is say for progress, which -q leaves out.
func (o *sweepOutput) note(line, msg string, attrs ...any) {
	if !o.quiet {
		o.say(line, msg, attrs...)
	}
}

// header announces a new sweep, and warns when its grid is smaller than
// its budget.
func (o *sweepOutput) header(id string, spec *sweeprun.Spec) {
	o.note(fmt.Sprintf("sweep %s: %d trials, %d in parallel, sampler %s, early stopping %s",
		id, spec.Trials, spec.Parallel, spec.Sampler.Algorithm, spec.EarlyStopping.Rule),
		"sweep started", "sweep", id, "trials", spec.Trials, "parallel", spec.Parallel,
		"sampler", spec.Sampler.Algorithm, "early_stopping", spec.EarlyStopping.Rule)
	if n, ok := spec.GridSize(); ok && n < spec.Trials {
		o.log.Warn(fmt.Sprintf("the grid has %d configurations: the sweep runs %d trials, not %d", n, n, spec.Trials),
			"grid_points", n, "trials", spec.Trials)
	}
}

// progress is sweeprun.Options.Progress.
func (o *sweepOutput) progress(p sweeprun.Progress) {
	attrs := []any{"done", p.Done, "budget", p.Budget, "pruned", p.Pruned, "failed", p.Failed, "running", p.Running,
		"elapsed", p.Elapsed.Round(time.Second)}
	if p.Best != nil {
		attrs = append(attrs, "best_value", p.Best.Value, "best_trial", p.Best.ID)
	}
	line := sweepProgressLine(p)
	if p.Elapsed > 0 {
		line += ", " + p.Elapsed.Round(time.Second).String() + " elapsed"
	}
	o.say(line, "sweep progress", attrs...)
}

// sweepProgressLine is the progress line without the elapsed time, which
// changes when nothing else does.
func sweepProgressLine(p sweeprun.Progress) string {
	best := "none yet"
	if p.Best != nil {
		best = fmt.Sprintf("%.6g (trial %d)", p.Best.Value, p.Best.ID)
	}
	return fmt.Sprintf("trials %d/%d done (%d pruned, %d failed), %d running, best %s",
		p.Done, p.Budget, p.Pruned, p.Failed, p.Running, best)
}

func newSweepDeleteCmd(f *sweepFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "delete ID",
		Short: "Delete a sweep: its directory DIR/ID (state and outputs), or with --etcd its state in etcd",
		Long: `delete removes sweep ID, so that its id can be used again. Without --etcd
it removes the directory DIR/ID: the embedded etcd and every output (best/,
results.csv, the plots). With --etcd it removes the sweep's keys from etcd
and leaves its output directory. A sweep that a cohort process is running is
refused.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id := args[0]
			if err := membership.ValidName(id); err != nil {
				return fmt.Errorf("sweep id: %w", err)
			}
			if f.etcd.endpoints != "" {
				cli, closeEtcd, err := f.connect(cmd.Context(), id, connectRun)
				if err != nil {
					return err
				}
				defer closeEtcd()
				ok, err := sweeprun.Delete(cmd.Context(), cli, id)
				if err != nil {
					return err
				}
				if !ok {
					return fmt.Errorf("sweep %s: not found in etcd", id)
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "deleted sweep %s from etcd (its outputs stay)\n", id)
				return nil
			}
			dir := f.sweepDir(id)
			if _, err := os.Stat(dir); err != nil {
				return fmt.Errorf("sweep %s: no directory %s (use --dir): %w", id, dir, err)
			}
			unlock, err := lockSweepDir(dir)
			if errors.Is(err, errSweepInUse) {
				return f.inUse(id)
			}
			if err != nil {
				return err
			}
			defer unlock()
			if err := os.RemoveAll(dir); err != nil {
				return fmt.Errorf("delete sweep %s: %w", id, err)
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "deleted sweep %s: removed %s\n", id, dir)
			return nil
		},
	}
}

// sweepResultDoc is what sweep --json prints when a sweep ends, local or
// on the cluster (--cluster), and for a finished sweep resumed.
type sweepResultDoc struct {
	Sweep     string         `json:"sweep"`
	Best      sweeprun.Trial `json:"best_trial"`
	Trials    int            `json:"trials"`
	Completed int            `json:"completed"`
	Epochs    int            `json:"epochs"`
	Out       string         `json:"out"`
	Model     string         `json:"model"`
	Results   string         `json:"results"`
	// BestRun is the best trial's run, as cohort train --json prints it;
	// null for a sweep that an older cohort finished.
	BestRun *job.Result `json:"best_run"`
}

// writeJSON prints v indented, as every --json of cohort does.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
