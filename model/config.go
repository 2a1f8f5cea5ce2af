package model

import (
	"fmt"
	"math"
	"math/bits"

	"github.com/cohort-clv/cohort/kernels"
)

// Config holds the architecture and training hyperparameters. Zero fields
// take the defaults of DefaultConfig, except WeightDecay, ClipNorm,
// WarmupSteps and Cosine, whose zero value means "off".
type Config struct {
	// Hidden are the widths of the ReLU layers; nil means the default, an
	// empty non-nil slice a linear ZILN model.
	Hidden      []int   `json:"hidden"`
	LR          float32 `json:"lr"`
	WeightDecay float32 `json:"weight_decay"` // decoupled (AdamW)
	Beta1       float32 `json:"beta1"`
	Beta2       float32 `json:"beta2"`
	Eps         float32 `json:"eps"`
	Batch       int     `json:"batch"`
	MaxEpochs   int     `json:"max_epochs"`
	// Patience is how many epochs without a better validation loss end
	// training; negative disables early stopping.
	Patience int `json:"patience"`
	// ClipNorm caps the gradient's global L2 norm; 0 disables clipping.
	ClipNorm float32 `json:"clip_norm"`
	// WarmupSteps ramps the learning rate linearly from LR/WarmupSteps.
	WarmupSteps int `json:"warmup_steps"`
	// Cosine decays the learning rate to 0 over MaxEpochs (after warmup).
	Cosine bool   `json:"cosine"`
	Seed   uint64 `json:"seed"`
	// Ensemble is how many networks of this shape train side by side in
	// one parameter vector, each from its own initialisation on its own
	// loss, and are averaged in prediction.
	Ensemble int `json:"ensemble,omitempty"`
}

// DefaultConfig is a small MLP that suits a few dozen tabular CLV features.
// The values come from a sweep on CDNOW (calibration to 1997-09-30, 39-week
// holdout; 10 configurations x 3 seeds): test Gini varied by less than 0.01
// across them, and this one kept the total predicted spend closest to the
// actual across seeds.
func DefaultConfig() Config {
	return Config{
		Hidden:      []int{128, 64},
		LR:          1e-3,
		WeightDecay: 1e-4,
		Beta1:       0.9,
		Beta2:       0.999,
		Eps:         1e-8,
		Batch:       512,
		MaxEpochs:   100,
		Patience:    15,
		Seed:        1,
		Ensemble:    1,
	}
}

// WithDefaults fills zero fields from DefaultConfig.
func (c Config) WithDefaults() Config {
	d := DefaultConfig()
	if c.Hidden == nil {
		c.Hidden = d.Hidden
	}
	c.Hidden = append([]int{}, c.Hidden...)
	if c.LR == 0 {
		c.LR = d.LR
	}
	if c.Beta1 == 0 {
		c.Beta1 = d.Beta1
	}
	if c.Beta2 == 0 {
		c.Beta2 = d.Beta2
	}
	if c.Eps == 0 {
		c.Eps = d.Eps
	}
	if c.Batch == 0 {
		c.Batch = d.Batch
	}
	if c.MaxEpochs == 0 {
		c.MaxEpochs = d.MaxEpochs
	}
	if c.Patience == 0 {
		c.Patience = d.Patience
	}
	if c.Ensemble == 0 {
		c.Ensemble = d.Ensemble
	}
	return c
}

// Validate reports the first field outside its domain.
func (c Config) Validate() error {
	finite := func(x float32) bool { return !math.IsNaN(float64(x)) && !math.IsInf(float64(x), 0) }
	switch {
	case !(c.LR > 0) || !finite(c.LR):
		return fmt.Errorf("model: config: lr must be positive, got %v", c.LR)
	case !(c.WeightDecay >= 0) || !finite(c.WeightDecay):
		return fmt.Errorf("model: config: weight_decay must be >= 0, got %v", c.WeightDecay)
	case !(c.Beta1 >= 0 && c.Beta1 < 1):
		return fmt.Errorf("model: config: beta1 must be in [0,1), got %v", c.Beta1)
	case !(c.Beta2 >= 0 && c.Beta2 < 1):
		return fmt.Errorf("model: config: beta2 must be in [0,1), got %v", c.Beta2)
	case !(c.Eps > 0) || !finite(c.Eps):
		return fmt.Errorf("model: config: eps must be positive, got %v", c.Eps)
	case c.Batch < 1:
		return fmt.Errorf("model: config: batch must be >= 1, got %d", c.Batch)
	case c.MaxEpochs < 1:
		return fmt.Errorf("model: config: max_epochs must be >= 1, got %d", c.MaxEpochs)
	case !(c.ClipNorm >= 0) || !finite(c.ClipNorm):
		return fmt.Errorf("model: config: clip_norm must be >= 0, got %v", c.ClipNorm)
	case c.WarmupSteps < 0:
		return fmt.Errorf("model: config: warmup_steps must be >= 0, got %d", c.WarmupSteps)
	case c.Ensemble < 0 || c.Ensemble > MaxEnsemble:
		return fmt.Errorf("model: config: ensemble must be 1..%d networks (0: the default), got %d", MaxEnsemble, c.Ensemble)
	}
	for i, h := range c.Hidden {
		if h < 1 {
			return fmt.Errorf("model: config: hidden[%d] must be >= 1, got %d", i, h)
		}
	}
	// The feature count is not known here; every Net has at least one
	// input, so this refuses the configurations too big for any data.
	// Layout checks again with the real count before anything is allocated.
	return c.checkSize(1, false)
}

