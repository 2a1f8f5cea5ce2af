package baseline

import (
	"math"
	"testing"
)

// Maximum-likelihood parameters on the CDNOW sample to 7 digits, as the
// TestFit*CDNOW tests find them (and check against the published 3-4 digit
// values). The spreadsheets and packages whose forecasts are checked here
// used unrounded estimates, so rounded ones would move their last digit.
var (
	cdnowBG     = BGNBD{R: 0.2425929, Alpha: 4.413532, A: 0.7928861, B: 2.425753}
	cdnowMBG    = MBGNBD{R: 0.5248380, Alpha: 6.182992, A: 0.8913562, B: 1.613999}
	cdnowPareto = ParetoNBD{R: 0.5532754, Alpha: 10.57761, S: 0.6062137, Beta: 11.66792}
	cdnowGG     = GammaGamma{P: 6.248803, Q: 3.744588, V: 15.44775}
)

// TestBGNBDPredictionsPublished ensures the BG/NBD forecasts reproduce the
// numbers of Fader, Hardie & Lee (2005) and Hardie's spreadsheet, as
// lifetimes' tests check them: E[Y(39) | x=2, tx=30.43, T=38.86] = 1.226
// (the paper, sec. 5) and E[X(t)] at six horizons.
func TestBGNBDPredictionsPublished(t *testing.T) {
	if got := cdnowBG.ExpectedPurchases(RFM{X: 2, Tx: 30.43, T: 38.86}, 39); math.Abs(got-1.226) > 5e-4 {
		t.Errorf("E[Y(39)|2, 30.43, 38.86] = %.5f, want 1.226", got)
	}
	times := []float64{0.1429, 1.0, 3.00, 31.8571, 32.00, 78.00}
	want := []float64{0.0078, 0.0532, 0.1506, 1.0405, 1.0437, 1.8576}
	for i, tt := range times {
		if got := cdnowBG.UnconditionalPurchases(tt); math.Abs(got-want[i]) > 5e-4 {
			t.Errorf("E[X(%v)] = %.5f, want %.4f", tt, got, want[i])
		}
	}
	if p := cdnowBG.PAlive(RFM{X: 0, Tx: 0, T: 1}); p != 1 {
		t.Errorf("P(alive | x=0) = %v, want 1 (BG/NBD drops out only after a repeat purchase)", p)
	}
}

// TestParetoNBDPredictionsPublished ensures the Pareto/NBD forecasts match
// the BTYD walkthrough vignette (P(alive) = 0.9979 at its parameters 0.5534,
// 10.5802, 0.6061, 11.6562, and E[X(52)] = 25.46, for x=26, tx=30.86, T=31),
// the 8-digit E[X(t)], t = 0..9, of BTYD's pnbd.Expectation example
// (parameters 0.55, 10.56, 0.61, 11.64) that lifetimes' tests quote, and
// lifetimes' test_conditional_expectation_underflow values (17 digits).
func TestParetoNBDPredictionsPublished(t *testing.T) {
	c := RFM{X: 26, Tx: 30.86, T: 31}
	walk := ParetoNBD{R: 0.5534, Alpha: 10.5802, S: 0.6061, Beta: 11.6562}
	if p := walk.PAlive(c); math.Abs(p-0.9979) > 5e-5 {
		t.Errorf("P(alive|26, 30.86, 31) = %.5f, want 0.9979", p)
	}
	if e := cdnowPareto.ExpectedPurchases(c, 52); math.Abs(e-25.46) > 0.005 {
		t.Errorf("E[X(52)|26, 30.86, 31] = %.4f, want 25.46", e)
	}
	manual := ParetoNBD{R: 0.55, Alpha: 10.56, S: 0.61, Beta: 11.64}
	want := []float64{0, 0.05077821, 0.09916088, 0.14542507, 0.18979930,
		0.23247466, 0.27361274, 0.31335159, 0.35181024, 0.38909211}
	for i, w := range want {
		if got := manual.UnconditionalPurchases(float64(i)); math.Abs(got-w) > 5e-9 {
			t.Errorf("E[X(%d)] = %.8f, want %.8f", i, got, w)
		}
	}
	lt := ParetoNBD{R: 0.55, Alpha: 10.58, S: 0.61, Beta: 11.67}
	for _, tc := range []struct{ x, want float64 }{{132, 6.2060517889632418}, {133, 6.2528722475748113}} {
		if got := lt.ExpectedPurchases(RFM{X: tc.x, Tx: 200, T: 200}, 10); relErr(got, tc.want) > 1e-12 {
			t.Errorf("E[X(10)|%v, 200, 200] = %.17g, want %.17g", tc.x, got, tc.want)
		}
	}
}

