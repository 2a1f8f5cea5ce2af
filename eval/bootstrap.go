package eval

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
)

// Bootstrap is a paired percentile bootstrap over customers: each draw
// resamples the scored customers with replacement and scores the model, and
// the baseline on the same customers, on the resample. Where Noise asks how
// far a score would scatter if the model were right, Bootstrap asks how far
// it would move on another test set of the same size drawn from the same
// customers, whatever the model: a test set of a few thousand customers,
// most of whom spend nothing, pins a decile MAPE or a spend ratio down to a
// few hundredths at best. Because both predictors are scored on the same
// resample, Difference and ModelBetter say whether the model's win over the
// baseline is larger than that scatter.
type Bootstrap struct {
	Draws int `json:"draws"`
	// Model and Baseline hold the median and the 90% percentile interval
	// of each metric; Baseline is nil without a baseline.
	Model    map[Metric]Band `json:"model"`
	Baseline map[Metric]Band `json:"baseline,omitempty"`
	// Difference is model minus baseline, per draw.
	Difference map[Metric]Band `json:"model_minus_baseline,omitempty"`
	// ModelBetter is the share of draws in which the model scores better
	// (Metric.Better: a spend ratio nearer 1, lower errors).
	ModelBetter map[Metric]Float `json:"model_better_share,omitempty"`
	// Verdict reads the above in words: which predictor ranks better, and
	// whether the model's total spend is right.
	Verdict Verdict `json:"verdict"`
}

// bootstrapMetrics are the scores a Bootstrap covers, every one that
// Metric names.
var bootstrapMetrics = []Metric{
	MetricNormalizedGini, MetricSpearman, MetricDecileMAPE, MetricAUC,
	MetricRMSE, MetricMAE, MetricSpendRatio,
}

// PairedBootstrap resamples the customers draws times, scoring model and,
// unless it is nil, baseline against actual on each resample. All three hold
// one value per customer in the same order. The result depends only on the
// arguments.
func PairedBootstrap(ctx context.Context, actual, model, baseline []float64, draws int, seed uint64) (Bootstrap, error) {
	if len(actual) == 0 {
		return Bootstrap{}, errors.New("eval: bootstrap: no customers")
	}
	if draws < 1 {
		return Bootstrap{}, fmt.Errorf("eval: bootstrap: %d draws, want >= 1", draws)
	}
	if err := validate(model, actual); err != nil {
		return Bootstrap{}, fmt.Errorf("eval: bootstrap: model: %w", err)
	}
	if baseline != nil {
		if err := validate(baseline, actual); err != nil {
			return Bootstrap{}, fmt.Errorf("eval: bootstrap: baseline: %w", err)
		}
	}
	// Each draw has its own random stream, so the result does not depend
	// on how the draws are spread over goroutines.
	n := len(actual)
	mm := make([]Metrics, draws)
	bm := make([]Metrics, draws)
	next := atomic.Int64{}
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), draws) {
		wg.Go(func() {
			a, m, b := make([]float64, n), make([]float64, n), make([]float64, n)
			for d := int(next.Add(1) - 1); d < draws && ctx.Err() == nil; d = int(next.Add(1) - 1) {
				r := rand.New(rand.NewPCG(seed, 0x626f6f74<<32|uint64(d)))
				for i := range a {
					j := r.IntN(n)
					a[i], m[i] = actual[j], model[j]
					if baseline != nil {
						b[i] = baseline[j]
					}
				}
				// The inputs were validated, so Compute cannot fail; the
				// resampled actual values are sorted once for both.
				as := newActualSide(a)
				mm[d] = compute(m, as, nil)
				if baseline != nil {
					bm[d] = compute(b, as, nil)
				}
			}
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return Bootstrap{}, fmt.Errorf("eval: bootstrap: %w", err)
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
	return out, nil
}

func bands(v map[Metric][]float64) map[Metric]Band {
	out := make(map[Metric]Band, len(v))
	for k, xs := range v {
		out[k] = band(xs)
	}
	return out
}
