package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/term"

	"github.com/cohort-clv/cohort/coordinator"
	"github.com/cohort-clv/cohort/job"
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
	fs.IntSliceVar(&m.cfg.Hidden, "hidden", d.Model.Hidden, "hidden layer widths of the MLP, e.g. --hidden 128,64")
	fs.Float32Var(&m.cfg.LR, "lr", d.Model.LR, "Adam learning rate")
	fs.Float32Var(&m.cfg.WeightDecay, "weight-decay", d.Model.WeightDecay, "decoupled weight decay (AdamW)")
	fs.IntVar(&m.cfg.Batch, "batch", d.Model.Batch, "minibatch size")
	fs.IntVar(&m.cfg.MaxEpochs, "epochs", d.Model.MaxEpochs, "maximum training epochs")
	fs.IntVar(&m.cfg.Patience, "patience", d.Model.Patience, "stop after this many epochs without a better validation loss")
	fs.Uint64Var(&m.cfg.Seed, "seed", d.Model.Seed, "random seed: the same seed and data give the same model")
	fs.IntVar(&m.cfg.Ensemble, "ensemble", d.Model.Ensemble, "networks trained side by side from different initialisations and averaged (1..32; training costs grow with it)")
	fs.IntVar(&m.threads, "threads", 0, "CPU threads for the compute kernels (default: all cores)")
	fs.StringVar(&m.device, "device", "cpu", deviceHelp)
	fs.IntVar(&m.importance, "importance-repeats", d.ImportanceRepeats, "shuffles per feature for the report's permutation importance (0: off)")
	fs.StringVar(&m.calibration, "calibration", "factor", `expected-spend calibration: "factor" (one factor fitted on the training and validation customers) or "isotonic" (a monotone map fitted on the validation customers; keeps the ranking; on CDNOW it did worse on the test customers, see BENCHMARKS.md)`)
}

