package baseline

import (
	"context"
	"math"
	"testing"
	"time"

	"gonum.org/v1/gonum/diff/fd"
	"gonum.org/v1/gonum/mat"

	"github.com/cohort-clv/cohort/synth"
)

// simulated is a synthetic customer base summarised as the fits expect it.
type simulated struct {
	rfm   []RFM
	x     []float64 // repeat purchases, for Gamma-Gamma
	mbar  []float64 // mean value of the repeat purchases (0 when x = 0)
	total int       // transactions
}

// simulate draws n customers from synth with CDNOW's parameters for process
// p: births over 12 weeks, observed for 78 weeks from the first birth day,
// exactly as synth.DefaultConfig lays out a CDNOW-like shop. Summaries use
// synth's exact (continuous) transaction times, so no day rounding enters.
func simulate(t *testing.T, p synth.Process, n int, seed uint64) simulated {
	t.Helper()
	cfg := synth.DefaultConfig(p)
	cfg.Customers, cfg.Seed = n, seed
	end := cfg.End
	week := func(d time.Duration) float64 { return d.Hours() / (7 * 24) }
	var (
		out         simulated
		id          string
		first, last time.Time
		x           int
		spend       float64
	)
	flush := func() {
		if id == "" {
			return
		}
		c := RFM{X: float64(x), Tx: week(last.Sub(first)), T: week(end.Sub(first))}
		m := 0.0
		if x > 0 {
			m = spend / float64(x)
		}
		out.rfm = append(out.rfm, c)
		out.x = append(out.x, c.X)
		out.mbar = append(out.mbar, m)
	}
	err := synth.Generate(context.Background(), cfg, func(tr synth.Transaction) error {
		out.total++
		if tr.Customer != id {
			flush()
			id, first, x, spend = tr.Customer, tr.Time, 0, 0
		} else {
			x++
			spend += tr.Amount // repeat purchases only, as FHL's zbar
		}
		last = tr.Time
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	flush()
	if len(out.rfm) != n {
		t.Fatalf("simulated %d customers, want %d", len(out.rfm), n)
	}
	return out
}

// logParamSE returns the asymptotic standard errors of the log-parameters at
// the maximum p of ll: the square roots of the diagonal of the inverse
// observed information, -∇² ll in log-parameter space.
func logParamSE(t *testing.T, ll func(p []float64) float64, p []float64) []float64 {
	t.Helper()
	theta := make([]float64, len(p))
	for i, v := range p {
		theta[i] = math.Log(v)
	}
	negLL := func(th []float64) float64 {
		q := make([]float64, len(th))
		for i, v := range th {
			q[i] = math.Exp(v)
		}
		return -ll(q)
	}
	var h mat.SymDense
	fd.Hessian(&h, negLL, theta, &fd.Settings{Formula: fd.Central, Step: 1e-4})
	var chol mat.Cholesky
	if !chol.Factorize(&h) {
		t.Fatalf("observed information is not positive definite at %v", p)
	}
	var inv mat.SymDense
	if err := chol.InverseTo(&inv); err != nil {
		t.Fatal(err)
	}
	se := make([]float64, len(p))
	for i := range se {
		se[i] = math.Sqrt(inv.At(i, i))
	}
	return se
}

// checkRecovery fails when a fitted parameter is more than 4 standard errors
// (log scale) from the truth: a false alarm has probability about 6e-5 per
// parameter. It also fails when a standard error exceeds 0.35, which would
// make the check toothless.
func checkRecovery(t *testing.T, names []string, got, truth, se []float64) {
	t.Helper()
	for i := range got {
		z := (math.Log(got[i]) - math.Log(truth[i])) / se[i]
		t.Logf("%-5s fitted %.4f true %.4f  SE(log) %.3f  z %+.2f", names[i], got[i], truth[i], se[i], z)
		if math.Abs(z) > 4 {
			t.Errorf("%s = %.4f, true %.4f: %.1f standard errors away", names[i], got[i], truth[i], z)
		}
		if se[i] > 0.35 {
			t.Errorf("%s: standard error of log %.2f is too large for a meaningful check", names[i], se[i])
		}
	}
}

// TestRecoverBGNBD ensures BG/NBD and Gamma-Gamma fits on 20,000 customers
// simulated by synth with known (CDNOW) parameters land within 4 standard
// errors of the truth, the standard errors being the fit's own observed
// information at this sample size.
func TestRecoverBGNBD(t *testing.T) {
	if testing.Short() {
		t.Skip("simulation of 20,000 customers")
	}
	sim := simulate(t, synth.BGNBD, 20000, 7)
	truth := synth.CDNOWParams(synth.BGNBD)
	m, info, err := FitBGNBD(context.Background(), sim.rfm)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("fit: %+v", info)
	if !info.Converged {
		t.Errorf("BG/NBD fit did not converge: %s", info.Status)
	}
	got := []float64{m.R, m.Alpha, m.A, m.B}
	se := logParamSE(t, func(p []float64) float64 {
		return BGNBD{R: p[0], Alpha: p[1], A: p[2], B: p[3]}.LogLikelihood(sim.rfm)
	}, got)
	checkRecovery(t, []string{"r", "alpha", "a", "b"}, got, []float64{truth.R, truth.Alpha, truth.A, truth.B}, se)

	g, info, err := FitGammaGamma(context.Background(), sim.x, sim.mbar)
	if err != nil {
		t.Fatal(err)
	}
	if !info.Converged {
		t.Errorf("Gamma-Gamma fit did not converge: %s", info.Status)
	}
	gotG := []float64{g.P, g.Q, g.V}
	seG := logParamSE(t, func(p []float64) float64 {
		return GammaGamma{P: p[0], Q: p[1], V: p[2]}.LogLikelihood(sim.x, sim.mbar)
	}, gotG)
	checkRecovery(t, []string{"p", "q", "v"}, gotG, []float64{truth.P, truth.Q, truth.Gamma}, seG)
}

// TestRecoverParetoNBD ensures a Pareto/NBD fit on 20,000 customers
// simulated by synth with known (CDNOW) parameters lands within 4 standard
// errors of the truth.
func TestRecoverParetoNBD(t *testing.T) {
	if testing.Short() {
		t.Skip("simulation of 20,000 customers")
	}
	sim := simulate(t, synth.ParetoNBD, 20000, 11)
	truth := synth.CDNOWParams(synth.ParetoNBD)
	m, info, err := FitParetoNBD(context.Background(), sim.rfm)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("fit: %+v", info)
	if !info.Converged {
		t.Errorf("Pareto/NBD fit did not converge: %s", info.Status)
	}
	got := []float64{m.R, m.Alpha, m.S, m.Beta}
	se := logParamSE(t, func(p []float64) float64 {
		return ParetoNBD{R: p[0], Alpha: p[1], S: p[2], Beta: p[3]}.LogLikelihood(sim.rfm)
	}, got)
	checkRecovery(t, []string{"r", "alpha", "s", "beta"}, got, []float64{truth.R, truth.Alpha, truth.S, truth.Beta}, se)
}
