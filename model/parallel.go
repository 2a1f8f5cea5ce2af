package model

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/cohort-clv/cohort/kernels"
)

// Reducer sums a buffer element-wise across the replicas of a data-parallel
// run, in place (an allreduce). Every replica calls Sum the same number of
// times with buffers of the same length, and every replica must end with
// bit-identical sums: the optimizer steps that follow rely on it to keep the
// weights identical.
type Reducer interface {
	Sum(ctx context.Context, buf []float32) error
}

// Shard is one replica's part of a data-parallel run. The global training
// set has TrainRows rows; this replica holds the rows of Train, whose global
// row numbers are TrainIndex (distinct, in [0, TrainRows)). Val holds this
// replica's validation rows.
type Shard struct {
	Train, Val Data
	TrainIndex []int
	TrainRows  int
}

// TrainState is a replica's training state between two steps: everything
// a run needs to resume exactly, on the same replicas or on new ones.
// Replicas of one run hold identical states.
type TrainState struct {
	Pipeline Pipeline  `json:"pipeline"`
	Params   []float32 `json:"params"`
	Adam     AdamState `json:"adam"`
	// Epoch is the epoch in progress (1-based); Offset how many rows of its
	// permutation earlier steps consumed; LossSum the training loss summed
	// over those rows, across replicas.
	Epoch   int     `json:"epoch"`
	Offset  int     `json:"offset"`
	LossSum float64 `json:"loss_sum"`
	// Best holds the parameters of the best epoch so far, SinceBest the
	// epochs since it, History the finished epochs.
	Best      []float32 `json:"best"`
	SinceBest int       `json:"since_best"`
	History   History   `json:"history"`
	// Done marks the state of a finished run (see TrainOptions.OnDone):
	// Epoch is one past the last epoch trained and Offset 0, so (Epoch,
	// Offset) orders it after every state the run passed through, and
	// resuming from it returns the run's model without training.
	Done bool `json:"done"`
}

// Interrupted is the error TrainShard returns when its Reducer fails (a
// peer died, a new generation began). State is the state after the last
// completed step, from which TrainShard resumes with TrainOptions.Resume.
type Interrupted struct {
	State *TrainState
	Err   error
}

func (e *Interrupted) Error() string {
	return fmt.Sprintf("model: train interrupted at epoch %d row %d: %v", e.State.Epoch, e.State.Offset, e.Err)
}

func (e *Interrupted) Unwrap() error { return e.Err }

// TrainShard trains one replica of a data-parallel run whose replicas
// together hold the training set; r sums across them (nil: this replica is
// the only one). Each step every replica draws the same global minibatch of
// cfg.Batch row numbers from the epoch's seeded permutation, computes the
// loss gradient over the rows of that minibatch it holds, scaled by its
// share, and r sums those into the gradient of the whole minibatch, so any
// number of replicas take the steps one process holding every row would
// take, up to the order of floating-point sums. The standardisation, the
// output bias and the validation loss come from sums reduced the same way.
//
// A failing Reducer ends the run with an *Interrupted error that carries
// the state after the last completed step; opts.Resume continues from such
// a state (or a checkpoint written through opts.Checkpoint), with the same
// or other shards, as long as the replicas together hold the same rows.
// A run that ends (MaxEpochs, or early stopping) hands its final state to
// opts.OnDone; resuming from that Done state takes no step and returns the
// same model and History again.
//
// With opts.ChecksumEvery, the replicas also compare checksums of their
// weights every few steps and fail with an error wrapping
// ErrWeightsDiverged when they differ.
func TrainShard(ctx context.Context, be kernels.Backend, sh Shard, r Reducer, cfg Config, opts TrainOptions) (*Model, History, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, History{}, fmt.Errorf("model: train: %w", err)
	}
	t, err := newTrainer(ctx, be, sh, r, cfg, opts)
	if err != nil {
		return nil, History{}, fmt.Errorf("model: train: %w", err)
	}
	if err := t.run(ctx); err != nil {
		return nil, t.hist, err
	}
	m, err := NewModel(cfg, t.net.layout, t.pipe, t.best)
	if err != nil {
		return nil, t.hist, fmt.Errorf("model: train: %w", err)
	}
	if t.opts.OnDone != nil {
		t.opts.OnDone(t.state())
	}
	return m, t.hist, nil
}

