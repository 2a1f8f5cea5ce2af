package sweep

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"
)

// benchSeeds are the seeds of scripts/bench-sweep.sh's comparison.
var benchSeeds = []uint64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}

// TestBenchReport writes, for scripts/bench-sweep.sh, the median over
// benchSeeds of the best value after 30 and 100 trials of each sampler on
// Branin and Hartmann-6, as JSON to $SWEEP_BENCH_OUT. It is skipped unless
// that variable is set; SWEEP_BENCH_BUDGET overrides the 100.
func TestBenchReport(t *testing.T) {
	out := os.Getenv("SWEEP_BENCH_OUT")
	if out == "" {
		t.Skip("SWEEP_BENCH_OUT not set; run scripts/bench-sweep.sh")
	}
	budget := 100
	if b := os.Getenv("SWEEP_BENCH_BUDGET"); b != "" {
		var err error
		if budget, err = strconv.Atoi(b); err != nil || budget < 30 {
			t.Fatalf("SWEEP_BENCH_BUDGET=%q: want an integer >= 30", b)
		}
	}
	// result[sampler][function][budget] = median best value.
	result := map[string]map[string]map[string]float64{}
	for _, alg := range []Algorithm{AlgorithmBayes, AlgorithmTPE, AlgorithmRandom} {
		name := "cohort " + string(alg)
		result[name] = map[string]map[string]float64{}
		for _, fn := range []testFunction{branin(), hartmann6()} {
			start := time.Now()
			at30 := make([]float64, len(benchSeeds))
			atEnd := make([]float64, len(benchSeeds))
			for i, seed := range benchSeeds {
				best := minimise(t, fn, Options{Algorithm: alg, Seed: seed}, budget)
				at30[i], atEnd[i] = best[29], best[budget-1]
			}
			result[name][fn.name] = map[string]float64{
				"30": median(at30), strconv.Itoa(budget): median(atEnd),
				"seconds": time.Since(start).Seconds(), "min": fn.min,
			}
			t.Logf("%s on %s: %v", name, fn.name, result[name][fn.name])
		}
	}
	data, err := json.MarshalIndent(result, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(out, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// benchmarkPropose times one proposal of a sampler that holds obs
// observations of Hartmann-6, in the steady state of a sweep: the model was
// fitted at obs-1 observations, so bayes warm-starts its hyperparameter fit
// as it does after every trial.
func benchmarkPropose(b *testing.B, alg Algorithm, obs int) {
	fn := hartmann6()
	rng := rand.New(rand.NewPCG(1, 1))
	var history []Trial
	for i := range obs - 1 {
		u := make([]float64, fn.space.Dim())
		for k := range u {
			u[k] = rng.Float64()
		}
		cfg := fn.space.FromUnit(u)
		history = append(history, Trial{ID: i, Config: cfg, Status: Completed, Value: fn.f(cfg)})
	}
	ctx := context.Background()
	for b.Loop() {
		b.StopTimer()
		s, err := New(fn.space, Options{Algorithm: alg, Seed: 1})
		if err != nil {
			b.Fatal(err)
		}
		for _, tr := range history {
			if err := s.Observe(tr); err != nil {
				b.Fatal(err)
			}
		}
		last, err := s.Propose(ctx, 1)
		if err != nil {
			b.Fatal(err)
		}
		last[0].Status, last[0].Value = Completed, fn.f(last[0].Config)
		if err := s.Observe(last[0]); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if _, err := s.Propose(ctx, 1); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPropose measures the time of one proposal at 100 and 500
// observations (Hartmann-6, six dimensions).
func BenchmarkPropose(b *testing.B) {
	for _, alg := range []Algorithm{AlgorithmBayes, AlgorithmTPE} {
		for _, obs := range []int{100, 500} {
			b.Run(fmt.Sprintf("%s/obs=%d", alg, obs), func(b *testing.B) { benchmarkPropose(b, alg, obs) })
		}
	}
}
