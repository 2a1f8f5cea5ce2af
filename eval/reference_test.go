package eval

import (
	"math"
	"math/rand/v2"
	"sort"
	"testing"
)

// The functions below restate metrics.py, scipy and sklearn as directly as
// Go allows, quadratic where that is plainer, so the package is checked
// against an independent reading of the definitions rather than itself.

// refGini is gini_from_gain's raw Gini for cumulative_true(actual, pred):
// sort by prediction descending (stable), cumsum / sum, 2*sum(gain)/n - 1.
func refGini(pred, actual []float64) float64 {
	type row struct{ p, a float64 }
	rows := make([]row, len(pred))
	for i := range pred {
		rows[i] = row{pred[i], actual[i]}
	}
	sort.SliceStable(rows, func(i, j int) bool { return rows[i].p > rows[j].p })
	var total, cum, gain float64
	for _, r := range rows {
		total += r.a
	}
	for _, r := range rows {
		cum += r.a
		gain += cum / total
	}
	return 2*gain/float64(len(rows)) - 1
}

// refDecileMAPE is decile_stats + .mean(): numpy-linspace quantile edges,
// pandas' right-closed bins, empty and zero-mean buckets skipped.
func refDecileMAPE(pred, actual []float64) float64 {
	s := append([]float64(nil), pred...)
	sort.Float64s(s)
	n := len(s)
	var edges [11]float64
	for i := range edges {
		h := float64(i) * 0.1 * float64(n-1)
		lo := int(math.Floor(h))
		if lo >= n-1 {
			edges[i] = s[n-1]
			continue
		}
		edges[i] = s[lo] + (h-float64(lo))*(s[lo+1]-s[lo])
	}
	var total float64
	var used int
	for b := 0; b < 10; b++ {
		var c, sp, sa float64
		for i, p := range pred {
			if (p > edges[b] || (b == 0 && p == edges[0])) && p <= edges[b+1] {
				c++
				sp += p
				sa += actual[i]
			}
		}
		if c == 0 || sa == 0 {
			continue
		}
		total += math.Abs(sp/c-sa/c) / math.Abs(sa/c)
		used++
	}
	return total / float64(used)
}

// refRanks ranks by counting: 1 + #smaller + (#equal-1)/2.
func refRanks(v []float64) []float64 {
	r := make([]float64, len(v))
	for i := range v {
		var less, equal float64
		for j := range v {
			switch {
			case v[j] < v[i]:
				less++
			case v[j] == v[i]:
				equal++
			}
		}
		r[i] = 1 + less + (equal-1)/2
	}
	return r
}

func refSpearman(a, b []float64) float64 {
	ra, rb := refRanks(a), refRanks(b)
	n := float64(len(a))
	var ma, mb float64
	for i := range ra {
		ma += ra[i] / n
		mb += rb[i] / n
	}
	var num, da, db float64
	for i := range ra {
		num += (ra[i] - ma) * (rb[i] - mb)
		da += (ra[i] - ma) * (ra[i] - ma)
		db += (rb[i] - mb) * (rb[i] - mb)
	}
	return num / math.Sqrt(da*db)
}

// refAUC counts ordered spender/non-spender pairs, ties as one half.
func refAUC(score, actual []float64) float64 {
	var good, pairs float64
	for i := range score {
		for j := range score {
			if actual[i] > 0 && actual[j] <= 0 {
				pairs++
				switch {
				case score[i] > score[j]:
					good++
				case score[i] == score[j]:
					good += 0.5
				}
			}
		}
	}
	return good / pairs
}

// sample draws n customers who mostly spend nothing, like a CLV holdout, and
// a noisy prediction of their spend; round > 0 rounds predictions to create ties.
func sample(seed uint64, n int, round float64) (pred, actual []float64) {
	rng := rand.New(rand.NewPCG(seed, 1))
	pred, actual = make([]float64, n), make([]float64, n)
	for i := range n {
		value := math.Exp(rng.NormFloat64() + 3)
		if rng.Float64() < 0.6 {
			actual[i] = 0
		} else {
			actual[i] = math.Round(value*100) / 100
		}
		pred[i] = value * math.Exp(0.8*rng.NormFloat64()) * 0.5
		if round > 0 {
			pred[i] = math.Round(pred[i]/round) * round
		}
	}
	return pred, actual
}

