package eval

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
)

func near(a, b, tol float64) bool {
	if math.IsNaN(a) || math.IsNaN(b) {
		return math.IsNaN(a) && math.IsNaN(b)
	}
	return math.Abs(a-b) <= tol*max(1, math.Abs(b))
}

// TestComputeHandCase ensures every metric matches values worked out by hand
// for a five-customer example (see the comments for the arithmetic).
func TestComputeHandCase(t *testing.T) {
	actual := []float64{0, 10, 0, 30, 60}
	pred := []float64{1, 2, 3, 4, 5}
	m, err := Compute(pred, actual)
	if err != nil {
		t.Fatal(err)
	}
	want := []check{
		// By prediction: 60,30,0,10,0 -> gain .6,.9,.9,1,1 (sum 4.4): raw 2*4.4/5-1.
		{"gini", m.Gini, 0.76},
		// Perfect: 60,30,10,0,0 -> .6,.9,1,1,1 (sum 4.5): raw 0.8.
		{"normalized_gini", m.NormalizedGini, 0.76 / 0.8},
		// Ranks of actual: 1.5,3,1.5,4,5; sxy=8, sxx=10, syy=9.5.
		{"spearman", m.Spearman, 8 / math.Sqrt(95)},
		// Spenders score 2,4,5 against 1,3: 5 of 6 pairs ordered.
		{"auc", m.AUC, 5.0 / 6},
		// Errors 1,-8,3,-26,-55.
		{"rmse", m.RMSE, math.Sqrt(3775.0 / 5)},
		{"mae", m.MAE, 93.0 / 5},
		{"spend_ratio", m.SpendRatio, 0.15},
		// qcut edges 1,1.4,1.8,...,5 put each customer alone in buckets
		// 0,2,4,7,9; those with actual 0 have no APE:
		// (|2-10|/10 + |4-30|/30 + |5-60|/60) / 3.
		{"decile_mape", m.DecileMAPE, (0.8 + 26.0/30 + 55.0/60) / 3},
		{"decile_buckets", float64(m.DecileBuckets), 3},
		{"spenders", float64(m.Spenders), 3},
		{"auc_p_return", m.AUCReturn, math.NaN()},
	}
	for _, w := range want {
		if !near(w.got, w.want, 1e-12) {
			t.Errorf("%s = %v, want %v", w.name, w.got, w.want)
		}
	}
}

// TestComputeShapes ensures the limiting cases read as they should: a perfect
// ranking scores 1, a reversed one negative, a constant one the random
// diagonal, and all-zero actuals leave the spend-based metrics undefined.
func TestComputeShapes(t *testing.T) {
	actual := []float64{0, 0, 5, 12, 0, 40, 7, 0, 0, 100, 3, 0}
	n := float64(len(actual))
	scaled := make([]float64, len(actual))
	reversed := make([]float64, len(actual))
	constant := make([]float64, len(actual))
	for i, a := range actual {
		scaled[i] = 3 * a
		reversed[i] = -a
		constant[i] = 17
	}
	perfectRaw := refGini(actual, actual)

	t.Run("perfect", func(t *testing.T) {
		m := mustCompute(t, scaled, actual)
		if m.NormalizedGini != 1 || m.Spearman != 1 || m.AUC != 1 {
			t.Errorf("gini %v spearman %v auc %v, want 1, 1, 1", m.NormalizedGini, m.Spearman, m.AUC)
		}
		if !near(m.SpendRatio, 3, 1e-12) || !near(m.DecileMAPE, 2, 1e-12) {
			t.Errorf("spend ratio %v decile mape %v, want 3 and 2 for a prediction 3× too high", m.SpendRatio, m.DecileMAPE)
		}
	})
	t.Run("exact", func(t *testing.T) {
		m := mustCompute(t, actual, actual)
		if m.RMSE != 0 || m.MAE != 0 || m.DecileMAPE != 0 || m.SpendRatio != 1 {
			t.Errorf("rmse %v mae %v decile mape %v ratio %v, want 0 0 0 1", m.RMSE, m.MAE, m.DecileMAPE, m.SpendRatio)
		}
	})
	t.Run("reversed", func(t *testing.T) {
		m := mustCompute(t, reversed, actual)
		if !(m.NormalizedGini < 0) || m.Spearman != -1 || m.AUC != 0 {
			t.Errorf("gini %v spearman %v auc %v, want <0, -1, 0", m.NormalizedGini, m.Spearman, m.AUC)
		}
	})
	t.Run("constant", func(t *testing.T) {
		m := mustCompute(t, constant, actual)
		// The expected gain of a random order is the diagonal k/n, whose
		// raw Gini is 2*((n+1)/2)/n - 1 = 1/n in the reference's formula.
		if !near(m.Gini, 1/n, 1e-12) || !near(m.NormalizedGini, (1/n)/perfectRaw, 1e-12) {
			t.Errorf("gini %v normalized %v, want %v and %v", m.Gini, m.NormalizedGini, 1/n, (1/n)/perfectRaw)
		}
		if !math.IsNaN(m.Spearman) || m.AUC != 0.5 || m.DecileBuckets != 1 {
			t.Errorf("spearman %v auc %v buckets %d, want NaN, 0.5, 1", m.Spearman, m.AUC, m.DecileBuckets)
		}
	})
	t.Run("all zero actual", func(t *testing.T) {
		zero := make([]float64, len(actual))
		m := mustCompute(t, scaled, zero)
		// A constant actual also leaves the rank correlation undefined.
		for name, v := range map[string]float64{"gini": m.Gini, "normalized_gini": m.NormalizedGini,
			"auc": m.AUC, "spend_ratio": m.SpendRatio, "decile_mape": m.DecileMAPE, "spearman": m.Spearman} {
			if !math.IsNaN(v) {
				t.Errorf("%s = %v, want NaN (undefined)", name, v)
			}
		}
		if !near(m.RMSE, math.Sqrt(sumSquares(scaled)/n), 1e-12) || m.Spenders != 0 {
			t.Errorf("rmse %v spenders %d, want the root mean square of the predictions and 0", m.RMSE, m.Spenders)
		}
	})
}