// TestParetoNBDExtremeHistories ensures P(alive) and log A0 stay finite and
// in range for the histories that overflowed lifetimes (its
// test_overflow_error and test_conditional_probability_alive_overflow_error).
func TestParetoNBDExtremeHistories(t *testing.T) {
	m := ParetoNBD{R: 10.465, Alpha: 7.98565181e-03, S: 3.0516, Beta: 2.820}
	for _, c := range []RFM{{400, 5, 6}, {500, 1, 37}, {500, 4, 37}} {
		l := paretoLogA0(m.R, m.Alpha, m.S, m.Beta, c.X, c.Tx, c.T)
		if !(l < 0) || math.IsInf(l, 0) {
			t.Errorf("log A0 at %+v = %v, want finite and < 0", c, l)
		}
	}
	for _, c := range []RFM{{40, 5, 6}, {50, 1, 37}, {50, 4, 37}, {400, 5, 6}} {
		if p := m.PAlive(c); !(p >= 0 && p <= 1) {
			t.Errorf("P(alive) at %+v = %v, want in [0, 1]", c, p)
		}
	}
}

// TestPAliveInUnitInterval ensures P(alive) of every model lies in [0, 1]
// and forecasts are finite and >= 0 over a grid of histories, including
// thousands of purchases and horizons of ten years.
func TestPAliveInUnitInterval(t *testing.T) {
	models := map[string]Forecaster{
		"bgnbd":  cdnowBG,
		"mbgnbd": cdnowMBG,
		"pareto": cdnowPareto,
	}
	for name, m := range models {
		for _, x := range []float64{0, 1, 10, 90, 2000} {
			for _, tx := range []float64{0, 10, 50, 90} {
				if x == 0 && tx > 0 {
					continue
				}
				if x > 0 && tx == 0 {
					tx = 0.5
				}
				for _, T := range []float64{tx, tx + 10, 100} {
					c := RFM{X: x, Tx: tx, T: T}
					if p := m.PAlive(c); !(p >= 0 && p <= 1) {
						t.Errorf("%s: P(alive) at %+v = %v", name, c, p)
					}
					for _, h := range []float64{1, 39, 520} {
						if e := m.ExpectedPurchases(c, h); !(e >= 0) || math.IsInf(e, 0) {
							t.Errorf("%s: E at %+v, t=%v = %v", name, c, h, e)
						}
					}
				}
			}
		}
	}
}

// TestExpectedPurchasesIncreasing ensures each model's forecasts grow with
// the horizon and, for a customer seen at T = 0, equal the unconditional
// expectation.
func TestExpectedPurchasesIncreasing(t *testing.T) {
	models := map[string]Forecaster{
		"bgnbd":  cdnowBG,
		"mbgnbd": cdnowMBG,
		"pareto": cdnowPareto,
	}
	c := RFM{X: 3, Tx: 20, T: 35}
	for name, m := range models {
		prev := 0.0
		for _, h := range []float64{0.5, 1, 5, 39, 100, 520} {
			e := m.ExpectedPurchases(c, h)
			if !(e > prev) {
				t.Errorf("%s: E at t=%v is %v, not above %v", name, h, e, prev)
			}
			prev = e
			if u, e0 := m.UnconditionalPurchases(h), m.ExpectedPurchases(RFM{}, h); u != e0 {
				t.Errorf("%s: unconditional %v != conditional at T=0 %v", name, u, e0)
			}
		}
		if e := m.ExpectedPurchases(c, 0); e != 0 {
			t.Errorf("%s: E at t=0 is %v", name, e)
		}
		if e := m.ExpectedPurchases(RFM{X: 1, Tx: 5, T: 3}, 1); !math.IsNaN(e) {
			t.Errorf("%s: E for Tx > T is %v, want NaN", name, e)
		}
	}
}

// TestBGNBDNearAEqualsOne ensures the BG/NBD forecast is continuous across
// a = 1, where its closed form is 0/0.
func TestBGNBDNearAEqualsOne(t *testing.T) {
	c := RFM{X: 2, Tx: 30.43, T: 38.86}
	mid := BGNBD{R: 0.243, Alpha: 4.414, A: 1, B: 2.426}.ExpectedPurchases(c, 39)
	lo := BGNBD{R: 0.243, Alpha: 4.414, A: 1 - 1e-4, B: 2.426}.ExpectedPurchases(c, 39)
	hi := BGNBD{R: 0.243, Alpha: 4.414, A: 1 + 1e-4, B: 2.426}.ExpectedPurchases(c, 39)
	if math.IsNaN(mid) || math.Abs(mid-(lo+hi)/2) > 1e-6 {
		t.Errorf("E at a=1: %v; neighbours %v, %v", mid, lo, hi)
	}
}

