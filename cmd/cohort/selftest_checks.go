package main

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/cohort-clv/cohort/kernels"
)

// checkResult is one kernel check of selftest.
type checkResult struct {
	Op        string  `json:"op"`
	Shape     string  `json:"shape"`
	MaxRelErr float64 `json:"max_rel_err"`
	Bound     float64 `json:"bound"`
	Unwritten int     `json:"unwritten"` // device outputs left NaN (poisoned) or NaN
	OK        bool    `json:"ok"`
}

// pair runs one operation on the device under test and on the reference.
type pair struct {
	dev, ref kernels.Backend
	rng      *rand.Rand
}

func (p pair) random(n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(2*p.rng.Float64() - 1)
	}
	return x
}

// both uploads x to both backends.
func (p pair) both(x []float32) (dev, ref kernels.Buffer) {
	dev, ref = p.dev.Alloc(len(x)), p.ref.Alloc(len(x))
	p.dev.Upload(dev, x)
	p.ref.Upload(ref, x)
	return dev, ref
}

// poisoned allocates n values of NaN on the device and zeros on the reference.
func (p pair) poisoned(n int) (dev, ref kernels.Buffer) {
	nan := make([]float32, n)
	for i := range nan {
		nan[i] = float32(math.NaN())
	}
	dev, ref = p.dev.Alloc(n), p.ref.Alloc(n)
	p.dev.Upload(dev, nan)
	return dev, ref
}

func fetch(be kernels.Backend, b kernels.Buffer) []float32 {
	x := make([]float32, b.Len())
	be.Download(x, b)
	return x
}

// compare returns the largest of |got-want|/scale_i, where scale is mag[i]
// when mag is given and max(|want_i|, 1e-6*max|want|) otherwise, and the
// count of NaN outputs.
func compare(got, want, mag []float32) (maxErr float64, nan int) {
	floor := 0.0
	for _, v := range want {
		floor = math.Max(floor, math.Abs(float64(v)))
	}
	floor *= 1e-6
	for i, g := range got {
		if math.IsNaN(float64(g)) {
			if !math.IsNaN(float64(want[i])) {
				nan++
			}
			continue
		}
		scale := math.Max(math.Abs(float64(want[i])), floor)
		if mag != nil {
			scale = float64(mag[i])
		}
		d := math.Abs(float64(g) - float64(want[i]))
		if d == 0 {
			continue
		}
		maxErr = math.Max(maxErr, d/math.Max(scale, 1e-30))
	}
	return maxErr, nan
}

// result folds the comparisons of one check's outputs.
func result(op, shape string, errs ...[2]float64) checkResult {
	r := checkResult{Op: op, Shape: shape, Bound: selftestBound}
	for _, e := range errs {
		r.MaxRelErr = math.Max(r.MaxRelErr, e[0])
		r.Unwritten += int(e[1])
	}
	r.OK = r.Unwritten == 0 && r.MaxRelErr < r.Bound
	return r
}

func errOf(got, want, mag []float32) [2]float64 {
	e, n := compare(got, want, mag)
	return [2]float64{e, float64(n)}
}

// runChecks runs every kernel check; it stops early only when ctx is done.
func runChecks(ctx context.Context, dev, ref kernels.Backend, rng *rand.Rand) ([]checkResult, error) {
	p := pair{dev: dev, ref: ref, rng: rng}
	var checks []func() checkResult
	type g struct {
		m, n, k     int
		alpha, beta float32
		off         int // offset of the operands in a larger buffer: unaligned views
	}
	// The MLP's shapes at batch 256 (forward, weight and input gradients),
	// awkward edges, and unaligned views that take the scalar load path.
	gemms := []g{
		{256, 512, 64, 1, 0, 0}, {256, 512, 512, 1, 0, 0}, {256, 256, 512, 1, 0, 0}, {256, 3, 256, 1, 0, 0},
		{512, 512, 256, 1, 1, 0}, {97, 131, 259, -0.5, 1.5, 0}, {1, 1, 1, 1, 0, 0}, {33, 65, 17, 2, -1, 1},
		{300, 1, 40, 1, 0, 3},
	}
	for _, c := range gemms {
		for tr := range 4 {
			checks = append(checks, func() checkResult { return p.gemm(tr&1 != 0, tr&2 != 0, c.m, c.n, c.k, c.alpha, c.beta, c.off) })
		}
	}
	for _, s := range [][2]int{{4096, 512}, {37, 19}, {1, 1000}} {
		for _, act := range []kernels.Activation{kernels.Identity, kernels.ReLU} {
			checks = append(checks, func() checkResult { return p.biasAct(s[0], s[1], act) })
		}
		for _, beta := range []float32{0, 0.5} {
			checks = append(checks, func() checkResult { return p.colSum(s[0], s[1], beta) })
		}
	}
	for _, n := range []int{1, 1000, 1 << 20} {
		checks = append(checks, func() checkResult { return p.actBackward(n) })
		checks = append(checks, func() checkResult { return p.scaleAxpy(n) })
		checks = append(checks, func() checkResult { return p.adam(n) })
	}
	for _, rows := range []int{1, 37, 4096, 100003} {
		checks = append(checks, func() checkResult { return p.zilnLoss(rows) })
		checks = append(checks, func() checkResult { return p.zilnPredict(rows) })
	}
	out := make([]checkResult, 0, len(checks))
	for _, c := range checks {
		if err := ctx.Err(); err != nil {
			return out, fmt.Errorf("selftest: %w", err)
		}
		out = append(out, c())
	}
	return out, nil
}

