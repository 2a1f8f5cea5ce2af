package eval

import "math"

// averageRanks returns 1-based ranks of v, ascending, tied values sharing the
// mean of the ranks they span (scipy.stats.rankdata's "average").
func averageRanks(v []float64) []float64 {
	return ranksFromOrder(v, descendingOrder(v))
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

// aucOf is auc with "actual > 0" as the positive class.
func aucOf(ranks, actual []float64) float64 {
	var pos, neg, rankSum float64
	for i, a := range actual {
		if a > 0 {
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
