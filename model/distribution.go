package model

import (
	"fmt"
	"math"

	"github.com/cohort-clv/cohort/kernels"
)

// Distribution returns each row's ZILN predictive distribution: the
// probability p of any spend and the location mu and scale sigma of the
// lognormal spend given some. Predict's expected spend is
// p*exp(mu + sigma^2/2). It panics when len(X) != rows*Inputs, like Predict.
func (m *Model) Distribution(be kernels.Backend, X []float32, rows int) (p, mu, sigma []float64) {
	cols := m.Layout.Inputs
	if len(X) != rows*cols {
		panic(fmt.Sprintf("model: distribution: %d rows of %d features need %d values, got %d", rows, cols, rows*cols, len(X)))
	}
	net := NewNet(be, m.Layout)
	if err := net.SetParams(m.params); err != nil {
		panic(err) // NewModel and Load guarantee the length
	}
	batch := min(rows, predictBatch)
	hx := make([]float32, batch*cols)
	hl := make([]float32, batch*kernels.ZILNOutputs)
	xb := be.Alloc(batch * cols)
	p, mu, sigma = make([]float64, rows), make([]float64, rows), make([]float64, rows)
	for lo := 0; lo < rows; lo += batch {
		n := min(batch, rows-lo)
		m.Pipeline.Apply(hx[:n*cols], X[lo*cols:(lo+n)*cols], n)
		x := xb.Slice(0, n*cols)
		be.Upload(x, hx[:n*cols])
		be.Download(hl[:n*kernels.ZILNOutputs], net.Forward(x, n).Slice(0, n*kernels.ZILNOutputs))
		for i := range n {
			l := hl[i*kernels.ZILNOutputs:]
			p[lo+i] = 1 / (1 + math.Exp(-float64(l[0])))
			mu[lo+i] = float64(l[1])
			// The same floor as kernels.Backend.ZILNLoss.
			sigma[lo+i] = math.Max(softplus(float64(l[2])), math.Sqrt(1e-7))
		}
	}
	return p, mu, sigma
}

// softplus is log(1 + e^x), computed without overflow.
func softplus(x float64) float64 {
	if x > 30 {
		return x
	}
	return math.Log1p(math.Exp(x))
}
