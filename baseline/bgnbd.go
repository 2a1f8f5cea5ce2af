package baseline

import (
	"context"
	"fmt"
	"math"

	"gonum.org/v1/gonum/mathext"
)

// BGNBD holds the BG/NBD parameters: purchase rates λ ~ Gamma(shape R,
// rate Alpha) per week and dropout probabilities p ~ Beta(A, B).
type BGNBD struct {
	R     float64 `json:"r"`
	Alpha float64 `json:"alpha"`
	A     float64 `json:"a"`
	B     float64 `json:"b"`
}

// MBGNBD holds the MBG/NBD parameters, which mean what BG/NBD's do; the model
// differs in letting a customer drop out at time zero too.
type MBGNBD struct {
	R     float64 `json:"r"`
	Alpha float64 `json:"alpha"`
	A     float64 `json:"a"`
	B     float64 `json:"b"`
}

// FitBGNBD fits BG/NBD by maximum likelihood (Fader, Hardie & Lee 2005,
// eq. 6). It fails when data is empty (ErrNoData), a summary is invalid (the
// error names the customer's index and field), no customer has a repeat
// purchase (ErrNoRepeats), or ctx is done. A fit that stops without
// converging returns its best point with info.Converged false and the reason
// in info.Status.
func FitBGNBD(ctx context.Context, data []RFM, opts ...FitOption) (BGNBD, FitInfo, error) {
	p, info, err := fitBG(ctx, data, false, opts)
	if err != nil {
		return BGNBD{}, info, fmt.Errorf("baseline: fit BG/NBD: %w", err)
	}
	return BGNBD{R: p[0], Alpha: p[1], A: p[2], B: p[3]}, info, nil
}

// FitMBGNBD fits MBG/NBD by maximum likelihood (Batislam, Denizel &
// Filiztekin 2007, as lifetimes' ModifiedBetaGeoFitter); see FitBGNBD.
func FitMBGNBD(ctx context.Context, data []RFM, opts ...FitOption) (MBGNBD, FitInfo, error) {
	p, info, err := fitBG(ctx, data, true, opts)
	if err != nil {
		return MBGNBD{}, info, fmt.Errorf("baseline: fit MBG/NBD: %w", err)
	}
	return MBGNBD{R: p[0], Alpha: p[1], A: p[2], B: p[3]}, info, nil
}

func fitBG(ctx context.Context, data []RFM, modified bool, opts []FitOption) ([]float64, FitInfo, error) {
	s, err := newFitSettings(opts)
	if err != nil {
		return nil, FitInfo{}, err
	}
	rows, scale, err := prepareRFM(data)
	if err != nil {
		return nil, FitInfo{}, err
	}
	f := bgTerm(modified)
	rate := meanRate(rows)
	starts := [][]float64{
		{1, 1 / rate, 1, 1},
		{0.3, 0.3 / rate, 0.8, 2.5},
		{3, 3 / rate, 2, 8},
	}
	p, info, err := mle(ctx, rows, float64(len(data)), f, true, starts, s)
	if err != nil {
		return nil, info, err
	}
	p[1] /= scale
	info.Customers = len(data)
	info.LogLikelihood = logLikelihood(compress(data, 1), p, f)
	return p, info, nil
}

