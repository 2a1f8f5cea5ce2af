package synth

import (
	"context"
	"math"
	"testing"
)

// The statistical tests draw n customers and compare sample means with
// closed forms. The tolerance is 4.5 standard errors of the sample mean
// (estimated from the sample, or exact where the variance is known), so a
// correct generator fails about once in 150,000 runs; a wrong dropout rule,
// rate/scale mix-up or off-by-one birth purchase moves the means by many
// standard errors at this n.
const (
	statCustomers = 100000
	statZ         = 4.5
)

// customerSummary is one customer's repeat count, age at End in weeks and
// first amount, from Generate's exact times.
type customerSummary struct {
	x     int
	age   float64
	first float64
}

func summarise(t *testing.T, cfg Config) []customerSummary {
	t.Helper()
	end := day(cfg.End)
	out := make([]customerSummary, 0, cfg.Customers)
	last := ""
	err := Generate(context.Background(), cfg, func(tx Transaction) error {
		if tx.Customer != last {
			last = tx.Customer
			out = append(out, customerSummary{age: end.Sub(tx.Time).Hours() / (24 * 7), first: tx.Amount})
			return nil
		}
		out[len(out)-1].x++
		return nil
	})
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	return out
}

// meanSE is the sample mean of f and its standard error.
func meanSE(s []customerSummary, f func(customerSummary) float64) (mean, se float64) {
	var sum, sum2 float64
	for _, c := range s {
		v := f(c)
		sum += v
		sum2 += v * v
	}
	n := float64(len(s))
	mean = sum / n
	return mean, math.Sqrt((sum2/n - mean*mean) / (n - 1))
}

// overCohort averages f(T) over ages T uniform in [end-cohort, end] weeks,
// the ages customers born uniformly over the cohort window have at End
// (Simpson's rule; f is smooth there).
func overCohort(endWeeks, cohortWeeks float64, f func(T float64) float64) float64 {
	const m = 256 // even
	lo, h := endWeeks-cohortWeeks, cohortWeeks/m
	sum := f(lo) + f(endWeeks)
	for i := 1; i < m; i++ {
		w := 2.0
		if i%2 == 1 {
			w = 4
		}
		sum += w * f(lo+float64(i)*h)
	}
	return sum * h / 3 / cohortWeeks
}

// hyp2f1 is the Gauss hypergeometric series 2F1(a, b; c; z) for 0 <= z < 1.
func hyp2f1(a, b, c, z float64) float64 {
	term, sum := 1.0, 1.0
	for n := 0.0; n < 1e6; n++ {
		term *= (a + n) * (b + n) / ((c + n) * (n + 1)) * z
		sum += term
		if math.Abs(term) < 1e-16*math.Abs(sum) {
			break
		}
	}
	return sum
}

// bgnbdEX is the BG/NBD expected number of repeat purchases in (0, t]
// (Fader, Hardie & Lee 2005, eq. 9).
func bgnbdEX(p Params, t float64) float64 {
	r, al, a, b := p.R, p.Alpha, p.A, p.B
	return (a + b - 1) / (a - 1) * (1 - math.Pow(al/(al+t), r)*hyp2f1(r, b, a+b-1, t/(al+t)))
}

// paretoEX is the Pareto/NBD expected number of repeat purchases in (0, t]:
// E[λ/μ (1 - e^{-μt})] = r/α · β/(s-1) · (1 - (β/(β+t))^(s-1)), s != 1.
func paretoEX(p Params, t float64) float64 {
	return p.R / p.Alpha * p.Beta / (p.S - 1) * (1 - math.Pow(p.Beta/(p.Beta+t), p.S-1))
}

func checkMean(t *testing.T, what string, got, se, want float64) {
	t.Helper()
	if d := math.Abs(got - want); d > statZ*se {
		t.Errorf("%s: sample %.5f, theory %.5f: off by %.1f standard errors (se %.5f)", what, got, want, d/se, se)
	} else {
		t.Logf("%s: sample %.5f, theory %.5f, se %.5f", what, got, want, se)
	}
}

