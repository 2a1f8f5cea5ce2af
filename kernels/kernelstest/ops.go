package kernelstest

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/cohort-clv/cohort/kernels"
)

// opShapes are rows×cols pairs for the row-wise operations: tiny, odd, one
// wide row, one tall column, and large enough to be split over threads.
var opShapes = [][2]int{{1, 1}, {3, 7}, {1, 1000}, {1000, 1}, {33, 65}, {257, 129}, {1024, 512}, {5000, 3}}

// checkBiasAct ensures BiasAct adds the bias per column and applies the
// activation.
func checkBiasAct(t *testing.T, be kernels.Backend) {
	rng := rand.New(rand.NewPCG(11, 12))
	for _, s := range opShapes {
		for _, act := range []kernels.Activation{kernels.Identity, kernels.ReLU} {
			rows, cols := s[0], s[1]
			x, bias := random(rng, rows*cols), random(rng, cols)
			xb := upload(be, x)
			be.BiasAct(xb, rows, cols, upload(be, bias), act)
			got := download(be, xb)
			for i := range got {
				want := float64(x[i]) + float64(bias[i%cols])
				if act == kernels.ReLU {
					want = math.Max(want, 0)
				}
				if !near(got[i], want, eps32*math.Abs(want)) {
					t.Fatalf("%dx%d act %d: x[%d] = %v, want %v", rows, cols, act, i, got[i], want)
				}
			}
		}
	}
}

// checkActBackward ensures ReLU's backward pass zeroes the gradient exactly
// where the output is not positive, and Identity's leaves it alone.
func checkActBackward(t *testing.T, be kernels.Backend) {
	rng := rand.New(rand.NewPCG(13, 14))
	for _, n := range []int{1, 17, 1000, 100003} {
		out := random(rng, n)
		for i := range out {
			if out[i] < 0 {
				out[i] = 0 // ReLU outputs: zeros and positives
			}
		}
		g := random(rng, n)
		for _, act := range []kernels.Activation{kernels.Identity, kernels.ReLU} {
			gb := upload(be, g)
			be.ActBackward(gb, upload(be, out), act)
			got := download(be, gb)
			for i := range got {
				want := g[i]
				if act == kernels.ReLU && out[i] <= 0 {
					want = 0
				}
				if got[i] != want {
					t.Fatalf("n=%d act %d: grad[%d] = %v, want %v", n, act, i, got[i], want)
				}
			}
		}
	}
}

// checkColSum ensures ColSum adds the column sums to beta times dst.
func checkColSum(t *testing.T, be kernels.Backend) {
	rng := rand.New(rand.NewPCG(15, 16))
	shapes := append(opShapes, [2]int{10000, 7}, [2]int{4100, 40})
	for _, s := range shapes {
		for _, beta := range []float32{0, 1, 0.5} {
			rows, cols := s[0], s[1]
			x, d := random(rng, rows*cols), random(rng, cols)
			db := upload(be, d)
			be.ColSum(db, upload(be, x), rows, cols, beta)
			got := download(be, db)
			for j := range cols {
				want, mag := float64(beta)*float64(d[j]), math.Abs(float64(beta)*float64(d[j]))
				for i := range rows {
					want += float64(x[i*cols+j])
					mag += math.Abs(float64(x[i*cols+j]))
				}
				if tol := 2*eps32*float64(rows+2)*mag + 1e-30; !near(got[j], want, tol) {
					t.Fatalf("%dx%d beta %v: dst[%d] = %v, want %v (tol %.3g)", rows, cols, beta, j, got[j], want, tol)
				}
			}
		}
	}
}

// zilnInputs draws logits and labels that visit every branch: zero and
// positive labels, large |logit|, and scales below the sigma floor.
func zilnInputs(rng *rand.Rand, rows int) (logits, labels []float32) {
	logits = make([]float32, 3*rows)
	labels = make([]float32, rows)
	for i := range rows {
		logits[3*i] = float32(3 * rng.NormFloat64())
		logits[3*i+1] = float32(2 + rng.NormFloat64())
		logits[3*i+2] = float32(rng.NormFloat64())
		switch i % 11 {
		case 3:
			logits[3*i] = float32(40 * (rng.Float64() - 0.5)) // saturated sigmoid
		case 7:
			logits[3*i+2] = -20 // softplus below the floor
		}
		if rng.Float64() < 0.6 {
			labels[i] = float32(math.Exp(2 + 1.5*rng.NormFloat64()))
		}
	}
	return logits, labels
}

