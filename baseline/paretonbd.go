package baseline

import (
	"context"
	"fmt"
	"math"
)

// ParetoNBD holds the Pareto/NBD parameters: purchase rates λ ~ Gamma(shape
// R, rate Alpha) and dropout rates μ ~ Gamma(shape S, rate Beta), per week.
type ParetoNBD struct {
	R     float64 `json:"r"`
	Alpha float64 `json:"alpha"`
	S     float64 `json:"s"`
	Beta  float64 `json:"beta"`
}

// FitParetoNBD fits Pareto/NBD by maximum likelihood (Fader & Hardie's note,
// eq. 18) with BFGS on central-difference gradients: the likelihood's
// derivatives through the parameters of 2F1 have no convenient closed form.
// See FitBGNBD for errors.
func FitParetoNBD(ctx context.Context, data []RFM, opts ...FitOption) (ParetoNBD, FitInfo, error) {
	s, err := newFitSettings(opts)
	if err != nil {
		return ParetoNBD{}, FitInfo{}, fmt.Errorf("baseline: fit Pareto/NBD: %w", err)
	}
	rows, scale, err := prepareRFM(data)
	if err != nil {
		return ParetoNBD{}, FitInfo{}, fmt.Errorf("baseline: fit Pareto/NBD: %w", err)
	}
	rate := meanRate(rows)
	starts := [][]float64{
		{1, 1 / rate, 1, 10},
		{0.5, 0.5 / rate, 0.5, 1},
	}
	p, info, err := mle(ctx, rows, float64(len(data)), paretoTerm, false, starts, s)
	if err != nil {
		return ParetoNBD{}, info, fmt.Errorf("baseline: fit Pareto/NBD: %w", err)
	}
	p[1] /= scale
	p[3] /= scale
	info.Customers = len(data)
	info.LogLikelihood = logLikelihood(compress(data, 1), p, paretoTerm)
	return ParetoNBD{R: p[0], Alpha: p[1], S: p[2], Beta: p[3]}, info, nil
}

// paretoTerm is the Pareto/NBD log-likelihood of one summary (Fader &
// Hardie's note, eq. 18):
//
//	L = Γ(r+x) α^r β^s / Γ(r) · [ (α+T)^-(r+x) (β+T)^-s + s/(r+s+x) · A0 ].
func paretoTerm(p []float64, _ bool) func(wrfm, []float64) {
	r, alpha, s, beta := p[0], p[1], p[2], p[3]
	l0, _ := math.Lgamma(r)
	base := r*math.Log(alpha) + s*math.Log(beta) - l0
	logS := math.Log(s)
	return func(c wrfm, acc []float64) {
		lr, _ := math.Lgamma(r + c.x)
		logA0 := paretoLogA0(r, alpha, s, beta, c.x, c.tx, c.t)
		alive := -(r+c.x)*math.Log(alpha+c.t) - s*math.Log(beta+c.t)
		acc[0] += c.w * (base + lr + logAddExp(alive, logS-math.Log(r+s+c.x)+logA0))
	}
}

// paretoLogA0 returns log A0 (the note's eqs. 19-20), the integral over the
// unobserved time of death between tx and T:
//
//	α >= β: A0 = F(z(tx)) / (α+tx)^(r+s+x) - F(z(T)) / (α+T)^(r+s+x),
//	        F(z) = 2F1(r+s+x, s+1; r+s+x+1; z), z(u) = (α-β)/(α+u)
//	α <  β: the same with α and β swapped and 2F1(r+s+x, r+x; r+s+x+1; ·).
//
// Picking the larger of α, β keeps z in [0, 1). A0 is 0 when tx = T; the
// result is then -Inf, which log-sum-exp absorbs. NaN if 2F1 fails.
func paretoLogA0(r, alpha, s, beta, x, tx, t float64) float64 {
	rsx := r + s + x
	hi, lo, b := alpha, beta, s+1
	if alpha < beta {
		hi, lo, b = beta, alpha, r+x
	}
	part := func(u float64) float64 {
		lf, sign, err := logHyp2f1(rsx, b, rsx+1, (hi-lo)/(hi+u))
		if err != nil || sign <= 0 {
			return math.NaN()
		}
		return lf - rsx*math.Log(hi+u)
	}
	if tx >= t {
		return math.Inf(-1)
	}
	u, v := part(tx), part(t)
	if !(u > v) { // rounding or NaN: no measurable mass between tx and T
		if math.IsNaN(u) || math.IsNaN(v) {
			return math.NaN()
		}
		return math.Inf(-1)
	}
	return u + math.Log1p(-math.Exp(v-u))
}

// LogLikelihood returns the total Pareto/NBD log-likelihood of data, NaN
// when a summary is invalid.
func (m ParetoNBD) LogLikelihood(data []RFM) float64 {
	return rfmLogLikelihood(data, []float64{m.R, m.Alpha, m.S, m.Beta}, paretoTerm)
}

// logAliveOdds returns log of the odds of being inactive at T (the note's
// eq. 37): s/(r+s+x) · (α+T)^(r+x) (β+T)^s · A0.
func (m ParetoNBD) logAliveOdds(c RFM) float64 {
	r, alpha, s, beta := m.R, m.Alpha, m.S, m.Beta
	logA0 := paretoLogA0(r, alpha, s, beta, c.X, c.Tx, c.T)
	return math.Log(s) - math.Log(r+s+c.X) + (r+c.X)*math.Log(alpha+c.T) + s*math.Log(beta+c.T) + logA0
}

// PAlive returns the probability that a customer with summary c is still
// active at T (the note's eq. 37), NaN for an invalid summary.
func (m ParetoNBD) PAlive(c RFM) float64 {
	if c.Validate() != nil {
		return math.NaN()
	}
	return 1 / (1 + math.Exp(m.logAliveOdds(c)))
}

// ExpectedPurchases returns the expected number of purchases in the next
// horizon weeks of a customer with summary c (the note's eq. 41):
//
//	P(alive) · (r+x)(β+T) / ((α+T)(s-1)) · [1 - ((β+T)/(β+T+t))^(s-1)],
//
// whose bracket over s-1 tends to ln((β+T+t)/(β+T)) at s = 1. NaN for an
// invalid summary or horizon.
func (m ParetoNBD) ExpectedPurchases(c RFM, horizon float64) float64 {
	if c.Validate() != nil || math.IsNaN(horizon) || horizon < 0 || math.IsInf(horizon, 0) {
		return math.NaN()
	}
	if horizon == 0 {
		return 0
	}
	bt := m.Beta + c.T
	logU := math.Log(bt) - math.Log(bt+horizon)
	return m.PAlive(c) * (m.R + c.X) * bt / (m.Alpha + c.T) * powerRatio(m.S-1, logU)
}

// UnconditionalPurchases returns E[X(t)] for a new customer (the note's
// eq. 27): rβ/(α(s-1)) · [1 - (β/(β+t))^(s-1)].
func (m ParetoNBD) UnconditionalPurchases(t float64) float64 {
	return m.ExpectedPurchases(RFM{}, t)
}

// powerRatio returns (1 - e^(e·logU)) / e, continuous at e = 0 (-logU).
func powerRatio(e, logU float64) float64 {
	if math.Abs(e*logU) < 1e-12 {
		return -logU
	}
	return -math.Expm1(e*logU) / e
}
