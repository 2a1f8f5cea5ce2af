package baseline

import (
	"context"
	"encoding/csv"
	"math"
	"os"
	"strconv"
	"testing"

	"github.com/cohort-clv/cohort/internal/shareddata"
)

// cdnowSample is the RFM summary of the CDNOW 1/10 sample (2357 customers,
// calibration to 1997-09-30, weeks) with each customer's mean repeat spend.
type cdnowSample struct {
	rfm  []RFM
	zbar []float64
}

// loadCDNOW reads cdnow_customers_summary_with_transactions.csv (header
// ID,x,t_x,T,zbar) from the shared data folder, skipping when it is absent.
func loadCDNOW(tb testing.TB) cdnowSample {
	tb.Helper()
	path := shareddata.Path(tb, "cdnow_customers_summary_with_transactions.csv")
	f, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	records, err := csv.NewReader(f).ReadAll()
	if err != nil {
		tb.Fatalf("read %s: %v", path, err)
	}
	want := []string{"ID", "x", "t_x", "T", "zbar"}
	for i, h := range want {
		if records[0][i] != h {
			tb.Fatalf("%s: header column %d is %q, want %q", path, i+1, records[0][i], h)
		}
	}
	var out cdnowSample
	for line, rec := range records[1:] {
		var v [4]float64
		for j := range v {
			if v[j], err = strconv.ParseFloat(rec[j+1], 64); err != nil {
				tb.Fatalf("%s line %d column %s: %v", path, line+2, want[j+1], err)
			}
		}
		out.rfm = append(out.rfm, RFM{X: v[0], Tx: v[1], T: v[2]})
		out.zbar = append(out.zbar, v[3])
	}
	if len(out.rfm) != 2357 {
		tb.Fatalf("%s: %d customers, want 2357", path, len(out.rfm))
	}
	return out
}

// sigFigs rounds v to n significant figures, to compare with published
// values printed that way.
func sigFigs(v float64, n int) float64 {
	if v == 0 {
		return 0
	}
	p := math.Pow(10, float64(n)-math.Ceil(math.Log10(math.Abs(v))))
	return math.Round(v*p) / p
}

// checkSigFigs fails unless got and want agree once both are rounded to n
// significant figures.
func checkSigFigs(t *testing.T, name string, got, want float64, n int) {
	t.Helper()
	if sigFigs(got, n) != sigFigs(want, n) {
		t.Errorf("%s = %.6g, want %.*g to %d significant figures", name, got, n, want, n)
	}
}

// TestFitBGNBDCDNOW ensures BG/NBD on the CDNOW sample gives the estimates of
// Fader, Hardie & Lee (2005), "Counting your customers the easy way", sec. 4:
// r = 0.243, α = 4.414, a = 0.793, b = 2.426, LL = -9582.4.
func TestFitBGNBDCDNOW(t *testing.T) {
	d := loadCDNOW(t)
	m, info, err := FitBGNBD(context.Background(), d.rfm)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("BG/NBD %+v, %+v", m, info)
	if !info.Converged {
		t.Errorf("not converged: %s", info.Status)
	}
	checkSigFigs(t, "r", m.R, 0.243, 3)
	checkSigFigs(t, "alpha", m.Alpha, 4.414, 3)
	checkSigFigs(t, "a", m.A, 0.793, 3)
	checkSigFigs(t, "b", m.B, 2.426, 3)
	if math.Abs(info.LogLikelihood-(-9582.4)) > 0.05 {
		t.Errorf("log-likelihood %.3f, want -9582.4", info.LogLikelihood)
	}
	if info.Customers != 2357 {
		t.Errorf("customers %d, want 2357", info.Customers)
	}
	checkMLE(t, []float64{m.R, m.Alpha, m.A, m.B}, []float64{cdnowBG.R, cdnowBG.Alpha, cdnowBG.A, cdnowBG.B})
	// The published point must not beat ours: we are at the maximum.
	pub := BGNBD{R: 0.243, Alpha: 4.414, A: 0.793, B: 2.426}
	if ll := pub.LogLikelihood(d.rfm); ll > info.LogLikelihood {
		t.Errorf("published parameters have LL %.4f > fitted %.4f", ll, info.LogLikelihood)
	}
}

