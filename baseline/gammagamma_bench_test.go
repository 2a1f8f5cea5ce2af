package baseline

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"
)

// syntheticSpend draws n customers from a Gamma-Gamma population with
// frequencies like a retail log: x = 0 for about 60%, then a long tail of
// whole numbers. Fixed seed, so a run is reproducible.
func syntheticSpend(n int, seed uint64) (x, mbar []float64) {
	rng := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
	// gamma draws shape k >= 1 by Marsaglia–Tsang; below 1 by boosting.
	var gamma func(k float64) float64
	gamma = func(k float64) float64 {
		if k < 1 {
			return gamma(k+1) * math.Pow(rng.Float64(), 1/k)
		}
		d := k - 1.0/3
		c := 1 / math.Sqrt(9*d)
		for {
			z := rng.NormFloat64()
			v := 1 + c*z
			if v <= 0 {
				continue
			}
			v = v * v * v
			if u := rng.Float64(); math.Log(u) < z*z/2+d-d*v+d*math.Log(v) {
				return d * v
			}
		}
	}
	const p, q, g = 6.25, 3.74, 15.44
	x = make([]float64, n)
	mbar = make([]float64, n)
	for i := range n {
		if rng.Float64() < 0.6 {
			continue
		}
		x[i] = math.Floor(1 + rng.ExpFloat64()*3)
		nu := gamma(q) / g // the customer's rate
		sum := 0.0
		for range int(x[i]) {
			sum += gamma(p) / nu
		}
		mbar[i] = sum / x[i]
	}
	return x, mbar
}

// BenchmarkFitGammaGammaSynthetic fits Gamma-Gamma on a million synthetic
// customers (about 400k with x > 0), the size of a 1M-customer shop:
// go test -bench GammaGammaSynthetic -benchtime 3x ./baseline/
func BenchmarkFitGammaGammaSynthetic(b *testing.B) {
	x, mbar := syntheticSpend(1_000_000, 7)
	b.ResetTimer()
	for b.Loop() {
		if _, _, err := FitGammaGamma(context.Background(), x, mbar); err != nil {
			b.Fatal(err)
		}
	}
}
