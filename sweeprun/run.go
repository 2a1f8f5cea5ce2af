package sweeprun

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/cohort-clv/cohort/job"
	"github.com/cohort-clv/cohort/kernels/cpu"
	"github.com/cohort-clv/cohort/model"
	"github.com/cohort-clv/cohort/sweep"
)

// BestDir is the run directory of the best trial's model inside the sweep's
// output directory.
const BestDir = "best"

// Options configure Start and Resume.
type Options struct {
	// Out is the sweep's output directory: Out/best (a run directory for
	// cohort predict), results.csv and the plots.
	Out string
	// Progress, when set, is called (from one goroutine at a time) after a
	// trial starts or ends.
	Progress func(Progress)
	// Logger receives trial events; nil uses slog.Default().
	Logger *slog.Logger
	// Step trains one trial (and, at the end, the best trial again when an
	// earlier coordinator completed it): nil trains in this process
	// (job.Local). A coordinator passes a step that trains on the
	// cluster's workers. It must honour ctx: a cancelled trial (pruned, or
	// the sweep stopping) returns promptly.
	Step TrialStep
	// Prepared, when set, is the spec's data as Prepare read it, so a
	// caller can check the data before it creates anything; nil makes
	// Start and Resume read it.
	Prepared *job.Prepared
	// RecordStops says that a cancelled ctx is a clean stop of the sweep
	// by its only runner (cohort sweep on a signal): the trials it was
	// running are then recorded as Stopped, and Resume runs them again
	// without counting the attempt. Without it they are left running, as
	// a crash leaves them, and Resume counts the attempt. A coordinator
	// that loses its lead leaves it false: the next leader may already
	// have taken the sweep, and a late write of its own would conflict
	// with that leader's.
	RecordStops bool
}

// TrialStep trains trial t, whose job spec is p.Spec, and reports each
// epoch to ev.Epoch.
type TrialStep func(ctx context.Context, t Trial, p *job.Prepared, ev job.Events) (*model.Model, model.History, error)

// localStep trains a trial in this process on the CPU.
func localStep(threads int) TrialStep {
	return func(ctx context.Context, _ Trial, p *job.Prepared, ev job.Events) (*model.Model, model.History, error) {
		be := cpu.New(cpu.Options{Threads: threads})
		defer be.Close()
		return job.Local(ctx, be, p, ev)
	}
}

// Progress counts trials.
type Progress struct {
	Budget, Done, Running, Pruned, Failed int
	// Best is the best completed trial so far, nil before the first.
	Best *Trial
	// Elapsed is the time since this process started or resumed the
	// sweep (0 where unknown).
	Elapsed time.Duration
}

// Result is a finished sweep.
type Result struct {
	ID     string
	Trials []Trial
	// Best is the best completed trial; BestRun its model's run directory
	// and test metrics.
	Best    Trial
	BestRun *job.Result
	// Epochs is the total of the trials' Epochs: the epochs of each
	// trial's last attempt.
	Epochs int
	// AlreadyFinished says that Resume found the sweep finished and did
	// nothing: BestRun is the stored outcome (nil for sweeps finished by
	// an older cohort).
	AlreadyFinished bool
}

// ErrExists means Start found the sweep id taken.
var ErrExists = errors.New("sweeprun: the sweep exists")

// Prepare reads the spec's data, splits the customers and fits the
// baseline, as a sweep does once before its trials: a bad path, column or
// date fails here. Pass the result as Options.Prepared.
func Prepare(ctx context.Context, spec *Spec) (*job.Prepared, error) {
	js, err := spec.JobSpec(nil, BestDir)
	if err != nil {
		return nil, fmt.Errorf("sweeprun: prepare: %w", err)
	}
	p, err := job.Prepare(ctx, js, job.Events{})
	if err != nil {
		return nil, fmt.Errorf("sweeprun: prepare: %w", err)
	}
	return p, nil
}

