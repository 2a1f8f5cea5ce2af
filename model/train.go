package model

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
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
	// Checkpoint, when set with CheckpointEvery = K > 0, receives the
	// training state after every K-th optimizer step; an error ends the run.
	Checkpoint      func(*TrainState) error
	CheckpointEvery int
	// Resume continues a run from a saved state (see TrainShard). A Done
	// state trains no further: TrainShard returns the finished run's model.
	Resume *TrainState
	// OnDone, when set, receives the final state (Done, Epoch one past the
	// last epoch trained, Offset 0) from TrainShard's goroutine just before
	// TrainShard returns a model, once per call. A caller that keeps it can
	// get the model again by resuming from it, without training.
	OnDone func(*TrainState)
	// Rank and Replicas place this replica in a data-parallel run (Rank in
	// [0, Replicas)); 0 Replicas means unknown, which turns the checksum
	// exchange off. When set, TrainShard checks that Replicas replicas
	// share the Reducer.
	Rank, Replicas int
	// ChecksumEvery = K > 0, with a Reducer and Replicas > 1, makes the
	// replicas compare checksums of their weights after every K-th
	// optimizer step (one allreduce of 4*Replicas values), so replicas that
	// drifted apart fail with ErrWeightsDiverged instead of training on.
	ChecksumEvery int
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
// and an error wrapping ctx.Err(). Train is TrainShard with one replica that
// holds every row.
func Train(ctx context.Context, be kernels.Backend, train, val Data, cfg Config, opts TrainOptions) (*Model, History, error) {
	index := make([]int, train.Rows)
	for i := range index {
		index[i] = i
	}
	return TrainShard(ctx, be, Shard{Train: train, Val: val, TrainIndex: index, TrainRows: train.Rows}, nil, cfg, opts)
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
