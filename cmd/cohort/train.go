package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/term"

	"github.com/cohort-clv/cohort/coordinator"
	"github.com/cohort-clv/cohort/job"
	"github.com/cohort-clv/cohort/kernels"
	"github.com/cohort-clv/cohort/model"
)

// modelFlags bind model.Config and the job's compute settings.
type modelFlags struct {
	cfg         model.Config
	threads     int
	device      string
	importance  int
	calibration string
}

func (m *modelFlags) bind(fs *pflag.FlagSet) {
	d := job.DefaultSpec()
	m.cfg = d.Model
	fs.IntSliceVar(&m.cfg.Hidden, "hidden", d.Model.Hidden, "hidden layer widths of the MLP, each >= 1, e.g. --hidden 128,64")
	fs.Float32Var(&m.cfg.LR, "lr", d.Model.LR, "Adam learning rate (> 0)")
	fs.Float32Var(&m.cfg.WeightDecay, "weight-decay", d.Model.WeightDecay, "decoupled weight decay (AdamW; >= 0, 0: none)")
	fs.IntVar(&m.cfg.Batch, "batch", d.Model.Batch, "minibatch size (>= 1)")
	fs.IntVar(&m.cfg.MaxEpochs, "epochs", d.Model.MaxEpochs, "maximum training epochs (>= 1)")
	fs.IntVar(&m.cfg.Patience, "patience", d.Model.Patience, "stop after this many epochs (>= 1) without a better validation loss; -1: no early stopping")
	fs.Uint64Var(&m.cfg.Seed, "seed", d.Model.Seed, "random seed: the same seed and data give the same model")
	fs.IntVar(&m.cfg.Ensemble, "ensemble", d.Model.Ensemble, fmt.Sprintf("networks trained side by side from different initialisations and averaged (1..%d; training costs grow with it)", model.MaxEnsemble))
	fs.IntVar(&m.threads, "threads", 0, "CPU threads for reading the log and the compute kernels (default 0: all cores)")
	fs.StringVar(&m.device, "device", "cpu", deviceHelp)
	fs.IntVar(&m.importance, "importance-repeats", d.ImportanceRepeats, "shuffles per feature for the report's permutation importance (>= 0; 0: off)")
	fs.StringVar(&m.calibration, "calibration", "factor", `expected-spend calibration: "factor" (one factor fitted on the training and validation customers) or "isotonic" (a monotone map fitted on the validation customers; keeps the ranking; on CDNOW it did worse on the test customers, see BENCHMARKS.md)`)
}

// check refuses values outside each flag's range, naming the flag. The
// defaults are the real values, so a zero here was typed: model.Config
// would read it as "the default" (--epochs 0 would train 100 epochs).
func (m *modelFlags) check() error {
	c := m.cfg
	finite := func(x float32) bool { return !math.IsNaN(float64(x)) && !math.IsInf(float64(x), 0) }
	for _, r := range []struct {
		ok         bool
		flag, want string
		got        any
	}{
		{c.LR > 0 && finite(c.LR), "lr", "a finite number > 0", c.LR},
		{c.WeightDecay >= 0 && finite(c.WeightDecay), "weight-decay", "a finite number >= 0", c.WeightDecay},
		{c.Batch >= 1, "batch", ">= 1", c.Batch},
		{c.MaxEpochs >= 1, "epochs", ">= 1", c.MaxEpochs},
		{c.Patience != 0, "patience", ">= 1, or -1 for no early stopping", c.Patience},
		{c.Ensemble >= 1 && c.Ensemble <= model.MaxEnsemble, "ensemble", fmt.Sprintf("1..%d", model.MaxEnsemble), c.Ensemble},
		{m.threads >= 0, "threads", ">= 0 (0: all cores)", m.threads},
		{m.importance >= 0, "importance-repeats", ">= 0 (0: off)", m.importance},
	} {
		if !r.ok {
			return fmt.Errorf("--%s must be %s, got %v", r.flag, r.want, r.got)
		}
	}
	for i, h := range c.Hidden {
		if h < 1 {
			return fmt.Errorf("--hidden %s: hidden[%d] must be >= 1, got %d", joinInts(c.Hidden), i, h)
		}
	}
	return nil
}

func joinInts(v []int) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = strconv.Itoa(x)
	}
	return strings.Join(s, ",")
}