// Start creates sweep id in etcd from spec and runs it to the end. A
// cancelled ctx leaves the sweep resumable with Resume.
func Start(ctx context.Context, cli *clientv3.Client, id string, spec *Spec, opts Options) (*Result, error) {
	r, err := newRunner(cli, id, spec, opts)
	if err != nil {
		return nil, err
	}
	init, err := spec.initial(r.space)
	if err != nil {
		return nil, err
	}
	r.sampler, r.stopper = init.sampler, init.stopper
	// The data first: a typo in its path or a column must not take the id.
	if r.prep == nil {
		if r.prep, err = Prepare(ctx, spec); err != nil {
			return nil, err
		}
	}
	if err := r.st.create(ctx, spec, init.samplerState, init.stopperState); err != nil {
		return nil, err
	}
	return r.run(ctx)
}

// initialState is a new sweep's sampler and stopper and their stored form.
type initialState struct {
	sampler                    sweep.Sampler
	stopper                    sweep.Stopper // nil without early stopping
	samplerState, stopperState []byte
}

// initial makes a new sweep's sampler and stopper over space.
func (s *Spec) initial(space *sweep.Space) (initialState, error) {
	var in initialState
	var err error
	if in.sampler, err = sweep.New(space, s.Sampler); err != nil {
		return in, fmt.Errorf("sweeprun: %w", err)
	}
	if in.stopper, err = s.newStopper(); err != nil {
		return in, fmt.Errorf("sweeprun: %w", err)
	}
	if in.samplerState, err = in.sampler.State(); err != nil {
		return in, err
	}
	if in.stopper != nil {
		if in.stopperState, err = in.stopper.State(); err != nil {
			return in, err
		}
	}
	return in, nil
}

// Resume continues sweep id from its state in etcd: finished trials stay
// as they are, trials that were stopped or running when the last
// coordinator ended are run again from their first epoch, and the sampler
// continues with every past observation. A trial still running in etcd was
// interrupted by a crash (a clean stop records Stopped, see
// Options.RecordStops): after 1+Retries such attempts it is marked failed.
// A sweep that has finished is left as it is: the Result is its stored
// outcome, with AlreadyFinished set.
func Resume(ctx context.Context, cli *clientv3.Client, id string, opts Options) (*Result, error) {
	st := &store{cli: cli, id: id, revs: map[int]int64{}}
	snap, err := st.load(ctx)
	if err != nil {
		return nil, err
	}
	sum, err := Done(ctx, cli, id)
	if err != nil {
		return nil, err
	}
	if sum != nil {
		return finished(id, sum, snap.Trials)
	}
	if err := snap.Spec.fill(); err != nil {
		return nil, err
	}
	r, err := newRunner(cli, id, snap.Spec, opts)
	if err != nil {
		return nil, err
	}
	r.st = st
	if r.sampler, err = sweep.Restore(r.space, snap.Sampler); err != nil {
		return nil, fmt.Errorf("sweeprun: resume %s: %w", id, err)
	}
	if snap.Stopper != nil {
		if r.stopper, err = snap.Spec.restoreStopper(snap.Stopper); err != nil {
			return nil, fmt.Errorf("sweeprun: resume %s: %w", id, err)
		}
	}
	var stopped, crashed []int
	for _, t := range snap.Trials {
		r.trials[t.ID] = &t
		r.order = append(r.order, t.ID)
		switch {
		case t.Finished():
			continue
		case t.Status == Running && t.Attempts > snap.Spec.Retries:
			t.Status, t.Reason = Failed, fmt.Sprintf("its process died in %d attempts; retries: %d", t.Attempts, snap.Spec.Retries)
			if err := r.observe(ctx, &t); err != nil {
				return nil, err
			}
			r.log.Warn("trial failed: its process died during every attempt", "trial", t.ID, "attempts", t.Attempts,
				"retries", snap.Spec.Retries, "config", ConfigText(t.Config))
			continue
		case t.Status == Running:
			crashed = append(crashed, t.ID)
		default:
			stopped = append(stopped, t.ID)
		}
		r.queue = append(r.queue, t.ID)
	}
	if len(stopped) > 0 {
		r.log.Info("trials that were stopped start again from their first epoch", "trials", stopped)
	}
	if len(crashed) > 0 {
		r.log.Warn("trials whose process died while they ran (no stop was recorded) start again from their first epoch; the attempt counts against retries",
			"trials", crashed, "retries", snap.Spec.Retries)
	}
	return r.run(ctx)
}

