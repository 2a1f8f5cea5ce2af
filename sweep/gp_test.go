package sweep

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"
)

func gpData(n, d int, seed uint64) ([][]float64, []float64) {
	rng := rand.New(rand.NewPCG(seed, 3))
	x := make([][]float64, n)
	y := make([]float64, n)
	for i := range x {
		x[i] = make([]float64, d)
		for k := range x[i] {
			x[i][k] = rng.Float64()
		}
		y[i] = math.Sin(6*x[i][0]) + 0.5*x[i][1]*x[i][1]
	}
	return x, y
}

// TestGPGradient ensures the analytic gradient of the negative log
// posterior matches central finite differences in every hyperparameter.
func TestGPGradient(t *testing.T) {
	x, y := gpData(25, 3, 1)
	theta := []float64{math.Log(0.3), math.Log(0.7), math.Log(1.5), 0.2, math.Log(1e-2)}
	grad := make([]float64, len(theta))
	negLogPosterior(x, y, theta, grad)
	for k := range theta {
		const h = 1e-5
		tp := append([]float64(nil), theta...)
		tm := append([]float64(nil), theta...)
		tp[k] += h
		tm[k] -= h
		fd := (negLogPosterior(x, y, tp, nil) - negLogPosterior(x, y, tm, nil)) / (2 * h)
		if math.Abs(fd-grad[k]) > 1e-4*max(1, math.Abs(fd)) {
			t.Errorf("d/dθ%d: analytic %.6g, finite difference %.6g", k, grad[k], fd)
		}
	}
}

// TestGPFit ensures the fitted process interpolates its (noiseless)
// training data, predicts held-out points of a smooth function well, and
// is uncertain far from the data.
func TestGPFit(t *testing.T) {
	x, y := gpData(40, 2, 2)
	rng := rand.New(rand.NewPCG(1, 1))
	theta := fitHyper(context.Background(), x, y, defaultHyper(2), 2, rng)
	g, ok := newGP(x, y, theta)
	if !ok {
		t.Fatal("kernel matrix not positive definite")
	}
	work := make([]float64, len(x))
	for i := range x {
		if mu, _ := g.predict(x[i], work); math.Abs(mu-y[i]) > 0.02 {
			t.Errorf("at training point %d: mean %.4f, want %.4f", i, mu, y[i])
		}
	}
	tx, ty := gpData(50, 2, 3)
	var sse, sst, mean float64
	for _, v := range ty {
		mean += v / float64(len(ty))
	}
	for i := range tx {
		mu, _ := g.predict(tx[i], work)
		sse += (mu - ty[i]) * (mu - ty[i])
		sst += (ty[i] - mean) * (ty[i] - mean)
	}
	if r2 := 1 - sse/sst; r2 < 0.95 {
		t.Errorf("held-out R² = %.3f, want >= 0.95", r2)
	}
	_, near := g.predict(x[0], work)
	_, far := g.predict([]float64{3, 3}, work)
	if !(far > 10*near) {
		t.Errorf("sd far from data %.3g not well above sd at a training point %.3g", far, near)
	}
}

// TestExpectedImprovement ensures EI matches its closed form at a few
// points and grows with uncertainty.
func TestExpectedImprovement(t *testing.T) {
	if got := expectedImprovement(0, 1, 0); math.Abs(got-1/math.Sqrt(2*math.Pi)) > 1e-12 {
		t.Errorf("EI(0,1,0) = %v, want φ(0)", got)
	}
	if got := expectedImprovement(-5, 1e-9, 0); math.Abs(got-5) > 1e-6 {
		t.Errorf("EI with no uncertainty = %v, want the sure improvement 5", got)
	}
	if expectedImprovement(1, 2, 0) <= expectedImprovement(1, 1, 0) {
		t.Error("EI does not grow with sd above the incumbent")
	}
}
