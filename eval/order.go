package eval

import (
	"cmp"
	"math"
	"slices"
)

// radixMin is the length from which descendingOrder radix-sorts; shorter
// vectors use a comparison sort. Both give the same order.
const radixMin = 256

// descendingOrder returns customer indices sorted by value, highest first,
// index order among ties so the result is deterministic. Values must not be
// NaN; -0 and +0 tie, as they compare equal.
//
// Every metric that needs an order (the gain curve and Gini, the average
// ranks behind Spearman and the AUC, the decile cuts) derives it from this
// one sort. Long vectors are sorted with a stable LSD radix sort on the
// bits of the value, which yields exactly the order of the comparison sort
// (value descending, then index ascending) in linear time.
func descendingOrder(v []float64) []int {
	n := len(v)
	idx := make([]int, n)
	if n < radixMin {
		for i := range idx {
			idx[i] = i
		}
		slices.SortFunc(idx, func(a, b int) int {
			if c := cmp.Compare(v[b], v[a]); c != 0 {
				return c
			}
			return cmp.Compare(a, b)
		})
		return idx
	}
	// key orders ascending as the values descend: the usual float-to-
	// unsigned map (flip negatives entirely, set the sign bit of the
	// rest), complemented.
	keys := make([]uint64, n)
	ids := make([]uint32, n)
	var hist [8][256]int
	for i, x := range v {
		if x == 0 {
			x = 0 // -0 ties with +0
		}
		b := math.Float64bits(x)
		if b>>63 != 0 {
			b = ^b
		} else {
			b |= 1 << 63
		}
		k := ^b
		keys[i], ids[i] = k, uint32(i)
		for p := range 8 {
			hist[p][byte(k>>(8*p))]++
		}
	}
	keys2 := make([]uint64, n)
	ids2 := make([]uint32, n)
	for p := range 8 {
		h := &hist[p]
		// A digit every key shares leaves the order as it is.
		if h[byte(keys[0]>>(8*p))] == n {
			continue
		}
		var off [256]int
		s := 0
		for d := range 256 {
			off[d] = s
			s += h[d]
		}
		shift := uint(8 * p)
		for i, k := range keys {
			d := byte(k >> shift)
			o := off[d]
			keys2[o], ids2[o] = k, ids[i]
			off[d] = o + 1
		}
		keys, keys2 = keys2, keys
		ids, ids2 = ids2, ids
	}
	for i, j := range ids {
		idx[i] = int(j)
	}
	return idx
}

// orderedGini returns the raw Gini (2*mean(gain) - 1) of the gain curve
// of actual down order, the customers by a score descending (score holds
// the values order sorts, for its tie groups), total being actual's sum. It
// is rawGini(cumulativeByPrediction(score, actual), total) without the
// curve: the same sums in the same order.
func orderedGini(score, actual []float64, order []int, total float64) float64 {
	n := len(order)
	var before, s float64
	for lo := 0; lo < n; {
		hi := lo + 1
		for hi < n && score[order[hi]] == score[order[lo]] {
			hi++
		}
		var group float64
		for _, j := range order[lo:hi] {
			group += actual[j]
		}
		m := float64(hi - lo)
		for k := lo; k < hi; k++ {
			s += before + group*float64(k-lo+1)/m
		}
		before += group
		lo = hi
	}
	return 2*(s/total)/float64(n) - 1
}

// ranksFromOrder returns the 1-based ascending average ranks of v
// (averageRanks) from v's descending order: a tie group at descending
// positions lo..hi-1 holds the ascending ranks n-hi+1 .. n-lo.
func ranksFromOrder(v []float64, order []int) []float64 {
	n := len(order)
	ranks := make([]float64, n)
	for lo := 0; lo < n; {
		hi := lo + 1
		for hi < n && v[order[hi]] == v[order[lo]] {
			hi++
		}
		// As averageRanks: ascending positions alo..ahi-1 average to
		// (alo+1+ahi)/2.
		alo, ahi := n-hi, n-lo
		r := float64(alo+1+ahi) / 2
		for _, j := range order[lo:hi] {
			ranks[j] = r
		}
		lo = hi
	}
	return ranks
}

// actualSide is everything Compute derives from the actual values alone,
// shared by the predictors scored against the same customers (the model
// and the baseline on one bootstrap resample).
type actualSide struct {
	v        []float64
	total    float64
	spenders int
	// perfect is the raw Gini of the perfect ranking, NaN when total is 0.
	perfect float64
	ranks   []float64
}

// newActualSide sorts actual once. actual must have been validated.
func newActualSide(actual []float64) *actualSide {
	a := &actualSide{v: actual}
	for _, x := range actual {
		a.total += x
		if x > 0 {
			a.spenders++
		}
	}
	order := descendingOrder(actual)
	a.perfect = math.NaN()
	if a.total != 0 {
		a.perfect = orderedGini(actual, actual, order, a.total)
	}
	a.ranks = ranksFromOrder(actual, order)
	return a
}

// giniScorer is the normalized Gini alone, for permutation importance:
// the perfect ranking's Gini is computed once, so each prediction costs one
// sort.
type giniScorer struct {
	actual         []float64
	total, perfect float64
}

func newGiniScorer(actual []float64) giniScorer {
	g := giniScorer{actual: actual, total: sum(actual), perfect: math.NaN()}
	if g.total != 0 {
		g.perfect = orderedGini(actual, actual, descendingOrder(actual), g.total)
	}
	return g
}

// normalized returns Compute(pred, actual)'s NormalizedGini, or Compute's
// error.
func (g giniScorer) normalized(pred []float64) (float64, error) {
	if err := validate(pred, g.actual); err != nil {
		return 0, err
	}
	if g.total == 0 {
		return math.NaN(), nil
	}
	raw := orderedGini(pred, g.actual, descendingOrder(pred), g.total)
	return ratio(raw, g.perfect), nil
}
