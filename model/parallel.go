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

// TrainShard trains one replica of a data-parallel run whose replicas
// together hold the training set; r sums across them (nil: this replica is
// the only one). Each step every replica draws the same global minibatch of
// cfg.Batch row numbers from the same seeded permutation, computes the loss
// gradient over the rows of that minibatch it holds, scaled by its share,
// and r sums those into the gradient of the whole minibatch, so any number
// of replicas take the steps one process holding every row would take, up
// to the order of floating-point sums. The standardisation, the output bias
// and the validation loss come from sums reduced the same way.
func TrainShard(ctx context.Context, be kernels.Backend, sh Shard, r Reducer, cfg Config, opts TrainOptions) (*Model, History, error) {
	var hist History
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, hist, fmt.Errorf("model: train: %w", err)
	}
	train, val := sh.Train, sh.Val
	if err := train.check("training", opts.FeatureNames); err != nil {
		return nil, hist, fmt.Errorf("model: train: %w", err)
	}
	if err := val.check("validation", opts.FeatureNames); err != nil {
		return nil, hist, fmt.Errorf("model: train: %w", err)
	}
	if sh.TrainRows == 0 || train.Cols == 0 {
		return nil, hist, fmt.Errorf("model: train: training data has %d rows of %d columns, want at least one of each", sh.TrainRows, train.Cols)
	}
	if val.Rows > 0 && val.Cols != train.Cols {
		return nil, hist, fmt.Errorf("model: train: validation data has %d columns, training data %d", val.Cols, train.Cols)
	}
	local, err := localRows(sh)
	if err != nil {
		return nil, hist, fmt.Errorf("model: train: %w", err)
	}
	red := reducer{r: r}

	// Global statistics: feature moments, label sums and validation rows.
	mom, err := NewMoments(train, opts.Log1p)
	if err != nil {
		return nil, hist, fmt.Errorf("model: train: %w", err)
	}
	ls := labelStatsOf(train.Y)
	stats := append(append([]float64{float64(mom.Rows), ls.n, ls.pos, ls.sum, ls.sumSq, float64(val.Rows)}, mom.Sum...), mom.SumSq...)
	if err := red.sum64(ctx, stats); err != nil {
		return nil, hist, fmt.Errorf("model: train: reduce statistics: %w", err)
	}
	cols := train.Cols
	mom.Rows = int(stats[0])
	ls = labelStats{n: stats[1], pos: stats[2], sum: stats[3], sumSq: stats[4]}
	valRows := int(stats[5])
	copy(mom.Sum, stats[6:6+cols])
	copy(mom.SumSq, stats[6+cols:6+2*cols])
	if mom.Rows != sh.TrainRows {
		return nil, hist, fmt.Errorf("model: train: replicas hold %d training rows together, want TrainRows = %d", mom.Rows, sh.TrainRows)
	}
	pipe, err := mom.Pipeline(opts.FeatureNames)
	if err != nil {
		return nil, hist, fmt.Errorf("model: train: %w", err)
	}
	layout, err := NewLayout(cols, cfg.Hidden)
	if err != nil {
		return nil, hist, fmt.Errorf("model: train: %w", err)
	}
	tx := make([]float32, len(train.X))
	pipe.Apply(tx, train.X, train.Rows)
	vx := make([]float32, len(val.X))
	pipe.Apply(vx, val.X, val.Rows)

	net := NewNet(be, layout)
	net.Init(cfg.Seed, ls.outputBias())
	opt := NewAdam(be, layout.Size, cfg.AdamParams())
	opt.ClipNorm = cfg.ClipNorm

	batch := min(cfg.Batch, sh.TrainRows)
	localBatch := min(batch, max(train.Rows, 1))
	b := batcher{be: be, cols: cols, x: be.Alloc(localBatch * cols), y: be.Alloc(localBatch),
		hx: make([]float32, localBatch*cols), hy: make([]float32, localBatch)}
	var grads []float32 // host copy of the gradient for the reducer
	if r != nil {
		grads = make([]float32, layout.Size)
	}
	stepsPerEpoch := (sh.TrainRows + batch - 1) / batch
	total := stepsPerEpoch * cfg.MaxEpochs
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x5851f42d4c957f2d))
	perm := make([]int, sh.TrainRows)
	for i := range perm {
		perm[i] = i
	}
	idx := make([]int, 0, localBatch)
	var best []float32
	hist.BestValLoss, hist.BestEpoch = math.Inf(1), 0
	sinceBest := 0
	for epoch := 1; epoch <= cfg.MaxEpochs; epoch++ {
		start := time.Now()
		rng.Shuffle(len(perm), func(i, j int) { perm[i], perm[j] = perm[j], perm[i] })
		var sum float64
		for lo := 0; lo < sh.TrainRows; lo += batch {
			if err := ctx.Err(); err != nil {
				return nil, hist, fmt.Errorf("model: train: epoch %d: %w", epoch, err)
			}
			global := perm[lo:min(lo+batch, sh.TrainRows)]
			idx = idx[:0]
			for _, g := range global {
				if l := local[g]; l >= 0 {
					idx = append(idx, int(l))
				}
			}
			loss := 0.0
			if len(idx) > 0 {
				x, y := b.gather(tx, train.Y, idx)
				loss = net.LossAndGrad(x, y, len(idx))
			}
			if r != nil {
				// Each replica's mean over its rows, weighted by its share of
				// the minibatch, sums to the minibatch mean.
				be.Download(grads, net.grads)
				share := float32(len(idx)) / float32(len(global))
				for i := range grads {
					grads[i] *= share
				}
				if err := r.Sum(ctx, grads); err != nil {
					return nil, hist, fmt.Errorf("model: train: epoch %d step %d: allreduce gradient: %w", epoch, opt.StepCount()+1, err)
				}
				be.Upload(net.grads, grads)
			}
			if math.IsNaN(loss) || math.IsInf(loss, 0) {
				return nil, hist, fmt.Errorf("model: train: epoch %d step %d: loss is %v (try a lower lr or clip_norm)", epoch, opt.StepCount()+1, loss)
			}
			opt.Hyper.LR = cfg.LRAt(opt.StepCount()+1, total)
			opt.Step(net)
			sum += loss * float64(len(idx))
		}
		losses := []float64{sum, 0}
		if val.Rows > 0 {
			vl, err := b.loss(ctx, net, vx, val.Y)
			if err != nil {
				return nil, hist, fmt.Errorf("model: train: epoch %d: validation: %w", epoch, err)
			}
			losses[1] = vl * float64(val.Rows)
		}
		if err := red.sum64(ctx, losses); err != nil {
			return nil, hist, fmt.Errorf("model: train: epoch %d: reduce losses: %w", epoch, err)
		}
		st := EpochStats{Epoch: epoch, TrainLoss: losses[0] / float64(sh.TrainRows), ValLoss: math.NaN(), LR: opt.Hyper.LR, Steps: opt.StepCount()}
		if valRows > 0 {
			st.ValLoss = losses[1] / float64(valRows)
			if math.IsNaN(st.ValLoss) || math.IsInf(st.ValLoss, 0) {
				return nil, hist, fmt.Errorf("model: train: epoch %d: validation loss is %v (try a lower lr or clip_norm)", epoch, st.ValLoss)
			}
		}
		if valRows == 0 || st.ValLoss < hist.BestValLoss {
			st.Best, sinceBest = true, 0
			hist.BestEpoch, hist.BestValLoss = epoch, st.ValLoss
			best = net.ParamsHost()
		} else {
			sinceBest++
		}
		st.Wall = time.Since(start)
		hist.Epochs = append(hist.Epochs, st)
		if opts.OnEpoch != nil {
			opts.OnEpoch(st)
		}
		if valRows > 0 && cfg.Patience >= 0 && sinceBest >= cfg.Patience && epoch < cfg.MaxEpochs {
			hist.StoppedEarly = true
			break
		}
	}
	m, err := NewModel(cfg, layout, pipe, best)
	if err != nil {
		return nil, hist, fmt.Errorf("model: train: %w", err)
	}
	return m, hist, nil
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