type trainFlags struct {
	data            dataFlags
	model           modelFlags
	dist            distFlags
	out             string
	json            bool
	quiet           bool
	checkpointEvery int
	resume          resumeMode
	overwrite       bool
}

func newTrainCmd() *cobra.Command {
	f := &trainFlags{}
	cmd := &cobra.Command{
		Use:   "train --data FILE --calibration-end DATE --horizon H --out DIR",
		Short: "Train a deep CLV model, evaluate it against BG/NBD + Gamma-Gamma, write model and report",
		Long: `train reads a transaction log, builds per-customer features from the calibration
window (up to --calibration-end) and labels from the holdout (the --horizon after
it), and splits customers 70/15/15 into train, validation and test by a stable
hash of their id. It fits the classic BG/NBD + Gamma-Gamma model on the training
customers, trains the deep ZILN model (early stopping on the validation
customers) and evaluates both on the test customers, which neither saw.

It writes:
  DIR/model/        the model (weights, feature pipeline, baseline; versioned and checksummed)
  DIR/metrics.json  normalized Gini, Spearman, decile MAPE, AUC, RMSE, MAE, spend ratio, for both models
  DIR/report.html   a self-contained report: gain curves, deciles, loss curves, feature importance

One process at a time writes into DIR: another train (or an eval) on the same
DIR is refused at once, naming the process that has it. train refuses a DIR
that holds a finished run (model/, metrics.json or report.html) unless
--overwrite, which removes the old run's files before training starts, so that
an interruption never leaves one run's model beside another's metrics; a run
that fails removes the files it had written. DIR must be writable: that is
checked before the data is read.

With --workers N it trains data-parallel on N worker processes of this binary,
with gradients summed over a ring allreduce; this process reads the data, serves
each worker its shard, and evaluates and writes as above. Without --etcd it runs
an etcd of its own. With the same --seed and --batch the model is the one a
single process trains, up to the order of floating-point sums. A worker that
dies loses its lease (--lease-ttl) and the others go on from the last step in
a new generation, down to --min-workers.

Training writes a checkpoint every --checkpoint-every steps into DIR/checkpoints
(the newest two are kept) and deletes them when the run finishes. After a crash
or Ctrl-C, the same command with --resume continues from the newest one instead
of starting over. Without --resume, train refuses a DIR whose checkpoints/ holds
an earlier run's checkpoints; --overwrite deletes them and starts over.
--resume=auto resumes when DIR/checkpoints holds checkpoints and starts a fresh
run when it holds none: one command that a scheduler (Airflow retries, make, a
Kubernetes Job's restarts) can run again after any interruption. With
--overwrite as well, a fresh start may replace a finished run in DIR.
With --workers, the embedded etcd keeps its data in DIR/.etcd while it runs.

Example (the CDNOW record-store data, the standard split of the literature):
  cohort train --data CDNOW_master.txt --calibration-end 1997-09-30 --horizon 39w --out runs/cdnow
  cohort train --data CDNOW_master.txt --calibration-end 1997-09-30 --horizon 39w --out runs/cdnow --workers 2
` + dataHelp,
		Args: func(cmd *cobra.Command, args []string) error {
			// pflag takes an optional value only after "=": "--resume auto"
			// is --resume and a stray "auto", which can mean only one thing.
			if len(args) == 1 && args[0] == "auto" && f.resume == resumeOn {
				f.resume = resumeAuto
				return nil
			}
			return cobra.NoArgs(cmd, args)
		},
		RunE: func(cmd *cobra.Command, _ []string) error { return runTrain(cmd, f) },
	}
	fs := cmd.Flags()
	f.data.bind(fs, forTrain)
	f.model.bind(fs)
	f.dist.bind(fs)
	// The etcd and lease flags are shared with the cluster commands; here
	// they mean something only with --workers (checkDist refuses them
	// without it).
	for _, name := range []string{"etcd", "etcd-cacert", "etcd-cert", "etcd-key", "etcd-user", "etcd-password", "lease-ttl"} {
		if fl := fs.Lookup(name); fl != nil {
			fl.Usage = "with --workers: " + fl.Usage
		}
	}
	fs.StringVar(&f.out, "out", "", "run directory to write model/, metrics.json and report.html into (required)")
	fs.IntVar(&f.checkpointEvery, "checkpoint-every", 100, "optimizer steps between checkpoints in DIR/checkpoints (>= 0; 0: none)")
	fs.Var(&f.resume, "resume", "continue training from the newest checkpoint in DIR/checkpoints (same data and flags as the run that wrote it); "+
		"--resume=auto: continue when there are checkpoints, else start a fresh run (a command that can be retried as it is)")
	fs.Lookup("resume").NoOptDefVal = "true"
	fs.BoolVar(&f.overwrite, "overwrite", false, "replace what --out holds: remove a finished run's model/, metrics.json and report.html and an earlier run's checkpoints before training (without it, train refuses to start beside them)")
	fs.BoolVar(&f.json, "json", false, "print the result as JSON on stdout")
	fs.BoolVarP(&f.quiet, "quiet", "q", false, "no progress on stderr")
	return cmd
}

