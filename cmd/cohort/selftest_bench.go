package main

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/cohort-clv/cohort/kernels"
	"github.com/cohort-clv/cohort/model"
)

// benchResult is one benchmark of selftest --bench.
type benchResult struct {
	Name   string  `json:"name"`
	Shape  string  `json:"shape"`
	Value  float64 `json:"value"`
	Unit   string  `json:"unit"`
	Millis float64 `json:"ms_per_iter"` // median time of one product or training step
}

// benchConfig sizes the benchmarks; tests shrink it.
type benchConfig struct {
	gemms  []benchGemm
	inputs int
	hidden []int
	batch  int
	steps  int           // training steps to time; 0: as many as fit in minTime
	trials int           // timed repeats of each GEMM; the median is kept
	minT   time.Duration // least time one GEMM trial or the training run should take
}

type benchGemm struct {
	name           string
	transA, transB bool
	m, n, k        int
}

// defaultBenchConfig is SGEMM at 4096^3 and at the products of one training
// step of the CLV MLP 64-512-512-256 (+ZILN head) at batch 4096, and that
// training step.
func defaultBenchConfig(steps int) benchConfig {
	return benchConfig{
		gemms: []benchGemm{
			{"sgemm", false, false, 4096, 4096, 4096},
			{"sgemm fwd layer1", false, false, 4096, 512, 64},
			{"sgemm fwd layer2", false, false, 4096, 512, 512},
			{"sgemm fwd layer3", false, false, 4096, 256, 512},
			{"sgemm fwd head", false, false, 4096, 3, 256},
			{"sgemm dW layer2 (A^T)", true, false, 512, 512, 4096},
			{"sgemm dX layer3 (B^T)", false, true, 4096, 512, 256},
		},
		inputs: 64, hidden: []int{512, 512, 256}, batch: 4096,
		steps: steps, trials: 5, minT: 300 * time.Millisecond,
	}
}

// synchronize waits for a GPU backend's queued work; CPU backends are
// synchronous.
func synchronize(be kernels.Backend) error {
	if s, ok := be.(interface{ Synchronize() error }); ok {
		return s.Synchronize()
	}
	return nil
}

func runBench(ctx context.Context, be kernels.Backend, cfg benchConfig) ([]benchResult, error) {
	rng := rand.New(rand.NewPCG(7, 11))
	random := func(n int) kernels.Buffer {
		x := make([]float32, n)
		for i := range x {
			x[i] = float32(rng.NormFloat64())
		}
		b := be.Alloc(n)
		be.Upload(b, x)
		return b
	}
	var out []benchResult
	for _, g := range cfg.gemms {
		a, b, c := random(g.m*g.k), random(g.k*g.n), be.Alloc(g.m*g.n)
		run := func() { be.Gemm(g.transA, g.transB, g.m, g.n, g.k, 1, a, b, 0, c) }
		per, err := timeMedian(ctx, be, run, cfg.trials, cfg.minT)
		if err != nil {
			return out, fmt.Errorf("selftest: bench %s: %w", g.name, err)
		}
		out = append(out, benchResult{
			Name: g.name, Shape: fmt.Sprintf("%dx%dx%d", g.m, g.n, g.k),
			Value: 2 * float64(g.m) * float64(g.n) * float64(g.k) / per.Seconds() / 1e9, Unit: "GFLOP/s",
			Millis: float64(per.Microseconds()) / 1e3,
		})
	}
	r, err := benchTrain(ctx, be, cfg, rng)
	if err != nil {
		return out, err
	}
	return append(out, r), nil
}

// timeMedian returns the median time of one call of run over trials timed
// repeats, each long enough (minT) that launch and clock overheads vanish.
func timeMedian(ctx context.Context, be kernels.Backend, run func(), trials int, minT time.Duration) (time.Duration, error) {
	run() // warm up: module JIT, pool, caches
	if err := synchronize(be); err != nil {
		return 0, err
	}
	start := time.Now()
	run()
	if err := synchronize(be); err != nil {
		return 0, err
	}
	reps := max(1, int(minT/max(time.Since(start), time.Microsecond)))
	var times []time.Duration
	for range max(trials, 1) {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		start := time.Now()
		for range reps {
			run()
		}
		if err := synchronize(be); err != nil {
			return 0, err
		}
		times = append(times, time.Since(start)/time.Duration(reps))
	}
	slices.Sort(times)
	return times[len(times)/2], nil
}

// benchTrain times full training steps (forward, ZILN loss, backward,
// AdamW) of the model package's Net on one resident batch.
func benchTrain(ctx context.Context, be kernels.Backend, cfg benchConfig, rng *rand.Rand) (benchResult, error) {
	layout, err := model.NewLayout(cfg.inputs, cfg.hidden)
	if err != nil {
		return benchResult{}, fmt.Errorf("selftest: bench train: %w", err)
	}
	x := make([]float32, cfg.batch*cfg.inputs)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	y := make([]float32, cfg.batch)
	for i := range y {
		if rng.IntN(2) == 0 {
			y[i] = float32(math.Exp(3 + rng.NormFloat64()))
		}
	}
	net := model.NewNet(be, layout)
	net.Init(1, model.OutputBiasFor(y))
	opt := model.NewAdam(be, layout.Size, model.DefaultConfig().AdamParams())
	xb, yb := be.Alloc(len(x)), be.Alloc(len(y))
	be.Upload(xb, x)
	be.Upload(yb, y)
	step := func() {
		net.LossAndGrad(xb, yb, cfg.batch)
		opt.Step(net)
	}
	for range 3 {
		step()
	}
	if err := synchronize(be); err != nil {
		return benchResult{}, fmt.Errorf("selftest: bench train: %w", err)
	}
	steps := 0
	start := time.Now()
	for (cfg.steps > 0 && steps < cfg.steps) || (cfg.steps == 0 && (steps < 3 || time.Since(start) < 10*cfg.minT)) {
		if err := ctx.Err(); err != nil {
			return benchResult{}, fmt.Errorf("selftest: bench train: %w", err)
		}
		step()
		steps++
	}
	if err := synchronize(be); err != nil {
		return benchResult{}, fmt.Errorf("selftest: bench train: %w", err)
	}
	el := time.Since(start)
	widths := fmt.Sprint(cfg.inputs)
	for _, h := range cfg.hidden {
		widths += fmt.Sprintf("-%d", h)
	}
	return benchResult{
		Name: "train step (MLP+ZILN, AdamW)", Shape: fmt.Sprintf("%s-%d batch %d", widths, kernels.ZILNOutputs, cfg.batch),
		Value: float64(steps*cfg.batch) / el.Seconds(), Unit: "samples/s",
		Millis: el.Seconds() * 1e3 / float64(steps),
	}, nil
}