// runner is one coordinator of a sweep. mu serialises the sampler, the
// stopper and every etcd write, so the stored order is the order of events.
type runner struct {
	mu      sync.Mutex
	spec    *Spec
	space   *sweep.Space
	sampler sweep.Sampler
	stopper sweep.Stopper
	st      *store
	opts    Options
	log     *slog.Logger
	trials  map[int]*Trial
	order   []int
	queue   []int // stored trials to (re)run
	prep    *job.Prepared
	threads int
	// best holds the net of the best trial completed by this process, so
	// the sweep need not train it again.
	bestID   int
	bestNet  *model.Model
	bestHist model.History
	start    time.Time
	// exhausted is set once a grid sampler has no point left.
	exhausted bool
}

func newRunner(cli *clientv3.Client, id string, spec *Spec, opts Options) (*runner, error) {
	if opts.Out == "" {
		return nil, errors.New("sweeprun: options: Out, the sweep's output directory, is required")
	}
	space, err := spec.space()
	if err != nil {
		return nil, fmt.Errorf("sweeprun: %w", err)
	}
	lg := opts.Logger
	if lg == nil {
		lg = slog.Default()
	}
	total := spec.Threads
	if total == 0 {
		total = runtime.GOMAXPROCS(0)
	}
	threads := max(1, total/spec.Parallel)
	if opts.Step == nil {
		opts.Step = localStep(threads)
	}
	return &runner{
		spec: spec, space: space, opts: opts, log: lg.With("sweep", id),
		st: &store{cli: cli, id: id, revs: map[int]int64{}}, trials: map[int]*Trial{},
		threads: threads, bestID: -1, prep: opts.Prepared, start: time.Now(),
	}, nil
}

func (r *runner) run(ctx context.Context) (*Result, error) {
	release, err := r.st.hold(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	if r.prep == nil {
		if r.prep, err = Prepare(ctx, r.spec); err != nil {
			return nil, err
		}
	}
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error)
	running := 0
	var firstErr error
	for {
		for running < r.spec.Parallel && rctx.Err() == nil {
			t, err := r.next(rctx)
			if err != nil {
				firstErr = err
				cancel()
				break
			}
			if t == nil {
				break
			}
			running++
			r.progress()
			go func() { done <- r.runTrial(rctx, t) }()
		}
		if running == 0 {
			break
		}
		if err := <-done; err != nil && firstErr == nil {
			firstErr = err
			cancel()
		}
		running--
		r.progress()
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("sweeprun: sweep %s stopped (resume it): %w", r.st.id, err)
	}
	if firstErr != nil {
		return nil, firstErr
	}
	return r.finish(ctx)
}

// next marks the next trial running and returns a copy of it: a stored
// trial to re-run, else a new proposal while the budget allows; nil when
// there is none.
func (r *runner) next(ctx context.Context) (*Trial, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var t *Trial
	var samplerState []byte
	if len(r.queue) > 0 {
		t = r.trials[r.queue[0]]
		r.queue = r.queue[1:]
	} else {
		if len(r.trials) >= r.spec.Trials {
			return nil, nil
		}
		ps, err := r.sampler.Propose(ctx, 1)
		if errors.Is(err, sweep.ErrExhausted) || err == nil && len(ps) == 0 {
			if !r.exhausted {
				r.exhausted = true
				r.log.Info("the grid has no configuration left: the sweep ends short of its budget",
					"grid_points", len(r.trials), "trials", r.spec.Trials)
			}
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("sweeprun: propose: %w", err)
		}
		if samplerState, err = r.sampler.State(); err != nil {
			return nil, err
		}
		t = &Trial{ID: ps[0].ID, Config: ps[0].Config}
		r.trials[t.ID] = t
		r.order = append(r.order, t.ID)
	}
	if t.Status != Stopped {
		// A start after a clean stop takes the stopped attempt over: only
		// a crash (a trial found running) costs one.
		t.Attempts++
	}
	t.Status, t.Reason = Running, ""
	t.Epochs = 0 // this attempt's, as Elapsed will be
	if err := r.st.write(ctx, []Trial{*t}, samplerState, nil); err != nil {
		return nil, err
	}
	r.log.Info("trial started", "trial", t.ID, "attempt", t.Attempts, "config", ConfigText(t.Config))
	c := *t
	return &c, nil
}