// trainer is one replica's training loop and its state.
type trainer struct {
	be      kernels.Backend
	sh      Shard
	r       Reducer
	red     reducer
	cfg     Config
	opts    TrainOptions
	local   []int32
	valRows int // across replicas
	pipe    Pipeline
	tx, vx  []float32 // transformed features
	net     *Net
	opt     *Adam
	b       batcher
	grads   []float32    // host gradient plus the loss share, for the reducer
	batch   int          // global minibatch
	ck      *checksummer // nil: no weight checksums

	// done: the run has ended; it trains no further.
	done bool

	epoch, offset int
	lossSum       float64
	best          []float32
	sinceBest     int
	hist          History
}

func newTrainer(ctx context.Context, be kernels.Backend, sh Shard, r Reducer, cfg Config, opts TrainOptions) (*trainer, error) {
	train, val := sh.Train, sh.Val
	if err := train.check("training", opts.FeatureNames); err != nil {
		return nil, err
	}
	if err := val.check("validation", opts.FeatureNames); err != nil {
		return nil, err
	}
	if err := opts.checkReplicas(); err != nil {
		return nil, err
	}
	if sh.TrainRows == 0 || train.Cols == 0 {
		return nil, fmt.Errorf("training data has %d rows of %d columns, want at least one of each", sh.TrainRows, train.Cols)
	}
	if val.Rows > 0 && val.Cols != train.Cols {
		return nil, fmt.Errorf("validation data has %d columns, training data %d", val.Cols, train.Cols)
	}
	local, err := localRows(sh)
	if err != nil {
		return nil, err
	}
	t := &trainer{be: be, sh: sh, r: r, red: reducer{r: r}, cfg: cfg, opts: opts, local: local, epoch: 1}
	// local is all the loop needs of TrainIndex: dropping it lets Train's
	// identity index (8 bytes a row) go before the training run.
	t.sh.TrainIndex = nil

	// Global statistics: feature moments, label sums, validation rows and
	// the number of replicas.
	mom, err := NewMoments(train, opts.Log1p)
	if err != nil {
		return nil, err
	}
	ls := labelStatsOf(train.Y)
	cols := train.Cols
	const head = 7
	stats := append(append([]float64{float64(mom.Rows), ls.n, ls.pos, ls.sum, ls.sumSq, float64(val.Rows), 1}, mom.Sum...), mom.SumSq...)
	if err := t.red.sum64(ctx, stats); err != nil {
		return nil, fmt.Errorf("reduce statistics: %w", err)
	}
	mom.Rows = int(stats[0])
	ls = labelStats{n: stats[1], pos: stats[2], sum: stats[3], sumSq: stats[4]}
	t.valRows = int(stats[5])
	copy(mom.Sum, stats[head:head+cols])
	copy(mom.SumSq, stats[head+cols:head+2*cols])
	if mom.Rows != sh.TrainRows {
		return nil, fmt.Errorf("replicas hold %d training rows together, want TrainRows = %d", mom.Rows, sh.TrainRows)
	}
	if n := int(stats[6]); opts.Replicas > 0 && n != opts.Replicas {
		// Checksum slots are laid out by Replicas: a wrong count would
		// read as diverged weights.
		return nil, fmt.Errorf("%d replicas reduce together, want TrainOptions.Replicas = %d", n, opts.Replicas)
	}
	if t.pipe, err = mom.Pipeline(opts.FeatureNames); err != nil {
		return nil, err
	}
	layout, err := cfg.Layout(cols)
	if err != nil {
		return nil, err
	}
	t.net = NewNet(be, layout)
	t.net.Init(cfg.Seed, ls.outputBias())
	t.opt = NewAdam(be, layout.Size, cfg.AdamParams())
	t.opt.ClipNorm = cfg.ClipNorm
	t.hist.BestValLoss = math.Inf(1)
	if opts.Resume != nil {
		if err := t.restore(opts.Resume); err != nil {
			return nil, fmt.Errorf("resume: %w", err)
		}
		if t.done {
			return t, nil // nothing left to train
		}
	}
	t.tx = make([]float32, len(train.X))
	t.pipe.Apply(t.tx, train.X, train.Rows)
	t.vx = make([]float32, len(val.X))
	t.pipe.Apply(t.vx, val.X, val.Rows)

	t.batch = min(cfg.Batch, sh.TrainRows)
	lb := max(min(t.batch, train.Rows), 1)
	t.b = batcher{be: be, cols: cols, x: be.Alloc(lb * cols), y: be.Alloc(lb),
		hx: make([]float32, lb*cols), hy: make([]float32, lb)}
	if r != nil {
		t.grads = make([]float32, layout.Size+1)
	}
	t.ck = newChecksummer(r, opts, layout.Size)
	return t, nil
}

