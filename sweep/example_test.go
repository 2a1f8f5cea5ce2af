package sweep_test

import (
	"context"
	"fmt"
	"math"

	"github.com/cohort-clv/cohort/sweep"
)

// A sweep in one process: parse a space, ask a Bayesian optimiser for two
// configurations at a time (two free workers), report results, and keep the
// sampler's state, which is all a standby coordinator needs to continue.
func Example() {
	space, err := sweep.ParseSpace([]byte(`
parameters:
  - {name: lr, type: float, min: 1.0e-4, max: 1.0e-1, log: true}
  - {name: hidden, type: int, min: 16, max: 256, log: true}
  - {name: optimizer, type: categorical, values: [adam, sgd]}
  - {name: momentum, type: float, min: 0.5, max: 0.99, when: {optimizer: [sgd]}}
`))
	if err != nil {
		fmt.Println(err)
		return
	}
	sampler, err := sweep.New(space, sweep.Options{Algorithm: sweep.AlgorithmBayes, Seed: 42})
	if err != nil {
		fmt.Println(err)
		return
	}
	// A stand-in for training: best near lr = 0.01 with 64 units and adam.
	loss := func(c sweep.Config) float64 {
		l := math.Pow(math.Log10(c["lr"].(float64))+2, 2) + math.Pow(math.Log2(float64(c["hidden"].(int)))-6, 2)/10
		if c["optimizer"] == "sgd" {
			l += 0.5 + (1 - c["momentum"].(float64))
		}
		return l
	}
	ctx := context.Background()
	best := math.Inf(1)
	for range 15 {
		trials, err := sampler.Propose(ctx, 2)
		if err != nil {
			fmt.Println(err)
			return
		}
		for _, t := range trials {
			t.Value, t.Status = loss(t.Config), sweep.Completed
			if err := sampler.Observe(t); err != nil {
				fmt.Println(err)
				return
			}
			best = min(best, t.Value)
		}
	}
	state, err := sampler.State()
	if err != nil {
		fmt.Println(err)
		return
	}
	restored, err := sweep.Restore(space, state)
	if err != nil {
		fmt.Println(err)
		return
	}
	next, _ := restored.Propose(ctx, 1)
	fmt.Printf("best loss below 0.1 after 30 trials: %v\n", best < 0.1)
	fmt.Printf("restored sampler continues with trial %d\n", next[0].ID)
	// Output:
	// best loss below 0.1 after 30 trials: true
	// restored sampler continues with trial 30
}

// ASHA stops trials whose validation loss at a rung is not among the best
// 1/eta seen there.
func ExampleASHA() {
	asha, err := sweep.NewASHA(sweep.ASHAOptions{MinResource: 1, MaxResource: 27, Eta: 3})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("rungs:", asha.Rungs())
	for id, loss := range []float64{0.9, 0.7, 0.8} {
		d, _ := asha.Report(id, 1, loss)
		fmt.Printf("trial %d, loss %.1f at epoch 1: %s\n", id, loss, d)
	}
	// Output:
	// rungs: [1 3 9]
	// trial 0, loss 0.9 at epoch 1: continue
	// trial 1, loss 0.7 at epoch 1: continue
	// trial 2, loss 0.8 at epoch 1: stop
}
