package baseline

import (
	"context"
	"errors"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/cohort-clv/cohort/synth"
)

// smallBase is 1000 customers simulated by synth from the CDNOW BG/NBD
// parameters: small enough to fit in milliseconds, large enough for every
// model to be identified.
func smallBase(t *testing.T) []RFM {
	return simulate(t, synth.BGNBD, 1000, 3).rfm
}

// TestFitRejectsBadInput ensures every fit names the offending customer and
// field, and reports empty or repeat-free data with its sentinel error.
func TestFitRejectsBadInput(t *testing.T) {
	fits := map[string]func([]RFM) error{
		"bgnbd":  func(d []RFM) error { _, _, err := FitBGNBD(context.Background(), d); return err },
		"mbgnbd": func(d []RFM) error { _, _, err := FitMBGNBD(context.Background(), d); return err },
		"pareto": func(d []RFM) error { _, _, err := FitParetoNBD(context.Background(), d); return err },
	}
	good := RFM{X: 2, Tx: 5, T: 10}
	tests := []struct {
		name string
		bad  RFM
		want string
	}{
		{"negative x", RFM{X: -1, T: 3}, "customer 1: frequency X = -1"},
		{"fractional x", RFM{X: 1.5, Tx: 1, T: 3}, "customer 1: frequency X = 1.5"},
		{"recency past age", RFM{X: 1, Tx: 4, T: 3}, "customer 1: recency Tx = 4"},
		{"NaN age", RFM{X: 1, Tx: 1, T: math.NaN()}, "customer 1: age T = NaN"},
		{"recency without repeats", RFM{X: 0, Tx: 1, T: 3}, "with X = 0, want Tx = 0"},
	}
	for name, fit := range fits {
		for _, tc := range tests {
			t.Run(name+"/"+tc.name, func(t *testing.T) {
				err := fit([]RFM{good, tc.bad})
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Errorf("error %v, want it to contain %q", err, tc.want)
				}
			})
		}
		t.Run(name+"/empty", func(t *testing.T) {
			if err := fit(nil); !errors.Is(err, ErrNoData) {
				t.Errorf("error %v, want ErrNoData", err)
			}
		})
		t.Run(name+"/no repeats", func(t *testing.T) {
			if err := fit([]RFM{{T: 3}, {T: 5}}); !errors.Is(err, ErrNoRepeats) {
				t.Errorf("error %v, want ErrNoRepeats", err)
			}
		})
	}
	if _, _, err := FitBGNBD(context.Background(), smallBase(t), WithPenalizer(-1)); err == nil {
		t.Error("negative penalizer accepted")
	}
}

