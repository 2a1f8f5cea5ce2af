package eval

import (
	"context"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
)

// equivalenceCases are random CLV-like vectors: continuous, heavily tied
// (rounded predictions, most actuals 0), constant, tiny, with negative
// values and signed zeros, and long enough for the radix sort.
func equivalenceCases() []struct {
	name         string
	pred, actual []float64
} {
	type tc = struct {
		name         string
		pred, actual []float64
	}
	var out []tc
	for _, n := range []int{1, 2, 3, 10, 255, 256, 257, 1000, 5003, 40000} {
		p, a := sample(uint64(n), n, 0)
		out = append(out, tc{"continuous", p, a})
		p, a = sample(uint64(n)+1, n, 10)
		out = append(out, tc{"tied", p, a})
		p, a = sample(uint64(n)+2, n, 1000)
		out = append(out, tc{"few values", p, a})
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int{7, 300, 3000} {
		p, a := make([]float64, n), make([]float64, n)
		for i := range n {
			p[i] = math.Round(rng.NormFloat64()*3) / 2 // negative, zero, ties
			if rng.IntN(5) == 0 {
				p[i] = math.Copysign(0, -1)
			}
			a[i] = math.Max(0, math.Round(rng.NormFloat64()*4))
		}
		out = append(out, tc{"signed", p, a})
		c := make([]float64, n)
		for i := range c {
			c[i] = 4.5
		}
		out = append(out, tc{"constant prediction", c, a})
		out = append(out, tc{"nobody spent", p, make([]float64, n)})
		out = append(out, tc{"everyone spent the same", p, c})
	}
	// Extremes of the float range, subnormals and integers that differ
	// only in the low bits of the mantissa.
	ext := []float64{math.MaxFloat64, -math.MaxFloat64, math.SmallestNonzeroFloat64, -math.SmallestNonzeroFloat64,
		1e300, 1e-300, 1 << 52, 1<<52 + 1, 1<<52 + 2, -1, 1, 0.5, 0.25}
	p := make([]float64, 600)
	a := make([]float64, 600)
	for i := range p {
		p[i] = ext[rng.IntN(len(ext))]
		a[i] = float64(rng.IntN(3))
	}
	out = append(out, tc{"extremes", p, a})
	return out
}

// same reports whether two Metrics are identical bit for bit, NaN equal to
// NaN.
func same(a, b any) bool {
	return reflect.DeepEqual(bitsOf(a), bitsOf(b))
}

// bitsOf replaces every float64 in a (struct, slice or map of them) by its
// bits, so that DeepEqual compares NaNs and signed zeros exactly.
func bitsOf(a any) any {
	var walk func(v reflect.Value) any
	walk = func(v reflect.Value) any {
		switch v.Kind() {
		case reflect.Float64:
			return math.Float64bits(v.Float())
		case reflect.Struct:
			out := make([]any, v.NumField())
			for i := range out {
				out[i] = walk(v.Field(i))
			}
			return out
		case reflect.Slice:
			out := make([]any, v.Len())
			for i := range out {
				out[i] = walk(v.Index(i))
			}
			return out
		case reflect.Map:
			out := make(map[any]any, v.Len())
			for _, k := range v.MapKeys() {
				out[k.Interface()] = walk(v.MapIndex(k))
			}
			return out
		case reflect.Pointer:
			if v.IsNil() {
				return nil
			}
			return walk(v.Elem())
		}
		return v.Interface()
	}
	return walk(reflect.ValueOf(a))
}

// TestComputeIdenticalToLegacy ensures the one-sort Compute returns exactly
// what the implementation that sorted each vector up to three times did
// (legacy_test.go), bit for bit, with and without a return score.
func TestComputeIdenticalToLegacy(t *testing.T) {
	for _, tc := range equivalenceCases() {
		n := len(tc.pred)
		got, err := Compute(tc.pred, tc.actual)
		want, werr := legacyCompute(tc.pred, tc.actual)
		if (err == nil) != (werr == nil) || !same(got, want) {
			t.Errorf("%s n=%d: Compute = %+v (%v), legacy %+v (%v)", tc.name, n, got, err, want, werr)
		}
		ret := make([]float64, n)
		for i := range ret {
			ret[i] = math.Round(tc.pred[i]) / 7
		}
		got, _ = Compute(tc.pred, tc.actual, WithReturnScore(ret))
		want, _ = legacyCompute(tc.pred, tc.actual, WithReturnScore(ret))
		if !same(got, want) {
			t.Errorf("%s n=%d with return score: Compute = %+v, legacy %+v", tc.name, n, got, want)
		}
		if gd, wd := deciles(tc.pred, tc.actual), legacyDeciles(tc.pred, tc.actual); !same(gd, wd) && !zeroEdgesOnly(gd, wd) {
			t.Errorf("%s n=%d: deciles %+v, legacy %+v", tc.name, n, gd, wd)
		}
		gc, gerr := GainCurve(tc.pred, tc.actual)
		wc, werr := legacyGainCurve(tc.pred, tc.actual)
		if (gerr == nil) != (werr == nil) || !same(gc, wc) {
			t.Errorf("%s n=%d: gain curve differs (%v, %v)", tc.name, n, gerr, werr)
		}
		if !slices.Equal(descendingOrder(tc.pred), legacyDescendingOrder(tc.pred)) {
			t.Errorf("%s n=%d: descending order differs", tc.name, n)
		}
		if !same(averageRanks(tc.actual), legacyAverageRanks(tc.actual)) {
			t.Errorf("%s n=%d: average ranks differ", tc.name, n)
		}
	}
}

// zeroEdgesOnly reports whether two decile tables differ only in the sign
// of a zero edge: with -0 and +0 both among the predictions, the legacy
// slices.Sort placed them in an unspecified order, so an edge on a zero
// could come out as either (every comparison treats them as equal).
func zeroEdgesOnly(a, b []Decile) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if x.Lower == 0 && y.Lower == 0 {
			x.Lower, y.Lower = 0, 0
		}
		if x.Upper == 0 && y.Upper == 0 {
			x.Upper, y.Upper = 0, 0
		}
		if !same(x, y) {
			return false
		}
	}
	return true
}

