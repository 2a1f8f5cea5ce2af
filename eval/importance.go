package eval

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
)

// PredictFunc scores rows customers from a row-major feature matrix X
// (rows × the matrix's column count), one predicted spend per row. It must
// not keep X: PermutationImportance reuses the slice between calls.
type PredictFunc func(X []float32, rows int) []float64

// Importance is one feature's permutation importance.
type Importance struct {
	Feature string `json:"feature"`
	// Column is the feature's index in the matrix.
	Column int `json:"column"`
	// Mean is the mean drop of the metric over the repeats when the column
	// is shuffled, signed so that positive means the model relies on the
	// feature, whichever direction the metric runs.
	Mean Float `json:"mean"`
	// Std is the population standard deviation of the drop over the
	// repeats, as sklearn.inspection.permutation_importance reports it.
	Std Float `json:"std"`
}

// Importances is the result of PermutationImportance.
type Importances struct {
	Metric Metric `json:"metric"`
	// Reference is the metric on the unshuffled matrix.
	Reference Float `json:"reference"`
	Repeats   int   `json:"repeats"`
	// Customers is how many customers (rows) the shuffles were scored on.
	Customers int `json:"customers,omitempty"`
	// SampledFrom is, when the caller scored a sample of its customers
	// (job caps the rows at a stable hash-chosen sample), how many it was
	// drawn from; 0 when every customer was scored.
	SampledFrom int `json:"sampled_from,omitempty"`
	// Features are sorted by Mean, largest first.
	Features []Importance `json:"features"`
}

// PermutationImportance shuffles one feature column at a time and reports
// how much metric worsens, averaged over repeats shuffles per column
// (Breiman 2001; Fisher, Rudin & Dominici 2019).
//
// X is rows × cols, row-major, and is not modified; names labels the
// columns (nil gives "f0", "f1", ...); actual is each row's holdout spend.
// predict is called 1 + cols*repeats times, one call at a time, because a
// model's compute backend is not safe for concurrent use. Each shuffle is
// drawn from its own seeded stream keyed by (seed, column, repeat), so the
// result depends only on the arguments.
//
// With the normalized Gini, each call costs one sort of the predictions:
// the perfect ranking's Gini is computed once, and no other metric is.
func PermutationImportance(ctx context.Context, X []float32, rows, cols int, names []string,
	actual []float64, predict PredictFunc, metric Metric, seed uint64, repeats int, opts ...ImportanceOption) (Importances, error) {
	var o importanceOptions
	for _, opt := range opts {
		opt(&o)
	}
	fail := func(format string, a ...any) (Importances, error) {
		return Importances{}, fmt.Errorf("eval: permutation importance: "+format, a...)
	}
	switch {
	case rows <= 0 || cols <= 0:
		return fail("matrix is %d×%d, want at least one row and column", rows, cols)
	case len(X) != rows*cols:
		return fail("X has %d values, want rows×cols = %d×%d = %d", len(X), rows, cols, rows*cols)
	case names != nil && len(names) != cols:
		return fail("%d feature names for %d columns", len(names), cols)
	case len(actual) != rows:
		return fail("%d actual values for %d rows", len(actual), rows)
	case repeats < 1:
		return fail("repeats is %d, want at least 1", repeats)
	case predict == nil:
		return fail("predict function is nil")
	}
	if _, ok := metricTable[metric]; !ok {
		return fail("unknown metric %q", metric)
	}

	work := slices.Clone(X)
	// measure is the metric of predictions against actual: the Gini alone
	// when that is the metric, else all of Compute.
	measure := func(pred []float64) (float64, error) {
		m, err := Compute(pred, actual)
		return m.Get(metric), err
	}
	if metric == MetricNormalizedGini {
		g := newGiniScorer(actual)
		measure = func(pred []float64) (float64, error) {
			v, err := g.normalized(pred)
			if err != nil {
				return 0, fmt.Errorf("eval: compute: %w", err)
			}
			return v, nil
		}
	}
	// score returns the metric on the current work matrix, raw and as
	// goodness (higher is better), so drops need no per-metric sign.
	score := func(what string) (raw, good float64, err error) {
		if err := ctx.Err(); err != nil {
			return 0, 0, err
		}
		raw, err = measure(predict(work, rows))
		if err != nil {
			return 0, 0, fmt.Errorf("%s: %w", what, err)
		}
		return raw, metric.goodness(raw), nil
	}

	refRaw, ref, err := score("unshuffled")
	if err != nil {
		return fail("%w", err)
	}
	if math.IsNaN(ref) {
		return fail("%s is undefined on the unshuffled data", metric)
	}
	out := Importances{Metric: metric, Reference: Float(refRaw), Repeats: repeats, Customers: rows, Features: make([]Importance, cols)}
	column := make([]float32, rows)
	drops := make([]float64, repeats)
	for c := range cols {
		for r := range rows {
			column[r] = X[r*cols+c]
		}
		for rep := range repeats {
			rng := rand.New(rand.NewPCG(seed, uint64(c)<<32|uint64(rep)))
			rng.Shuffle(rows, func(i, j int) {
				work[i*cols+c], work[j*cols+c] = work[j*cols+c], work[i*cols+c]
			})
			_, g, err := score(fmt.Sprintf("column %d repeat %d", c, rep))
			if err != nil {
				return fail("%w", err)
			}
			drops[rep] = ref - g
			// Restore from the saved column rather than unshuffling.
			for r := range rows {
				work[r*cols+c] = column[r]
			}
		}
		mean, std := meanStd(drops)
		name := fmt.Sprintf("f%d", c)
		if names != nil {
			name = names[c]
		}
		out.Features[c] = Importance{Feature: name, Column: c, Mean: Float(mean), Std: Float(std)}
		if o.progress != nil {
			o.progress(c+1, cols)
		}
	}
	slices.SortStableFunc(out.Features, func(a, b Importance) int {
		return cmp.Compare(float64(b.Mean), float64(a.Mean))
	})
	return out, nil
}

// ImportanceOption adjusts PermutationImportance.
type ImportanceOption func(*importanceOptions)

type importanceOptions struct {
	progress func(done, total int)
}

// WithImportanceProgress has PermutationImportance call f after each
// column with the columns done so far and their total, on the caller's
// goroutine.
func WithImportanceProgress(f func(done, total int)) ImportanceOption {
	return func(o *importanceOptions) { o.progress = f }
}

// meanStd returns the mean and population standard deviation of v.
func meanStd(v []float64) (mean, std float64) {
	n := float64(len(v))
	mean = sum(v) / n
	var ss float64
	for _, x := range v {
		ss += (x - mean) * (x - mean)
	}
	return mean, math.Sqrt(ss / n)
}