// checkDist refuses distributed settings that would be ignored or
// misread: cluster flags without --workers, and a lease TTL that etcd
// would round (it counts leases in whole seconds).
func checkDist(fs *pflag.FlagSet, d distFlags) error {
	if d.workers == 0 {
		// The flags that only the distributed path reads.
		for _, name := range []string{"min-workers", "etcd", "etcd-cacert", "etcd-cert", "etcd-key", "etcd-user", "etcd-password", "lease-ttl"} {
			if fs.Changed(name) {
				return fmt.Errorf("--%s applies only with --workers N (training on N worker processes); add --workers or leave --%s out", name, name)
			}
		}
		return nil
	}
	if d.workers < 1 || d.workers > 1024 {
		return fmt.Errorf("--workers %d: want 1..1024 worker processes (0: train in this process)", d.workers)
	}
	if d.minWorkers < 1 || d.minWorkers > d.workers {
		return fmt.Errorf("--min-workers %d: want 1..%d (--workers)", d.minWorkers, d.workers)
	}
	if d.etcd.ttl < time.Second || d.etcd.ttl%time.Second != 0 {
		return fmt.Errorf("--lease-ttl %s: want whole seconds, at least 1s (etcd counts leases in seconds)", d.etcd.ttl)
	}
	return nil
}