// runTrial trains t, reporting each epoch to the stopper, and records the
// outcome. When ctx ends, the trial is recorded as Stopped (see
// Options.RecordStops) or left running, for Resume to run again.
func (r *runner) runTrial(ctx context.Context, t *Trial) error {
	js, err := r.spec.JobSpec(t.Config, "")
	if err != nil {
		return r.end(ctx, t.ID, Failed, math.NaN(), err.Error(), 0, nil, model.History{})
	}
	tctx, cancel := context.WithCancel(ctx)
	defer cancel()
	p := *r.prep
	p.Spec = js
	reported := len(t.Losses) // steps the stopper saw in earlier attempts
	best := math.Inf(1)
	var pruned bool
	var failure error
	onEpoch := func(e model.EpochStats) {
		r.log.Debug("trial epoch", "trial", t.ID, "epoch", e.Epoch, "val_loss", e.ValLoss)
		if !(e.ValLoss >= best) {
			best = e.ValLoss // also takes NaN, which the stopper stops
		}
		r.mu.Lock()
		defer r.mu.Unlock()
		rec := r.trials[t.ID]
		rec.Epochs++
		var stState []byte
		if e.Epoch > reported {
			rec.Losses = append(rec.Losses, best)
			if r.stopper != nil {
				d, err := r.stopper.Report(t.ID, e.Epoch, best)
				if err != nil {
					failure = err
					cancel()
					return
				}
				if stState, err = r.stopper.State(); err != nil {
					failure = err
					cancel()
					return
				}
				if d == sweep.Stop {
					pruned = true
					cancel()
				}
			}
		}
		if err := r.st.write(ctx, []Trial{*rec}, nil, stState); err != nil {
			failure = err
			cancel()
		}
	}
	began := time.Now()
	net, hist, err := r.opts.Step(tctx, *t, &p, job.Events{Epoch: onEpoch})
	took := time.Since(began)
	r.mu.Lock()
	pr, fl := pruned, failure
	r.mu.Unlock()
	switch {
	case ctx.Err() != nil:
		// The sweep stops: whatever the trial reached (an epoch's write
		// that the stop cut short included), Resume runs it again.
		return r.stop(ctx, t.ID)
	case fl != nil:
		return fl
	case pr && (err != nil || net == nil):
		return r.end(ctx, t.ID, Pruned, best, "", took, nil, model.History{})
	case pr:
		// The stop came too late: a cluster trial's epochs reach the
		// stopper after the fact, and this one trained to its end. Its
		// model is whole, so it counts as completed (the best may be it).
		r.log.Info("trial finished before its stop arrived; kept as completed", "trial", t.ID)
	case err != nil:
		return r.end(ctx, t.ID, Failed, math.NaN(), err.Error(), took, nil, model.History{})
	}
	return r.end(ctx, t.ID, Completed, hist.BestValLoss, "", took, net, hist)
}

// stopTimeout bounds the write that records a stopped trial, which runs
// after the sweep's context has ended.
const stopTimeout = 5 * time.Second

