package baseline

import (
	"math"
	"testing"
)

// TestExpectedHoldoutSpend ensures the holdout-spend helper is expected
// purchases times expected spend per purchase, for each purchase model, and
// that customers without repeat purchases get the population mean spend.
func TestExpectedHoldoutSpend(t *testing.T) {
	models := map[string]Forecaster{"bgnbd": cdnowBG, "mbgnbd": cdnowMBG, "pareto": cdnowPareto}
	for name, m := range models {
		for _, tc := range []struct {
			c    RFM
			mbar float64
		}{{RFM{X: 2, Tx: 30.43, T: 38.86}, 22.35}, {RFM{T: 38.86}, 0}, {RFM{X: 7, Tx: 29.43, T: 38.86}, 73.74}} {
			want := m.ExpectedPurchases(tc.c, 39) * cdnowGG.ExpectedSpend(tc.c.X, tc.mbar)
			if got := ExpectedHoldoutSpend(m, cdnowGG, tc.c, tc.mbar, 39); got != want || !(got > 0) {
				t.Errorf("%s %+v: %v, want %v", name, tc.c, got, want)
			}
		}
		zero := ExpectedHoldoutSpend(m, cdnowGG, RFM{T: 38.86}, 123, 39)
		if want := m.ExpectedPurchases(RFM{T: 38.86}, 39) * cdnowGG.PopulationMeanSpend(); math.Abs(zero-want) > 1e-12 {
			t.Errorf("%s x=0: %v, want purchases × population mean %v", name, zero, want)
		}
	}
}

// TestCLVDiscounting ensures CLV equals the undiscounted holdout spend at a
// zero rate, falls as the rate rises, and with one period equals the spend
// divided by 1 + rate.
func TestCLVDiscounting(t *testing.T) {
	c, mbar := RFM{X: 5, Tx: 24.43, T: 38.86}, 29.44
	plain := ExpectedHoldoutSpend(cdnowPareto, cdnowGG, c, mbar, 52)
	got, err := CLV(cdnowPareto, cdnowGG, c, mbar, 52, Discount{})
	if err != nil || got != plain {
		t.Errorf("zero discount: %v, %v; want %v", got, err, plain)
	}
	prev := plain
	for _, rate := range []float64{0.005, 0.01, 0.05} {
		v, err := CLV(cdnowPareto, cdnowGG, c, mbar, 52, Discount{StepWeeks: 52.0 / 12, Rate: rate})
		if err != nil {
			t.Fatal(err)
		}
		if !(v < prev && v > 0) {
			t.Errorf("rate %v: %v, want in (0, %v)", rate, v, prev)
		}
		prev = v
	}
	one, err := CLV(cdnowPareto, cdnowGG, c, mbar, 52, Discount{StepWeeks: 52, Rate: 0.1})
	if err != nil || math.Abs(one-plain/1.1) > 1e-9*plain {
		t.Errorf("one period: %v, %v; want %v", one, err, plain/1.1)
	}
	// A horizon that is not a whole number of periods: the last, partial
	// period is discounted as a whole one.
	part, err := CLV(cdnowPareto, cdnowGG, c, mbar, 6, Discount{StepWeeks: 4, Rate: 0.1})
	e4, e6 := cdnowPareto.ExpectedPurchases(c, 4), cdnowPareto.ExpectedPurchases(c, 6)
	want := cdnowGG.ExpectedSpend(c.X, mbar) * (e4/1.1 + (e6-e4)/1.21)
	if err != nil || math.Abs(part-want) > 1e-12*want {
		t.Errorf("partial period: %v, %v; want %v", part, err, want)
	}
}

// TestCLVRejectsBadInput ensures CLV reports an unusable horizon or discount.
func TestCLVRejectsBadInput(t *testing.T) {
	c := RFM{X: 1, Tx: 3, T: 10}
	for _, tc := range []struct {
		name    string
		horizon float64
		d       Discount
	}{
		{"negative horizon", -1, Discount{}},
		{"no period", 10, Discount{Rate: 0.1}},
		{"rate <= -1", 10, Discount{StepWeeks: 1, Rate: -1}},
		{"too many periods", 1e9, Discount{StepWeeks: 1, Rate: 0.1}},
	} {
		if v, err := CLV(cdnowBG, cdnowGG, c, 10, tc.horizon, tc.d); err == nil {
			t.Errorf("%s: %v, want an error", tc.name, v)
		}
	}
}