// TestZILNNoiseIdenticalToLegacy ensures the noise band is exactly what the
// sequential, Compute-per-draw implementation gave, for any GOMAXPROCS.
func TestZILNNoiseIdenticalToLegacy(t *testing.T) {
	ctx := context.Background()
	for _, n := range []int{1, 50, 3000} {
		rng := rand.New(rand.NewPCG(uint64(n), 9))
		pred, p, mu, sigma := make([]float64, n), make([]float64, n), make([]float64, n), make([]float64, n)
		for i := range n {
			p[i] = rng.Float64()
			mu[i] = 1 + rng.NormFloat64()
			sigma[i] = 0.3 + rng.Float64()
			pred[i] = math.Round(p[i]*math.Exp(mu[i]+sigma[i]*sigma[i]/2)*4) / 4 // ties
		}
		for _, draws := range []int{1, 7, 41} {
			got, err := ZILNNoise(ctx, pred, p, mu, sigma, 1.3, draws, 5)
			want, werr := legacyZILNNoise(ctx, pred, p, mu, sigma, 1.3, draws, 5)
			if err != nil || werr != nil || !same(got, want) {
				t.Errorf("n=%d draws=%d: %+v (%v), legacy %+v (%v)", n, draws, got, err, want, werr)
			}
		}
	}
	// An overflowing draw fails the same way.
	pred, p, mu, sigma := []float64{1, 2, 3}, []float64{1, 1, 1}, []float64{1, 800, 1}, []float64{0.5, 0.5, 0.5}
	_, err := ZILNNoise(ctx, pred, p, mu, sigma, 1, 5, 1)
	_, werr := legacyZILNNoise(ctx, pred, p, mu, sigma, 1, 5, 1)
	if err == nil || werr == nil || err.Error() != werr.Error() {
		t.Errorf("overflow: %v, legacy %v", err, werr)
	}
}

// TestPairedBootstrapIdenticalToLegacy ensures the bootstrap, which now
// sorts each resample's actual values once for both predictors, gives
// exactly the legacy result.
func TestPairedBootstrapIdenticalToLegacy(t *testing.T) {
	for _, n := range []int{3, 400, 5000} {
		pred, actual := sample(uint64(n), n, 5)
		base, _ := sample(uint64(n)+7, n, 0)
		for _, b := range [][]float64{base, nil} {
			got, err := PairedBootstrap(context.Background(), actual, pred, b, 23, 11)
			want := legacyPairedBootstrap(actual, pred, b, 23, 11)
			if err != nil || !same(got, want) {
				t.Errorf("n=%d baseline %v: %+v (%v), legacy %+v", n, b != nil, got, err, want)
			}
		}
	}
}

// TestPermutationImportanceIdenticalToLegacy ensures the Gini-only scorer
// gives exactly the importances that a full Compute per shuffle gave, for a
// predictor with ties, and that other metrics are unchanged too.
func TestPermutationImportanceIdenticalToLegacy(t *testing.T) {
	const rows, cols = 700, 4
	rng := rand.New(rand.NewPCG(1, 2))
	X := make([]float32, rows*cols)
	actual := make([]float64, rows)
	for r := range rows {
		for c := range cols {
			X[r*cols+c] = float32(math.Round(rng.NormFloat64() * 2))
		}
		if rng.IntN(3) == 0 {
			actual[r] = math.Exp(float64(X[r*cols]) + 0.3*rng.NormFloat64())
		}
	}
	predict := func(X []float32, rows int) []float64 {
		out := make([]float64, rows)
		for r := range rows {
			out[r] = math.Round(math.Exp(float64(X[r*cols])+0.3*float64(X[r*cols+2])+0.05*float64(X[r*cols+3]))*2) / 2
		}
		return out
	}
	ctx := context.Background()
	for _, metric := range []Metric{MetricNormalizedGini, MetricSpearman, MetricRMSE, MetricDecileMAPE} {
		var calls []int
		got, err := PermutationImportance(ctx, X, rows, cols, nil, actual, predict, metric, 9, 3,
			WithImportanceProgress(func(done, total int) { calls = append(calls, done*10+total) }))
		want, werr := legacyPermutationImportance(ctx, X, rows, cols, nil, actual, predict, metric, 9, 3)
		want.Customers = rows
		if err != nil || werr != nil || !same(got, want) {
			t.Errorf("%s: %+v (%v), legacy %+v (%v)", metric, got, err, want, werr)
		}
		if !slices.Equal(calls, []int{14, 24, 34, 44}) {
			t.Errorf("%s: progress calls %v, want 1..4 of 4", metric, calls)
		}
	}
	// A NaN prediction fails with the same message.
	bad := func(X []float32, rows int) []float64 { p := predict(X, rows); p[5] = math.NaN(); return p }
	_, err := PermutationImportance(ctx, X, rows, cols, nil, actual, bad, MetricNormalizedGini, 9, 1)
	_, werr := legacyPermutationImportance(ctx, X, rows, cols, nil, actual, bad, MetricNormalizedGini, 9, 1)
	if err == nil || werr == nil || err.Error() != werr.Error() {
		t.Errorf("NaN prediction: %v, legacy %v", err, werr)
	}
}
