package eval

// The functions below are the package's implementation before the
// evaluation was made to sort each vector once (audit 7, finding 2), kept
// verbatim apart from their names. The equivalence tests in
// equivalence_test.go check that today's code returns bit-identical results.

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
)

func legacyCompute(pred, actual []float64, opts ...Option) (Metrics, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	if err := validate(pred, actual); err != nil {
		return Metrics{}, fmt.Errorf("eval: compute: %w", err)
	}
	if o.pReturn != nil {
		if err := validate(o.pReturn, actual); err != nil {
			return Metrics{}, fmt.Errorf("eval: compute: return score: %w", err)
		}
	}

	n := len(actual)
	m := Metrics{Customers: n, AUCReturn: math.NaN()}
	var sse, sae float64
	for i, a := range actual {
		d := pred[i] - a
		sse += d * d
		sae += math.Abs(d)
		m.TotalPredicted += pred[i]
		m.TotalActual += a
		if a > 0 {
			m.Spenders++
		}
	}
	m.RMSE = math.Sqrt(sse / float64(n))
	m.MAE = sae / float64(n)
	m.MeanPredicted = m.TotalPredicted / float64(n)
	m.MeanActual = m.TotalActual / float64(n)
	m.SpendRatio = ratio(m.TotalPredicted, m.TotalActual)

	m.Gini, m.NormalizedGini = legacyGini(pred, actual)
	predRanks := legacyAverageRanks(pred)
	m.Spearman = spearman(predRanks, legacyAverageRanks(actual))
	m.DecileMAPE, m.DecileBuckets = decileMAPE(legacyDeciles(pred, actual))

	spent := make([]bool, n)
	for i, a := range actual {
		spent[i] = a > 0
	}
	m.AUC = auc(predRanks, spent)
	if o.pReturn != nil {
		m.AUCReturn = auc(legacyAverageRanks(o.pReturn), spent)
	}
	return m, nil
}

func legacyGainCurve(pred, actual []float64) ([]float64, error) {
	if err := validate(pred, actual); err != nil {
		return nil, fmt.Errorf("eval: gain curve: %w", err)
	}
	total := sum(actual)
	if total == 0 {
		return nil, fmt.Errorf("eval: gain curve: actual spend of all %d customers sums to 0", len(actual))
	}
	cum := legacyCumulativeByPrediction(pred, actual)
	for i := range cum {
		cum[i] /= total
	}
	return cum, nil
}