// stop records trial id as Stopped, so that Resume runs it again without
// counting the stop as a crash against Retries (see next). Without
// Options.RecordStops it leaves the trial running. A failed write leaves
// it running too: Resume then counts the attempt, as after a crash, which
// errs on the side of giving up on a trial that may really kill its
// process. The stopper's state is not written: if the stop cut an epoch's
// write short, the stopper misses that one report (at worst the trial is
// not stopped at that epoch), rather than seeing it twice after the resume.
func (r *runner) stop(ctx context.Context, id int) error {
	if !r.opts.RecordStops {
		return nil
	}
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), stopTimeout)
	defer cancel()
	r.mu.Lock()
	defer r.mu.Unlock()
	t := r.trials[id]
	rec := *t
	rec.Status = Stopped
	if err := r.st.write(wctx, []Trial{rec}, nil, nil); err != nil {
		r.log.Warn("could not record the trial's stop: resuming will count this attempt as a crash", "trial", id, "err", err)
		return nil
	}
	*t = rec
	r.log.Info("trial stopped; it starts again from its first epoch when the sweep is resumed", "trial", id, "epochs", rec.Epochs)
	return nil
}

// end records a trial's final status and tells the sampler, in one write.
func (r *runner) end(ctx context.Context, id int, status Status, value float64, reason string, took time.Duration, net *model.Model, hist model.History) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	t := r.trials[id]
	if status != Failed && (math.IsNaN(value) || math.IsInf(value, 0)) {
		status, reason = Failed, fmt.Sprintf("validation loss %v (diverged)", value)
	}
	t.Status, t.Value, t.Reason, t.Elapsed = status, value, reason, took
	if status == Failed {
		t.Value = 0 // no value: JSON leaves it out
	}
	if err := r.observe(ctx, t); err != nil {
		return err
	}
	attrs := []any{"trial", id, "status", status}
	if status != Failed {
		attrs = append(attrs, "value", t.Value)
	}
	attrs = append(attrs, "epochs", t.Epochs, "elapsed", took.Round(time.Millisecond), "config", ConfigText(t.Config))
	if reason != "" {
		attrs = append(attrs, "reason", reason)
	}
	if status == Failed {
		r.log.Warn("trial failed", attrs...)
	} else {
		r.log.Info("trial ended", attrs...)
	}
	if status == Completed && (r.bestNet == nil || value < r.trials[r.bestID].Value) {
		r.bestID, r.bestNet, r.bestHist = id, net, hist
	}
	return nil
}

// observe tells the sampler of a finished trial and stores both.
func (r *runner) observe(ctx context.Context, t *Trial) error {
	st := sweep.Trial{ID: t.ID, Config: t.Config, Status: sweep.Status(t.Status), Value: t.Value}
	if err := r.sampler.Observe(st); err != nil {
		return fmt.Errorf("sweeprun: %w", err)
	}
	ss, err := r.sampler.State()
	if err != nil {
		return err
	}
	return r.st.write(ctx, []Trial{*t}, ss, nil)
}

func (r *runner) progress() {
	if r.opts.Progress == nil {
		return
	}
	r.mu.Lock()
	trials := make([]Trial, len(r.order))
	for i, id := range r.order {
		trials[i] = *r.trials[id]
	}
	r.mu.Unlock()
	p := ProgressOf(r.spec.Trials, trials)
	p.Elapsed = time.Since(r.start)
	r.opts.Progress(p)
}

// ProgressOf counts trials by status against a budget of trials, with the
// best completed one (the lowest objective, the first of equals).
func ProgressOf(budget int, trials []Trial) Progress {
	p := Progress{Budget: budget}
	for i, t := range trials {
		switch t.Status {
		case Completed:
			p.Done++
			if p.Best == nil || t.Value < p.Best.Value {
				p.Best = &trials[i]
			}
		case Pruned:
			p.Done++
			p.Pruned++
		case Failed:
			p.Done++
			p.Failed++
		case Running:
			p.Running++
		}
	}
	return p
}

