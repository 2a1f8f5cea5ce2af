package eval

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
)

// Band summarises a metric over simulated holdouts: its median and the
// 5th and 95th percentiles, between which 90% of the holdouts fall.
type Band struct {
	Median Float `json:"median"`
	P5     Float `json:"p5"`
	P95    Float `json:"p95"`
}

// Noise is how the holdout metrics of a model would scatter from sampling
// noise alone if the model were exactly right: each simulated holdout draws
// every customer's spend from the model's own predictive distribution, and
// the model's expected spend is scored against it. A decile MAPE observed
// inside the band is as good as the test set can show.
type Noise struct {
	Draws          int  `json:"draws"`
	DecileMAPE     Band `json:"decile_mape"`
	NormalizedGini Band `json:"normalized_gini"`
	SpendRatio     Band `json:"spend_ratio"`
}

// ZILNNoise simulates draws holdouts from zero-inflated lognormal predictive
// distributions: customer i spends nothing with probability 1-p[i], else
// scale*exp(mu[i] + sigma[i]*Z) with Z standard normal. pred is scored
// against each draw. The result depends only on the arguments.
func ZILNNoise(ctx context.Context, pred, p, mu, sigma []float64, scale float64, draws int, seed uint64) (Noise, error) {
	n := len(pred)
	switch {
	case n == 0:
		return Noise{}, errors.New("eval: noise: no customers")
	case len(p) != n || len(mu) != n || len(sigma) != n:
		return Noise{}, fmt.Errorf("eval: noise: %d predictions but %d p, %d mu, %d sigma", n, len(p), len(mu), len(sigma))
	case draws < 1:
		return Noise{}, fmt.Errorf("eval: noise: %d draws, want >= 1", draws)
	case !(scale > 0) || math.IsInf(scale, 0):
		return Noise{}, fmt.Errorf("eval: noise: scale %v, want finite and > 0", scale)
	}
	// The prediction is the same in every draw: its order, decile cuts
	// and total are computed once. Only the simulated spend is sorted per
	// draw (for the perfect ranking's Gini).
	order := descendingOrder(pred)
	cuts := newDecileCuts(pred, order)
	totalPred := sum(pred)

	mape := make([]float64, draws)
	gini := make([]float64, draws)
	ratios := make([]float64, draws)
	score := func(d int, y []float64) {
		a := newNoiseActual(y)
		mape[d], _ = decileMAPE(cuts.stats(pred, y))
		gini[d] = math.NaN()
		if a.total != 0 {
			gini[d] = ratio(orderedGini(pred, y, order, a.total), a.perfect)
		}
		ratios[d] = ratio(totalPred, a.total)
	}

	// The draws come from one random stream, so they are simulated in
	// order on this goroutine; scoring them, the costly part, runs on the
	// other cores. Each draw's scores land at its index, so the result
	// does not depend on GOMAXPROCS.
	workers := min(runtime.GOMAXPROCS(0), draws)
	type job struct {
		d int
		y []float64
	}
	jobs := make(chan job)
	free := make(chan []float64, workers+1)
	for range workers + 1 {
		free <- make([]float64, n)
	}
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for j := range jobs {
				score(j.d, j.y)
				free <- j.y
			}
		})
	}
	var err error
	r := rand.New(rand.NewPCG(seed, 0x6e6f697365))
	for d := range draws {
		if err = ctx.Err(); err != nil {
			err = fmt.Errorf("eval: noise: %w", err)
			break
		}
		y := <-free
		for i := range y {
			y[i] = 0
			if r.Float64() < p[i] {
				y[i] = scale * math.Exp(mu[i]+sigma[i]*r.NormFloat64())
			}
		}
		if verr := validate(pred, y); verr != nil {
			err = fmt.Errorf("eval: noise: eval: compute: %w", verr)
			break
		}
		jobs <- job{d, y}
	}
	close(jobs)
	wg.Wait()
	if err != nil {
		return Noise{}, err
	}
	return Noise{Draws: draws, DecileMAPE: band(mape), NormalizedGini: band(gini), SpendRatio: band(ratios)}, nil
}

// noiseActual is the part of actualSide a noise draw needs: the total and
// the perfect ranking's Gini, without the ranks.
type noiseActual struct{ total, perfect float64 }

func newNoiseActual(y []float64) noiseActual {
	a := noiseActual{total: sum(y), perfect: math.NaN()}
	if a.total != 0 {
		a.perfect = orderedGini(y, y, descendingOrder(y), a.total)
	}
	return a
}

// band returns the median and the 5th and 95th percentiles (nearest rank)
// of the finite values in v.
func band(v []float64) Band {
	v = slices.DeleteFunc(v, func(x float64) bool { return math.IsNaN(x) || math.IsInf(x, 0) })
	if len(v) == 0 {
		nan := Float(math.NaN())
		return Band{nan, nan, nan}
	}
	slices.Sort(v)
	at := func(q float64) Float { return Float(v[int(math.Round(q*float64(len(v)-1)))]) }
	return Band{Median: at(0.5), P5: at(0.05), P95: at(0.95)}
}
