package baseline

import (
	"context"
	"fmt"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/cohort-clv/cohort/synth"
)

// TestBGNBDPReturnProperties ensures P(at least one purchase in (T, T+t])
// is 0 at t = 0, grows like P(alive)·(r+x)/(α+T)·t for small t (without
// losing digits), increases with t, never exceeds P(alive), reaches it as
// t → ∞, and matches Fader & Hardie's two-term expression for the
// probability of no purchase.
func TestBGNBDPReturnProperties(t *testing.T) {
	hardie := BGNBD{R: 0.243, Alpha: 4.414, A: 0.793, B: 2.426}
	heavy := BGNBD{R: 3.2, Alpha: 0.8, A: 2.5, B: 0.6} // b < 1: b+x-1 small at x = 1
	cases := []struct {
		name string
		m    BGNBD
		c    RFM
	}{
		{"one-time buyer", cdnowBG, RFM{T: 38.86}},
		{"new one-time buyer", cdnowBG, RFM{T: 0.1}},
		{"FHL customer 1", cdnowBG, RFM{X: 2, Tx: 30.43, T: 38.86}},
		{"frequent and recent", cdnowBG, RFM{X: 29, Tx: 38.71, T: 38.86}},
		{"frequent, long gone", cdnowBG, RFM{X: 12, Tx: 4, T: 70}},
		{"published parameters", hardie, RFM{X: 1, Tx: 2, T: 39}},
		{"b below 1", heavy, RFM{X: 1, Tx: 20, T: 30}},
		{"b below 1, heavy", heavy, RFM{X: 400, Tx: 29.9, T: 30}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m, c := tc.m, tc.c
			alive := m.PAlive(c)
			if got := m.PReturn(c, 0); got != 0 {
				t.Errorf("P(return) over 0 weeks = %v, want 0", got)
			}
			// Small t: P(alive)·E[1 - e^(-λt)] ≈ P(alive)·E[λ]·t, with
			// E[λ | alive, history] = (r+x)/(α+T).
			const tiny = 1e-9
			slope := alive * (m.R + c.X) / (m.Alpha + c.T)
			if got := m.PReturn(c, tiny) / tiny; relErr(got, slope) > 1e-6 {
				t.Errorf("P(return over %g weeks)/%g = %.10g, want the slope P(alive)(r+x)/(α+T) = %.10g", tiny, tiny, got, slope)
			}
			prev := 0.0
			for _, h := range []float64{1e-6, 0.01, 1, 4, 13, 26, 39, 52, 104, 520} {
				got := m.PReturn(c, h)
				// Strictly increasing, until it rounds to P(alive).
				if !(got > prev) && !(got == prev && alive-got < 1e-15) {
					t.Errorf("P(return over %v weeks) = %v, not above %v at a shorter horizon", h, got, prev)
				}
				if got > alive {
					t.Errorf("P(return over %v weeks) = %v, above P(alive) = %v", h, got, alive)
				}
				prev = got
			}
			for _, h := range []float64{1e300, math.Inf(1)} {
				if got := m.PReturn(c, h); math.Abs(got-alive) > 1e-12 {
					t.Errorf("P(return over %v weeks) = %v, want P(alive) = %v", h, got, alive)
				}
			}
			if c.X == 0 {
				return
			}
			// Fader & Hardie (2019), as pymc-marketing writes it:
			// P(none) = (K_E + K_F) / (K_E + K_M) with
			// K_E = B(a+1, b+x-1)/(α+tx)^(r+x), K_F = B(a, b+x)/(α+T+t)^(r+x),
			// K_M = B(a, b+x)/(α+T)^(r+x), here in logs.
			for _, h := range []float64{0.5, 39, 300} {
				rx := m.R + c.X
				kE := lbeta(m.A+1, m.B+c.X-1) - rx*math.Log(m.Alpha+c.Tx)
				kF := lbeta(m.A, m.B+c.X) - rx*math.Log(m.Alpha+c.T+h)
				kM := lbeta(m.A, m.B+c.X) - rx*math.Log(m.Alpha+c.T)
				want := 1 - math.Exp(logAddExp(kE, kF)-logAddExp(kE, kM))
				if got := m.PReturn(c, h); math.Abs(got-want) > 1e-12 {
					t.Errorf("P(return over %v weeks) = %.15g, Fader & Hardie's 1 - P(none) = %.15g", h, got, want)
				}
			}
		})
	}
}

func lbeta(a, b float64) float64 {
	la, _ := math.Lgamma(a)
	lb, _ := math.Lgamma(b)
	lab, _ := math.Lgamma(a + b)
	return la + lb - lab
}

// TestBGNBDPReturnInvalid ensures an impossible summary or horizon gives
// NaN rather than a probability.
func TestBGNBDPReturnInvalid(t *testing.T) {
	for _, tc := range []struct {
		name    string
		c       RFM
		horizon float64
	}{
		{"negative horizon", RFM{X: 1, Tx: 1, T: 2}, -1},
		{"NaN horizon", RFM{X: 1, Tx: 1, T: 2}, math.NaN()},
		{"recency after age", RFM{X: 1, Tx: 3, T: 2}, 39},
		{"fractional frequency", RFM{X: 1.5, Tx: 1, T: 2}, 39},
		{"recency without repeats", RFM{Tx: 1, T: 2}, 39},
	} {
		if got := cdnowBG.PReturn(tc.c, tc.horizon); !math.IsNaN(got) {
			t.Errorf("%s: P(return) = %v, want NaN", tc.name, got)
		}
	}
}

// holdoutSample is one simulated customer's calibration summary and whether
// the customer bought in the holdout.
type holdoutSample struct {
	c      RFM
	bought bool
}

