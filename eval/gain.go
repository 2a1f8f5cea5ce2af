package eval

import (
	"fmt"
	"math"
)

// GainCurve is metrics.py's cumulative_true: with customers sorted by
// prediction, highest first, element i is the share of all actual spend
// that the first i+1 customers account for. The last element is 1.
//
// Customers with tied predictions have no order of their own; the reference
// leaves it to pandas' unstable sort. Here a tie group of m customers with
// spend S adds S/m per customer, which is the gain averaged over every order
// of the group, so a constant prediction scores exactly the random diagonal.
// Without ties the curve is the reference's.
//
// It fails on the inputs Compute rejects and when actual spend sums to 0.
func GainCurve(pred, actual []float64) ([]float64, error) {
	if err := validate(pred, actual); err != nil {
		return nil, fmt.Errorf("eval: gain curve: %w", err)
	}
	total := sum(actual)
	if total == 0 {
		return nil, fmt.Errorf("eval: gain curve: actual spend of all %d customers sums to 0", len(actual))
	}
	cum := cumulativeByPrediction(pred, actual)
	for i := range cum {
		cum[i] /= total
	}
	return cum, nil
}

// cumulativeByPrediction returns the cumulative actual spend down the
// prediction ranking, tie groups spread evenly (see GainCurve).
func cumulativeByPrediction(pred, actual []float64) []float64 {
	n := len(actual)
	idx := descendingOrder(pred)
	cum := make([]float64, n)
	var before float64
	for lo := 0; lo < n; {
		hi := lo + 1
		for hi < n && pred[idx[hi]] == pred[idx[lo]] {
			hi++
		}
		var group float64
		for _, j := range idx[lo:hi] {
			group += actual[j]
		}
		m := float64(hi - lo)
		for k := lo; k < hi; k++ {
			cum[k] = before + group*float64(k-lo+1)/m
		}
		before += group
		lo = hi
	}
	return cum
}

// gini is metrics.py's gini_from_gain for one model: raw = 2*sum(gain)/n - 1
// of the model's gain chart, normalized by the raw Gini of the ground-truth
// chart (customers sorted by their actual spend). Both are NaN when spend
// sums to 0; normalized is NaN when the perfect Gini is 0 (everyone spent
// the same).
func gini(pred, actual []float64) (raw, normalized float64) {
	total := sum(actual)
	if total == 0 {
		return math.NaN(), math.NaN()
	}
	raw = rawGini(cumulativeByPrediction(pred, actual), total)
	perfect := rawGini(cumulativeByPrediction(actual, actual), total)
	return raw, ratio(raw, perfect)
}

// rawGini is 2*sum(cum/total)/n - 1 for a cumulative spend curve.
func rawGini(cum []float64, total float64) float64 {
	return 2*(sum(cum)/total)/float64(len(cum)) - 1
}

func sum(v []float64) float64 {
	var s float64
	for _, x := range v {
		s += x
	}
	return s
}