func (p pair) gemm(ta, tb bool, m, n, k int, alpha, beta float32, off int) checkResult {
	shape := fmt.Sprintf("%dx%dx%d a=%g b=%g", m, n, k, alpha, beta)
	if off > 0 {
		shape += fmt.Sprintf(" view+%d", off)
	}
	a, b, c := p.random(m*k), p.random(k*n), p.random(m*n)
	// Operands as views at offset off of one buffer, so off = 1 or 3 makes
	// every row start unaligned.
	all := append(append(append(make([]float32, off), a...), b...), make([]float32, off)...)
	dAll, rAll := p.both(all)
	dA, rA := dAll.Slice(off, len(a)), rAll.Slice(off, len(a))
	dB, rB := dAll.Slice(off+len(a), len(b)), rAll.Slice(off+len(a), len(b))
	var dC, rC kernels.Buffer
	if beta == 0 {
		dC, rC = p.poisoned(m * n)
	} else {
		dC, rC = p.both(c)
	}
	p.dev.Gemm(ta, tb, m, n, k, alpha, dA, dB, beta, dC)
	p.ref.Gemm(ta, tb, m, n, k, alpha, rA, rB, beta, rC)
	// The error scale: |alpha| * |op(A)|*|op(B)| + |beta*C|.
	abs := func(x []float32) kernels.Buffer {
		y := make([]float32, len(x))
		for i, v := range x {
			y[i] = float32(math.Abs(float64(v)))
		}
		buf := p.ref.Alloc(len(y))
		p.ref.Upload(buf, y)
		return buf
	}
	mag := abs(c)
	magBeta := float32(math.Abs(float64(beta)))
	p.ref.Gemm(ta, tb, m, n, k, float32(math.Abs(float64(alpha))), abs(a), abs(b), magBeta, mag)
	name := "gemm_" + map[bool]string{false: "n", true: "t"}[ta] + map[bool]string{false: "n", true: "t"}[tb]
	return result(name, shape, errOf(fetch(p.dev, dC), fetch(p.ref, rC), fetch(p.ref, mag)))
}

func (p pair) biasAct(rows, cols int, act kernels.Activation) checkResult {
	dx, rx := p.both(p.random(rows * cols))
	db, rb := p.both(p.random(cols))
	p.dev.BiasAct(dx, rows, cols, db, act)
	p.ref.BiasAct(rx, rows, cols, rb, act)
	name := map[kernels.Activation]string{kernels.Identity: "bias", kernels.ReLU: "bias_relu"}[act]
	return result(name, fmt.Sprintf("%dx%d", rows, cols), errOf(fetch(p.dev, dx), fetch(p.ref, rx), nil))
}

func (p pair) actBackward(n int) checkResult {
	out := p.random(n)
	for i := range out {
		out[i] = max(out[i], 0)
	}
	dg, rg := p.both(p.random(n))
	do, ro := p.both(out)
	p.dev.ActBackward(dg, do, kernels.ReLU)
	p.ref.ActBackward(rg, ro, kernels.ReLU)
	return result("relu_backward", fmt.Sprint(n), errOf(fetch(p.dev, dg), fetch(p.ref, rg), nil))
}

func (p pair) colSum(rows, cols int, beta float32) checkResult {
	x, d := p.random(rows*cols), p.random(cols)
	dx, rx := p.both(x)
	var dd, rd kernels.Buffer
	if beta == 0 {
		dd, rd = p.poisoned(cols)
	} else {
		dd, rd = p.both(d)
	}
	p.dev.ColSum(dd, dx, rows, cols, beta)
	p.ref.ColSum(rd, rx, rows, cols, beta)
	mag := make([]float32, cols)
	for j := range cols {
		s := math.Abs(float64(beta) * float64(d[j]))
		for i := range rows {
			s += math.Abs(float64(x[i*cols+j]))
		}
		mag[j] = float32(s)
	}
	return result("colsum", fmt.Sprintf("%dx%d beta=%g", rows, cols, beta), errOf(fetch(p.dev, dd), fetch(p.ref, rd), mag))
}

