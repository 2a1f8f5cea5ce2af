package eval

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// linearData builds rows customers with three features: spend follows
// column 0 strongly and column 2 weakly; column 1 is noise.
func linearData(rows int) (X []float32, actual []float64) {
	rng := rand.New(rand.NewPCG(7, 7))
	X = make([]float32, rows*3)
	actual = make([]float64, rows)
	for r := range rows {
		a, b, c := float32(rng.NormFloat64()), float32(rng.NormFloat64()), float32(rng.NormFloat64())
		X[r*3], X[r*3+1], X[r*3+2] = a, b, c
		actual[r] = math.Exp(float64(a) + 0.2*float64(c))
	}
	return X, actual
}

// fakeModel predicts from columns 0 and 2 only and counts its calls.
type fakeModel struct{ calls int }

func (f *fakeModel) predict(X []float32, rows int) []float64 {
	f.calls++
	out := make([]float64, rows)
	for r := range rows {
		out[r] = math.Exp(float64(X[r*3]) + 0.2*float64(X[r*3+2]))
	}
	return out
}

// TestPermutationImportanceRanksFeatures ensures the feature the model leans
// on ranks first, a feature it ignores scores exactly zero, and the result is
// the same for the same seed, for metrics of either direction.
func TestPermutationImportanceRanksFeatures(t *testing.T) {
	X, actual := linearData(300)
	orig := slices.Clone(X)
	names := []string{"strong", "unused", "weak"}
	for _, metric := range []Metric{MetricNormalizedGini, MetricRMSE, MetricSpearman} {
		t.Run(string(metric), func(t *testing.T) {
			var f fakeModel
			got, err := PermutationImportance(context.Background(), X, 300, 3, names, actual, f.predict, metric, 42, 4)
			if err != nil {
				t.Fatal(err)
			}
			if f.calls != 1+3*4 {
				t.Errorf("predict called %d times, want 13", f.calls)
			}
			order := []string{got.Features[0].Feature, got.Features[1].Feature, got.Features[2].Feature}
			if !slices.Equal(order, []string{"strong", "weak", "unused"}) {
				t.Errorf("order %v, want strong, weak, unused (%+v)", order, got.Features)
			}
			if u := got.Features[2]; u.Mean != 0 || u.Std != 0 || u.Column != 1 {
				t.Errorf("unused feature %+v, want column 1 with mean 0 and std 0", u)
			}
			if !(got.Features[0].Mean > 0) || !(got.Features[0].Std > 0) {
				t.Errorf("strong feature %+v, want positive mean drop and spread", got.Features[0])
			}
			// The model is exact, so the reference score is the best possible.
			perfect := map[Metric]Float{MetricNormalizedGini: 1, MetricRMSE: 0, MetricSpearman: 1}[metric]
			if got.Reference != perfect || got.Metric != metric || got.Repeats != 4 {
				t.Errorf("reference %v metric %s repeats %d, want %v %s 4", got.Reference, got.Metric, got.Repeats, perfect, metric)
			}
			again, err := PermutationImportance(context.Background(), X, 300, 3, names, actual, f.predict, metric, 42, 4)
			if err != nil || !slices.Equal(again.Features, got.Features) {
				t.Errorf("same seed gave %+v, want %+v (err %v)", again.Features, got.Features, err)
			}
			if !slices.Equal(X, orig) {
				t.Error("X was modified")
			}
		})
	}
}

// TestPermutationImportanceSeed ensures the seed changes the shuffles.
func TestPermutationImportanceSeed(t *testing.T) {
	X, actual := linearData(200)
	var f fakeModel
	a, err := PermutationImportance(context.Background(), X, 200, 3, nil, actual, f.predict, MetricNormalizedGini, 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	b, err := PermutationImportance(context.Background(), X, 200, 3, nil, actual, f.predict, MetricNormalizedGini, 2, 2)
	if err != nil {
		t.Fatal(err)
	}
	if a.Features[0].Mean == b.Features[0].Mean {
		t.Errorf("seeds 1 and 2 gave the same drop %v", a.Features[0].Mean)
	}
	if a.Features[0].Feature != "f0" {
		t.Errorf("default name %q, want f0", a.Features[0].Feature)
	}
}

// TestPermutationImportanceRejects ensures bad arguments, a failing predictor
// and a cancelled context end in errors that say what went wrong.
func TestPermutationImportanceRejects(t *testing.T) {
	X, actual := linearData(10)
	var f fakeModel
	short := func([]float32, int) []float64 { return []float64{1} }
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name    string
		ctx     context.Context
		X       []float32
		rows    int
		names   []string
		predict PredictFunc
		metric  Metric
		repeats int
		want    string
	}{
		{"shape", context.Background(), X[:29], 10, nil, f.predict, MetricAUC, 1, "X has 29 values, want rows×cols = 10×3 = 30"},
		{"names", context.Background(), X, 10, []string{"a"}, f.predict, MetricAUC, 1, "1 feature names for 3 columns"},
		{"rows", context.Background(), X[:27], 9, nil, f.predict, MetricAUC, 1, "10 actual values for 9 rows"},
		{"repeats", context.Background(), X, 10, nil, f.predict, MetricAUC, 0, "repeats is 0"},
		{"metric", context.Background(), X, 10, nil, f.predict, "gini", 1, `unknown metric "gini"`},
		{"nil predict", context.Background(), X, 10, nil, nil, MetricAUC, 1, "predict function is nil"},
		{"short predict", context.Background(), X, 10, nil, short, MetricAUC, 1, "unshuffled: eval: compute: 1 predictions for 10"},
		{"cancelled", cancelled, X, 10, nil, f.predict, MetricAUC, 1, "context canceled"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := PermutationImportance(tt.ctx, tt.X, tt.rows, 3, tt.names, actual, tt.predict, tt.metric, 1, tt.repeats)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
			if tt.ctx.Err() != nil && !errors.Is(err, context.Canceled) {
				t.Errorf("error %v does not wrap context.Canceled", err)
			}
		})
	}
}
