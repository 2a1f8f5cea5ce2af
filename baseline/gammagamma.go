package baseline

import (
	"context"
	"fmt"
	"math"

	"gonum.org/v1/gonum/mathext"
)

// GammaGamma holds the Gamma-Gamma spend parameters (Fader, Hardie & Lee 2005,
// "RFM and CLV"): each transaction's value z ~ Gamma(shape P, rate ν) around
// a customer's ν ~ Gamma(shape Q, rate V). V is the paper's γ.
type GammaGamma struct{ P, Q, V float64 }

// spendRow is one customer's repeat count and mean repeat spend, with money
// rescaled internally during a fit.
type spendRow struct{ x, m, w float64 }

// FitGammaGamma fits the Gamma-Gamma model by maximum likelihood on the
// number of repeat purchases x and their mean value mbar, customer by
// customer. Customers with x = 0 are skipped: they have no repeat spend to
// learn from. It fails when x and mbar differ in length, when an x is not a
// whole number >= 0, when an mbar of a customer with x > 0 is not finite and
// > 0, or when no customer has x > 0.
func FitGammaGamma(ctx context.Context, x, mbar []float64, opts ...FitOption) (GammaGamma, FitInfo, error) {
	fail := func(err error) (GammaGamma, FitInfo, error) {
		return GammaGamma{}, FitInfo{}, fmt.Errorf("baseline: fit Gamma-Gamma: %w", err)
	}
	s, err := newFitSettings(opts)
	if err != nil {
		return fail(err)
	}
	rows, err := prepareSpend(x, mbar)
	if err != nil {
		return fail(err)
	}
	// Money is rescaled so that the mean of mbar is 1, which suits the
	// starts below whatever the currency: mean spend ≈ p·v/(q-1) ≈ 1.
	sum := 0.0
	for _, r := range rows {
		sum += r.m
	}
	scale := float64(len(rows)) / sum
	for i := range rows {
		rows[i].m *= scale
	}
	starts := [][]float64{{1, 2, 1}, {5, 3, 2.0 / 5}, {10, 5, 4.0 / 10}}
	p, info, err := mle(ctx, rows, float64(len(rows)), spendTerm, true, starts, s)
	if err != nil {
		return fail(err)
	}
	g := GammaGamma{P: p[0], Q: p[1], V: p[2] / scale}
	info.Customers = len(rows)
	info.LogLikelihood = g.LogLikelihood(x, mbar)
	return g, info, nil
}

// prepareSpend validates the inputs and returns the customers with x > 0.
func prepareSpend(x, mbar []float64) ([]spendRow, error) {
	if len(x) != len(mbar) {
		return nil, fmt.Errorf("%d frequencies but %d mean spends", len(x), len(mbar))
	}
	rows := make([]spendRow, 0, len(x))
	for i := range x {
		if math.IsNaN(x[i]) || math.IsInf(x[i], 0) || x[i] < 0 || x[i] != math.Trunc(x[i]) {
			return nil, fmt.Errorf("customer %d: frequency x = %v, want a whole number >= 0", i, x[i])
		}
		if x[i] == 0 {
			continue
		}
		if math.IsNaN(mbar[i]) || math.IsInf(mbar[i], 0) || mbar[i] <= 0 {
			return nil, fmt.Errorf("customer %d: mean spend %v with x = %v, want finite and > 0", i, mbar[i], x[i])
		}
		rows = append(rows, spendRow{x: x[i], m: mbar[i], w: 1})
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("%w with x > 0", ErrNoData)
	}
	return rows, nil
}

// spendTerm is the log-likelihood of a customer's mean spend m over x
// transactions:
//
//	lnΓ(px+q) - lnΓ(px) - lnΓ(q) + q ln v + (px-1) ln m + px ln x - (px+q) ln(xm+v).
func spendTerm(p []float64, grad bool) func(spendRow, []float64) {
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

// LogLikelihood returns the total log-likelihood of the customers with
// x > 0, in the data's money unit; NaN when the inputs are invalid (see
// FitGammaGamma).
func (g GammaGamma) LogLikelihood(x, mbar []float64) float64 {
	rows, err := prepareSpend(x, mbar)
	if err != nil {
		return math.NaN()
	}
	return logLikelihood(rows, []float64{g.P, g.Q, g.V}, spendTerm)
}

// ExpectedSpend returns the expected value of a transaction of a customer
// with x repeat purchases of mean value mbar (FHL 2005, RFM and CLV, eq. 5):
//
//	p(v + x·mbar) / (px + q - 1),
//
// a weighted average of the population mean p·v/(q-1), which is what a
// customer with x = 0 gets, and the customer's own mean. NaN when px+q <= 1
// (no finite mean) or the inputs are invalid.
func (g GammaGamma) ExpectedSpend(x, mbar float64) float64 {
	if math.IsNaN(x) || x < 0 || math.IsInf(x, 0) {
		return math.NaN()
	}
	if x == 0 {
		mbar = 0
	}
	d := g.P*x + g.Q - 1
	if !(d > 0) || math.IsNaN(mbar) {
		return math.NaN()
	}
	return g.P * (g.V + x*mbar) / d
}

// PopulationMeanSpend returns p·v/(q-1), the mean transaction value over
// all customers, NaN when q <= 1.
func (g GammaGamma) PopulationMeanSpend() float64 {
	return g.ExpectedSpend(0, 0)
}