// TestMBGNBDPredictions ensures the MBG/NBD forecasts behave as lifetimes'
// tests require: close to BG/NBD's 1.226 for the FHL example, unconditional
// forecasts within 5% of Hardie's BG/NBD spreadsheet, and P(alive) < 1
// without repeat purchases.
func TestMBGNBDPredictions(t *testing.T) {
	m := cdnowMBG
	if got := m.ExpectedPurchases(RFM{X: 2, Tx: 30.43, T: 38.86}, 39); math.Abs(got-1.226) > 0.05 {
		t.Errorf("E[Y(39)|2, 30.43, 38.86] = %.4f, want 1.226 ± 0.05", got)
	}
	times := []float64{0.1429, 1.0, 3.00, 31.8571, 32.00, 78.00}
	want := []float64{0.0078, 0.0532, 0.1506, 1.0405, 1.0437, 1.8576}
	for i, tt := range times {
		if got := m.UnconditionalPurchases(tt); relErr(got, want[i]) > 0.05 {
			t.Errorf("E[X(%v)] = %.4f, want %.4f ± 5%%", tt, got, want[i])
		}
	}
	if p := m.PAlive(RFM{X: 0, Tx: 0, T: 1}); !(p < 1) {
		t.Errorf("P(alive | x=0) = %v, want < 1", p)
	}
}

// TestGammaGammaExpectedSpend ensures the conditional expected spend of the
// first ten CDNOW customers matches Hardie's spreadsheet (note 025, as in
// lifetimes' test_conditional_expected_average_profit), and that customers
// without repeat purchases get the population mean p·v/(q-1).
func TestGammaGammaExpectedSpend(t *testing.T) {
	x := []float64{2, 1, 0, 0, 0, 7, 1, 0, 2, 0}
	zbar := []float64{22.35, 11.77, 0, 0, 0, 73.74, 11.77, 0, 25.55, 0}
	want := []float64{24.65, 18.91, 35.17, 35.17, 35.17, 71.46, 18.91, 35.17, 27.28, 35.17}
	for i := range x {
		if got := cdnowGG.ExpectedSpend(x[i], zbar[i]); math.Abs(got-want[i]) > 0.01 {
			t.Errorf("customer %d: E[Z|x=%v, mbar=%v] = %.3f, want %.2f", i+1, x[i], zbar[i], got, want[i])
		}
	}
	pop := cdnowGG.P * cdnowGG.V / (cdnowGG.Q - 1)
	if got := cdnowGG.ExpectedSpend(0, 99); math.Abs(got-pop) > 1e-12 {
		t.Errorf("x=0: %v, want population mean %v whatever mbar", got, pop)
	}
	if got := cdnowGG.PopulationMeanSpend(); math.Abs(got-pop) > 1e-12 {
		t.Errorf("population mean %v, want %v", got, pop)
	}
	if got := (GammaGamma{P: 1, Q: 0.9, V: 1}).ExpectedSpend(0, 0); !math.IsNaN(got) {
		t.Errorf("q < 1: %v, want NaN (no finite mean)", got)
	}
}

// TestForecastsAgainstMpmath ensures the forecasts keep their digits for
// histories where 2F1 or the powers around it leave float64 range (x up to
// 3000, horizons up to 2000 weeks): the references evaluate the same closed
// forms with mpmath 1.3.0 at 50 digits, at the cdnow* parameters above.
func TestForecastsAgainstMpmath(t *testing.T) {
	cases := []struct {
		c                 RFM
		horizon           float64
		bg, mbg, pa, pExp float64
	}{
		{RFM{2, 30.43, 38.86}, 39, 1.2259104132419366, 1.2626707186455266, 0.86911871496838444, 1.4551129346167312},
		{RFM{50, 38, 39}, 52, 41.324612755261024, 38.695242740937828, 0.97916273971532097, 41.187889022094703},
		{RFM{500, 38.5, 39}, 520, 1115.6571894125629, 994.71706426322311, 0.84101146264014771, 1742.53102340661},
		{RFM{0, 0, 39}, 520, 1.4593818299182764, 1.0341536430368297, 0.29427775289635034, 0.6739490852204041},
		{RFM{5, 10, 60}, 2000, 0.10063922419525561, 0.086258032487208073, 0.0054300872633427586, 0.21470507562219412},
		{RFM{3000, 99, 100}, 10, 3.0295214974068603e-7, 4.2699258137471243e-7, 7.2157969366189949e-9, 1.907286643410005e-6},
	}
	for _, tc := range cases {
		got := []float64{
			cdnowBG.ExpectedPurchases(tc.c, tc.horizon),
			cdnowMBG.ExpectedPurchases(tc.c, tc.horizon),
			cdnowPareto.PAlive(tc.c),
			cdnowPareto.ExpectedPurchases(tc.c, tc.horizon),
		}
		want := []float64{tc.bg, tc.mbg, tc.pa, tc.pExp}
		names := []string{"BG/NBD E", "MBG/NBD E", "Pareto P(alive)", "Pareto E"}
		for i := range got {
			if e := relErr(got[i], want[i]); e > 1e-9 {
				t.Errorf("%s at %+v, t=%v: %.17g, mpmath %.17g (rel err %.2g)", names[i], tc.c, tc.horizon, got[i], want[i], e)
			}
		}
	}
}