// TestRepeatPurchasesMatchTheory ensures the mean number of repeat purchases
// and the share of customers without one match the closed forms of each
// process, averaged over the ages the cohort window gives.
func TestRepeatPurchasesMatchTheory(t *testing.T) {
	// A second parameter set with more purchases and faster dropout than
	// CDNOW exercises the dropout rule harder.
	busy := map[Process]Params{
		BGNBD:     {Process: BGNBD, R: 2, Alpha: 3, A: 1.5, B: 4, P: 2, Q: 3, Gamma: 10},
		ParetoNBD: {Process: ParetoNBD, R: 2, Alpha: 3, S: 1.5, Beta: 8, P: 2, Q: 3, Gamma: 10},
	}
	for _, p := range []Process{BGNBD, ParetoNBD} {
		for name, params := range map[string]Params{"cdnow": CDNOWParams(p), "busy": busy[p]} {
			t.Run(p.String()+"/"+name, func(t *testing.T) {
				cfg := small(p, statCustomers, 11)
				cfg.Params = params
				s := summarise(t, cfg)
				endW := float64(78*7) / 7
				cohortW := float64(cfg.CohortDays) / 7
				ex := bgnbdEX
				if p == ParetoNBD {
					ex = paretoEX
				}
				got, se := meanSE(s, func(c customerSummary) float64 { return float64(c.x) })
				checkMean(t, "E[X(T)]", got, se, overCohort(endW, cohortW, func(T float64) float64 { return ex(params, T) }))
				if p == BGNBD {
					// No dropout before the first repeat: P(X(T)=0) = E[e^{-λT}].
					want := overCohort(endW, cohortW, func(T float64) float64 {
						return math.Pow(params.Alpha/(params.Alpha+T), params.R)
					})
					got, _ := meanSE(s, func(c customerSummary) float64 { return b2f(c.x == 0) })
					checkMean(t, "P(X(T)=0)", got, math.Sqrt(want*(1-want)/float64(len(s))), want)
				}
			})
		}
	}
}

// TestSpendMatchesGammaGamma ensures the first purchase's amount has the
// Gamma-Gamma mean p·γ/(q-1), with its exact variance giving the tolerance.
func TestSpendMatchesGammaGamma(t *testing.T) {
	for _, pr := range []Params{
		CDNOWParams(BGNBD),
		{Process: ParetoNBD, R: 1, Alpha: 5, S: 1, Beta: 5, P: 1.5, Q: 4.5, Gamma: 80},
	} {
		t.Run(pr.Process.String(), func(t *testing.T) {
			cfg := small(pr.Process, statCustomers, 5)
			cfg.Params = pr
			s := summarise(t, cfg)
			p, q, g := pr.P, pr.Q, pr.Gamma
			mean := p * g / (q - 1)
			// E[z²] = p(p+1)·E[ν⁻²] = p(p+1)γ²/((q-1)(q-2)).
			variance := p*(p+1)*g*g/((q-1)*(q-2)) - mean*mean
			got, _ := meanSE(s, func(c customerSummary) float64 { return c.first })
			checkMean(t, "E[z]", got, math.Sqrt(variance/float64(len(s))), mean)
		})
	}
}

// TestBirthsUniform ensures births spread evenly over the cohort window: the
// mean age at End is end - cohort/2 with variance cohort²/12.
func TestBirthsUniform(t *testing.T) {
	cfg := small(BGNBD, statCustomers, 2)
	cfg.CohortDays = 30
	cfg.End = cfg.Start.AddDate(0, 0, 60)
	s := summarise(t, cfg)
	c := float64(cfg.CohortDays) / 7
	got, _ := meanSE(s, func(c customerSummary) float64 { return c.age })
	checkMean(t, "mean age", got, c/math.Sqrt(12*float64(len(s))), 60.0/7-c/2)
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