// TestComputeMatchesReference ensures Compute agrees with the independent
// restatements above on random CLV-like vectors, with and without ties.
func TestComputeMatchesReference(t *testing.T) {
	for _, tt := range []struct {
		name  string
		seed  uint64
		n     int
		round float64
	}{
		{"continuous 40", 1, 40, 0},
		{"continuous 333", 2, 333, 0},
		{"tied 200", 3, 200, 10},
	} {
		t.Run(tt.name, func(t *testing.T) {
			pred, actual := sample(tt.seed, tt.n, tt.round)
			m := mustCompute(t, pred, actual)
			checks := []check{
				{"spearman", m.Spearman, refSpearman(pred, actual)},
				{"auc", m.AUC, refAUC(pred, actual)},
			}
			if tt.round == 0 {
				// Without ties the reference's order is unambiguous.
				checks = append(checks,
					check{"gini", m.Gini, refGini(pred, actual)},
					check{"normalized_gini", m.NormalizedGini, refGini(pred, actual) / refGini(actual, actual)},
					check{"decile_mape", m.DecileMAPE, refDecileMAPE(pred, actual)})
			}
			for _, c := range checks {
				if !near(c.got, c.want, 1e-10) {
					t.Errorf("%s = %.15g, reference %.15g", c.name, c.got, c.want)
				}
			}
		})
	}
}

// TestGiniTiesAverageOrders ensures tied predictions score the mean of the
// reference's Gini over every order of the tied customers.
func TestGiniTiesAverageOrders(t *testing.T) {
	pred := []float64{3, 1, 3, 2, 3, 1, 2}
	actual := []float64{10, 0, 0, 5, 40, 7, 0}
	var sum, count float64
	permute(len(pred), func(order []int) {
		p, a := make([]float64, len(order)), make([]float64, len(order))
		for k, i := range order {
			p[k], a[k] = pred[i], actual[i]
		}
		if !sort.SliceIsSorted(p, func(i, j int) bool { return p[i] > p[j] }) {
			return
		}
		// Already in prediction order: the stable sort keeps this order.
		sum += refGini(p, a)
		count++
	})
	raw, _ := gini(pred, actual)
	if !near(raw, sum/count, 1e-12) {
		t.Errorf("gini with ties = %.15g, mean over %v tie orders %.15g", raw, count, sum/count)
	}
}

// permute calls f with every permutation of 0..n-1 (Heap's algorithm).
func permute(n int, f func([]int)) {
	a := make([]int, n)
	for i := range a {
		a[i] = i
	}
	var gen func(k int)
	gen = func(k int) {
		if k == 1 {
			f(a)
			return
		}
		for i := 0; i < k; i++ {
			gen(k - 1)
			if k%2 == 0 {
				a[i], a[k-1] = a[k-1], a[i]
			} else {
				a[0], a[k-1] = a[k-1], a[0]
			}
		}
	}
	gen(n)
}

// TestComputeMatchesMetricsPy ensures Compute reproduces numbers printed by
// google/lifetime_value's metrics.py itself (cumulative_true, gini_from_gain,
// decile_stats; pandas 1.5.3, numpy 1.24.2) and pandas' Spearman on a fixed
// vector. The reference's decile MAPE is inf there, because decile 0 has an
// actual mean of 0; the value below is its mean over the 9 finite deciles,
// which is this package's documented convention.
func TestComputeMatchesMetricsPy(t *testing.T) {
	actual := []float64{3.5, 0, 12, 40, 7.25, 0, 1, 95, 22, 0, 5, 60, 18, 2.5, 0, 33, 9, 14, 0, 75, 4, 11, 28.75, 6, 0, 19.5, 50, 0, 8, 3}
	pred := []float64{2.1, 1.3, 9.7, 25.0, 8.8, 0.4, 3.3, 70.2, 15.1, 2.2, 4.4, 41.0, 12.6, 6.1, 0.9, 30.3, 7.7, 10.4, 1.8, 55.5, 3.9, 16.2, 21.0, 5.2, 0.7, 13.3, 35.8, 2.9, 11.1, 4.9}
	m := mustCompute(t, pred, actual)
	for _, c := range []check{
		{"gini", m.Gini, 0.6736176935229068},
		{"normalized_gini", m.NormalizedGini, 0.9866259428941646},
		{"spearman", m.Spearman, 0.9650961926361876},
		{"decile_mape", m.DecileMAPE, 1.0085191386620198},
		{"decile_buckets", float64(m.DecileBuckets), 9},
	} {
		if !near(c.got, c.want, 1e-12) {
			t.Errorf("%s = %.17g, metrics.py gives %.17g", c.name, c.got, c.want)
		}
	}
}