// finish writes the best completed trial's run directory, training it
// again when a previous coordinator completed it, then results and plots.
func (r *runner) finish(ctx context.Context) (*Result, error) {
	res := &Result{ID: r.st.id}
	for _, id := range r.order {
		t := *r.trials[id]
		res.Trials = append(res.Trials, t)
		res.Epochs += t.Epochs
	}
	best, ok := BestTrial(res.Trials)
	if !ok {
		return nil, noneCompleted(r.st.id, res.Trials)
	}
	res.Best = best
	began := time.Now()
	js, err := r.spec.JobSpec(best.Config, filepath.Join(r.opts.Out, BestDir))
	if err != nil {
		return nil, err
	}
	p := *r.prep
	p.Spec = js
	be := cpu.New(cpu.Options{Threads: r.threads * r.spec.Parallel})
	defer be.Close()
	net, hist := r.bestNet, r.bestHist
	trained := best.Elapsed
	if r.bestID != best.ID {
		r.log.Info("training the best trial again: it completed before the sweep was resumed, and its model is not kept",
			"trial", best.ID, "config", ConfigText(best.Config))
		if net, hist, err = r.opts.Step(ctx, best, &p, job.Events{}); err != nil {
			return nil, fmt.Errorf("sweeprun: retrain best trial %d: %w", best.ID, err)
		}
		trained = time.Since(began)
	}
	r.log.Info("evaluating the best trial on the test customers and writing its run directory",
		"trial", best.ID, "value", best.Value, "config", ConfigText(best.Config), "dir", js.Out)
	if res.BestRun, err = p.Finish(ctx, be, net, hist, job.Events{Step: r.evalStep()}); err != nil {
		return nil, fmt.Errorf("sweeprun: best trial %d: %w", best.ID, err)
	}
	// As train's: the training that gave the model, then its evaluation.
	res.BestRun.Elapsed = trained + time.Since(began)
	if err := WriteResults(filepath.Join(r.opts.Out, "results.csv"), r.space, res.Trials); err != nil {
		return nil, err
	}
	if err := Plot(r.opts.Out, r.space, res.Trials); err != nil {
		return nil, err
	}
	if err := r.st.finish(ctx, res, r.opts.Out); err != nil {
		return nil, err
	}
	r.log.Info("sweep finished: best trial written", "trial", best.ID, "dir", js.Out,
		"evaluation", time.Since(began).Round(time.Millisecond), "elapsed", time.Since(r.start).Round(time.Millisecond))
	return res, nil
}

// evalStep logs the best trial's evaluation steps (permutation importance,
// bootstrap, ...), which take a while on a large shop: each step as it
// starts, and the importance's progress at most every 5 seconds and at its
// end.
func (r *runner) evalStep() func(job.EvalStep) {
	var last time.Time
	return func(s job.EvalStep) {
		if s.Done > 0 && s.Done < s.Total && time.Since(last) < 5*time.Second {
			return
		}
		last = time.Now()
		r.log.Info("best trial evaluation: " + s.String())
	}
}

// noneCompleted is the error of a sweep that ends with no completed trial:
// it counts the outcomes and gives the first failure's reason, so a quiet
// run still says why.
func noneCompleted(id string, trials []Trial) error {
	p := ProgressOf(len(trials), trials)
	msg := fmt.Sprintf("sweeprun: sweep %s: no trial completed (%d failed, %d pruned of %d)", id, p.Failed, p.Pruned, len(trials))
	for _, t := range trials {
		if t.Status == Failed && t.Reason != "" {
			msg += fmt.Sprintf("; first failure: trial %d (%s): %s", t.ID, ConfigText(t.Config), t.Reason)
			break
		}
	}
	return errors.New(msg)
}

// finished is Resume's outcome for a sweep that has ended: its stored
// summary, nothing run again.
func finished(id string, sum *Summary, trials []Trial) (*Result, error) {
	if sum.Error != "" {
		return nil, fmt.Errorf("sweeprun: sweep %s failed: %s", id, sum.Error)
	}
	res := &Result{ID: id, Trials: trials, Epochs: sum.Epochs, BestRun: sum.BestRun, AlreadyFinished: true}
	best, ok := BestTrial(trials)
	if !ok {
		return nil, noneCompleted(id, trials)
	}
	res.Best = best
	return res, nil
}

// BestTrial returns the completed trial with the lowest objective.
func BestTrial(trials []Trial) (Trial, bool) {
	var best Trial
	ok := false
	for _, t := range trials {
		if t.Status == Completed && (!ok || t.Value < best.Value) {
			best, ok = t, true
		}
	}
	return best, ok
}