func runTrain(cmd *cobra.Command, f *trainFlags) (err error) {
	read, err := f.data.options(cmd.Flags())
	if err != nil {
		return err
	}
	if f.out == "" {
		return fmt.Errorf("--out is required: the run directory to write the model and report into")
	}
	if err := refuseZeroHorizon(cmd.Flags(), read, "training learns the spend over the holdout after --calibration-end: give its length, e.g. 39w, 26w or 180d"); err != nil {
		return err
	}
	if read.Horizon.IsZero() {
		return fmt.Errorf("--horizon is required for training: the holdout whose spend is learned, e.g. 39w, 26w or 180d")
	}
	if err := f.model.check(); err != nil {
		return err
	}
	if f.checkpointEvery < 0 {
		return fmt.Errorf("--checkpoint-every must be >= 0 (0: no checkpoints), got %d", f.checkpointEvery)
	}
	if err := checkDist(cmd.Flags(), f.dist); err != nil {
		return err
	}
	if f.resume == resumeOn && f.overwrite {
		return fmt.Errorf("--resume continues from the checkpoints in %s and --overwrite deletes them: give one of them (--resume=auto --overwrite resumes when there are checkpoints, else replaces what --out holds)", job.CheckpointDir(f.out))
	}
	spec := job.Spec{Data: f.data.path, Read: read, Model: f.model.cfg, Out: f.out,
		Threads: f.model.threads, ImportanceRepeats: f.model.importance, CheckpointEvery: f.checkpointEvery,
		Calibration: f.model.calibration}
	// Model flags (--hidden, --lr, ...) are checked before --out is created,
	// so a typo leaves no empty run directory behind.
	if err := spec.Validate(); err != nil {
		return err
	}
	dir, err := openRunDir(f.out)
	if err != nil {
		return err
	}
	defer func() { dir.close(err != nil) }()
	// What --out holds is looked at under the lock: a run that is still
	// writing there has been refused, so checkpoints and outputs found now
	// are an earlier run's.
	if spec.Resume, err = resumeFrom(cmd.ErrOrStderr(), f); err != nil {
		return err
	}
	be, release, err := openBackend(f.model.device, f.model.threads)
	if err != nil {
		return err
	}
	defer release()
	if err := clearRunDir(cmd.ErrOrStderr(), f, spec.Resume != ""); err != nil {
		return err
	}
	res, err := trainRun(cmd, f, spec, be)
	if err != nil {
		// What this run wrote before it failed goes (clearRunDir removed
		// any earlier run's), so the directory never holds a model
		// without its metrics; checkpoints stay for --resume, and a run
		// directory this command created goes if nothing is left in it.
		if _, rerr := removeOutputs(f.out, runOutputs()...); rerr != nil {
			err = errors.Join(err, fmt.Errorf("remove the failed run's outputs: %w", rerr))
		}
		return resumeHint(err, f.out, resumeCommand(f))
	}
	printWarnings(cmd.ErrOrStderr(), res.Warnings)
	if f.json {
		enc := json.NewEncoder(cmd.OutOrStdout())
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	return printResult(cmd.OutOrStdout(), res)
}

// trainRun trains spec in this process or on --workers processes, with
// progress on stderr unless --quiet.
func trainRun(cmd *cobra.Command, f *trainFlags, spec job.Spec, be kernels.Backend) (*job.Result, error) {
	var p *progress
	if !f.quiet {
		p = newProgress(cmd.ErrOrStderr(), spec.Model.WithDefaults().MaxEpochs)
	}
	if f.dist.workers != 0 {
		return trainDistributed(cmd.Context(), cmd.ErrOrStderr(), f.dist, spec, be, p)
	}
	var ev job.Events
	if p != nil {
		ev = p.events()
	}
	return job.Train(cmd.Context(), be, spec, ev)
}

// resumeHint adds to a failed training's error that again, the command
// that resumes ("the same command with --resume"), goes on from the newest
// checkpoint, when there is one. A fresh run starts only in a checkpoint
// directory without checkpoints (freshHint) and a finished one removes
// them, so it is this run's, or the one it resumed from.
func resumeHint(err error, out, again string) error {
	var mismatch *job.ResumeMismatchError
	var exist *job.CheckpointsExistError
	if errors.As(err, &mismatch) || errors.As(err, &exist) { // they say how to go on
		return err
	}
	path, st, cerr := job.LatestCheckpoint(job.CheckpointDir(out))
	if cerr != nil {
		return err
	}
	if errors.Is(err, context.Canceled) {
		return &hintError{err: err, hint: fmt.Sprintf("%s continues from the checkpoint at epoch %d, step %d (%s)",
			again, st.Epoch, st.Adam.Step, path)}
	}
	return &hintError{err: err, hint: fmt.Sprintf("the checkpoints stay: once the cause is fixed, %s continues from the one at epoch %d, step %d (%s), or with --overwrite starts over",
		again, st.Epoch, st.Adam.Step, path)}
}

// resumeCommand is the command that resumes after f's run failed: with
// --resume or --resume=auto the same one; --resume beside --overwrite
// would be refused, --resume=auto is not.
func resumeCommand(f *trainFlags) string {
	switch {
	case f.resume != resumeOff:
		return "the same command"
	case f.overwrite:
		return "the same command with --resume=auto"
	}
	return "the same command with --resume"
}

// freshHint adds to job.CheckFresh's refusal the flags that go on from
// it; other errors pass unchanged.
func freshHint(err error, out string) error {
	var ce *job.CheckpointsExistError
	if !errors.As(err, &ce) {
		return err
	}
	return fmt.Errorf("--out %s: %w; add --resume to continue that run, or --overwrite to delete them and start over (or choose another --out)", out, err)
}

// printResult shows what reading the log counted, the test metrics of both
// models and where the files are. The warnings go to stderr (runTrain).
// Its error is the first write's that failed.
func printResult(out io.Writer, r *job.Result) error {
	w := &errWriter{w: out}
	_ = writeIngest(w, r.Ingest, 0, false)
	fmt.Fprintf(w, "customers %d (train %d, validation %d, test %d; stable hash split of ids)\n",
		r.Ingest.Customers, r.Split.Train, r.Split.Validation, r.Split.Test)
	fmt.Fprintf(w, "\nholdout metrics on the %d test customers:\n", r.Split.Test)
	printMetrics(w, r.Model, r.BaselineMetrics)
	printMetricsLegend(w, r.Quantity)
	printBootstrap(w, r.Bootstrap, r.Split.Test)
	printNoise(w, r.ModelNoise)
	fmt.Fprintf(w, "\nmodel    %s\nmetrics  %s\nreport   %s\n", r.ModelDir, r.MetricsPath, r.ReportPath)
	return w.err
}

// progress prints stages and epochs: one updating line on a terminal, one
// line per epoch otherwise (logs, CI).
type progress struct {
	w      io.Writer
	tty    bool
	epochs int
	began  time.Time

	mu         sync.Mutex
	readTenths int  // tenths of the log read and printed (not on a terminal)
	readEnded  bool // the 100% line is out: later reports of the end print nothing

	stepLine  time.Time // when the last evaluation step line was printed
	stepShown bool      // an evaluation step is on the terminal's updating line
}

func newProgress(w io.Writer, epochs int) *progress {
	f, ok := w.(*os.File)
	return &progress{w: w, tty: ok && term.IsTerminal(int(f.Fd())), epochs: epochs, began: time.Now()}
}

func (p *progress) events() job.Events {
	return job.Events{
		Stage: func(name string) {
			if p.tty {
				fmt.Fprint(p.w, "\r\033[K")
			}
			fmt.Fprintf(p.w, "%6.1fs %s\n", time.Since(p.began).Seconds(), stageText(name))
		},
		Epoch: func(e model.EpochStats) { p.epoch(e, "") },
		Read:  p.read,
		Step:  p.step,
	}
}

// step shows the evaluation's sub-steps: on a terminal, on the updating
// line; otherwise a line per step, and for the permutation importance's
// progress at most one line every 5 seconds, and its last.
func (p *progress) step(s job.EvalStep) {
	line := fmt.Sprintf("%6.1fs   %s", time.Since(p.began).Seconds(), s)
	if p.tty {
		fmt.Fprintf(p.w, "\r\033[K%s", line)
		p.stepShown = true
		return
	}
	if s.Done > 0 && s.Done < s.Total && time.Since(p.stepLine) < 5*time.Second {
		return
	}
	p.stepLine = time.Now()
	fmt.Fprintln(p.w, line)
}

// endSteps clears the terminal's updating line after the last step, so
// that what follows starts on a clean line.
func (p *progress) endSteps() {
	if p.tty && p.stepShown {
		fmt.Fprint(p.w, "\r\033[K")
		p.stepShown = false
	}
}

// read shows how far reading the log got: an updating bar on a terminal,
// a line per 10% otherwise (only for files big enough to take a while).
func (p *progress) read(done, total int64) {
	if total < 64<<20 {
		return
	}
	pct := int(100 * done / total)
	line := fmt.Sprintf("reading %s %3d%%  %.0f of %.0f MB", bar(pct, 100, 20), pct, float64(done)/1e6, float64(total)/1e6)
	p.mu.Lock()
	defer p.mu.Unlock()
	// The reader may report the end more than once (each stage that
	// finishes says so): the 100% line is printed once.
	if p.readEnded {
		return
	}
	p.readEnded = done == total
	if p.tty {
		fmt.Fprintf(p.w, "\r\033[K%s", line)
		if done == total {
			fmt.Fprintln(p.w)
		}
		return
	}
	if pct/10 > p.readTenths || done == total {
		p.readTenths = pct / 10
		fmt.Fprintln(p.w, line)
	}
}

// generation prints a distributed epoch: the single-process line plus the
// generation, its workers and the throughput.
func (p *progress) generation(g coordinator.Progress) {
	p.epoch(g.Epoch, fmt.Sprintf("  gen %d (%d workers) %.0f samples/s, allreduce %.2f GB/s", g.Generation, g.Workers,
		g.SamplesPerSecond, g.AllreduceGBps))
}

func (p *progress) epoch(e model.EpochStats, extra string) {
	best := ""
	if e.Best {
		best = " *"
	}
	line := fmt.Sprintf("epoch %3d/%d %s train loss %.4f  validation loss %.4f%s%s",
		e.Epoch, p.epochs, bar(e.Epoch, p.epochs, 20), e.TrainLoss, e.ValLoss, best, extra)
	if p.tty {
		fmt.Fprintf(p.w, "\r\033[K%s", line)
		return
	}
	fmt.Fprintln(p.w, line)
}

func stageText(name string) string {
	switch name {
	case "read":
		return "reading transactions and building features"
	case "baseline":
		return "fitting BG/NBD + Gamma-Gamma on the training customers"
	case "train":
		return "training the deep model (early stopping on validation loss; * = best so far)"
	case "evaluate":
		return "evaluating both models on the test customers"
	case "write":
		return "writing model, metrics and report"
	}
	return name
}

func bar(done, total, width int) string {
	if total <= 0 {
		return ""
	}
	n := min(done*width/total, width)
	return "[" + strings.Repeat("=", n) + strings.Repeat(" ", width-n) + "]"
}
