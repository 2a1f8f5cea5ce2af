package eval

import (
	"context"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
)

// TestPairedBootstrap ensures the bootstrap intervals hold the full-sample
// score, narrow as customers grow, are exact where every resample must agree,
// and compare the two predictors on the same customers.
func TestPairedBootstrap(t *testing.T) {
	ctx := context.Background()
	// actual: 30% spenders with lognormal spend; good: actual's expectation
	// plus a little noise; poor: much noisier.
	mk := func(n int) (actual, good, poor []float64) {
		r := rand.New(rand.NewPCG(7, uint64(n)))
		for range n {
			p := r.Float64()
			mean := 20 * p
			var a float64
			if r.Float64() < p*0.6 {
				a = mean / (p * 0.6) * math.Exp(0.8*r.NormFloat64()-0.32)
			}
			actual = append(actual, a)
			good = append(good, 0.6*mean*math.Exp(0.1*r.NormFloat64()))
			poor = append(poor, 0.6*mean*math.Exp(1.5*r.NormFloat64()))
		}
		return actual, good, poor
	}
	actual, good, poor := mk(1000)
	b, err := PairedBootstrap(ctx, actual, good, poor, 200, 1)
	if err != nil {
		t.Fatal(err)
	}
	again, err := PairedBootstrap(ctx, actual, good, poor, 200, 1)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(b, again) {
		t.Fatal("the same seed gave different bootstraps")
	}
	full, err := Compute(good, actual)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range bootstrapMetrics {
		band := b.Model[k]
		if v := full.Get(k); !(float64(band.P5) <= v && v <= float64(band.P95)) {
			t.Errorf("%s: full-sample score %v outside its 90%% interval %+v", k, v, band)
		}
	}
	if s := b.ModelBetter[MetricNormalizedGini]; !(s > 0.95) {
		t.Errorf("the good predictor beat the poor one on Gini in %v of resamples, want > 0.95", s)
	}
	if d := b.Difference[MetricNormalizedGini]; !(d.P5 > 0) {
		t.Errorf("Gini difference %+v, want its whole interval above 0", d)
	}

	bigA, bigG, bigP := mk(10000)
	big, err := PairedBootstrap(ctx, bigA, bigG, bigP, 60, 1)
	if err != nil {
		t.Fatal(err)
	}
	width := func(b Band) float64 { return float64(b.P95 - b.P5) }
	for _, k := range []Metric{MetricNormalizedGini, MetricSpendRatio, MetricDecileMAPE} {
		if !(width(big.Model[k]) < width(b.Model[k])) {
			t.Errorf("%s: interval with 10000 customers %+v, want narrower than with 1000 %+v", k, big.Model[k], b.Model[k])
		}
	}

	// Predictions of exactly 1.1 x actual: every resample has ratio 1.1.
	scaled := make([]float64, len(actual))
	for i, a := range actual {
		scaled[i] = 1.1 * a
	}
	same, err := PairedBootstrap(ctx, actual, scaled, scaled, 50, 3)
	if err != nil {
		t.Fatal(err)
	}
	if r := same.Model[MetricSpendRatio]; math.Abs(float64(r.P5)-1.1) > 1e-12 || math.Abs(float64(r.P95)-1.1) > 1e-12 {
		t.Errorf("spend ratio interval %+v for predictions 1.1 x actual, want exactly 1.1", r)
	}
	for _, k := range bootstrapMetrics {
		if same.ModelBetter[k] != 0 || same.Difference[k].P5 != 0 || same.Difference[k].P95 != 0 {
			t.Errorf("%s: identical predictors differ: better share %v, difference %+v", k, same.ModelBetter[k], same.Difference[k])
		}
	}

	alone, err := PairedBootstrap(ctx, actual, good, nil, 20, 1)
	if err != nil {
		t.Fatal(err)
	}
	if alone.Baseline != nil || alone.Difference != nil || alone.ModelBetter != nil || len(alone.Model) != len(bootstrapMetrics) {
		t.Errorf("without a baseline: %+v, want the model's intervals only", alone)
	}
}

func TestPairedBootstrapErrors(t *testing.T) {
	ctx := context.Background()
	a, p := []float64{1, 0, 3}, []float64{1, 1, 1}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	for _, tc := range []struct {
		name         string
		ctx          context.Context
		actual, m, b []float64
		draws        int
		wants        string
	}{
		{"no customers", ctx, nil, nil, nil, 5, "no customers"},
		{"draws", ctx, a, p, nil, 0, "0 draws"},
		{"model length", ctx, a, p[:2], nil, 5, "model: 2 predictions for 3"},
		{"baseline NaN", ctx, a, p, []float64{1, math.NaN(), 1}, 5, "baseline"},
		{"cancelled", cancelled, a, p, p, 5, "context canceled"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := PairedBootstrap(tc.ctx, tc.actual, tc.m, tc.b, tc.draws, 1)
			if err == nil || !strings.Contains(err.Error(), tc.wants) {
				t.Fatalf("error %v, want it to mention %q", err, tc.wants)
			}
		})
	}
}