func (p pair) scaleAxpy(n int) checkResult {
	x, y := p.random(n), p.random(n)
	dx, rx := p.both(x)
	dy, ry := p.both(y)
	p.dev.Axpy(-1.5, dx, dy)
	p.ref.Axpy(-1.5, rx, ry)
	p.dev.Scale(dx, 0.75)
	p.ref.Scale(rx, 0.75)
	// y - 1.5x cancels where the two are close, and a fused multiply-add
	// rounds once where the reference rounds twice: judge the error
	// against the terms' magnitudes, as for GEMM.
	mag := make([]float32, n)
	for i := range mag {
		mag[i] = float32(math.Abs(float64(y[i])) + 1.5*math.Abs(float64(x[i])))
	}
	return result("scale_axpy", fmt.Sprint(n), errOf(fetch(p.dev, dx), fetch(p.ref, rx), nil), errOf(fetch(p.dev, dy), fetch(p.ref, ry), mag))
}

func (p pair) adam(n int) checkResult {
	h := kernels.AdamParams{LR: 1e-2, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 0.1}
	params := p.random(n)
	dp, rp := p.both(params)
	dm, rm := p.dev.Alloc(n), p.ref.Alloc(n)
	dv, rv := p.dev.Alloc(n), p.ref.Alloc(n)
	// The moment m and the parameters are differences of terms (beta1*m
	// against (1-beta1)*g, decayed p against the step), which cancel, and a
	// fused multiply-add rounds them differently: each output is judged
	// against the magnitudes of its terms, carried through the steps in
	// float64. v sums squares, so it is judged against itself.
	magP, magM, v := make([]float64, n), make([]float64, n), make([]float64, n)
	for i, x := range params {
		magP[i] = math.Abs(float64(x))
	}
	b1, b2 := float64(h.Beta1), float64(h.Beta2)
	for step := 1; step <= 3; step++ {
		g := p.random(n)
		dg, rg := p.both(g)
		p.dev.Adam(dp, dg, dm, dv, step, h)
		p.ref.Adam(rp, rg, rm, rv, step, h)
		bc1 := 1 - math.Pow(b1, float64(step))
		bc2 := 1 - math.Pow(b2, float64(step))
		for i, gi := range g {
			gf := float64(gi)
			magM[i] = b1*magM[i] + (1-b1)*math.Abs(gf)
			v[i] = b2*v[i] + (1-b2)*gf*gf
			den := math.Sqrt(v[i]/bc2) + float64(h.Eps)
			magP[i] = magP[i]*(1-float64(h.LR)*float64(h.WeightDecay)) + float64(h.LR)/bc1*magM[i]/den
		}
	}
	narrow := func(x []float64) []float32 {
		out := make([]float32, len(x))
		for i, v := range x {
			out[i] = float32(v)
		}
		return out
	}
	return result("adamw", fmt.Sprintf("%d x3 steps", n), errOf(fetch(p.dev, dp), fetch(p.ref, rp), narrow(magP)),
		errOf(fetch(p.dev, dm), fetch(p.ref, rm), narrow(magM)), errOf(fetch(p.dev, dv), fetch(p.ref, rv), nil))
}

// zilnInputs draws logits and labels that reach every branch of the loss:
// zero and positive labels, saturated sigmoids, scales below the floor.
func (p pair) zilnInputs(rows int) (logits, labels []float32) {
	logits, labels = make([]float32, 3*rows), make([]float32, rows)
	for i := range rows {
		logits[3*i] = float32(3 * p.rng.NormFloat64())
		logits[3*i+1] = float32(2 + p.rng.NormFloat64())
		logits[3*i+2] = float32(p.rng.NormFloat64())
		switch i % 11 {
		case 3:
			logits[3*i] = float32(40 * (p.rng.Float64() - 0.5))
		case 7:
			logits[3*i+2] = -20
		}
		if p.rng.Float64() < 0.6 {
			labels[i] = float32(math.Exp(2 + 1.5*p.rng.NormFloat64()))
		}
	}
	return logits, labels
}

func (p pair) zilnLoss(rows int) checkResult {
	logits, labels := p.zilnInputs(rows)
	dl, rl := p.both(logits)
	dy, ry := p.both(labels)
	dg, rg := p.poisoned(3 * rows)
	dLoss := p.dev.ZILNLoss(dg, dl, dy, rows)
	rLoss := p.ref.ZILNLoss(rg, rl, ry, rows)
	lossErr := [2]float64{math.Abs(dLoss-rLoss) / math.Max(math.Abs(rLoss), 1e-30), 0}
	if math.IsNaN(dLoss) {
		lossErr = [2]float64{math.Inf(1), 1}
	}
	return result("ziln_loss", fmt.Sprint(rows), lossErr, errOf(fetch(p.dev, dg), fetch(p.ref, rg), nil))
}

func (p pair) zilnPredict(rows int) checkResult {
	logits, _ := p.zilnInputs(rows)
	dl, rl := p.both(logits)
	dp, rp := p.poisoned(rows)
	dm, rm := p.poisoned(rows)
	p.dev.ZILNPredict(dp, dm, dl, rows)
	p.ref.ZILNPredict(rp, rm, rl, rows)
	return result("ziln_predict", fmt.Sprint(rows), errOf(fetch(p.dev, dp), fetch(p.ref, rp), nil), errOf(fetch(p.dev, dm), fetch(p.ref, rm), nil))
}
