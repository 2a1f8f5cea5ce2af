package sweep

import (
	"context"
	"math"
	"math/rand/v2"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/lapack/lapack64"
	"gonum.org/v1/gonum/optimize"
)

// Hyperparameters live in log space, θ = (log ℓ_1..ℓ_d, log σ_f², log(σ_n² −
// noiseFloor)), so the likelihood can be maximised without bounds; the
// floor keeps the Cholesky factorisation stable on noiseless objectives.
const (
	noiseFloor = 1e-6
	sqrt5      = 2.23606797749979
)

// Weak log-normal priors on the hyperparameters (maximum a posteriori
// rather than pure maximum likelihood): with 10 points the likelihood alone
// happily picks absurd lengthscales. Means and sds of the logs.
const (
	priorLengthMean = -0.916290731874155 // log 0.4, inputs in [0,1]
	priorLengthSD   = 1.0
	priorSignalMean = 0.0 // outputs are standardised
	priorSignalSD   = 1.0
	priorNoiseMean  = -6.907755278982137 // log 1e-3, of σ_n² − floor
	priorNoiseSD    = 2.0
)

// gp is a Gaussian process with a Matérn 5/2 ARD kernel, fitted to inputs
// in the unit hypercube and standardised outputs.
type gp struct {
	x       [][]float64
	lengths []float64
	signal  float64 // σ_f²
	alpha   []float64
	l       blas64.Triangular // lower Cholesky factor of K
}

// matern52 returns k(r)/σ_f² and, for gradients, (5/3)(1+√5 r)e^{−√5 r},
// where r is the scaled distance.
func matern52(r2 float64) (k, g float64) {
	r := math.Sqrt(r2)
	e := math.Exp(-sqrt5 * r)
	return (1 + sqrt5*r + 5*r2/3) * e, 5.0 / 3 * (1 + sqrt5*r) * e
}

func scaledDist2(a, b, lengths []float64) float64 {
	var s float64
	for k := range a {
		d := (a[k] - b[k]) / lengths[k]
		s += d * d
	}
	return s
}

func unpack(theta []float64, d int) (lengths []float64, signal, noise float64) {
	lengths = make([]float64, d)
	for k := range d {
		lengths[k] = math.Exp(theta[k])
	}
	return lengths, math.Exp(theta[d]), noiseFloor + math.Exp(theta[d+1])
}

// kernel fills the lower triangle of K (row-major, n x n) under the given
// hyperparameters, with the noise on the diagonal; r2 and e, when not nil,
// receive each pair's scaled squared distance and e^{−√5 r} for gradients.
func kernel(x [][]float64, lengths []float64, signal, noise float64, K, r2, e []float64) {
	n := len(x)
	for i := range n {
		for j := range i {
			d := scaledDist2(x[i], x[j], lengths)
			r := math.Sqrt(d)
			ex := math.Exp(-sqrt5 * r)
			K[i*n+j] = signal * (1 + sqrt5*r + 5*d/3) * ex
			if r2 != nil {
				r2[i*n+j], e[i*n+j] = d, ex
			}
		}
		K[i*n+i] = signal + noise
	}
}

// factor Cholesky-factorises the kernel matrix in place (lower triangle)
// and solves for alpha = K⁻¹y; false when K is not positive definite.
func factor(K []float64, n int, y []float64) (blas64.Triangular, []float64, bool) {
	L, ok := lapack64.Potrf(blas64.Symmetric{Uplo: blas.Lower, N: n, Stride: n, Data: K})
	if !ok {
		return L, nil, false
	}
	alpha := append([]float64(nil), y...)
	lapack64.Potrs(L, blas64.General{Rows: n, Cols: 1, Stride: 1, Data: alpha})
	return L, alpha, true
}

// newGP factorises the kernel matrix of x under theta; false when it is not
// positive definite.
func newGP(x [][]float64, y, theta []float64) (*gp, bool) {
	n := len(x)
	lengths, signal, noise := unpack(theta, len(x[0]))
	K := make([]float64, n*n)
	kernel(x, lengths, signal, noise, K, nil, nil)
	L, alpha, ok := factor(K, n, y)
	if !ok {
		return nil, false
	}
	return &gp{x: x, lengths: lengths, signal: signal, alpha: alpha, l: L}, true
}

// predict returns the posterior mean and standard deviation of the latent
// function at u; work must have len(x) entries.
func (g *gp) predict(u, work []float64) (mu, sd float64) {
	for i, xi := range g.x {
		k, _ := matern52(scaledDist2(u, xi, g.lengths))
		work[i] = g.signal * k
		mu += work[i] * g.alpha[i]
	}
	blas64.Trsv(blas.NoTrans, g.l, blas64.Vector{N: len(work), Inc: 1, Data: work})
	v := g.signal
	for _, w := range work {
		v -= w * w
	}
	return mu, math.Sqrt(max(v, 1e-12))
}