// checkZILNLoss ensures the mean ZILN loss and its gradient match the
// reference, and that the reference gradient matches finite differences of
// the reference loss.
func checkZILNLoss(t *testing.T, be kernels.Backend) {
	rng := rand.New(rand.NewPCG(17, 18))
	for _, rows := range []int{1, 2, 37, 1024, 5000} {
		logits, labels := zilnInputs(rng, rows)
		grad := be.Alloc(3 * rows)
		loss := be.ZILNLoss(grad, upload(be, logits), upload(be, labels), rows)
		wantLoss, wantGrad := refZILN(logits, labels)
		if math.Abs(loss-wantLoss) > 1e-5*math.Abs(wantLoss)+1e-6 {
			t.Errorf("rows %d: loss = %v, want %v", rows, loss, wantLoss)
		}
		got := download(be, grad)
		for i := range got {
			if tol := 1e-5*math.Abs(wantGrad[i]) + 1e-7/float64(rows); !near(got[i], wantGrad[i], tol) {
				t.Fatalf("rows %d: grad[%d] = %v, want %v", rows, i, got[i], wantGrad[i])
			}
		}
	}
	// The analytic reference gradient against central differences in
	// float64, away from the kink of the sigma floor.
	logits, labels := zilnInputs(rng, 40)
	_, g := refZILN(logits, labels)
	for i := range logits {
		if i%3 == 2 && refSoftplus(float64(logits[i])) < 2*zilnMinSigma {
			continue
		}
		// Only sample i/3 depends on logit i: difference its loss alone, so
		// the other samples' large terms do not drown the difference.
		r := i / 3
		z := float64(logits[i])
		h := 1e-6 * math.Max(1, math.Abs(z))
		f := func(v float64) float64 {
			l := [3]float64{float64(logits[3*r]), float64(logits[3*r+1]), float64(logits[3*r+2])}
			l[i%3] = v
			return refZILNSample(l[0], l[1], l[2], float64(labels[r])) / float64(len(labels))
		}
		fd := (f(z+h) - f(z-h)) / (2 * h)
		// Cancellation in f(z+h)-f(z-h) costs about eps64*|f|/h.
		if tol := 1e-5*math.Abs(fd) + 1e-7 + 1e-15*math.Abs(f(z))/h; math.Abs(fd-g[i]) > tol {
			t.Errorf("reference grad[%d] = %v, finite difference %v", i, g[i], fd)
		}
	}
}

// checkZILNPredict ensures the predicted probability and expected spend
// p*exp(mu + sigma^2/2) match the reference.
func checkZILNPredict(t *testing.T, be kernels.Backend) {
	rng := rand.New(rand.NewPCG(19, 20))
	for _, rows := range []int{1, 37, 5000} {
		logits, _ := zilnInputs(rng, rows)
		p, mean := be.Alloc(rows), be.Alloc(rows)
		be.ZILNPredict(p, mean, upload(be, logits), rows)
		gp, gm := download(be, p), download(be, mean)
		for i := range rows {
			wp := refSigmoid(float64(logits[3*i]))
			sigma := math.Max(refSoftplus(float64(logits[3*i+2])), zilnMinSigma)
			wm := wp * math.Exp(float64(logits[3*i+1])+sigma*sigma/2)
			if !near(gp[i], wp, 1e-6*wp+1e-30) || !near(gm[i], wm, 1e-5*wm+1e-30) {
				t.Fatalf("rows %d: sample %d = (%v, %v), want (%v, %v)", rows, i, gp[i], gm[i], wp, wm)
			}
		}
	}
}

