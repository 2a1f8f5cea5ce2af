package sweep

import (
	"slices"
	"testing"
)

// regretSeeds are the seeds of the Bayes-versus-random comparison, stated
// so the result is reproducible and cannot rest on one lucky seed.
var regretSeeds = []uint64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20}

func median(xs []float64) float64 {
	s := slices.Sorted(slices.Values(xs))
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// medianRegret is the median over seeds of the simple regret (best found
// minus the global minimum) after budget evaluations.
func medianRegret(t *testing.T, fn testFunction, alg Algorithm, budget int) float64 {
	regrets := make([]float64, len(regretSeeds))
	for i, seed := range regretSeeds {
		best := minimise(t, fn, Options{Algorithm: alg, Seed: seed}, budget)
		regrets[i] = best[budget-1] - fn.min
	}
	return median(regrets)
}

// TestBayesBeatsRandom ensures Bayesian optimisation finds better points
// than scrambled-Sobol random search on Branin and Hartmann-6: the median
// over 20 seeds of the simple regret after 30 evaluations must be lower.
func TestBayesBeatsRandom(t *testing.T) {
	for _, fn := range []testFunction{branin(), hartmann6()} {
		t.Run(fn.name, func(t *testing.T) {
			bo := medianRegret(t, fn, AlgorithmBayes, 30)
			rnd := medianRegret(t, fn, AlgorithmRandom, 30)
			t.Logf("median simple regret after 30 evaluations over %d seeds: bayes %.4g, random %.4g", len(regretSeeds), bo, rnd)
			if !(bo < rnd) {
				t.Errorf("bayes median regret %.4g is not below random's %.4g", bo, rnd)
			}
		})
	}
}

// TestTPEBeatsRandom ensures TPE, once past its 10 random startup trials,
// also beats random search: median simple regret over the 20 seeds after 60
// evaluations, on both functions.
func TestTPEBeatsRandom(t *testing.T) {
	for _, fn := range []testFunction{branin(), hartmann6()} {
		t.Run(fn.name, func(t *testing.T) {
			tpe := medianRegret(t, fn, AlgorithmTPE, 60)
			rnd := medianRegret(t, fn, AlgorithmRandom, 60)
			t.Logf("median simple regret after 60 evaluations over %d seeds: tpe %.4g, random %.4g", len(regretSeeds), tpe, rnd)
			if !(tpe < rnd) {
				t.Errorf("tpe median regret %.4g is not below random's %.4g", tpe, rnd)
			}
		})
	}
}
