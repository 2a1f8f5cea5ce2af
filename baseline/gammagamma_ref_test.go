package baseline

import (
	"context"
	"math"
	"math/rand/v2"
	"runtime"
	"testing"

	"gonum.org/v1/gonum/mathext"
)

// spendTermRef is the Gamma-Gamma row term as it was written before the
// per-x tables and per-row constants (audit 7, finding 4): every row
// computes its own lnΓ, ψ and logarithms from x, m and w alone. It is the
// reference that spendTerm must reproduce.
func spendTermRef(p []float64, grad bool) func(spendRow, []float64) {
	pp, q, v := p[0], p[1], p[2]
	lq, _ := math.Lgamma(q)
	logV := math.Log(v)
	var psiQ float64
	if grad {
		psiQ = mathext.Digamma(q)
	}
	return func(c spendRow, acc []float64) {
		px := pp * c.x
		lpq, _ := math.Lgamma(px + q)
		lp, _ := math.Lgamma(px)
		logM, logX, logXMV := math.Log(c.m), math.Log(c.x), math.Log(c.x*c.m+v)
		acc[0] += c.w * (lpq - lp - lq + q*logV + (px-1)*logM + px*logX - (px+q)*logXMV)
		if !grad {
			return
		}
		psiPQ := mathext.Digamma(px + q)
		acc[1] += c.w * c.x * (psiPQ - mathext.Digamma(px) + logM + logX - logXMV)
		acc[2] += c.w * (psiPQ - psiQ + logV - logXMV)
		acc[3] += c.w * (q/v - (px+q)/(c.x*c.m+v))
	}
}

// sameFloat reports whether got equals want to the bit where the compiler
// does not fuse multiply-adds (amd64: the sums keep their operands and
// order), and to a relative 1e-12 elsewhere.
func sameFloat(got, want float64) bool {
	if runtime.GOARCH == "amd64" {
		return math.Float64bits(got) == math.Float64bits(want)
	}
	return got == want || math.Abs(got-want) <= 1e-12*math.Abs(want)
}

// randomSpend draws n customers with whole x in [0, maxX), a few far larger
// (past the dense table), mean spends over six orders of magnitude, and
// about a third of them x = 0.
func randomSpend(rng *rand.Rand, n, maxX int) (x, m []float64) {
	x, m = make([]float64, n), make([]float64, n)
	for i := range n {
		switch r := rng.Float64(); {
		case r < 0.3:
			x[i] = 0
		case r < 0.32:
			x[i] = float64(5000 + rng.IntN(3)*100_000) // sparse map
		default:
			x[i] = float64(1 + rng.IntN(maxX))
		}
		m[i] = math.Exp(rng.NormFloat64()*2) * 40
	}
	return x, m
}

// TestSpendTermMatchesReference ensures the tabled Gamma-Gamma term gives
// the log-likelihood and gradient of the straightforward per-row term, to
// the bit on amd64, on random customers and parameters, weights included,
// with the rows spread over several chunks.
func TestSpendTermMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := range 20 {
		n := 1 + rng.IntN(5000)
		x, m := randomSpend(rng, n, 1+rng.IntN(80))
		if trial == 0 {
			x[0], m[0] = 1, 1 // at least one row with x > 0
		}
		data, err := prepareSpend(x, m)
		if err != nil {
			t.Fatal(err)
		}
		for i := range data.rows {
			if rng.IntN(4) == 0 {
				data.rows[i].w = float64(1 + rng.IntN(5))
			}
		}
		// Each row's constants are those of its own x and m.
		for i, r := range data.rows {
			if data.xs[r.k] != r.x || r.logX != math.Log(r.x) || r.logM != math.Log(r.m) || r.xm != r.x*r.m {
				t.Fatalf("trial %d row %d: %+v with xs[k] = %v", trial, i, r, data.xs[r.k])
			}
		}
		for range 5 {
			p := []float64{math.Exp(rng.NormFloat64() * 2), math.Exp(rng.NormFloat64() * 2), math.Exp(rng.NormFloat64() * 3)}
			for _, grad := range []bool{false, true} {
				got := sumTerms(data.rows, p, spendTerm(data.xs), grad)
				want := sumTerms(data.rows, p, spendTermRef, grad)
				for j := range want {
					if !sameFloat(got[j], want[j]) {
						t.Errorf("trial %d (%d rows, %d distinct x), p %v, grad %v: sum %d = %v, reference %v",
							trial, len(data.rows), len(data.xs), p, grad, j, got[j], want[j])
					}
				}
			}
		}
	}
}

// TestFitGammaGammaMatchesReference ensures FitGammaGamma lands on the same
// parameters, to the bit on amd64, as the same fit run on the reference
// term, on CDNOW-like synthetic customers and on random ones.
func TestFitGammaGammaMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	sx, sm := syntheticSpend(20_000, 5)
	rx, rm := randomSpend(rng, 3000, 30)
	for _, tc := range []struct {
		name    string
		x, mbar []float64
	}{{"synthetic", sx, sm}, {"random", rx, rm}} {
		t.Run(tc.name, func(t *testing.T) {
			g, info, err := FitGammaGamma(context.Background(), tc.x, tc.mbar)
			if err != nil {
				t.Fatal(err)
			}
			// The reference: FitGammaGamma's steps, on spendTermRef.
			data, err := prepareSpend(tc.x, tc.mbar)
			if err != nil {
				t.Fatal(err)
			}
			rows := data.rows
			sum := 0.0
			for _, r := range rows {
				sum += r.m
			}
			scale := float64(len(rows)) / sum
			for i := range rows {
				rows[i].m *= scale
			}
			s, _ := newFitSettings(nil)
			starts := [][]float64{{1, 2, 1}, {5, 3, 2.0 / 5}, {10, 5, 4.0 / 10}}
			p, refInfo, err := mle(context.Background(), rows, float64(len(rows)), spendTermRef, true, starts, s)
			if err != nil {
				t.Fatal(err)
			}
			want := GammaGamma{P: p[0], Q: p[1], V: p[2] / scale}
			if !sameFloat(g.P, want.P) || !sameFloat(g.Q, want.Q) || !sameFloat(g.V, want.V) {
				t.Errorf("fit %+v, reference %+v", g, want)
			}
			if info.Evaluations != refInfo.Evaluations || info.Iterations != refInfo.Iterations {
				t.Errorf("fit took %d evaluations, %d iterations; reference %d, %d",
					info.Evaluations, info.Iterations, refInfo.Evaluations, refInfo.Iterations)
			}
			var refLL float64
			{
				d, _ := prepareSpend(tc.x, tc.mbar)
				refLL = logLikelihood(d.rows, []float64{g.P, g.Q, g.V}, spendTermRef)
			}
			if !sameFloat(info.LogLikelihood, refLL) {
				t.Errorf("log-likelihood %v, reference %v", info.LogLikelihood, refLL)
			}
		})
	}
}
