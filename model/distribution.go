package model

import (
	"math"

	"github.com/cohort-clv/cohort/kernels"
)

// Distribution returns each row's ZILN predictive distribution: the
// probability p of any spend and the location mu and scale sigma of the
// lognormal spend given some. Predict's expected spend is
// p*exp(mu + sigma^2/2). It panics when len(X) != rows*Inputs, like Predict.
func (m *Model) Distribution(be kernels.Backend, X []float32, rows int) (p, mu, sigma []float64) {
	p, mu, sigma = make([]float64, rows), make([]float64, rows), make([]float64, rows)
	hl := make([]float32, min(rows, predictBatch)*kernels.ZILNOutputs)
	m.forward(be, "distribution", X, rows, func(lo, n int, logits kernels.Buffer) {
		be.Download(hl[:n*kernels.ZILNOutputs], logits)
		for i := range n {
			l := hl[i*kernels.ZILNOutputs:]
			p[lo+i] = 1 / (1 + math.Exp(-float64(l[0])))
			mu[lo+i] = float64(l[1])
			// The same floor as kernels.Backend.ZILNLoss.
			sigma[lo+i] = math.Max(softplus(float64(l[2])), math.Sqrt(1e-7))
		}
	})
	return p, mu, sigma
}

// softplus is log(1 + e^x), computed without overflow.
func softplus(x float64) float64 {
	if x > 30 {
		return x
	}
	return math.Log1p(math.Exp(x))
}
