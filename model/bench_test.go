package model

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/cohort-clv/cohort/kernels/cpu"
)

// BenchmarkTrainStep times one training step (forward, backward, AdamW) of
// a 64-512-512-256-3 MLP on a batch of 1024 resident rows, the workload
// scripts/bench-train.sh compares with PyTorch.
func BenchmarkTrainStep(b *testing.B) {
	const inputs, batch = 64, 1024
	hidden := []int{512, 512, 256}
	rng := rand.New(rand.NewPCG(1, 2))
	x := make([]float32, batch*inputs)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	y := make([]float32, batch)
	for i := range y {
		if rng.IntN(2) == 0 {
			y[i] = float32(math.Exp(3 + rng.NormFloat64()))
		}
	}
	for _, threads := range []int{1, 2} {
		b.Run(fmt.Sprintf("threads=%d", threads), func(b *testing.B) {
			be := cpu.New(cpu.Options{Threads: threads})
			defer be.Close()
			layout, err := NewLayout(inputs, hidden)
			if err != nil {
				b.Fatal(err)
			}
			net := NewNet(be, layout)
			net.Init(1, OutputBiasFor(y))
			opt := NewAdam(be, layout.Size, DefaultConfig().AdamParams())
			xb, yb := be.Alloc(len(x)), be.Alloc(batch)
			be.Upload(xb, x)
			be.Upload(yb, y)
			net.LossAndGrad(xb, yb, batch) // size the workspace before b.Loop starts the timer
			for b.Loop() {
				net.LossAndGrad(xb, yb, batch)
				opt.Step(net)
			}
			b.ReportMetric(float64(b.N)*batch/b.Elapsed().Seconds(), "samples/s")
		})
	}
}
