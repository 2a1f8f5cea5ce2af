package model

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/cohort-clv/cohort/kernels"
)

// Data is a row-major feature matrix with one label (holdout spend) per row.
type Data struct {
	X    []float32
	Y    []float32
	Rows int
	Cols int
}

// check reports the first malformed value of d, naming it by row and
// feature; names may be nil.
func (d Data) check(what string, names []string) error {
	if d.Rows < 0 || d.Cols < 0 || len(d.X) != d.Rows*d.Cols {
		return fmt.Errorf("%s data: %d rows of %d columns need %d features, got %d", what, d.Rows, d.Cols, d.Rows*d.Cols, len(d.X))
	}
	if len(d.Y) != d.Rows {
		return fmt.Errorf("%s data: %d rows need %d labels, got %d", what, d.Rows, d.Rows, len(d.Y))
	}
	for k, x := range d.X {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			j := k % d.Cols
			name := fmt.Sprintf("column %d", j)
			if names != nil && j < len(names) {
				name = fmt.Sprintf("column %d (%q)", j, names[j])
			}
			return fmt.Errorf("%s data: row %d %s: feature is %v, want a finite number", what, k/d.Cols, name, x)
		}
	}
	for i, y := range d.Y {
		if !(y >= 0) || math.IsInf(float64(y), 0) {
			return fmt.Errorf("%s data: row %d: label is %v, want a finite spend >= 0", what, i, y)
		}
	}
	return nil
}

// TrainOptions are the caller's hooks and pipeline inputs, separate from
// the hyperparameters in Config.
type TrainOptions struct {
	// FeatureNames and Log1p describe the columns (both optional, else
	// len(Cols)); Log1p marks heavy-tailed features.
	FeatureNames []string
	Log1p        []bool
	// OnEpoch, when set, is called after every epoch from Train's goroutine.
	OnEpoch func(EpochStats)
}

// EpochStats summarises one epoch.
type EpochStats struct {
	Epoch     int           `json:"epoch"` // 1-based
	TrainLoss float64       `json:"train_loss"`
	ValLoss   float64       `json:"val_loss"` // NaN without validation rows
	Best      bool          `json:"best"`     // the weights of this epoch are kept so far
	LR        float32       `json:"lr"`       // learning rate of the epoch's last step
	Steps     int           `json:"steps"`    // optimizer steps so far
	Wall      time.Duration `json:"wall_ns"`  // wall time of this epoch
}

// MarshalJSON writes a missing (NaN) validation loss as null, which
// encoding/json cannot otherwise represent.
func (s EpochStats) MarshalJSON() ([]byte, error) {
	type plain EpochStats
	return json.Marshal(struct {
		plain
		ValLoss *float64 `json:"val_loss"`
	}{plain(s), finiteOrNil(s.ValLoss)})
}

// History is the record of a training run.
type History struct {
	Epochs      []EpochStats `json:"epochs"`
	BestEpoch   int          `json:"best_epoch"`
	BestValLoss float64      `json:"best_val_loss"`
	// StoppedEarly is true when Patience ended training before MaxEpochs.
	StoppedEarly bool `json:"stopped_early"`
}

// MarshalJSON writes a missing (NaN or infinite) best validation loss as
// null.
func (h History) MarshalJSON() ([]byte, error) {
	type plain History
	return json.Marshal(struct {
		plain
		BestValLoss *float64 `json:"best_val_loss"`
	}{plain(h), finiteOrNil(h.BestValLoss)})
}

func finiteOrNil(x float64) *float64 {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return nil
	}
	return &x
}