// checkAdam ensures a sequence of AdamW steps tracks the float64 textbook
// update, weight decay and bias correction included.
func checkAdam(t *testing.T, be kernels.Backend) {
	rng := rand.New(rand.NewPCG(21, 22))
	h := kernels.AdamParams{LR: 1e-2, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 0.1}
	for _, n := range []int{1, 13, 100003} {
		p0 := random(rng, n)
		pb, gb, mb, vb := upload(be, p0), be.Alloc(n), be.Alloc(n), be.Alloc(n)
		p, m, v := f64(p0), make([]float64, n), make([]float64, n)
		for step := 1; step <= 5; step++ {
			g := random(rng, n)
			be.Upload(gb, g)
			be.Adam(pb, gb, mb, vb, step, h)
			refAdam(p, f64(g), m, v, step, float64(h.LR), float64(h.Beta1), float64(h.Beta2), float64(h.Eps), float64(h.WeightDecay))
		}
		gp, gm, gv := download(be, pb), download(be, mb), download(be, vb)
		for i := range n {
			if !near(gp[i], p[i], 1e-5*math.Abs(p[i])+1e-6) || !near(gm[i], m[i], 1e-5*math.Abs(m[i])+1e-7) || !near(gv[i], v[i], 1e-5*v[i]+1e-9) {
				t.Fatalf("n=%d [%d]: (p, m, v) = (%v, %v, %v), want (%v, %v, %v)", n, i, gp[i], gm[i], gv[i], p[i], m[i], v[i])
			}
		}
	}
}

func f64(x []float32) []float64 {
	y := make([]float64, len(x))
	for i, v := range x {
		y[i] = float64(v)
	}
	return y
}

// checkScaleAxpy ensures Scale and Axpy compute a*x and a*x + y.
func checkScaleAxpy(t *testing.T, be kernels.Backend) {
	rng := rand.New(rand.NewPCG(23, 24))
	for _, n := range []int{0, 1, 19, 100003} {
		x, y := random(rng, n), random(rng, n)
		xb, yb := upload(be, x), upload(be, y)
		be.Axpy(-1.5, xb, yb)
		be.Scale(xb, 0.75)
		gx, gy := download(be, xb), download(be, yb)
		for i := range n {
			wy := -1.5*float64(x[i]) + float64(y[i])
			if !near(gx[i], 0.75*float64(x[i]), eps32) || !near(gy[i], wy, 4*eps32) {
				t.Fatalf("n=%d [%d]: (x, y) = (%v, %v), want (%v, %v)", n, i, gx[i], gy[i], 0.75*float64(x[i]), wy)
			}
		}
	}
}

// checkShapePanics ensures every method refuses buffers whose lengths do
// not match the shapes it is given.
func checkShapePanics(t *testing.T, be kernels.Backend) {
	b := func(n int) kernels.Buffer { return be.Alloc(n) }
	mustPanic(t, "Upload of the wrong length", func() { be.Upload(b(3), make([]float32, 4)) })
	mustPanic(t, "Download of the wrong length", func() { be.Download(make([]float32, 4), b(3)) })
	mustPanic(t, "Gemm with a short A", func() { be.Gemm(false, false, 2, 3, 4, 1, b(7), b(12), 0, b(6)) })
	mustPanic(t, "Gemm with a long C", func() { be.Gemm(true, true, 2, 3, 4, 1, b(8), b(12), 0, b(7)) })
	mustPanic(t, "BiasAct with a short bias", func() { be.BiasAct(b(6), 2, 3, b(2), kernels.ReLU) })
	mustPanic(t, "ActBackward of different lengths", func() { be.ActBackward(b(6), b(5), kernels.ReLU) })
	mustPanic(t, "ColSum into a short dst", func() { be.ColSum(b(2), b(6), 2, 3, 0) })
	mustPanic(t, "ZILNLoss with short labels", func() { be.ZILNLoss(b(6), b(6), b(1), 2) })
	mustPanic(t, "ZILNPredict with a short p", func() { be.ZILNPredict(b(1), b(2), b(6), 2) })
	mustPanic(t, "Adam with a short v", func() { be.Adam(b(4), b(4), b(4), b(3), 1, kernels.AdamParams{}) })
	mustPanic(t, "Axpy of different lengths", func() { be.Axpy(1, b(4), b(3)) })
}
