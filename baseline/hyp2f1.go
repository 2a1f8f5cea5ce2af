package baseline

import (
	"errors"
	"fmt"
	"math"
)

// The Gauss hypergeometric function 2F1(a, b; c; z) for real arguments and
// z < 1, in log space because the BTYD expressions multiply it by powers that
// cancel its growth: for a customer with hundreds of purchases 2F1 itself can
// pass 1e308 while the forecast it enters is a few units.
//
// Regions (Abramowitz & Stegun 15.1.1, 15.3.3-15.3.7):
//   - a or b a non-positive integer: the series is a polynomial, summed as is;
//   - 0 < z <= 0.95: the power series, or Euler's transform of it when that
//     has smaller parameters (c-a-b < 0: the series then shrinks instead of
//     growing like (1-z)^(c-a-b)); a few hundred terms at most;
//   - 0.95 < z < 1: the linear transformation to 1-z, whose two series
//     converge fast; when c-a-b is within 0.05 of an integer (the Gamma
//     factors of its two terms blow up and cancel) or its terms cancel by
//     more than 1e3, the power series is summed too and the result that lost
//     fewer digits is kept; the series takes up to hypMaxTerms terms (z up to
//     about 1 - 2e-5);
//   - -1 <= z < 0: Pfaff's transformation to z/(z-1) in (0, 1/2];
//   - z < -1: Pfaff's transformation and, when b-a is not near an integer,
//     the 1/z transformation; whichever lost fewer digits;
//   - z = 1: Gauss's sum when c-a-b > 0.
//
// Every path tracks its cancellation, log(Σ|terms| / |result|), which is how
// it chooses between candidates. The series stop on a tail bound: the next
// term ratio ρ < 1 must make |term|·ρ/(1-ρ) negligible against the sum, once
// every Pochhammer factor is past its sign change.

const (
	hypEps        = 1e-16
	hypMaxTerms   = 2_000_000
	hypDirectMax  = 0.95
	hypIntegerGap = 0.05
	// hypOKLoss is the cancellation (log) that a cheap transformation may
	// have before the series is tried as well: a factor 1e3.
	hypOKLoss = 3 * math.Ln10
	// hypRescale keeps a growing series in range; its log is added back.
	hypRescale    = 1e-200
	hypLogRescale = 200 * math.Ln10
)

// errHypDomain reports arguments outside the function's real domain.
var errHypDomain = errors.New("hyp2f1: outside the domain")

// hypVal is log|F|, the sign of F, and the cancellation suffered computing it.
type hypVal struct{ l, s, loss float64 }

// hyp2f1 returns 2F1(a, b; c; z).
func hyp2f1(a, b, c, z float64) (float64, error) {
	l, sign, err := logHyp2f1(a, b, c, z)
	if err != nil {
		return math.NaN(), err
	}
	return sign * math.Exp(l), nil
}

// logHyp2f1 returns log|2F1(a, b; c; z)| and the sign of 2F1 (0 when it is 0).
func logHyp2f1(a, b, c, z float64) (logAbs, sign float64, err error) {
	v, err := hypEval(a, b, c, z)
	if err != nil {
		return math.NaN(), 0, err
	}
	return v.l, v.s, nil
}

func hypEval(a, b, c, z float64) (hypVal, error) {
	switch {
	case math.IsNaN(a) || math.IsNaN(b) || math.IsNaN(c) || math.IsNaN(z) ||
		math.IsInf(a, 0) || math.IsInf(b, 0) || math.IsInf(c, 0) || math.IsInf(z, 0):
		return hypVal{}, fmt.Errorf("%w: 2F1(%v, %v; %v; %v) has a non-finite argument", errHypDomain, a, b, c, z)
	case nonPositiveInt(c):
		return hypVal{}, fmt.Errorf("%w: 2F1(%v, %v; %v; %v): c is a non-positive integer", errHypDomain, a, b, c, z)
	case z == 0 || a == 0 || b == 0:
		return hypVal{l: 0, s: 1}, nil
	case nonPositiveInt(a) || nonPositiveInt(b):
		return hypSeries(a, b, c, z)
	case z > 1 || (z == 1 && c-a-b <= 0):
		return hypVal{}, fmt.Errorf("%w: 2F1(%v, %v; %v; %v) diverges for z >= 1 unless z = 1 and c-a-b > 0", errHypDomain, a, b, c, z)
	case z == 1:
		lc, sc := math.Lgamma(c)
		l, s := lgammaRatio(lc, sc, c-a-b, c-a, c-b)
		return hypVal{l: l, s: s}, nil
	case z < 0:
		return hypNegative(a, b, c, z)
	case z <= hypDirectMax:
		return hypSeriesBest(a, b, c, z)
	}
	m := c - a - b
	var viaW hypVal
	if math.Abs(m-math.Round(m)) >= hypIntegerGap {
		v, err := hypOneMinusZ(a, b, c, z)
		if err == nil && v.loss < hypOKLoss {
			return v, nil
		}
		if err == nil {
			viaW = v
		} else {
			viaW.loss = math.Inf(1)
		}
	} else {
		viaW.loss = math.Inf(1)
	}
	series, err := hypSeriesBest(a, b, c, z)
	if err != nil || viaW.loss < series.loss {
		if math.IsInf(viaW.loss, 1) {
			return hypVal{}, err
		}
		return viaW, nil
	}
	return series, nil
}

