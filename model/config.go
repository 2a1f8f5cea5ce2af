package model

import (
	"fmt"
	"math"

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
	return nil
}

// Layout lays out the Net of this configuration for inputs features.
func (c Config) Layout(inputs int) (Layout, error) {
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