// bgTerm is the BG/NBD (or MBG/NBD) log-likelihood of one summary,
//
//	log L = A1 + A2 + log(e^A3 + e^A4)
//	A1 = lnΓ(r+x) - lnΓ(r) + r ln α
//	A2 = ln B(a, b+x+k) - ln B(a, b)       (k = 0 for BG, 1 for MBG)
//	A3 = -(r+x) ln(α+T)
//	A4 = ln a - ln(b+x-1+k) - (r+x) ln(α+tx)   (BG: only when x > 0)
//
// and its gradient; w4 is the weight of the A4 term in the log-sum-exp.
func bgTerm(modified bool) term[wrfm] {
	k := 0.0
	if modified {
		k = 1
	}
	return func(p []float64, grad bool) func(wrfm, []float64) {
		r, alpha, a, b := p[0], p[1], p[2], p[3]
		l0, _ := math.Lgamma(r)
		lab, _ := math.Lgamma(a + b)
		lb, _ := math.Lgamma(b)
		logAlpha, logA := math.Log(alpha), math.Log(a)
		base := r*logAlpha + lab - lb - l0
		var psiR, psiAB, psiB float64
		if grad {
			psiR, psiAB, psiB = mathext.Digamma(r), mathext.Digamma(a+b), mathext.Digamma(b)
		}
		return func(c wrfm, acc []float64) {
			x := c.x
			lr, _ := math.Lgamma(r + x)
			lbx, _ := math.Lgamma(b + x + k)
			labx, _ := math.Lgamma(a + b + x + k)
			logAT := math.Log(alpha + c.t)
			ll := base + lr + lbx - labx
			a3 := -(r + x) * logAT
			w4, logATx := 0.0, 0.0
			if x > 0 || modified {
				logATx = math.Log(alpha + c.tx)
				a4 := logA - math.Log(b+x-1+k) - (r+x)*logATx
				ll += logAddExp(a3, a4)
				w4 = sigmoid(a4 - a3)
			} else {
				ll += a3
			}
			acc[0] += c.w * ll
			if !grad {
				return
			}
			psiABX := mathext.Digamma(a + b + x + k)
			dr := mathext.Digamma(r+x) - psiR + logAlpha - logAT
			dAlpha := r/alpha - (r+x)/(alpha+c.t)
			da := psiAB - psiABX
			db := psiAB + mathext.Digamma(b+x+k) - psiB - psiABX
			if w4 > 0 { // the A4 term; skipped at x = 0 in BG/NBD, where b+x-1 may be 0
				dr += w4 * (logAT - logATx)
				dAlpha += w4 * (r + x) * (1/(alpha+c.t) - 1/(alpha+c.tx))
				da += w4 / a
				db -= w4 / (b + x - 1 + k)
			}
			acc[1] += c.w * dr
			acc[2] += c.w * dAlpha
			acc[3] += c.w * da
			acc[4] += c.w * db
		}
	}
}

// LogLikelihood returns the total BG/NBD log-likelihood of data, NaN when a
// summary is invalid.
func (m BGNBD) LogLikelihood(data []RFM) float64 {
	return rfmLogLikelihood(data, []float64{m.R, m.Alpha, m.A, m.B}, bgTerm(false))
}

// LogLikelihood returns the total MBG/NBD log-likelihood of data, NaN when a
// summary is invalid.
func (m MBGNBD) LogLikelihood(data []RFM) float64 {
	return rfmLogLikelihood(data, []float64{m.R, m.Alpha, m.A, m.B}, bgTerm(true))
}

func rfmLogLikelihood(data []RFM, p []float64, f term[wrfm]) float64 {
	for _, c := range data {
		if c.Validate() != nil {
			return math.NaN()
		}
	}
	return logLikelihood(compress(data, 1), p, f)
}

// PAlive returns the probability that a customer with summary c is still
// active at the end of calibration (FHL 2005, eq. 13): 1 without repeat
// purchases, as BG/NBD only lets customers drop out after one.
func (m BGNBD) PAlive(c RFM) float64 {
	if c.X == 0 {
		return 1
	}
	return 1 / (1 + math.Exp(bgLogOdds(m.R, m.Alpha, m.A, m.B, c, 0)))
}

// PAlive returns the MBG/NBD probability that the customer is still active
// (Batislam et al. 2007, appendix eq. 5); below 1 even without repeat
// purchases.
func (m MBGNBD) PAlive(c RFM) float64 {
	return 1 / (1 + math.Exp(bgLogOdds(m.R, m.Alpha, m.A, m.B, c, 1)))
}

// PReturn returns the probability that a customer with summary c makes at
// least one purchase in the next horizon weeks, (T, T+horizon]:
//
//	P(X(T, T+t) > 0 | x, tx, T) = P(alive) · [1 - ((α+T)/(α+T+t))^(r+x)]
//
// BG/NBD lets a customer drop out only right after a purchase, so one who is
// alive at T stays alive at least until the next purchase, which comes at
// the customer's rate λ: the chance of one by T+t is 1 - e^(-λt). Given the
// history and being alive at T, λ ~ Gamma(r+x, rate α+T) (the likelihood of
// the history is λ^x e^(-λT) times a factor free of λ), and the mean of
// e^(-λt) under it is the power above. One minus this is the probability of
// no purchase in (T, T+t] of Fader & Hardie's step-by-step BG/NBD derivation
// (2019, sec. 5.3), as pymc-marketing's BetaGeoModel computes it.
//
// This, not PAlive, is the score to rank "will the customer buy in the
// holdout" by: P(alive) is 1 for every customer without a repeat purchase,
// however long ago the first one was and however slow the customer's rate.
// PReturn grows with horizon from 0 to PAlive. It returns NaN for an invalid
// summary or a negative or NaN horizon; a horizon of +Inf gives PAlive.
func (m BGNBD) PReturn(c RFM, horizon float64) float64 {
	if c.Validate() != nil || math.IsNaN(horizon) || horizon < 0 {
		return math.NaN()
	}
	// log of the power, by log1p so that a short horizon keeps its digits.
	logNone := -(m.R + c.X) * math.Log1p(horizon/(m.Alpha+c.T))
	buys := -math.Expm1(logNone)
	if c.X == 0 {
		return buys
	}
	return sigmoid(-bgLogOdds(m.R, m.Alpha, m.A, m.B, c, 0)) * buys
}

