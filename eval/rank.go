package eval

import (
	"cmp"
	"math"
	"slices"
)

// averageRanks returns 1-based ranks of v, ascending, tied values sharing the
// mean of the ranks they span (scipy.stats.rankdata's "average").
func averageRanks(v []float64) []float64 {
	n := len(v)
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(a, b int) int { return cmp.Compare(v[a], v[b]) })
	ranks := make([]float64, n)
	for lo := 0; lo < n; {
		hi := lo + 1
		for hi < n && v[idx[hi]] == v[idx[lo]] {
			hi++
		}
		// Ranks lo+1 .. hi average to (lo+1+hi)/2.
		r := float64(lo+1+hi) / 2
		for _, j := range idx[lo:hi] {
			ranks[j] = r
		}
		lo = hi
	}
	return ranks
}

// spearman is the Pearson correlation of average ranks (averageRanks of
// both vectors); NaN when either is constant, as scipy.stats.spearmanr.
func spearman(ranksA, ranksB []float64) float64 {
	return pearson(ranksA, ranksB)
}

func pearson(x, y []float64) float64 {
	n := float64(len(x))
	mx, my := sum(x)/n, sum(y)/n
	var sxy, sxx, syy float64
	for i := range x {
		dx, dy := x[i]-mx, y[i]-my
		sxy += dx * dy
		sxx += dx * dx
		syy += dy * dy
	}
	if sxx == 0 || syy == 0 {
		return math.NaN()
	}
	// Rank correlations of identical orderings should read exactly 1.
	return max(-1, min(1, sxy/math.Sqrt(sxx*syy)))
}

// auc is the ROC AUC of positive scored by a score with the given average
// ranks, from the Mann-Whitney U statistic, so a tie between a positive and
// a negative counts one half (sklearn's roc_auc_score agrees). NaN without
// both classes.
func auc(ranks []float64, positive []bool) float64 {
	var pos, neg, rankSum float64
	for i, p := range positive {
		if p {
			pos++
			rankSum += ranks[i]
		} else {
			neg++
		}
	}
	if pos == 0 || neg == 0 {
		return math.NaN()
	}
	return (rankSum - pos*(pos+1)/2) / (pos * neg)
}