// negLogPosterior returns −(log marginal likelihood + log prior) of theta
// and its gradient (when grad != nil).
func negLogPosterior(x [][]float64, y, theta, grad []float64) float64 {
	n, d := len(x), len(x[0])
	lengths, signal, noise := unpack(theta, d)
	K := make([]float64, n*n)
	var r2, e []float64
	if grad != nil {
		r2, e = make([]float64, n*n), make([]float64, n*n)
	}
	kernel(x, lengths, signal, noise, K, r2, e)
	L, a, ok := factor(K, n, y)
	if !ok {
		return math.Inf(1)
	}
	var fit, logDet float64
	for i := range n {
		fit += y[i] * a[i]
		logDet += 2 * math.Log(L.Data[i*n+i])
	}
	f := 0.5*fit + 0.5*logDet + 0.5*float64(n)*math.Log(2*math.Pi)
	prior := func(t, mean, sd float64) (float64, float64) {
		z := (t - mean) / sd
		return 0.5 * z * z, z / sd
	}
	for k := range d {
		v, _ := prior(theta[k], priorLengthMean, priorLengthSD)
		f += v
	}
	vs, _ := prior(theta[d], priorSignalMean, priorSignalSD)
	vn, _ := prior(theta[d+1], priorNoiseMean, priorNoiseSD)
	f += vs + vn
	if grad == nil {
		return f
	}
	// d(−lml)/dθ = −½ tr((ααᵀ − K⁻¹) ∂K/∂θ); K's factor becomes K⁻¹.
	inv, ok := lapack64.Potri(L)
	if !ok {
		return math.Inf(1)
	}
	for k := range grad {
		grad[k] = 0
	}
	for i := range n {
		for j := range i {
			w := 2 * (a[i]*a[j] - inv.Data[i*n+j]) // the pair and its twin (j, i)
			r := math.Sqrt(r2[i*n+j])
			k := (1 + sqrt5*r + 5*r2[i*n+j]/3) * e[i*n+j]
			gk := 5.0 / 3 * (1 + sqrt5*r) * e[i*n+j]
			grad[d] -= 0.5 * w * signal * k
			for c := range d {
				dd := (x[i][c] - x[j][c]) / lengths[c]
				grad[c] -= 0.5 * w * signal * gk * dd * dd
			}
		}
		w := a[i]*a[i] - inv.Data[i*n+i]
		grad[d] -= 0.5 * w * signal
		grad[d+1] -= 0.5 * w * (noise - noiseFloor)
	}
	for k := range d {
		_, g := prior(theta[k], priorLengthMean, priorLengthSD)
		grad[k] += g
	}
	_, gs := prior(theta[d], priorSignalMean, priorSignalSD)
	_, gn := prior(theta[d+1], priorNoiseMean, priorNoiseSD)
	grad[d] += gs
	grad[d+1] += gn
	return f
}

// defaultHyper is the starting point of the first fit.
func defaultHyper(d int) []float64 {
	theta := make([]float64, d+2)
	for k := range d {
		theta[k] = priorLengthMean
	}
	theta[d], theta[d+1] = priorSignalMean, priorNoiseMean
	return theta
}

// fitHyper maximises the log posterior of the hyperparameters with L-BFGS
// from warm (the last fit) and from restarts random starts, returning the
// best point seen. It never fails: at worst it returns warm.
func fitHyper(ctx context.Context, x [][]float64, y, warm []float64, restarts int, rng *rand.Rand) []float64 {
	d := len(x[0])
	best := append([]float64(nil), warm...)
	bestF := negLogPosterior(x, y, best, nil)
	// Cache the last evaluation: gonum asks for value and gradient at the
	// same point separately.
	var lastX, lastG []float64
	var lastF float64
	eval := func(theta []float64) (float64, []float64) {
		if lastX != nil && equalFloats(lastX, theta) {
			return lastF, lastG
		}
		g := make([]float64, len(theta))
		f := negLogPosterior(x, y, theta, g)
		lastX, lastF, lastG = append(lastX[:0], theta...), f, g
		if f < bestF {
			bestF, best = f, append([]float64(nil), theta...)
		}
		return f, g
	}
	prob := optimize.Problem{
		Func: func(theta []float64) float64 { f, _ := eval(theta); return f },
		Grad: func(grad, theta []float64) { _, g := eval(theta); copy(grad, g) },
	}
	starts := [][]float64{append([]float64(nil), warm...)}
	for range restarts {
		s := make([]float64, d+2)
		for k := range d {
			s[k] = math.Log(0.05) + rng.Float64()*(math.Log(2)-math.Log(0.05))
		}
		s[d] = rng.NormFloat64() * 0.5
		s[d+1] = math.Log(1e-4) + rng.Float64()*(math.Log(0.1)-math.Log(1e-4))
		starts = append(starts, s)
	}
	for _, s := range starts {
		if ctx.Err() != nil {
			break
		}
		settings := &optimize.Settings{
			MajorIterations: 60, FuncEvaluations: 100, GradientThreshold: 1e-4,
			// Hyperparameters need not be exact: stop once the posterior
			// gains less than 1e-4 nats over three iterations.
			Converger: &optimize.FunctionConverge{Absolute: 1e-4, Iterations: 3},
		}
		// Errors (a failed line search near a non-PD region) are fine: the
		// best point seen so far is kept by eval.
		_, _ = optimize.Minimize(prob, s, settings, &optimize.LBFGS{})
	}
	return best
}

func equalFloats(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// expectedImprovement below best of a Gaussian with mean mu and sd sd.
func expectedImprovement(mu, sd, best float64) float64 {
	z := (best - mu) / sd
	return sd * (z*normCDF(z) + normPDF(z))
}

func normPDF(z float64) float64 { return math.Exp(-0.5*z*z) / math.Sqrt(2*math.Pi) }
func normCDF(z float64) float64 { return 0.5 * math.Erfc(-z/math.Sqrt2) }
