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
//
// P = ConstantShape with Q = P+1 is the model of constant spend that
// FitGammaGamma returns when every repeat purchase has the same value, V
// (see Constant): the shapes stand for the infinite ones of a point mass.
type GammaGamma struct {
	P float64 `json:"p"`
	Q float64 `json:"q"`
	V float64 `json:"v"`
}

// ConstantShape is P (and Q-1) of a constant-spend GammaGamma, 2^40: large
// enough to stand for infinity (a transaction's coefficient of variation
// 1/√P is below 1e-6), a power of two so that p·v/(q-1) = V exactly, and
// finite so that the parameters encode as JSON numbers.
const ConstantShape = 1 << 40

// constantSpendTol is how far apart, relative to their largest, the mean
// repeat spends may lie and still count as one constant: rounding in sums of
// one price (3 × 9.99 / 3), not real variation.
const constantSpendTol = 1e-9

// Constant reports whether g is the constant-spend model, and its value V:
// every transaction of every customer is worth exactly V.
func (g GammaGamma) Constant() (float64, bool) {
	return g.V, g.P == ConstantShape && g.Q == ConstantShape+1
}

// spendRow is one customer's repeat count and mean repeat spend, with money
// rescaled internally during a fit, and what the likelihood needs of them
// that does not depend on the parameters: log m, log x, x·m, and k, the
// index of x in spendRows.xs. setM keeps these in step with m.
type spendRow struct {
	x, m, w        float64
	logM, logX, xm float64
	k              int32
}

// setM sets the mean spend and the constants derived from it.
func (r *spendRow) setM(m float64) {
	r.m, r.logM, r.xm = m, math.Log(m), r.x*m
}

// spendRows are the customers of a Gamma-Gamma fit and the distinct values
// of their repeat counts x (row.k indexes xs), which are whole numbers with
// a few dozen values in a shop of millions: the likelihood evaluates its
// lnΓ and ψ terms once per distinct x, not once per customer.
type spendRows struct {
	rows []spendRow
	xs   []float64
}

// FitGammaGamma fits the Gamma-Gamma model by maximum likelihood on the
// number of repeat purchases x and their mean value mbar, customer by
// customer. Customers with x = 0 are skipped: they have no repeat spend to
// learn from. It fails when x and mbar differ in length, when an x is not a
// whole number >= 0, when an mbar of a customer with x > 0 is not finite and
// > 0, or when no customer has x > 0.
//
// When every mbar of a customer with x > 0 is the same value c (to a relative
// 1e-9), as in a count-only log where every purchase is worth 1, the
// likelihood grows without bound as P and Q go to infinity: there is no
// maximum to find, and an optimizer stops wherever its steps give out (in
// trials P landed anywhere from 1e8 to 1e14, no fit counted as converged,
// and the expected spend missed c by up to 7e-6, differently for each x).
// FitGammaGamma then fits nothing and returns the constant
// model {ConstantShape, ConstantShape+1, c} (see GammaGamma.Constant), whose
// expected spend is c for every customer, with FitInfo.LogLikelihood +Inf
// (a point mass) and Converged true.
func FitGammaGamma(ctx context.Context, x, mbar []float64, opts ...FitOption) (GammaGamma, FitInfo, error) {
	fail := func(err error) (GammaGamma, FitInfo, error) {
		return GammaGamma{}, FitInfo{}, fmt.Errorf("baseline: fit Gamma-Gamma: %w", err)
	}
	s, err := newFitSettings(opts)
	if err != nil {
		return fail(err)
	}
	data, err := prepareSpend(x, mbar)
	if err != nil {
		return fail(err)
	}
	rows := data.rows
	if c, ok := constantSpend(rows); ok {
		return GammaGamma{P: ConstantShape, Q: ConstantShape + 1, V: c}, FitInfo{
			LogLikelihood: math.Inf(1), Customers: len(rows), Converged: true,
			Status: fmt.Sprintf("every mean spend is %g: the constant model, no fit", c),
		}, nil
	}
	// Money is rescaled so that the mean of mbar is 1, which suits the
	// starts below whatever the currency: mean spend ≈ p·v/(q-1) ≈ 1.
	sum := 0.0
	for _, r := range rows {
		sum += r.m
	}
	scale := float64(len(rows)) / sum
	for i := range rows {
		rows[i].setM(rows[i].m * scale)
	}
	starts := [][]float64{{1, 2, 1}, {5, 3, 2.0 / 5}, {10, 5, 4.0 / 10}}
	p, info, err := mle(ctx, rows, float64(len(rows)), spendTerm(data.xs), true, starts, s)
	if err != nil {
		return fail(err)
	}
	g := GammaGamma{P: p[0], Q: p[1], V: p[2] / scale}
	info.Customers = len(rows)
	info.LogLikelihood = g.LogLikelihood(x, mbar)
	return g, info, nil
}