// simulateHoldout draws n customers from synth's BG/NBD process with
// CDNOW's parameters (births over 12 weeks from the start), summarises each
// over the first 39 weeks with synth's exact transaction times, and records
// whether the customer bought in the next 39 weeks, where the log ends.
func simulateHoldout(t *testing.T, n int, seed uint64) (BGNBD, []holdoutSample) {
	t.Helper()
	cfg := synth.DefaultConfig(synth.BGNBD)
	cfg.Customers, cfg.Seed = n, seed
	calEnd := cfg.Start.AddDate(0, 0, 39*7)
	if !cfg.End.Equal(calEnd.AddDate(0, 0, 39*7)) {
		t.Fatalf("synth's default shop ends %v, want 78 weeks after %v", cfg.End, cfg.Start)
	}
	week := func(d time.Duration) float64 { return d.Hours() / (7 * 24) }
	var (
		out         []holdoutSample
		id          string
		first, last time.Time
		x           int
		bought      bool
	)
	flush := func() {
		if id != "" {
			out = append(out, holdoutSample{RFM{X: float64(x), Tx: week(last.Sub(first)), T: week(calEnd.Sub(first))}, bought})
		}
	}
	err := synth.Generate(context.Background(), cfg, func(tr synth.Transaction) error {
		switch {
		case tr.Customer != id:
			flush()
			id, first, last, x, bought = tr.Customer, tr.Time, tr.Time, 0, false
		case tr.Time.After(calEnd):
			bought = true
		default:
			x++
			last = tr.Time
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	flush()
	if len(out) != n {
		t.Fatalf("simulated %d customers, want %d", len(out), n)
	}
	p := cfg.Params
	return BGNBD{R: p.R, Alpha: p.Alpha, A: p.A, B: p.B}, out
}

// calibrationZ is (observed - predicted number of customers who bought) over
// its standard deviation, sqrt(Σ p(1-p)): if the predictions are the true
// probabilities, the customers' outcomes are independent Bernoulli draws and
// z is about standard normal.
func calibrationZ(pred []float64, bought []bool) (z, meanPred, share float64) {
	var sum, variance, hits float64
	for i, p := range pred {
		sum += p
		variance += p * (1 - p)
		if bought[i] {
			hits++
		}
	}
	n := float64(len(pred))
	return (hits - sum) / math.Sqrt(variance), sum / n, hits / n
}

// TestBGNBDPReturnCalibratedOnSimulation ensures PReturn, computed from each
// simulated customer's calibration summary with the parameters the customers
// were drawn from, predicts the share who buy in the holdout: the mean
// prediction is within 4 standard errors of the observed share overall, by
// number of repeat purchases, and in quintiles of the prediction. P(alive)
// and the alive customers' chance alone, scored the same way, are far off,
// so the check can tell a wrong formula.
func TestBGNBDPReturnCalibratedOnSimulation(t *testing.T) {
	const n, horizon, limit = 30000, 39.0, 4.0
	m, sample := simulateHoldout(t, n, 7)

	type score struct {
		name string
		f    func(RFM) float64
	}
	preturn := score{"P(return)", func(c RFM) float64 { return m.PReturn(c, horizon) }}
	wrong := []score{
		{"P(alive)", m.PAlive},
		{"P(return | alive)", func(c RFM) float64 { return m.PReturn(c, horizon) / m.PAlive(c) }},
	}
	scoreAll := func(s score) ([]float64, []bool) {
		pred, bought := make([]float64, len(sample)), make([]bool, len(sample))
		for i, h := range sample {
			pred[i], bought[i] = s.f(h.c), h.bought
		}
		return pred, bought
	}

	pred, bought := scoreAll(preturn)
	type bin struct {
		name string
		idx  []int
	}
	bins := []bin{{name: "all"}}
	byX := []bin{{name: "x = 0"}, {name: "x = 1"}, {name: "x = 2-3"}, {name: "x >= 4"}}
	for i, h := range sample {
		bins[0].idx = append(bins[0].idx, i)
		switch x := h.c.X; {
		case x == 0:
			byX[0].idx = append(byX[0].idx, i)
		case x == 1:
			byX[1].idx = append(byX[1].idx, i)
		case x <= 3:
			byX[2].idx = append(byX[2].idx, i)
		default:
			byX[3].idx = append(byX[3].idx, i)
		}
	}
	bins = append(bins, byX...)
	order := make([]int, len(pred))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmpFloat(pred[a], pred[b]) })
	for q := range 5 {
		bins = append(bins, bin{fmt.Sprintf("prediction quintile %d", q+1), order[q*len(order)/5 : (q+1)*len(order)/5]})
	}
	for _, b := range bins {
		if len(b.idx) < 200 {
			t.Fatalf("%s: %d customers, too few to check (the simulation changed?)", b.name, len(b.idx))
		}
		p, y := make([]float64, len(b.idx)), make([]bool, len(b.idx))
		for j, i := range b.idx {
			p[j], y[j] = pred[i], bought[i]
		}
		z, mean, share := calibrationZ(p, y)
		t.Logf("%-22s n=%5d  mean P(return) %.4f  bought %.4f  z %+.2f", b.name, len(b.idx), mean, share, z)
		if math.Abs(z) > limit {
			t.Errorf("%s: mean P(return) %.4f, observed share %.4f: z = %.2f, want |z| <= %v", b.name, mean, share, z, limit)
		}
	}
	for _, s := range wrong {
		p, y := scoreAll(s)
		if z, mean, share := calibrationZ(p, y); math.Abs(z) < 5*limit {
			t.Errorf("%s: mean %.4f vs observed share %.4f, z = %.2f: the check cannot tell it from P(return)", s.name, mean, share, z)
		}
	}
}