// TestFitGammaGammaRejectsBadInput ensures the spend fit checks lengths,
// frequencies and spends, names the customer, and skips x = 0.
func TestFitGammaGammaRejectsBadInput(t *testing.T) {
	tests := []struct {
		name    string
		x, mbar []float64
		want    string
	}{
		{"lengths", []float64{1, 2}, []float64{3}, "2 frequencies but 1 mean spends"},
		{"zero spend", []float64{1, 2}, []float64{3, 0}, "customer 1: mean spend 0"},
		{"fractional x", []float64{1.5}, []float64{3}, "customer 0: frequency x = 1.5"},
		{"only x = 0", []float64{0, 0}, []float64{0, 0}, "no customers to fit"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := FitGammaGamma(context.Background(), tc.x, tc.mbar)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

// TestFitCancelled ensures a fit stops with the context's error when its
// context is done.
func TestFitCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := FitParetoNBD(ctx, smallBase(t)); !errors.Is(err, context.Canceled) {
		t.Errorf("Pareto/NBD: %v, want context.Canceled", err)
	}
	if _, _, err := FitBGNBD(ctx, smallBase(t)); !errors.Is(err, context.Canceled) {
		t.Errorf("BG/NBD: %v, want context.Canceled", err)
	}
	if _, _, err := FitGammaGamma(ctx, []float64{1, 2, 3}, []float64{10, 20, 15}); !errors.Is(err, context.Canceled) {
		t.Errorf("Gamma-Gamma: %v, want context.Canceled", err)
	}
}

// TestFitDeterministic ensures the fit does not depend on the order of the
// customers (bit for bit) and that duplicating every customer leaves the
// estimates unchanged and doubles the log-likelihood.
func TestFitDeterministic(t *testing.T) {
	data := smallBase(t)
	m1, info1, err := FitBGNBD(context.Background(), data)
	if err != nil {
		t.Fatal(err)
	}
	if !info1.Converged {
		t.Errorf("not converged: %+v", info1)
	}
	rev := slices.Clone(data)
	slices.Reverse(rev)
	m2, _, err := FitBGNBD(context.Background(), rev)
	if err != nil {
		t.Fatal(err)
	}
	if m1 != m2 {
		t.Errorf("reversed input: %+v, want %+v", m2, m1)
	}
	m3, info3, err := FitBGNBD(context.Background(), append(slices.Clone(data), data...))
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range []float64{m3.R, m3.Alpha, m3.A, m3.B} {
		w := []float64{m1.R, m1.Alpha, m1.A, m1.B}[i]
		if relErr(v, w) > 1e-5 {
			t.Errorf("doubled data: parameter %d = %v, want %v", i, v, w)
		}
	}
	if relErr(info3.LogLikelihood, 2*info1.LogLikelihood) > 1e-9 {
		t.Errorf("doubled data LL %v, want %v", info3.LogLikelihood, 2*info1.LogLikelihood)
	}
	if info1.LogLikelihood != m1.LogLikelihood(data) {
		t.Errorf("FitInfo LL %v differs from LogLikelihood %v", info1.LogLikelihood, m1.LogLikelihood(data))
	}
}

// TestPenalizerShrinks ensures a larger penalizer gives a smaller (rescaled)
// parameter norm and a lower unpenalized log-likelihood, as lifetimes'
// penalizer_coef does.
func TestPenalizerShrinks(t *testing.T) {
	data := smallBase(t)
	maxT := 0.0
	for _, c := range data {
		maxT = math.Max(maxT, c.T)
	}
	scale := 10 / maxT // the fit's internal time unit, in which the penalty applies
	norm := func(m BGNBD) float64 {
		a := m.Alpha * scale
		return m.R*m.R + a*a + m.A*m.A + m.B*m.B
	}
	prevNorm, prevLL := math.Inf(1), math.Inf(1)
	for _, coef := range []float64{0, 0.01, 0.1, 1} {
		m, info, err := FitBGNBD(context.Background(), data, WithPenalizer(coef))
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("penalizer %v: %+v LL %.3f", coef, m, info.LogLikelihood)
		if n := norm(m); !(n < prevNorm) {
			t.Errorf("penalizer %v: norm %v, not below %v", coef, n, prevNorm)
		}
		if !(info.LogLikelihood < prevLL) {
			t.Errorf("penalizer %v: LL %v, not below %v", coef, info.LogLikelihood, prevLL)
		}
		prevNorm, prevLL = norm(m), info.LogLikelihood
	}
}

// TestFitFlagsUnidentifiedModel ensures a fit on two customers, which cannot
// identify four parameters, reports that it did not converge instead of
// presenting parameters that ran off to infinity.
func TestFitFlagsUnidentifiedModel(t *testing.T) {
	_, info, err := FitBGNBD(context.Background(), []RFM{{X: 1, Tx: 5, T: 10}, {T: 3}})
	if err != nil {
		t.Fatal(err)
	}
	if info.Converged || !strings.Contains(info.Status, "ran off") {
		t.Errorf("info %+v, want not converged with a note on the parameters", info)
	}
}

// TestBGNBDGradient ensures the analytic gradients of the BG/NBD, MBG/NBD
// and Gamma-Gamma log-likelihoods match central differences.
func TestBGNBDGradient(t *testing.T) {
	rows, _, err := prepareRFM(smallBase(t))
	if err != nil {
		t.Fatal(err)
	}
	spend, err := prepareSpend([]float64{1, 3, 7}, []float64{12, 40, 25.5})
	if err != nil {
		t.Fatal(err)
	}
	spend.rows[1].w = 2
	cases := []struct {
		name string
		p    []float64
		sum  func(p []float64, grad bool) []float64
	}{
		{"bgnbd", []float64{0.7, 2.3, 0.6, 3.1}, func(p []float64, g bool) []float64 { return sumTerms(rows, p, bgTerm(false), g) }},
		{"mbgnbd", []float64{0.7, 2.3, 1.6, 3.1}, func(p []float64, g bool) []float64 { return sumTerms(rows, p, bgTerm(true), g) }},
		{"gammagamma", []float64{4.1, 2.7, 11}, func(p []float64, g bool) []float64 { return sumTerms(spend.rows, p, spendTerm(spend.xs), g) }},
	}
	for _, tc := range cases {
		grad := tc.sum(tc.p, true)
		for i := range tc.p {
			h := 1e-6 * tc.p[i]
			up, dn := slices.Clone(tc.p), slices.Clone(tc.p)
			up[i] += h
			dn[i] -= h
			num := (tc.sum(up, false)[0] - tc.sum(dn, false)[0]) / (2 * h)
			if math.Abs(num-grad[i+1]) > 1e-5*math.Max(1, math.Abs(num)) {
				t.Errorf("%s: d/dp%d analytic %.10g, numeric %.10g", tc.name, i, grad[i+1], num)
			}
		}
	}
}