// MaxParams bounds the parameters of one Net, every ensemble member
// together: 50 million float32 values, 200 MB a buffer. Training holds
// paramBuffers such buffers (about 1 GB at the limit), each replica.
const MaxParams = 50_000_000

// MaxTrainBytes bounds SizeOf's estimate of the memory one replica needs
// to train: 4 GiB. Past it the batch's activations dominate: batch x the
// layer widths x the ensemble.
const MaxTrainBytes = 4 << 30

// paramBuffers is how many float32 values training keeps of every
// parameter at least: weights, gradients, Adam's two moments and the best
// weights.
const paramBuffers = 5

// Size is what a Config costs on a given number of input features; every
// count saturates at math.MaxInt64 rather than overflow.
type Size struct {
	// Params is the number of parameters, every ensemble member together
	// (Layout.Size).
	Params int64
	// RowWidth is the float32 activations one row of a batch produces, every
	// layer's output (the 3 ZILN outputs too) times the ensemble.
	RowWidth int64
	// TrainBytes estimates the memory training takes: paramBuffers float32
	// buffers of Params, the batch's activations and their gradients
	// (2 x Batch x RowWidth) and the batch's inputs (Batch x inputs).
	TrainBytes int64
}

// SizeOf is the Size of c on inputs features (c's zero Ensemble counts as 1).
func (c Config) SizeOf(inputs int) Size {
	members := int64(max(c.Ensemble, 1))
	in := int64(max(inputs, 0))
	var params, width int64
	for _, w := range append(append([]int(nil), c.Hidden...), kernels.ZILNOutputs) {
		out := int64(max(w, 0))
		params = satAdd(params, satAdd(satMul(in, out), out))
		width = satAdd(width, out)
		in = out
	}
	s := Size{Params: satMul(params, members), RowWidth: satMul(width, members)}
	batch := int64(max(c.Batch, 0))
	s.TrainBytes = satMul(4, satAdd(satAdd(satMul(paramBuffers, s.Params), satMul(satMul(2, batch), s.RowWidth)),
		satMul(batch, int64(max(inputs, 0)))))
	return s
}

// CheckSize refuses c on inputs features when its Net has more than
// MaxParams parameters or training it would take more than MaxTrainBytes;
// the error names the count and the limit.
func (c Config) CheckSize(inputs int) error { return c.checkSize(inputs, true) }

// checkSize is CheckSize; known says whether inputs is the real feature count
// or only the lower bound Validate uses.
func (c Config) checkSize(inputs int, known bool) error {
	s := c.SizeOf(inputs)
	members := max(c.Ensemble, 1)
	shape := fmt.Sprintf("hidden %v", c.Hidden)
	if len(c.Hidden) == 0 {
		shape = "a linear model"
	}
	if members > 1 {
		shape += fmt.Sprintf(" x ensemble %d", members)
	}
	on, atLeast := fmt.Sprintf(" on %d input features", inputs), ""
	if !known {
		on, atLeast = "", "at least "
	}
	switch {
	case s.Params > MaxParams:
		return fmt.Errorf("model: config: %s%s has %s%d parameters (%s a float32 buffer), over the limit of %d (model.MaxParams): "+
			"use fewer or narrower hidden layers or a smaller ensemble", shape, on, atLeast, s.Params, gib(satMul(4, s.Params)), MaxParams)
	case s.TrainBytes > MaxTrainBytes:
		return fmt.Errorf("model: config: %s%s at batch %d needs %sabout %s to train (%d parameters x %d buffers, "+
			"%d activations a row x 2 x batch), over the limit of %s (model.MaxTrainBytes): lower batch, or use fewer or "+
			"narrower hidden layers or a smaller ensemble",
			shape, on, c.Batch, atLeast, gib(s.TrainBytes), s.Params, paramBuffers, s.RowWidth, gib(MaxTrainBytes))
	}
	return nil
}

// gib formats a byte count in GiB.
func gib(b int64) string { return fmt.Sprintf("%.1f GiB", float64(b)/(1<<30)) }

// satMul is a*b for a, b >= 0, or math.MaxInt64 when it overflows.
func satMul(a, b int64) int64 {
	hi, lo := bits.Mul64(uint64(a), uint64(b))
	if hi != 0 || lo > math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(lo)
}

// satAdd is a+b for a, b >= 0, or math.MaxInt64 when it overflows.
func satAdd(a, b int64) int64 {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

// Layout lays out the Net of this configuration for inputs features. It
// refuses a configuration over CheckSize's limits on those inputs, so that a
// trainer fails with an error instead of allocating buffers no machine holds.
func (c Config) Layout(inputs int) (Layout, error) {
	if err := c.CheckSize(inputs); err != nil {
		return Layout{}, err
	}
	return NewEnsembleLayout(inputs, c.Hidden, max(c.Ensemble, 1))
}

// AdamParams are the optimizer hyperparameters at the base learning rate.
func (c Config) AdamParams() kernels.AdamParams {
	return kernels.AdamParams{LR: c.LR, Beta1: c.Beta1, Beta2: c.Beta2, Eps: c.Eps, WeightDecay: c.WeightDecay}
}

// LRAt is the learning rate of the step-th update (1-based) out of total:
// linear warmup, then constant or cosine decay.
func (c Config) LRAt(step, total int) float32 {
	lr := float64(c.LR)
	if c.WarmupSteps > 0 && step < c.WarmupSteps {
		return float32(lr * float64(step) / float64(c.WarmupSteps))
	}
	if c.Cosine && total > c.WarmupSteps {
		progress := float64(step-c.WarmupSteps) / float64(total-c.WarmupSteps)
		lr *= 0.5 * (1 + math.Cos(math.Pi*min(progress, 1)))
	}
	return float32(lr)
}