// Train fits a ZILN MLP on train, selecting the weights of the epoch with the
// lowest validation loss (the last epoch when val has no rows). Minibatches
// are shuffled per epoch by a PCG stream seeded from cfg.Seed, so on a
// deterministic Backend two runs give bit-identical weights. The context is
// checked between batches; on cancellation Train returns the history so far
// and an error wrapping ctx.Err().
func Train(ctx context.Context, be kernels.Backend, train, val Data, cfg Config, opts TrainOptions) (*Model, History, error) {
	var hist History
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, hist, fmt.Errorf("model: train: %w", err)
	}
	if err := train.check("training", opts.FeatureNames); err != nil {
		return nil, hist, fmt.Errorf("model: train: %w", err)
	}
	if train.Rows == 0 || train.Cols == 0 {
		return nil, hist, fmt.Errorf("model: train: training data has %d rows of %d columns, want at least one of each", train.Rows, train.Cols)
	}
	if val.Rows > 0 && val.Cols != train.Cols {
		return nil, hist, fmt.Errorf("model: train: validation data has %d columns, training data %d", val.Cols, train.Cols)
	}
	if err := val.check("validation", opts.FeatureNames); err != nil {
		return nil, hist, fmt.Errorf("model: train: %w", err)
	}
	pipe, err := FitPipeline(train, opts.FeatureNames, opts.Log1p)
	if err != nil {
		return nil, hist, fmt.Errorf("model: train: %w", err)
	}
	layout, err := NewLayout(train.Cols, cfg.Hidden)
	if err != nil {
		return nil, hist, fmt.Errorf("model: train: %w", err)
	}
	tx := make([]float32, len(train.X))
	pipe.Apply(tx, train.X, train.Rows)
	vx := make([]float32, len(val.X))
	pipe.Apply(vx, val.X, val.Rows)

	net := NewNet(be, layout)
	net.Init(cfg.Seed, OutputBiasFor(train.Y))
	opt := NewAdam(be, layout.Size, cfg.AdamParams())
	opt.ClipNorm = cfg.ClipNorm

	cols, batch := train.Cols, min(cfg.Batch, train.Rows)
	b := batcher{be: be, cols: cols, x: be.Alloc(batch * cols), y: be.Alloc(batch),
		hx: make([]float32, batch*cols), hy: make([]float32, batch)}
	stepsPerEpoch := (train.Rows + batch - 1) / batch
	total := stepsPerEpoch * cfg.MaxEpochs
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x5851f42d4c957f2d))
	perm := make([]int, train.Rows)
	for i := range perm {
		perm[i] = i
	}
	var best []float32
	hist.BestValLoss, hist.BestEpoch = math.Inf(1), 0
	sinceBest := 0
	for epoch := 1; epoch <= cfg.MaxEpochs; epoch++ {
		start := time.Now()
		rng.Shuffle(len(perm), func(i, j int) { perm[i], perm[j] = perm[j], perm[i] })
		var sum float64
		for lo := 0; lo < train.Rows; lo += batch {
			if err := ctx.Err(); err != nil {
				return nil, hist, fmt.Errorf("model: train: epoch %d: %w", epoch, err)
			}
			idx := perm[lo:min(lo+batch, train.Rows)]
			x, y := b.gather(tx, train.Y, idx)
			loss := net.LossAndGrad(x, y, len(idx))
			if math.IsNaN(loss) || math.IsInf(loss, 0) {
				return nil, hist, fmt.Errorf("model: train: epoch %d step %d: loss is %v (try a lower lr or clip_norm)", epoch, opt.StepCount()+1, loss)
			}
			opt.Hyper.LR = cfg.LRAt(opt.StepCount()+1, total)
			opt.Step(net)
			sum += loss * float64(len(idx))
		}
		st := EpochStats{Epoch: epoch, TrainLoss: sum / float64(train.Rows), ValLoss: math.NaN(), LR: opt.Hyper.LR, Steps: opt.StepCount()}
		if val.Rows > 0 {
			if st.ValLoss, err = b.loss(ctx, net, vx, val.Y); err != nil {
				return nil, hist, fmt.Errorf("model: train: epoch %d: validation: %w", epoch, err)
			}
			if math.IsNaN(st.ValLoss) || math.IsInf(st.ValLoss, 0) {
				return nil, hist, fmt.Errorf("model: train: epoch %d: validation loss is %v (try a lower lr or clip_norm)", epoch, st.ValLoss)
			}
		}
		if val.Rows == 0 || st.ValLoss < hist.BestValLoss {
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
		if val.Rows > 0 && cfg.Patience >= 0 && sinceBest >= cfg.Patience && epoch < cfg.MaxEpochs {
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

// batcher gathers rows on the host and uploads them into reusable Buffers.
type batcher struct {
	be     kernels.Backend
	cols   int
	x, y   kernels.Buffer
	hx, hy []float32
}

func (b *batcher) gather(x, y []float32, idx []int) (kernels.Buffer, kernels.Buffer) {
	n, c := len(idx), b.cols
	for k, i := range idx {
		copy(b.hx[k*c:(k+1)*c], x[i*c:(i+1)*c])
		b.hy[k] = y[i]
	}
	xb, yb := b.x.Slice(0, n*c), b.y.Slice(0, n)
	b.be.Upload(xb, b.hx[:n*c])
	b.be.Upload(yb, b.hy[:n])
	return xb, yb
}

// loss is the mean ZILN loss of already-transformed rows, in batches.
func (b *batcher) loss(ctx context.Context, net *Net, x, y []float32) (float64, error) {
	batch := len(b.hy)
	var sum float64
	for lo := 0; lo < len(y); lo += batch {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		n := min(batch, len(y)-lo)
		xb, yb := b.x.Slice(0, n*b.cols), b.y.Slice(0, n)
		b.be.Upload(xb, x[lo*b.cols:(lo+n)*b.cols])
		b.be.Upload(yb, y[lo:lo+n])
		sum += net.Loss(xb, yb, n) * float64(n)
	}
	return sum / float64(len(y)), nil
}