// TestComputeReturnScore ensures WithReturnScore fills AUCReturn from its own
// score, independent of the spend prediction.
func TestComputeReturnScore(t *testing.T) {
	actual := []float64{0, 10, 0, 30}
	pred := []float64{9, 1, 9, 1}            // ranks spenders last
	pReturn := []float64{0.1, 0.9, 0.2, 0.8} // ranks them first
	m, err := Compute(pred, actual, WithReturnScore(pReturn))
	if err != nil {
		t.Fatal(err)
	}
	if m.AUC != 0 || m.AUCReturn != 1 {
		t.Errorf("auc %v auc_p_return %v, want 0 and 1", m.AUC, m.AUCReturn)
	}
}

// TestComputeRejects ensures bad input fails with an error that names what is
// wrong instead of producing NaN metrics.
func TestComputeRejects(t *testing.T) {
	tests := []struct {
		name         string
		pred, actual []float64
		opts         []Option
		want         string
	}{
		{"length", []float64{1, 2}, []float64{1}, nil, "2 predictions for 1 actual"},
		{"empty", nil, nil, nil, "no customers"},
		{"nan prediction", []float64{1, math.NaN()}, []float64{1, 2}, nil, "prediction 1 is NaN"},
		{"inf actual", []float64{1, 2}, []float64{math.Inf(1), 2}, nil, "actual value 0 is +Inf"},
		{"return score", []float64{1, 2}, []float64{1, 2}, []Option{WithReturnScore([]float64{1})}, "return score: 1 predictions"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Compute(tt.pred, tt.actual, tt.opts...)
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "eval: compute: ") {
				t.Errorf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

// TestMetricsJSON ensures Metrics encode with the snake_case keys, undefined
// values as null, and decode back to the same values (null to NaN).
func TestMetricsJSON(t *testing.T) {
	m := mustCompute(t, []float64{1, 2, 3}, []float64{0, 0, 0})
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	var raw map[string]any
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, b)
	}
	for _, k := range []string{"normalized_gini", "spearman", "decile_mape", "auc", "rmse", "mae", "spend_ratio", "customers"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("key %q missing from %s", k, b)
		}
	}
	if raw["normalized_gini"] != nil || raw["rmse"] == nil {
		t.Errorf("normalized_gini %v rmse %v, want null and a number", raw["normalized_gini"], raw["rmse"])
	}
	var back Metrics
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !math.IsNaN(back.NormalizedGini) || back.RMSE != m.RMSE || back.Customers != 3 || back.MAE != 2 {
		t.Errorf("round trip gave %+v, want %+v", back, m)
	}
	if err := json.Unmarshal([]byte(`{"customers":null}`), &back); err == nil {
		t.Error("null customer count decoded without error")
	}
}

// TestMetricBetter ensures comparisons follow each metric's direction and
// prefer a defined score to an undefined one.
func TestMetricBetter(t *testing.T) {
	nan := math.NaN()
	tests := []struct {
		k    Metric
		a, b float64
		want bool
	}{
		{MetricNormalizedGini, 0.6, 0.5, true},
		{MetricNormalizedGini, 0.5, 0.6, false},
		{MetricRMSE, 10, 12, true},
		{MetricDecileMAPE, 0.3, 0.2, false},
		{MetricSpendRatio, 0.8, 1.5, true}, // |log 0.8| < |log 1.5|
		{MetricSpendRatio, 2, 0.5, false},  // equally far from 1
		{MetricAUC, 0.5, nan, true},
		{MetricAUC, nan, 0.5, false},
		{MetricAUC, 0.7, 0.7, false},
	}
	for _, tt := range tests {
		if got := tt.k.Better(tt.a, tt.b); got != tt.want {
			t.Errorf("%s.Better(%v, %v) = %v, want %v", tt.k, tt.a, tt.b, got, tt.want)
		}
	}
	if _, err := ParseMetric("gini"); err == nil {
		t.Error(`ParseMetric("gini") succeeded, want an error listing the metrics`)
	}
	if k, err := ParseMetric("rmse"); err != nil || k != MetricRMSE {
		t.Errorf(`ParseMetric("rmse") = %q, %v`, k, err)
	}
	if !math.IsNaN((Metrics{RMSE: 3}).Get("nope")) {
		t.Error("Get of an unknown metric is not NaN")
	}
}

func sumSquares(v []float64) float64 {
	var s float64
	for _, x := range v {
		s += x * x
	}
	return s
}

// check is one computed value against its expected value.
type check struct {
	name      string
	got, want float64
}

func mustCompute(t *testing.T, pred, actual []float64) Metrics {
	t.Helper()
	m, err := Compute(pred, actual)
	if err != nil {
		t.Fatal(err)
	}
	return m
}