// TestFitParetoNBDCDNOW ensures Pareto/NBD on the CDNOW sample gives r =
// 0.553, α = 10.578, s = 0.606, β = 11.669: the values of Fader, Hardie &
// Lee (2005, "Counting your customers the easy way", sec. 4) that lifetimes'
// test_params_out_is_close_to_Hardie_paper asserts; the BTYD walkthrough
// vignette's pnbd.EstimateParameters prints 0.5534, 10.5802, 0.6061, 11.6562
// with LL -9595.0.
func TestFitParetoNBDCDNOW(t *testing.T) {
	d := loadCDNOW(t)
	m, info, err := FitParetoNBD(context.Background(), d.rfm)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("Pareto/NBD %+v, %+v", m, info)
	if !info.Converged {
		t.Errorf("not converged: %s", info.Status)
	}
	checkSigFigs(t, "r", m.R, 0.553, 3)
	checkSigFigs(t, "alpha", m.Alpha, 10.578, 3)
	checkSigFigs(t, "s", m.S, 0.606, 3)
	checkSigFigs(t, "beta", m.Beta, 11.669, 3)
	if math.Abs(info.LogLikelihood-(-9595.0)) > 0.05 {
		t.Errorf("log-likelihood %.3f, want -9595.0", info.LogLikelihood)
	}
	checkMLE(t, []float64{m.R, m.Alpha, m.S, m.Beta}, []float64{cdnowPareto.R, cdnowPareto.Alpha, cdnowPareto.S, cdnowPareto.Beta})
}

// TestFitMBGNBDCDNOW ensures MBG/NBD on the CDNOW sample gives lifetimes'
// test_params_out_is_close_to_BTYDplus values r = 0.525, α = 6.183,
// a = 0.891, b = 1.614.
func TestFitMBGNBDCDNOW(t *testing.T) {
	d := loadCDNOW(t)
	m, info, err := FitMBGNBD(context.Background(), d.rfm)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("MBG/NBD %+v, %+v", m, info)
	if !info.Converged {
		t.Errorf("not converged: %s", info.Status)
	}
	checkSigFigs(t, "r", m.R, 0.525, 3)
	checkSigFigs(t, "alpha", m.Alpha, 6.183, 3)
	checkSigFigs(t, "a", m.A, 0.891, 3)
	checkSigFigs(t, "b", m.B, 1.614, 3)
	checkMLE(t, []float64{m.R, m.Alpha, m.A, m.B}, []float64{cdnowMBG.R, cdnowMBG.Alpha, cdnowMBG.A, cdnowMBG.B})
}

// TestFitGammaGammaCDNOW ensures Gamma-Gamma on the 946 CDNOW customers with
// repeat purchases gives p = 6.25, q = 3.74, γ = 15.44 (Fader, Hardie & Lee
// 2005, "RFM and CLV", and Hardie's note 025).
func TestFitGammaGammaCDNOW(t *testing.T) {
	d := loadCDNOW(t)
	x := make([]float64, len(d.rfm))
	for i, c := range d.rfm {
		x[i] = c.X
	}
	g, info, err := FitGammaGamma(context.Background(), x, d.zbar)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("Gamma-Gamma %+v, %+v", g, info)
	if !info.Converged {
		t.Errorf("not converged: %s", info.Status)
	}
	if info.Customers != 946 {
		t.Errorf("customers %d, want the 946 with x > 0", info.Customers)
	}
	checkSigFigs(t, "p", g.P, 6.25, 3)
	checkSigFigs(t, "q", g.Q, 3.74, 3)
	checkSigFigs(t, "v", g.V, 15.44, 3)
	checkMLE(t, []float64{g.P, g.Q, g.V}, []float64{cdnowGG.P, cdnowGG.Q, cdnowGG.V})
}

// checkMLE fails unless the fit agrees to 1e-5 (relative) with the 7-digit
// maximum-likelihood constants that predict_test.go uses, which keeps those
// constants honest.
func checkMLE(t *testing.T, got, want []float64) {
	t.Helper()
	for i := range got {
		if relErr(got[i], want[i]) > 1e-5 {
			t.Errorf("parameter %d = %.8g, want the recorded MLE %.8g", i, got[i], want[i])
		}
	}
}