// restore loads a TrainState; the pipeline comes from the state, so a run
// resumed on other shards standardises exactly as it began.
func (t *trainer) restore(s *TrainState) error {
	if got, want := len(s.Params), t.net.layout.Size; got != want {
		// The usual cause: --hidden or --ensemble differ from the run the
		// checkpoint came from.
		return fmt.Errorf("the checkpoint holds %d parameters, this model (%d network(s) %d-%v-%d) has %d: resume with the --hidden and --ensemble it was trained with",
			got, t.net.layout.MemberCount(), t.net.layout.Inputs, t.net.layout.Hidden, kernels.ZILNOutputs, want)
	}
	if err := t.net.SetParams(s.Params); err != nil {
		return err
	}
	if err := t.opt.SetState(s.Adam); err != nil {
		return err
	}
	if len(s.Pipeline.Mean) != t.sh.Train.Cols {
		return fmt.Errorf("state pipeline has %d features, data %d", len(s.Pipeline.Mean), t.sh.Train.Cols)
	}
	if s.Epoch < 1 || s.Offset < 0 || s.Offset > t.sh.TrainRows {
		return fmt.Errorf("state at epoch %d row %d, want epoch >= 1 and row in [0, %d]", s.Epoch, s.Offset, t.sh.TrainRows)
	}
	if len(s.Best) != 0 && len(s.Best) != len(s.Params) {
		return fmt.Errorf("state has %d best parameters, want 0 or %d", len(s.Best), len(s.Params))
	}
	if s.Done && (s.Offset != 0 || len(s.Best) == 0) {
		return fmt.Errorf("done state at epoch %d row %d with %d best parameters, want row 0 and the best weights", s.Epoch, s.Offset, len(s.Best))
	}
	t.pipe = s.Pipeline
	t.epoch, t.offset, t.lossSum = s.Epoch, s.Offset, s.LossSum
	t.best = append([]float32(nil), s.Best...)
	t.sinceBest = s.SinceBest
	t.hist = s.History
	t.hist.Epochs = append([]EpochStats(nil), s.History.Epochs...)
	if t.hist.BestEpoch == 0 {
		// No best epoch yet; a state that went through JSON holds 0 here.
		t.hist.BestValLoss = math.Inf(1)
	}
	if t.valRows == 0 {
		// Without validation rows the losses are NaN, which JSON (a
		// checkpoint) turns into 0.
		t.hist.BestValLoss = math.NaN()
		for i := range t.hist.Epochs {
			t.hist.Epochs[i].ValLoss = math.NaN()
		}
	}
	t.done = s.Done
	return nil
}

// state snapshots the trainer between steps.
func (t *trainer) state() *TrainState {
	h := t.hist
	h.Epochs = append([]EpochStats(nil), t.hist.Epochs...)
	return &TrainState{
		Pipeline: t.pipe, Params: t.net.ParamsHost(), Adam: t.opt.State(),
		Epoch: t.epoch, Offset: t.offset, LossSum: t.lossSum,
		Best: append([]float32(nil), t.best...), SinceBest: t.sinceBest, History: h,
		Done: t.done,
	}
}

// epochPerm overwrites perm with the permutation of its len(perm) global
// rows for an epoch: it depends only on the seed and the epoch, so a
// resumed run draws the same minibatches. The caller reuses one slice for
// every epoch: a new one each epoch was the largest allocation of the
// training loop (5.6 MB an epoch at 700k rows), garbage that let the heap
// grow towards twice the training data before a collection.
func epochPerm(perm []int, seed uint64, epoch int) {
	for i := range perm {
		perm[i] = i
	}
	rng := rand.New(rand.NewPCG(seed, 0x5851f42d4c957f2d+uint64(epoch)))
	rng.Shuffle(len(perm), func(i, j int) { perm[i], perm[j] = perm[j], perm[i] })
}

