package model

import (
	"math"

	"gonum.org/v1/gonum/floats"

	"github.com/cohort-clv/cohort/kernels"
)

// Distribution returns each row's ZILN predictive distribution: the
// probability p of any spend and the location mu and scale sigma of the
// lognormal spend given some. Predict's expected spend is
// p*exp(mu + sigma^2/2) for a single network. An ensemble's distribution is
// a mixture of its members'; Distribution returns the one ZILN with the
// mixture's p and the first two moments of its spend given a purchase, so
// its expected spend is the ensemble's. It panics when
// len(X) != rows*Inputs, like Predict.
func (m *Model) Distribution(be kernels.Backend, X []float32, rows int) (p, mu, sigma []float64) {
	p, mu, sigma = make([]float64, rows), make([]float64, rows), make([]float64, rows)
	k := m.Layout.MemberCount()
	batch := min(rows, predictBatch)
	hl := make([]float32, batch*kernels.ZILNOutputs)
	mp, mmu, msd := make([]float64, k*batch), make([]float64, k*batch), make([]float64, k*batch)
	m.forward(be, "distribution", X, rows, func(lo, n int, logits []kernels.Buffer) {
		for j, lg := range logits {
			be.Download(hl[:n*kernels.ZILNOutputs], lg)
			for i := range n {
				l := hl[i*kernels.ZILNOutputs:]
				mp[j*batch+i] = 1 / (1 + math.Exp(-float64(l[0])))
				mmu[j*batch+i] = float64(l[1])
				// The same floor as kernels.Backend.ZILNLoss.
				msd[j*batch+i] = math.Max(softplus(float64(l[2])), math.Sqrt(1e-7))
			}
		}
		for i := range n {
			if k == 1 {
				p[lo+i], mu[lo+i], sigma[lo+i] = mp[i], mmu[i], msd[i]
				continue
			}
			p[lo+i], mu[lo+i], sigma[lo+i] = mixLognormals(k, batch, i, mp, mmu, msd)
		}
	})
	return p, mu, sigma
}

// mixLognormals merges row i of k members' ZILN distributions (member j's
// at j*stride+i) into one: p is the members' mean, and the lognormal has
// the first two moments of the mixture of the members' lognormals, each
// weighted by its share of p (Fenton-Wilkinson), so p*exp(mu + sigma^2/2)
// is the ensemble's expected spend. The moments are summed in log space: a
// wide member must not overflow.
func mixLognormals(k, stride, i int, p, mu, sd []float64) (pm, mum, sdm float64) {
	for j := range k {
		pm += p[j*stride+i]
	}
	if !(pm > 0) {
		return 0, mu[i], sd[i]
	}
	var l1, l2 []float64 // log of each member's weighted first and second moment
	for j := range k {
		w := p[j*stride+i] / pm
		if w <= 0 {
			continue
		}
		m, v := mu[j*stride+i], sd[j*stride+i]*sd[j*stride+i]
		l1 = append(l1, math.Log(w)+m+v/2)
		l2 = append(l2, math.Log(w)+2*m+2*v)
	}
	lm1, lm2 := floats.LogSumExp(l1), floats.LogSumExp(l2)
	v := math.Max(lm2-2*lm1, 1e-7) // the same floor as kernels.Backend.ZILNLoss
	return pm / float64(k), lm1 - v/2, math.Sqrt(v)
}

// softplus is log(1 + e^x), computed without overflow.
func softplus(x float64) float64 {
	if x > 30 {
		return x
	}
	return math.Log1p(math.Exp(x))
}