// prepareSpend validates the inputs and returns the customers with x > 0,
// their constants computed, and the distinct values of x.
func prepareSpend(x, mbar []float64) (spendRows, error) {
	fail := func(format string, a ...any) (spendRows, error) {
		return spendRows{}, fmt.Errorf(format, a...)
	}
	if len(x) != len(mbar) {
		return fail("%d frequencies but %d mean spends", len(x), len(mbar))
	}
	// Small counts, the usual case, index a slice; larger ones a map.
	const denseX = 1 << 12
	var dense [denseX]int32 // index+1 into xs; 0: not seen yet
	var sparse map[float64]int32
	var xs []float64
	rows := make([]spendRow, 0, len(x))
	for i := range x {
		if math.IsNaN(x[i]) || math.IsInf(x[i], 0) || x[i] < 0 || x[i] != math.Trunc(x[i]) {
			return fail("customer %d: frequency x = %v, want a whole number >= 0", i, x[i])
		}
		if x[i] == 0 {
			continue
		}
		if math.IsNaN(mbar[i]) || math.IsInf(mbar[i], 0) || mbar[i] <= 0 {
			return fail("customer %d: mean spend %v with x = %v, want finite and > 0", i, mbar[i], x[i])
		}
		var k int32
		if x[i] < denseX {
			if dense[int(x[i])] == 0 {
				xs = append(xs, x[i])
				dense[int(x[i])] = int32(len(xs))
			}
			k = dense[int(x[i])] - 1
		} else {
			j, ok := sparse[x[i]]
			if !ok {
				if sparse == nil {
					sparse = make(map[float64]int32)
				}
				j = int32(len(xs))
				xs = append(xs, x[i])
				sparse[x[i]] = j
			}
			k = j
		}
		r := spendRow{x: x[i], w: 1, logX: math.Log(x[i]), k: k}
		r.setM(mbar[i])
		rows = append(rows, r)
	}
	if len(rows) == 0 {
		return fail("%w with x > 0", ErrNoData)
	}
	return spendRows{rows: rows, xs: xs}, nil
}

// constantSpend reports whether every row's mean spend is one value, to
// constantSpendTol, and returns their mean.
func constantSpend(rows []spendRow) (float64, bool) {
	lo, hi, sum := math.Inf(1), math.Inf(-1), 0.0
	for _, r := range rows {
		lo, hi, sum = min(lo, r.m), max(hi, r.m), sum+r.m
	}
	if hi-lo > constantSpendTol*hi {
		return 0, false
	}
	// The mean can round outside [lo, hi]; a constant model must not.
	return min(max(sum/float64(len(rows)), lo), hi), true
}

// spendTerm is the log-likelihood of a customer's mean spend m over x
// transactions:
//
//	lnΓ(px+q) - lnΓ(px) - lnΓ(q) + q ln v + (px-1) ln m + px ln x - (px+q) ln(xm+v),
//
// for customers whose x is among xs (spendRow.k indexes it). The lnΓ and ψ
// terms of px are computed once per distinct x at each evaluation, and
// ln m, ln x and xm come with the row, so a row costs one logarithm; every
// sum keeps the operands and order of the term written out per row, so the
// values are the same to the bit.
func spendTerm(xs []float64) term[spendRow] {
	return func(p []float64, grad bool) func(spendRow, []float64) {
		pp, q, v := p[0], p[1], p[2]
		lq, _ := math.Lgamma(q)
		logV := math.Log(v)
		// Per distinct x: lnΓ(px+q) - lnΓ(px), kept as the two terms so
		// that the row sum below adds them in the original order, and with
		// grad ψ(px+q) and ψ(px).
		width := 2
		if grad {
			width = 4
		}
		tab := make([]float64, width*len(xs))
		for k, x := range xs {
			px := pp * x
			t := tab[width*k : width*k+width]
			t[0], _ = math.Lgamma(px + q)
			t[1], _ = math.Lgamma(px)
			if grad {
				t[2] = mathext.Digamma(px + q)
				t[3] = mathext.Digamma(px)
			}
		}
		var psiQ float64
		if grad {
			psiQ = mathext.Digamma(q)
		}
		return func(c spendRow, acc []float64) {
			px := pp * c.x
			t := tab[width*int(c.k) : width*int(c.k)+width]
			lpq, lp := t[0], t[1]
			logM, logX, logXMV := c.logM, c.logX, math.Log(c.xm+v)
			acc[0] += c.w * (lpq - lp - lq + q*logV + (px-1)*logM + px*logX - (px+q)*logXMV)
			if !grad {
				return
			}
			psiPQ := t[2]
			acc[1] += c.w * c.x * (psiPQ - t[3] + logM + logX - logXMV)
			acc[2] += c.w * (psiPQ - psiQ + logV - logXMV)
			acc[3] += c.w * (q/v - (px+q)/(c.xm+v))
		}
	}
}

// LogLikelihood returns the total log-likelihood of the customers with
// x > 0, in the data's money unit; NaN when the inputs are invalid (see
// FitGammaGamma). For the constant model, a point mass at V, it is +Inf
// when every mbar is V (to a relative 1e-9) and -Inf otherwise.
func (g GammaGamma) LogLikelihood(x, mbar []float64) float64 {
	data, err := prepareSpend(x, mbar)
	if err != nil {
		return math.NaN()
	}
	if v, ok := g.Constant(); ok {
		for _, r := range data.rows {
			if math.Abs(r.m-v) > constantSpendTol*max(r.m, v) {
				return math.Inf(-1)
			}
		}
		return math.Inf(1)
	}
	return logLikelihood(data.rows, []float64{g.P, g.Q, g.V}, spendTerm(data.xs))
}

// ExpectedSpend returns the expected value of a transaction of a customer
// with x repeat purchases of mean value mbar (FHL 2005, RFM and CLV, eq. 5):
//
//	p(v + x·mbar) / (px + q - 1),
//
// a weighted average of the population mean p·v/(q-1), which is what a
// customer with x = 0 gets, and the customer's own mean. NaN when px+q <= 1
// (no finite mean) or the inputs are invalid. The constant model gives V,
// whatever mbar: every transaction is worth V.
func (g GammaGamma) ExpectedSpend(x, mbar float64) float64 {
	if math.IsNaN(x) || x < 0 || math.IsInf(x, 0) {
		return math.NaN()
	}
	if x == 0 {
		mbar = 0
	}
	if v, ok := g.Constant(); ok && !math.IsNaN(mbar) {
		return v
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