// run trains from the current state to the end of the run and marks it
// done; a run resumed from a done state returns at once.
func (t *trainer) run(ctx context.Context) error {
	if t.done {
		return nil
	}
	cfg, rows := t.cfg, t.sh.TrainRows
	total := (rows + t.batch - 1) / t.batch * cfg.MaxEpochs
	idx := make([]int, 0, len(t.b.hy))
	perm := make([]int, rows)
	for ; t.epoch <= cfg.MaxEpochs; t.epoch++ {
		start := time.Now()
		epochPerm(perm, cfg.Seed, t.epoch)
		for t.offset < rows {
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("model: train: epoch %d: %w", t.epoch, err)
			}
			global := perm[t.offset:min(t.offset+t.batch, rows)]
			idx = idx[:0]
			for _, g := range global {
				if l := t.local[g]; l >= 0 {
					idx = append(idx, int(l))
				}
			}
			loss := 0.0
			if len(idx) > 0 {
				x, y := t.b.gather(t.tx, t.sh.Train.Y, idx)
				loss = t.net.LossAndGrad(x, y, len(idx))
			} else {
				t.be.Scale(t.net.grads, 0)
			}
			if math.IsNaN(loss) || math.IsInf(loss, 0) {
				return fmt.Errorf("model: train: epoch %d step %d: loss is %v (try a lower lr or clip_norm)", t.epoch, t.opt.StepCount()+1, loss)
			}
			stepLoss := loss * float64(len(idx))
			if t.r != nil {
				// Each replica's mean over its rows, weighted by its share of
				// the minibatch, sums to the minibatch mean; the loss rides
				// along in the last slot.
				g := t.grads[:len(t.grads)-1]
				t.be.Download(g, t.net.grads)
				share := float32(len(idx)) / float32(len(global))
				for i := range g {
					g[i] *= share
				}
				t.grads[len(g)] = float32(loss) * share
				if err := t.r.Sum(ctx, t.grads); err != nil {
					return &Interrupted{State: t.state(), Err: fmt.Errorf("allreduce gradient of step %d: %w", t.opt.StepCount()+1, err)}
				}
				// This rank's own gradient was finite (its loss was), so a
				// non-finite sum came from another rank: stop before the
				// step writes it into every replica's weights.
				if !finite(t.grads) {
					return fmt.Errorf("model: train: epoch %d step %d: the allreduced gradient is not finite: another rank "+
						"contributed NaN or Inf (its own log names its error)", t.epoch, t.opt.StepCount()+1)
				}
				t.be.Upload(t.net.grads, g)
				stepLoss = float64(t.grads[len(g)]) * float64(len(global))
			}
			t.opt.Hyper.LR = cfg.LRAt(t.opt.StepCount()+1, total)
			t.opt.Step(t.net)
			t.lossSum += stepLoss
			t.offset += len(global)
			// Compare weights before checkpointing them, so a checkpoint
			// never holds weights the replicas disagree on.
			if t.ck.due(t.opt.StepCount()) {
				if err := t.checkWeights(ctx); err != nil {
					return err
				}
			}
			if k := t.opts.CheckpointEvery; k > 0 && t.opts.Checkpoint != nil && t.opt.StepCount()%k == 0 {
				if err := t.opts.Checkpoint(t.state()); err != nil {
					return fmt.Errorf("model: train: checkpoint at step %d: %w", t.opt.StepCount(), err)
				}
			}
		}
		stop, err := t.endEpoch(ctx, start)
		if err != nil {
			return err
		}
		if stop {
			t.epoch++ // as the loop would: one past the last epoch trained
			break
		}
	}
	t.done = true
	return nil
}

