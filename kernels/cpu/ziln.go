package cpu

import (
	"math"

	"github.com/cohort-clv/cohort/kernels"
)

// zilnChunk is the number of samples whose losses are summed together
// before chunk sums are added in order; a constant, so the mean loss does
// not depend on the thread count.
const zilnChunk = 1024

// zilnMinSigma is the floor of the lognormal scale, sqrt of Keras' epsilon
// (1e-7), as in google/lifetime_value.
const zilnMinSigma = 3.1622776601683793319988935444327e-4

// halfLog2Pi is log(2*pi)/2, the constant of the normal log-density.
const halfLog2Pi = 0.91893853320467274178

// ZILNLoss implements kernels.Backend.
func (be *Backend) ZILNLoss(grad, logits, labels kernels.Buffer, rows int) float64 {
	checkDims("ZILNLoss", rows)
	gs, ls, ys := Floats(grad), Floats(logits), Floats(labels)
	checkLen("ZILNLoss", "logits", ls, rows*kernels.ZILNOutputs)
	checkLen("ZILNLoss", "grad", gs, rows*kernels.ZILNOutputs)
	checkLen("ZILNLoss", "labels", ys, rows)
	if rows == 0 {
		return 0
	}
	chunks := (rows + zilnChunk - 1) / zilnChunk
	if cap(be.partial) < chunks {
		be.partial = make([]float64, chunks)
	}
	partial := be.partial[:chunks]
	inv := 1 / float64(rows)
	threads := min(be.pool.size(), chunks)
	per := (chunks + threads - 1) / threads
	be.pool.run((chunks+per-1)/per, func(t int) {
		for ch := t * per; ch < min((t+1)*per, chunks); ch++ {
			r0, r1 := ch*zilnChunk, min((ch+1)*zilnChunk, rows)
			partial[ch] = zilnRange(gs[r0*3:r1*3], ls[r0*3:r1*3], ys[r0:r1], inv)
		}
	})
	total := 0.0
	for _, s := range partial {
		total += s
	}
	return total * inv
}

// zilnRange writes the gradient of inv*loss for each sample and returns the
// summed loss of the samples.
func zilnRange(grad, logits, labels []float32, inv float64) float64 {
	sum := 0.0
	for i, y := range labels {
		l := logits[3*i : 3*i+3 : 3*i+3]
		g := grad[3*i : 3*i+3 : 3*i+3]
		z := float64(l[0])
		pos := 0.0
		if y > 0 {
			pos = 1
		}
		// Binary cross-entropy with logits, stable for large |z|.
		sum += max(z, 0) - z*pos + math.Log1p(math.Exp(-math.Abs(z)))
		g[0] = float32((sigmoid(z) - pos) * inv)
		if y <= 0 {
			g[1], g[2] = 0, 0
			continue
		}
		mu, raw := float64(l[1]), float64(l[2])
		sigma, dSigma := softplus(raw), sigmoid(raw)
		if sigma < zilnMinSigma {
			sigma, dSigma = zilnMinSigma, 0
		}
		ly := math.Log(float64(y))
		d := ly - mu
		s2 := sigma * sigma
		sum += ly + math.Log(sigma) + halfLog2Pi + d*d/(2*s2)
		g[1] = float32(-d / s2 * inv)
		g[2] = float32((1/sigma - d*d/(s2*sigma)) * dSigma * inv)
	}
	return sum
}

// ZILNPredict implements kernels.Backend.
func (be *Backend) ZILNPredict(p, mean, logits kernels.Buffer, rows int) {
	checkDims("ZILNPredict", rows)
	ps, ms, ls := Floats(p), Floats(mean), Floats(logits)
	checkLen("ZILNPredict", "logits", ls, rows*kernels.ZILNOutputs)
	checkLen("ZILNPredict", "p", ps, rows)
	checkLen("ZILNPredict", "mean", ms, rows)
	be.parallelFor(rows, 16, 32*rows, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			l := ls[3*i : 3*i+3 : 3*i+3]
			prob := sigmoid(float64(l[0]))
			sigma := max(softplus(float64(l[2])), zilnMinSigma)
			ps[i] = float32(prob)
			ms[i] = float32(prob * math.Exp(float64(l[1])+sigma*sigma/2))
		}
	})
}

// sigmoid is 1/(1+exp(-x)) without overflow for large |x|.
func sigmoid(x float64) float64 {
	if x >= 0 {
		return 1 / (1 + math.Exp(-x))
	}
	e := math.Exp(x)
	return e / (1 + e)
}

// softplus is log(1+exp(x)) without overflow for large x.
func softplus(x float64) float64 {
	return max(x, 0) + math.Log1p(math.Exp(-math.Abs(x)))
}