// hypNegative handles z < 0. Pfaff: 2F1(a,b;c;z) = (1-z)^-a 2F1(a, c-b; c;
// z/(z-1)); for z < -1 also A&S 15.3.7:
//
//	2F1(a,b;c;z) = Γ(c)Γ(b-a)/(Γ(b)Γ(c-a)) (-z)^-a 2F1(a, 1-c+a; 1-b+a; 1/z)
//	             + Γ(c)Γ(a-b)/(Γ(a)Γ(c-b)) (-z)^-b 2F1(b, 1-c+b; 1-a+b; 1/z).
func hypNegative(a, b, c, z float64) (hypVal, error) {
	pfaff, err := hypEval(a, c-b, c, z/(z-1))
	if err != nil {
		return hypVal{}, err
	}
	pfaff.l -= a * math.Log1p(-z)
	d := b - a
	if z >= -1 || pfaff.loss < hypOKLoss || math.Abs(d-math.Round(d)) < hypIntegerGap {
		return pfaff, nil
	}
	lc, sc := math.Lgamma(c)
	l1, s1 := lgammaRatio(lc, sc, b-a, b, c-a)
	l2, s2 := lgammaRatio(lc, sc, a-b, a, c-b)
	t1, err := hypTerm(l1, s1, -a*math.Log(-z), a, 1-c+a, 1-b+a, 1/z)
	if err != nil {
		return pfaff, nil
	}
	t2, err := hypTerm(l2, s2, -b*math.Log(-z), b, 1-c+b, 1-a+b, 1/z)
	if err != nil {
		return pfaff, nil
	}
	if v := combine(t1, t2); v.loss < pfaff.loss {
		return v, nil
	}
	return pfaff, nil
}

// hypOneMinusZ applies A&S 15.3.6 for m = c-a-b not an integer:
//
//	2F1(a,b;c;z) = Γ(c)Γ(m)/(Γ(c-a)Γ(c-b)) · 2F1(a, b; 1-m; 1-z)
//	             + (1-z)^m Γ(c)Γ(-m)/(Γ(a)Γ(b)) · 2F1(c-a, c-b; 1+m; 1-z).
func hypOneMinusZ(a, b, c, z float64) (hypVal, error) {
	m := c - a - b
	w := 1 - z
	lc, sc := math.Lgamma(c)
	l1, s1 := lgammaRatio(lc, sc, m, c-a, c-b)
	l2, s2 := lgammaRatio(lc, sc, -m, a, b)
	t1, err := hypTerm(l1, s1, 0, a, b, 1-m, w)
	if err != nil {
		return hypVal{}, err
	}
	t2, err := hypTerm(l2, s2, m*math.Log(w), c-a, c-b, 1+m, w)
	if err != nil {
		return hypVal{}, err
	}
	return combine(t1, t2), nil
}

// hypTerm is s·e^(l+extra)·2F1(a,b;c;z), skipping the 2F1 when the
// prefactor is 0 (a 1/Γ at a pole).
func hypTerm(l, s, extra, a, b, c, z float64) (hypVal, error) {
	if s == 0 || math.IsInf(l, -1) {
		return hypVal{l: math.Inf(-1)}, nil
	}
	f, err := hypEval(a, b, c, z)
	if err != nil {
		return hypVal{}, err
	}
	return hypVal{l: l + extra + f.l, s: s * f.s, loss: f.loss}, nil
}

// combine adds two terms and measures the cancellation of the sum, counting
// the cancellation each term already had.
func combine(t1, t2 hypVal) hypVal {
	l, s := logSumSigned(t1.l, t1.s, t2.l, t2.s)
	worst := math.Max(t1.l+t1.loss, t2.l+t2.loss)
	return hypVal{l: l, s: s, loss: math.Max(0, worst-l)}
}