// endEpoch scores the epoch on the validation rows of every replica, keeps
// the best weights and says whether early stopping ends the run.
func (t *trainer) endEpoch(ctx context.Context, start time.Time) (stop bool, err error) {
	vl := []float64{0}
	if t.sh.Val.Rows > 0 {
		l, err := t.b.loss(ctx, t.net, t.vx, t.sh.Val.Y)
		if err != nil {
			return false, fmt.Errorf("model: train: epoch %d: validation: %w", t.epoch, err)
		}
		vl[0] = l * float64(t.sh.Val.Rows)
	}
	if err := t.red.sum64(ctx, vl); err != nil {
		return false, &Interrupted{State: t.state(), Err: fmt.Errorf("reduce validation loss of epoch %d: %w", t.epoch, err)}
	}
	st := EpochStats{Epoch: t.epoch, TrainLoss: t.lossSum / float64(t.sh.TrainRows), ValLoss: math.NaN(), LR: t.opt.Hyper.LR, Steps: t.opt.StepCount()}
	if t.valRows > 0 {
		st.ValLoss = vl[0] / float64(t.valRows)
		if math.IsNaN(st.ValLoss) || math.IsInf(st.ValLoss, 0) {
			return false, fmt.Errorf("model: train: epoch %d: validation loss is %v (try a lower lr or clip_norm)", t.epoch, st.ValLoss)
		}
	}
	if t.valRows == 0 || st.ValLoss < t.hist.BestValLoss {
		st.Best, t.sinceBest = true, 0
		t.hist.BestEpoch, t.hist.BestValLoss = t.epoch, st.ValLoss
		t.best = t.net.ParamsHost()
	} else {
		t.sinceBest++
	}
	st.Wall = time.Since(start)
	t.hist.Epochs = append(t.hist.Epochs, st)
	t.offset, t.lossSum = 0, 0
	if t.opts.OnEpoch != nil {
		t.opts.OnEpoch(st)
	}
	if t.valRows > 0 && t.cfg.Patience >= 0 && t.sinceBest >= t.cfg.Patience && t.epoch < t.cfg.MaxEpochs {
		t.hist.StoppedEarly = true
		return true, nil
	}
	return false, nil
}

// localRows maps each global training row number to its row in sh.Train,
// or -1 when another replica holds it.
func localRows(sh Shard) ([]int32, error) {
	if len(sh.TrainIndex) != sh.Train.Rows {
		return nil, fmt.Errorf("shard: %d global row numbers for %d training rows", len(sh.TrainIndex), sh.Train.Rows)
	}
	if sh.TrainRows < sh.Train.Rows || sh.TrainRows > math.MaxInt32 {
		return nil, fmt.Errorf("shard: %d global training rows, want between %d and 2^31-1", sh.TrainRows, sh.Train.Rows)
	}
	local := make([]int32, sh.TrainRows)
	for i := range local {
		local[i] = -1
	}
	for l, g := range sh.TrainIndex {
		if g < 0 || g >= sh.TrainRows {
			return nil, fmt.Errorf("shard: training row %d has global number %d, want [0, %d)", l, g, sh.TrainRows)
		}
		if local[g] >= 0 {
			return nil, fmt.Errorf("shard: global row %d appears twice", g)
		}
		local[g] = int32(l)
	}
	return local, nil
}

// reducer reduces float64 statistics through a float32 Reducer.
type reducer struct{ r Reducer }

// sum64 sums v across replicas in place. Each value travels as a float32
// head and a float32 tail (v - head), so no replica's value is rounded to
// float32 before the sum; each addition of heads still rounds, by at most
// 6e-8 of the total per replica, which is far below what standardisation
// and the loss reports need.
func (d reducer) sum64(ctx context.Context, v []float64) error {
	if d.r == nil {
		return nil
	}
	buf := make([]float32, 2*len(v))
	for i, x := range v {
		hi := float32(x)
		buf[2*i], buf[2*i+1] = hi, float32(x-float64(hi))
	}
	if err := d.r.Sum(ctx, buf); err != nil {
		return err
	}
	for i := range v {
		v[i] = float64(buf[2*i]) + float64(buf[2*i+1])
	}
	return nil
}

// finite reports whether every element of v is a finite number: one pass
// whose sum is NaN or infinite exactly when some element is (or the sum
// overflows, which a gradient of float32 elements added in float64 cannot).
func finite(v []float32) bool {
	var sum float64
	for _, x := range v {
		sum += float64(x) * 0
	}
	return sum == 0
}