func legacyCumulativeByPrediction(pred, actual []float64) []float64 {
	n := len(actual)
	idx := legacyDescendingOrder(pred)
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

func legacyDescendingOrder(v []float64) []int {
	idx := make([]int, len(v))
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

func legacyGini(pred, actual []float64) (raw, normalized float64) {
	total := sum(actual)
	if total == 0 {
		return math.NaN(), math.NaN()
	}
	raw = rawGini(legacyCumulativeByPrediction(pred, actual), total)
	perfect := rawGini(legacyCumulativeByPrediction(actual, actual), total)
	return raw, ratio(raw, perfect)
}

func legacyAverageRanks(v []float64) []float64 {
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
		r := float64(lo+1+hi) / 2
		for _, j := range idx[lo:hi] {
			ranks[j] = r
		}
		lo = hi
	}
	return ranks
}

func legacyDeciles(pred, actual []float64) []Decile {
	const buckets = 10
	sorted := slices.Clone(pred)
	slices.Sort(sorted)
	n := len(sorted)
	edges := make([]float64, 0, buckets+1)
	for i := 0; i <= buckets; i++ {
		pos := i * (n - 1)
		lo, frac := pos/buckets, float64(pos%buckets)/buckets
		e := sorted[lo]
		if frac > 0 {
			e += frac * (sorted[lo+1] - sorted[lo])
		}
		if len(edges) == 0 || e != edges[len(edges)-1] {
			edges = append(edges, e)
		}
	}

	out := make([]Decile, max(len(edges)-1, 1))
	for b := range out {
		out[b] = Decile{Index: b, Lower: edges[0], Upper: edges[len(edges)-1]}
		if len(edges) > 1 {
			out[b].Lower, out[b].Upper = edges[b], edges[b+1]
		}
	}
	for i, p := range pred {
		b, _ := slices.BinarySearch(edges, p)
		b = max(b-1, 0)
		out[b].Count++
		out[b].MeanPredicted += p
		out[b].MeanActual += actual[i]
	}
	kept := out[:0]
	for _, d := range out {
		if d.Count == 0 {
			continue
		}
		d.MeanPredicted /= float64(d.Count)
		d.MeanActual /= float64(d.Count)
		d.APE = math.NaN()
		if d.MeanActual != 0 {
			d.APE = math.Abs(d.MeanPredicted-d.MeanActual) / math.Abs(d.MeanActual)
		}
		kept = append(kept, d)
	}
	return kept
}

func legacyZILNNoise(ctx context.Context, pred, p, mu, sigma []float64, scale float64, draws int, seed uint64) (Noise, error) {
	n := len(pred)
	switch {
	case n == 0:
		return Noise{}, fmt.Errorf("eval: noise: no customers")
	case len(p) != n || len(mu) != n || len(sigma) != n:
		return Noise{}, fmt.Errorf("eval: noise: %d predictions but %d p, %d mu, %d sigma", n, len(p), len(mu), len(sigma))
	case draws < 1:
		return Noise{}, fmt.Errorf("eval: noise: %d draws, want >= 1", draws)
	case !(scale > 0) || math.IsInf(scale, 0):
		return Noise{}, fmt.Errorf("eval: noise: scale %v, want finite and > 0", scale)
	}
	r := rand.New(rand.NewPCG(seed, 0x6e6f697365))
	y := make([]float64, n)
	mape := make([]float64, 0, draws)
	gini := make([]float64, 0, draws)
	ratio := make([]float64, 0, draws)
	for range draws {
		if err := ctx.Err(); err != nil {
			return Noise{}, fmt.Errorf("eval: noise: %w", err)
		}
		for i := range y {
			y[i] = 0
			if r.Float64() < p[i] {
				y[i] = scale * math.Exp(mu[i]+sigma[i]*r.NormFloat64())
			}
		}
		m, err := legacyCompute(pred, y)
		if err != nil {
			return Noise{}, fmt.Errorf("eval: noise: %w", err)
		}
		mape = append(mape, m.DecileMAPE)
		gini = append(gini, m.NormalizedGini)
		ratio = append(ratio, m.SpendRatio)
	}
	return Noise{Draws: draws, DecileMAPE: band(mape), NormalizedGini: band(gini), SpendRatio: band(ratio)}, nil
}

// legacyPairedBootstrap is PairedBootstrap as it was, run sequentially: the
// draws were independent streams, so the result did not depend on the
// goroutines.
func legacyPairedBootstrap(actual, model, baseline []float64, draws int, seed uint64) Bootstrap {
	n := len(actual)
	mm := make([]Metrics, draws)
	bm := make([]Metrics, draws)
	a, m, b := make([]float64, n), make([]float64, n), make([]float64, n)
	for d := range draws {
		r := rand.New(rand.NewPCG(seed, 0x626f6f74<<32|uint64(d)))
		for i := range a {
			j := r.IntN(n)
			a[i], m[i] = actual[j], model[j]
			if baseline != nil {
				b[i] = baseline[j]
			}
		}
		mm[d], _ = legacyCompute(m, a)
		if baseline != nil {
			bm[d], _ = legacyCompute(b, a)
		}
	}
	ms := make(map[Metric][]float64)
	bs := make(map[Metric][]float64)
	diff := make(map[Metric][]float64)
	better := make(map[Metric]int)
	for d := range draws {
		for _, k := range bootstrapMetrics {
			x := mm[d].Get(k)
			ms[k] = append(ms[k], x)
			if baseline == nil {
				continue
			}
			y := bm[d].Get(k)
			bs[k] = append(bs[k], y)
			diff[k] = append(diff[k], x-y)
			if k.Better(x, y) {
				better[k]++
			}
		}
	}
	out := Bootstrap{Draws: draws, Model: bands(ms)}
	if baseline != nil {
		out.Baseline, out.Difference = bands(bs), bands(diff)
		out.ModelBetter = make(map[Metric]Float, len(bootstrapMetrics))
		for _, k := range bootstrapMetrics {
			out.ModelBetter[k] = Float(float64(better[k]) / float64(draws))
		}
	}
	out.Verdict = newVerdict(&out, Spend)
	return out
}

func legacyPermutationImportance(ctx context.Context, X []float32, rows, cols int, names []string,
	actual []float64, predict PredictFunc, metric Metric, seed uint64, repeats int) (Importances, error) {
	fail := func(format string, a ...any) (Importances, error) {
		return Importances{}, fmt.Errorf("eval: permutation importance: "+format, a...)
	}
	work := slices.Clone(X)
	score := func(what string) (raw, good float64, err error) {
		if err := ctx.Err(); err != nil {
			return 0, 0, err
		}
		m, err := legacyCompute(predict(work, rows), actual)
		if err != nil {
			return 0, 0, fmt.Errorf("%s: %w", what, err)
		}
		raw = m.Get(metric)
		return raw, metric.goodness(raw), nil
	}

	refRaw, ref, err := score("unshuffled")
	if err != nil {
		return fail("%w", err)
	}
	if math.IsNaN(ref) {
		return fail("%s is undefined on the unshuffled data", metric)
	}
	out := Importances{Metric: metric, Reference: Float(refRaw), Repeats: repeats, Features: make([]Importance, cols)}
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
	}
	slices.SortStableFunc(out.Features, func(a, b Importance) int {
		return cmp.Compare(float64(b.Mean), float64(a.Mean))
	})
	return out, nil
}
