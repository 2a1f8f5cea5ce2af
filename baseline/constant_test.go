package baseline

import (
	"context"
	"encoding/json"
	"math"
	"math/rand/v2"
	"testing"
)

// TestFitGammaGammaConstant ensures spend that is one value for every
// customer (a count-only log's 1 per purchase day, or one price summed with
// rounding) is not fitted but gets the constant model: expected spend
// exactly that value for every customer, converged, a +Inf likelihood.
func TestFitGammaGammaConstant(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	frequencies := func(n int, spread float64) []float64 {
		x := make([]float64, n)
		for i := range x {
			x[i] = math.Floor(rng.ExpFloat64() * spread) // some x = 0, skipped
		}
		x[0] = 1 // at least one repeat buyer
		return x
	}
	// price is the mean of x purchases of 9.99, summed as clv sums them:
	// not always 9.99 to the last bit.
	price := func(x []float64) []float64 {
		m := make([]float64, len(x))
		for i, xi := range x {
			sum := 0.0
			for range int(xi) {
				sum += 9.99
			}
			if xi > 0 {
				m[i] = sum / xi
			}
		}
		return m
	}
	fill := func(x []float64, v float64) []float64 {
		m := make([]float64, len(x))
		for i, xi := range x {
			if xi > 0 {
				m[i] = v
			}
		}
		return m
	}
	type data struct{ x, mbar []float64 }
	tests := []struct {
		name string
		data data
		want float64
	}{
		{"count-only, many customers", func() data { x := frequencies(5000, 3); return data{x, fill(x, 1)} }(), 1},
		{"count-only, wide frequencies", func() data { x := frequencies(300, 30); return data{x, fill(x, 1)} }(), 1},
		{"one repeat buyer", data{[]float64{0, 4, 0}, []float64{0, 1, 0}}, 1},
		{"one price, rounded sums", func() data { x := frequencies(500, 10); return data{x, price(x)} }(), 9.99},
		{"tiny money", func() data { x := frequencies(50, 3); return data{x, fill(x, 0.01)} }(), 0.01},
		{"large money", func() data { x := frequencies(50, 3); return data{x, fill(x, 1e6)} }(), 1e6},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g, info, err := FitGammaGamma(context.Background(), tc.data.x, tc.data.mbar)
			if err != nil {
				t.Fatal(err)
			}
			c, ok := g.Constant()
			if !ok || g.P != ConstantShape || g.Q != ConstantShape+1 || math.Abs(c-tc.want) > 1e-9*tc.want {
				t.Fatalf("fit %+v (constant %v, %v), want the constant model of %v", g, c, ok, tc.want)
			}
			if !info.Converged || !math.IsInf(info.LogLikelihood, 1) || info.Customers == 0 {
				t.Errorf("info %+v: want converged, log-likelihood +Inf, customers counted", info)
			}
			if got := g.PopulationMeanSpend(); got != c {
				t.Errorf("population mean spend %v, want %v", got, c)
			}
			for i := range 200 {
				x := float64(i)
				for _, mbar := range []float64{0, c, 2 * c} {
					if got := g.ExpectedSpend(x, mbar); got != c {
						t.Fatalf("ExpectedSpend(%v, %v) = %v, want %v", x, mbar, got, c)
					}
				}
			}
			// The plain formula agrees where the data can reach it (mbar = c),
			// so p, q and v read from metrics.json mean the same.
			for i := range 200 {
				x := float64(i)
				if f := g.P * (g.V + x*c) / (g.P*x + g.Q - 1); math.Abs(f-c) > 1e-12*c {
					t.Fatalf("p(v+x·c)/(px+q-1) at x = %v is %v, want %v", x, f, c)
				}
			}
		})
	}
}

// TestGammaGammaConstantModel ensures the constant model predicts through
// the baseline's combinations (expected holdout spend, discounted CLV) as
// expected purchases times the constant, survives a JSON round trip, and
// scores likelihoods as the point mass it is.
func TestGammaGammaConstantModel(t *testing.T) {
	g := GammaGamma{P: ConstantShape, Q: ConstantShape + 1, V: 1}
	c := RFM{X: 3, Tx: 20, T: 30}
	if got, want := ExpectedHoldoutSpend(cdnowBG, g, c, 1, 39), cdnowBG.ExpectedPurchases(c, 39); got != want {
		t.Errorf("expected holdout spend %v, want expected purchases %v", got, want)
	}
	d := Discount{StepWeeks: 52.0 / 12, Rate: 0.01}
	got, err := CLV(cdnowBG, g, c, 1, 52, d)
	if err != nil {
		t.Fatal(err)
	}
	g7 := g
	g7.V = 7
	if got7, _ := CLV(cdnowBG, g7, c, 7, 52, d); math.Abs(got7-7*got) > 1e-12*got7 {
		t.Errorf("CLV at spend 7: %v, want 7 × %v", got7, got)
	}

	b, err := json.Marshal(g)
	if err != nil {
		t.Fatal(err)
	}
	var back GammaGamma
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if _, ok := back.Constant(); !ok || back != g {
		t.Errorf("JSON %s decodes to %+v, want the constant model %+v", b, back, g)
	}

	tests := []struct {
		name    string
		x, mbar []float64
		want    float64
	}{
		{"all at V", []float64{1, 0, 5}, []float64{1, 0, 1}, math.Inf(1)},
		{"one off V", []float64{1, 2}, []float64{1, 1.5}, math.Inf(-1)},
		{"invalid", []float64{1}, []float64{-1}, math.NaN()},
	}
	for _, tc := range tests {
		got := g.LogLikelihood(tc.x, tc.mbar)
		if got != tc.want && !(math.IsNaN(got) && math.IsNaN(tc.want)) {
			t.Errorf("%s: log-likelihood %v, want %v", tc.name, got, tc.want)
		}
	}

	// Other parameters are not the constant model, however large.
	for _, other := range []GammaGamma{cdnowGG, {P: ConstantShape, Q: ConstantShape, V: 1}, {P: 1e14, Q: 1e14 + 1, V: 1}} {
		if _, ok := other.Constant(); ok {
			t.Errorf("%+v counts as the constant model", other)
		}
	}
}

// TestFitGammaGammaNearlyConstant ensures spend that varies, however little
// beyond rounding, is fitted as usual rather than taken for a constant.
func TestFitGammaGammaNearlyConstant(t *testing.T) {
	x := []float64{1, 2, 3, 1, 4, 2}
	mbar := []float64{10, 10, 10, 10, 10, 10 * (1 + 1e-6)}
	g, _, err := FitGammaGamma(context.Background(), x, mbar)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := g.Constant(); ok {
		t.Errorf("fit %+v: the constant model for spends that differ by 1e-6", g)
	}
}
