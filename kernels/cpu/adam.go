package cpu

import (
	"fmt"
	"math"

	"github.com/cohort-clv/cohort/kernels"
)

// adamConsts are the per-step scalars of an AdamW update, folded so the
// inner loop is p = p*decay - step*m/(sqrt(v)*invSqrtBC2 + eps), which is
// PyTorch's AdamW arithmetic.
type adamConsts struct {
	b1, b2     float32 // moment decay rates
	c1, c2     float32 // 1-b1, 1-b2
	decay      float32 // 1 - lr*weightDecay
	step       float32 // lr / (1 - b1^t)
	invSqrtBC2 float32 // 1 / sqrt(1 - b2^t)
	eps        float32
}

func newAdamConsts(step int, h kernels.AdamParams) adamConsts {
	bc1 := 1 - math.Pow(float64(h.Beta1), float64(step))
	bc2 := 1 - math.Pow(float64(h.Beta2), float64(step))
	return adamConsts{
		b1: h.Beta1, b2: h.Beta2,
		c1: 1 - h.Beta1, c2: 1 - h.Beta2,
		decay:      float32(1 - float64(h.LR)*float64(h.WeightDecay)),
		step:       float32(float64(h.LR) / bc1),
		invSqrtBC2: float32(1 / math.Sqrt(bc2)),
		eps:        h.Eps,
	}
}

// Adam implements kernels.Backend.
func (be *Backend) Adam(params, grads, m, v kernels.Buffer, step int, h kernels.AdamParams) {
	ps, gs, ms, vs := Floats(params), Floats(grads), Floats(m), Floats(v)
	checkLen("Adam", "grads", gs, len(ps))
	checkLen("Adam", "m", ms, len(ps))
	checkLen("Adam", "v", vs, len(ps))
	if step < 1 {
		panic(fmt.Sprintf("cpu: Adam: step %d, want >= 1", step))
	}
	c := newAdamConsts(step, h)
	be.parallelFor(len(ps), 64, 8*len(ps), func(lo, hi int) {
		be.vec.adam(ps[lo:hi], gs[lo:hi], ms[lo:hi], vs[lo:hi], c)
	})
}

func adamGo(p, g, m, v []float32, c adamConsts) {
	g, m, v = g[:len(p)], m[:len(p)], v[:len(p)]
	for i, gi := range g {
		mi := c.b1*m[i] + c.c1*gi
		vi := c.b2*v[i] + c.c2*gi*gi
		m[i], v[i] = mi, vi
		den := float32(math.Sqrt(float64(vi)))*c.invSqrtBC2 + c.eps
		p[i] = p[i]*c.decay - c.step*mi/den
	}
}
