package model

import (
	"fmt"
	"math"

	"github.com/cohort-clv/cohort/kernels"
)

// Adam is the AdamW optimizer (Loshchilov & Hutter 2019) over a Net's flat
// parameters. It owns the first and second moment Buffers and the step count,
// which together with the parameters are the whole training state a
// checkpoint must keep.
type Adam struct {
	// Hyper holds the learning rate, betas, epsilon and decoupled weight
	// decay of the next Step; Train rewrites Hyper.LR for its schedule.
	Hyper kernels.AdamParams
	// ClipNorm, when positive, rescales the gradient so its global L2 norm
	// is at most ClipNorm before the update. It downloads the gradient to
	// the host (cheap on the CPU backend, one transfer per step on a GPU).
	ClipNorm float32

	be      kernels.Backend
	m, v    kernels.Buffer
	step    int
	scratch []float32
}

// NewAdam allocates zeroed moments for a parameter vector of size values.
func NewAdam(be kernels.Backend, size int, h kernels.AdamParams) *Adam {
	return &Adam{Hyper: h, be: be, m: be.Alloc(size), v: be.Alloc(size)}
}

// StepCount is the number of updates applied so far.
func (a *Adam) StepCount() int { return a.step }

// Step applies one update to net's parameters from net's gradients (which a
// distributed worker has already allreduced), and returns the gradient's
// global norm before clipping when ClipNorm is set, else 0. Each member of
// an ensemble is clipped on its own norm, as it would be alone.
func (a *Adam) Step(net *Net) float64 {
	if net.params.Len() != a.m.Len() {
		panic(fmt.Sprintf("model: adam: net has %d parameters, optimizer %d", net.params.Len(), a.m.Len()))
	}
	var norm float64
	if a.ClipNorm > 0 {
		norm = a.clip(net)
	}
	a.step++
	a.be.Adam(net.params, net.grads, a.m, a.v, a.step, a.Hyper)
	return norm
}

// clip scales each member's gradient down to ClipNorm and returns the
// global norm before.
func (a *Adam) clip(net *Net) float64 {
	g := net.grads
	if len(a.scratch) != g.Len() {
		a.scratch = make([]float32, g.Len())
	}
	a.be.Download(a.scratch, g)
	size := net.layout.MemberSize()
	var total float64
	for m := range net.layout.MemberCount() {
		var s float64
		for _, x := range a.scratch[m*size : (m+1)*size] {
			s += float64(x) * float64(x)
		}
		total += s
		if norm := math.Sqrt(s); norm > float64(a.ClipNorm) {
			a.be.Scale(g.Slice(m*size, size), float32(float64(a.ClipNorm)/norm))
		}
	}
	return math.Sqrt(total)
}

// AdamState is the optimizer's state on the host, for checkpoints.
type AdamState struct {
	Step int
	M, V []float32
}

// State downloads the moments and step count.
func (a *Adam) State() AdamState {
	s := AdamState{Step: a.step, M: make([]float32, a.m.Len()), V: make([]float32, a.v.Len())}
	a.be.Download(s.M, a.m)
	a.be.Download(s.V, a.v)
	return s
}

// SetState restores moments and step count saved by State.
func (a *Adam) SetState(s AdamState) error {
	if len(s.M) != a.m.Len() || len(s.V) != a.v.Len() {
		return fmt.Errorf("model: adam: restore: state has %d/%d moments, optimizer needs %d", len(s.M), len(s.V), a.m.Len())
	}
	if s.Step < 0 {
		return fmt.Errorf("model: adam: restore: negative step %d", s.Step)
	}
	a.be.Upload(a.m, s.M)
	a.be.Upload(a.v, s.V)
	a.step = s.Step
	return nil
}