// bgLogOdds is log of the odds of being inactive: a/(b+x-1+k) ·
// ((α+T)/(α+tx))^(r+x).
func bgLogOdds(r, alpha, a, b float64, c RFM, k float64) float64 {
	return math.Log(a) - math.Log(b+c.X-1+k) + (r+c.X)*(math.Log(alpha+c.T)-math.Log(alpha+c.Tx))
}

// ExpectedPurchases returns the expected number of purchases in the next
// horizon weeks of a customer with summary c (FHL 2005, eq. 10):
//
//	E[Y(t) | x, tx, T] = (a+b+x-1)/(a-1) ·
//	   [1 - ((α+T)/(α+T+t))^(r+x) 2F1(r+x, b+x; a+b+x-1; t/(α+T+t))] / (1 + odds)
//
// with odds as in PAlive. It returns NaN for an invalid summary or horizon.
func (m BGNBD) ExpectedPurchases(c RFM, horizon float64) float64 {
	return bgExpected(m.R, m.Alpha, m.A, m.B, c, horizon, 0)
}

// ExpectedPurchases returns the MBG/NBD expected number of purchases in the
// next horizon weeks (Wagner & Hoppe 2008):
//
//	(a+b+x)/(a-1) · [1 - ((α+T)/(α+T+t))^(r+x) 2F1(r+x, b+x+1; a+b+x; z)] / (1 + odds).
func (m MBGNBD) ExpectedPurchases(c RFM, horizon float64) float64 {
	return bgExpected(m.R, m.Alpha, m.A, m.B, c, horizon, 1)
}

// UnconditionalPurchases returns E[X(t)], the expected number of repeat
// purchases in the first t weeks of a new customer (FHL 2005, eq. 9).
func (m BGNBD) UnconditionalPurchases(t float64) float64 {
	return m.ExpectedPurchases(RFM{}, t)
}

// UnconditionalPurchases returns the MBG/NBD E[X(t)] for a new customer:
// b/(a-1) · [1 - (α/(α+t))^r 2F1(r, b+1; a+b; t/(α+t))].
func (m MBGNBD) UnconditionalPurchases(t float64) float64 {
	return m.ExpectedPurchases(RFM{}, t)
}

// bgExpected evaluates the BG/NBD (k = 0) or MBG/NBD (k = 1) conditional
// expectation. The bracket's power times 2F1 is formed in log space so that
// large x (where 2F1 overflows) still works, and 1 minus it by expm1. At
// a = 1 the formula is 0/0; the two sides' average is used there.
func bgExpected(r, alpha, a, b float64, c RFM, t, k float64) float64 {
	if c.Validate() != nil || math.IsNaN(t) || t < 0 || math.IsInf(t, 0) {
		return math.NaN()
	}
	if t == 0 {
		return 0
	}
	if math.Abs(a-1) < 1e-7 {
		return (bgExpectedAt(r, alpha, 1-1e-7, b, c, t, k) + bgExpectedAt(r, alpha, 1+1e-7, b, c, t, k)) / 2
	}
	return bgExpectedAt(r, alpha, a, b, c, t, k)
}

func bgExpectedAt(r, alpha, a, b float64, c RFM, t, k float64) float64 {
	x := c.X
	z := t / (alpha + c.T + t)
	lf, sign, err := logHyp2f1(r+x, b+x+k, a+b+x-1+k, z)
	if err != nil || sign <= 0 {
		return math.NaN()
	}
	logP := (r+x)*math.Log1p(-z) + lf
	bracket := -math.Expm1(logP)
	palive := 1.0
	if x > 0 || k == 1 {
		palive = 1 / (1 + math.Exp(bgLogOdds(r, alpha, a, b, c, k)))
	}
	return (a + b + x - 1 + k) / (a - 1) * bracket * palive
}