type trainFlags struct {
	data            dataFlags
	model           modelFlags
	dist            distFlags
	out             string
	json            bool
	quiet           bool
	checkpointEvery int
	resume          bool
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
  DIR/metrics.json  normalized Gini, Spearman, decile MAPE, AUC, RMSE, spend ratio, for both models
  DIR/report.html   a self-contained report: gain curves, deciles, loss curves, feature importance

With --workers N it trains data-parallel on N worker processes of this binary,
with gradients summed over a ring allreduce; this process reads the data, serves
each worker its shard, and evaluates and writes as above. Without --etcd it runs
an etcd of its own. With the same --seed and --batch the model is the one a
single process trains, up to the order of floating-point sums. A worker that
dies loses its lease (--lease-ttl) and the others go on from the last step in
a new generation, down to --min-workers.

Training writes a checkpoint every --checkpoint-every steps into DIR/checkpoints
(the newest two are kept). After a crash or Ctrl-C, the same command with
--resume continues from the newest one instead of starting over.

Example (the CDNOW record-store data, the standard split of the literature):
  cohort train --data CDNOW_master.txt --calibration-end 1997-09-30 --horizon 39w --out runs/cdnow
  cohort train --data CDNOW_master.txt --calibration-end 1997-09-30 --horizon 39w --out runs/cdnow --workers 2
` + dataHelp,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runTrain(cmd, f) },
	}
	fs := cmd.Flags()
	f.data.bind(fs)
	f.model.bind(fs)
	f.dist.bind(fs)
	fs.StringVar(&f.out, "out", "", "run directory to write model/, metrics.json and report.html into (required)")
	fs.IntVar(&f.checkpointEvery, "checkpoint-every", 100, "optimizer steps between checkpoints in DIR/checkpoints (0: none)")
	fs.BoolVar(&f.resume, "resume", false, "continue training from the newest checkpoint in DIR/checkpoints (same data and flags as the run that wrote it)")
	fs.BoolVar(&f.json, "json", false, "print the result as JSON on stdout")
	fs.BoolVarP(&f.quiet, "quiet", "q", false, "no progress on stderr")
	return cmd
}

func runTrain(cmd *cobra.Command, f *trainFlags) error {
	read, err := f.data.options()
	if err != nil {
		return err
	}
	if f.out == "" {
		return fmt.Errorf("--out is required: the run directory to write the model and report into")
	}
	if read.Horizon.IsZero() {
		return fmt.Errorf("--horizon is required for training: the holdout whose spend is learned, e.g. 39w, 26w or 180d")
	}
	if f.model.threads < 0 {
		return fmt.Errorf("--threads must be >= 0, got %d", f.model.threads)
	}
	spec := job.Spec{Data: f.data.path, Read: read, Model: f.model.cfg, Out: f.out,
		Threads: f.model.threads, ImportanceRepeats: f.model.importance, CheckpointEvery: f.checkpointEvery,
		Calibration: f.model.calibration}
	if f.resume {
		path, st, err := job.LatestCheckpoint(job.CheckpointDir(f.out))
		if err != nil {
			return fmt.Errorf("--resume: %w (train without --resume to start over)", err)
		}
		spec.Resume = path
		if !f.quiet {
			fmt.Fprintf(cmd.ErrOrStderr(), "resuming from %s (epoch %d, step %d)\n", path, st.Epoch, st.Adam.Step)
		}
	}
	// Model flags (--hidden, --lr, ...) are checked before --out is created,
	// so a typo leaves no empty run directory behind.
	if err := spec.Validate(); err != nil {
		return err
	}
	be, release, err := openBackend(f.model.device, f.model.threads)
	if err != nil {
		return err
	}
	defer release()
	if err := os.MkdirAll(f.out, 0o755); err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	var p *progress
	if !f.quiet {
		p = newProgress(cmd.ErrOrStderr(), spec.Model.WithDefaults().MaxEpochs)
	}
	var res *job.Result
	if f.dist.workers != 0 {
		res, err = trainDistributed(cmd.Context(), cmd.ErrOrStderr(), f.dist, spec, be, p)
	} else {
		var ev job.Events
		if p != nil {
			ev = p.events()
		}
		res, err = job.Train(cmd.Context(), be, spec, ev)
	}
	if err != nil {
		return err
	}
	if f.json {
		enc := json.NewEncoder(cmd.OutOrStdout())
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	printResult(cmd.OutOrStdout(), res)
	return nil
}

// printResult shows the test metrics of both models and where the files are.
func printResult(w io.Writer, r *job.Result) {
	fmt.Fprintf(w, "customers %d (train %d, validation %d, test %d; stable hash split of ids)\n",
		r.Ingest.Customers, r.Split.Train, r.Split.Validation, r.Split.Test)
	if r.Ingest.ExcludedCustomers > 0 {
		fmt.Fprintf(w, "left out %d customers first seen after the calibration end\n", r.Ingest.ExcludedCustomers)
	}
	fmt.Fprintf(w, "\nholdout metrics on the %d test customers:\n", r.Split.Test)
	printMetrics(w, r.Model, r.BaselineMetrics)
	printBootstrap(w, r.Bootstrap, r.Split.Test)
	printNoise(w, r.ModelNoise)
	fmt.Fprintf(w, "\nmodel    %s\nmetrics  %s\nreport   %s\n", r.ModelDir, r.MetricsPath, r.ReportPath)
}

// progress prints stages and epochs: one updating line on a terminal, one
// line per epoch otherwise (logs, CI).
type progress struct {
	w      io.Writer
	tty    bool
	epochs int
	began  time.Time

	mu         sync.Mutex
	readTenths int // tenths of the log read and printed (not on a terminal)
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
	if p.tty {
		fmt.Fprintf(p.w, "\r\033[K%s", line)
		if done == total {
			fmt.Fprintln(p.w)
		}
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
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
