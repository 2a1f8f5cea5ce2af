package model

import (
	"math"
	"math/rand/v2"
	"sort"
	"testing"

	"github.com/cohort-clv/cohort/kernels"
	"github.com/cohort-clv/cohort/kernels/cpu"
)

// testBackend returns a two-thread CPU Backend closed when the test ends.
func testBackend(t testing.TB) kernels.Backend {
	return testBackendThreads(t, 2)
}

func testBackendThreads(t testing.TB, threads int) kernels.Backend {
	t.Helper()
	be := cpu.New(cpu.Options{Threads: threads})
	t.Cleanup(func() { be.Close() })
	return be
}

// synthetic draws customers whose purchase probability and lognormal spend
// depend on their features; two of the six features are heavy-tailed
// (lognormal, flagged for log1p) and one is pure noise. It also returns the
// true expected spend of each row.
func synthetic(rows int, seed uint64) (d Data, truth []float64, log1p []bool) {
	const cols = 6
	rng := rand.New(rand.NewPCG(seed, 7))
	d = Data{X: make([]float32, rows*cols), Y: make([]float32, rows), Rows: rows, Cols: cols}
	truth = make([]float64, rows)
	for i := range rows {
		z := [cols]float64{}
		for j := range z {
			z[j] = rng.NormFloat64()
		}
		x := d.X[i*cols : (i+1)*cols]
		x[0] = float32(math.Exp(1.5*z[0] + 2)) // past spend: heavy tail
		x[1] = float32(math.Exp(z[1]))         // purchase count: heavy tail
		x[2] = float32(50 + 20*z[2])           // recency in weeks
		x[3] = float32(z[3])
		x[4] = float32(3 * z[4])
		x[5] = float32(z[5]) // noise
		logit := -0.3 + 2*z[1] - 1.5*z[2] + 0.8*z[3]
		p := 1 / (1 + math.Exp(-logit))
		mu, sigma := 3+0.8*z[0]+0.4*z[4], 0.5
		truth[i] = p * math.Exp(mu+sigma*sigma/2)
		if rng.Float64() < p {
			d.Y[i] = float32(math.Exp(mu + sigma*rng.NormFloat64()))
		}
	}
	return d, truth, []bool{true, true, false, false, false, false}
}

// spearman is the rank correlation of a and b with average ranks for ties.
func spearman(a, b []float64) float64 {
	ra, rb := ranks(a), ranks(b)
	var ma, mb float64
	for i := range ra {
		ma += ra[i]
		mb += rb[i]
	}
	ma /= float64(len(ra))
	mb /= float64(len(rb))
	var sab, saa, sbb float64
	for i := range ra {
		da, db := ra[i]-ma, rb[i]-mb
		sab += da * db
		saa += da * da
		sbb += db * db
	}
	return sab / math.Sqrt(saa*sbb)
}

func ranks(x []float64) []float64 {
	idx := make([]int, len(x))
	for i := range idx {
		idx[i] = i
	}
	sort.Slice(idx, func(i, j int) bool { return x[idx[i]] < x[idx[j]] })
	r := make([]float64, len(x))
	for i := 0; i < len(idx); {
		j := i
		for j+1 < len(idx) && x[idx[j+1]] == x[idx[i]] {
			j++
		}
		for k := i; k <= j; k++ {
			r[idx[k]] = float64(i+j)/2 + 1
		}
		i = j + 1
	}
	return r
}

func f64s(x []float32) []float64 {
	out := make([]float64, len(x))
	for i, v := range x {
		out[i] = float64(v)
	}
	return out
}