// lgammaRatio returns log|Γ(c)Γ(n)/(Γ(d1)Γ(d2))| and its sign, given
// lc, sc = Lgamma(c); -Inf when a denominator has a pole.
func lgammaRatio(lc float64, sc int, n, d1, d2 float64) (float64, float64) {
	if nonPositiveInt(d1) || nonPositiveInt(d2) {
		return math.Inf(-1), 0
	}
	ln, sn := math.Lgamma(n)
	l1, s1 := math.Lgamma(d1)
	l2, s2 := math.Lgamma(d2)
	return lc + ln - l1 - l2, float64(sc * sn * s1 * s2)
}

// hypSeriesBest sums the power series directly or after Euler's
// transformation 2F1(a,b;c;z) = (1-z)^(c-a-b) 2F1(c-a, c-b; c; z), whichever
// has the tamer terms; for 0 <= z < 1.
func hypSeriesBest(a, b, c, z float64) (hypVal, error) {
	m := c - a - b
	euler := m < 0
	switch {
	case nonPositiveInt(a) || nonPositiveInt(b):
		euler = false
	case nonPositiveInt(c-a) || nonPositiveInt(c-b):
		euler = true
	}
	v, err := hypSeriesForm(a, b, c, z, euler)
	if err == nil && v.loss > hypOKLoss && !nonPositiveInt(a) && !nonPositiveInt(b) &&
		!nonPositiveInt(c-a) && !nonPositiveInt(c-b) {
		// Mixed-sign terms cancelled; the other form may cancel less.
		if w, err := hypSeriesForm(a, b, c, z, !euler); err == nil && w.loss < v.loss {
			return w, nil
		}
	}
	return v, err
}

func hypSeriesForm(a, b, c, z float64, euler bool) (hypVal, error) {
	if !euler {
		return hypSeries(a, b, c, z)
	}
	v, err := hypSeries(c-a, c-b, c, z)
	v.l += (c - a - b) * math.Log1p(-z)
	return v, err
}

// hypSeries sums Σ (a)_j (b)_j / ((c)_j j!) z^j in scaled form, so that a
// series whose terms grow past 1e308 before they shrink still sums.
func hypSeries(a, b, c, z float64) (hypVal, error) {
	sum, sumAbs, t, logScale := 1.0, 1.0, 1.0, 0.0
	done := func() (hypVal, error) {
		if sum == 0 {
			return hypVal{l: math.Inf(-1), loss: math.Inf(1)}, nil
		}
		s := 1.0
		if sum < 0 {
			s = -1
		}
		return hypVal{l: math.Log(abs(sum)) + logScale, s: s, loss: math.Log(sumAbs / abs(sum))}, nil
	}
	// Past jMin every factor of the term ratio keeps its sign, so the ratio
	// tends monotonically enough toward z for the tail bound below.
	jMin := math.Max(0, math.Max(-a, math.Max(-b, -c)))
	ratio := a * b / c * z
	for j := 0.0; j < hypMaxTerms; j++ {
		t *= ratio
		if t == 0 {
			return done()
		}
		sum += t
		sumAbs += abs(t)
		if sumAbs > 1/hypRescale || abs(t) > 1/hypRescale {
			sum *= hypRescale
			sumAbs *= hypRescale
			t *= hypRescale
			logScale += hypLogRescale
		}
		ratio = (a + j + 1) * (b + j + 1) / ((c + j + 1) * (j + 2)) * z
		if j+1 <= jMin {
			continue
		}
		rho := max(abs(ratio), abs(z))
		if rho < 1 && abs(t)*rho <= hypEps*(1-rho)*abs(sum) {
			return done()
		}
	}
	return hypVal{}, fmt.Errorf("hyp2f1: 2F1(%v, %v; %v; %v): series did not converge in %d terms", a, b, c, z, hypMaxTerms)
}

// logSumSigned returns log|x+y| and its sign for x = s1·e^l1, y = s2·e^l2.
func logSumSigned(l1, s1, l2, s2 float64) (float64, float64) {
	if s1 == 0 || math.IsInf(l1, -1) {
		return l2, s2
	}
	if s2 == 0 || math.IsInf(l2, -1) {
		return l1, s1
	}
	if l1 < l2 {
		l1, s1, l2, s2 = l2, s2, l1, s1
	}
	r := math.Exp(l2 - l1)
	if s1 == s2 {
		return l1 + math.Log1p(r), s1
	}
	if r == 1 {
		return math.Inf(-1), 0
	}
	return l1 + math.Log1p(-r), s1
}

func nonPositiveInt(v float64) bool {
	return v <= 0 && v == math.Trunc(v)
}

// abs is math.Abs without its bit casts, which the race detector's pointer
// checks make about ten times slower in the series loop.
func abs(v float64) float64 {
	if v < 0 {
		return -v
	}
	return v
}
