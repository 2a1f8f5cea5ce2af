package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/cohort-clv/cohort/kernels"
	"github.com/cohort-clv/cohort/kernels/cpu"
)

// selftestBound is the largest relative error a float32 kernel may show
// against the CPU backend. GEMM and column-sum errors are relative to the
// sum of the magnitudes of their terms (sum_k |a||b|, sum_i |x|), the scale
// of any float32 summation's rounding; other outputs are relative to the
// CPU value, with a floor of 1e-6 times the largest CPU value so outputs
// near zero are not judged by their last bits.
const selftestBound = 1e-5

type selftestFlags struct {
	device string
	json   bool
	seed   uint64
	bench  bool
	steps  int
}

func newSelftestCmd() *cobra.Command {
	f := &selftestFlags{}
	cmd := &cobra.Command{
		Use:   "selftest [--device cuda:0|cpu] [--json] [--bench]",
		Short: "Check every compute kernel of a device against the CPU backend (and benchmark it)",
		Long: `selftest runs every kernel of the backend (GEMM in all four transposes, bias +
activation, activation gradient, column sums, ZILN loss and gradient, ZILN
prediction, AdamW, scale, axpy) on fresh random inputs, on the device and on the
CPU backend, with the device's outputs poisoned with NaN first so an unwritten
element fails. It prints the largest relative error of each check against the
bound (1e-5 for float32; GEMM and column sums relative to the sum of the terms'
magnitudes) and exits non-zero when one fails.

--bench then times SGEMM (4096^3 and the MLP's shapes, GFLOP/s) and training
of the CLV MLP 64-512-512-256 with its ZILN head at batch 4096 (samples/s).

On --device cpu the reference is the CPU backend's portable Go kernels, so the
AVX2/FMA assembly (micro-kernel, packing, elementwise loops) is checked against
an independent implementation.

The default device is cuda:0 in a binary built with -tags cuda, and cpu in one
built without, which answers --device cuda with an error.

Example:
  cohort selftest --device cpu                 # the AVX2/FMA kernels against portable Go
  cohort selftest --device cpu --json --seed 7 # inputs that a rerun repeats, as JSON
  cohort selftest --device cuda:0 --bench      # a GPU (a -tags cuda binary), then its speed`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runSelftest(cmd.Context(), cmd.OutOrStdout(), f) },
	}
	fs := cmd.Flags()
	fs.StringVar(&f.device, "device", defaultSelftestDevice(), "backend to check: cpu, cuda or cuda:N")
	fs.BoolVar(&f.json, "json", false, "print the results as JSON")
	fs.Uint64Var(&f.seed, "seed", 0, "random seed for the inputs (0: a fresh one, printed)")
	fs.BoolVar(&f.bench, "bench", false, "also benchmark SGEMM and training on the device")
	fs.IntVar(&f.steps, "bench-steps", 0, "training steps to time with --bench (0: as many as fit in about 3 s)")
	return cmd
}

// defaultSelftestDevice is the first GPU where this binary can drive one,
// else the CPU, so that selftest with no flags works on every build.
func defaultSelftestDevice() string {
	if cudaBuilt {
		return "cuda:0"
	}
	return "cpu"
}

// parseDevice splits a --device value into "cpu" or "cuda" and an ordinal.
func parseDevice(s string) (kind string, ordinal int, err error) {
	switch {
	case s == "cpu":
		return "cpu", 0, nil
	case s == "cuda":
		return "cuda", 0, nil
	case strings.HasPrefix(s, "cuda:"):
		n, err := strconv.Atoi(strings.TrimPrefix(s, "cuda:"))
		if err != nil || n < 0 {
			return "", 0, fmt.Errorf("--device %q: want cuda:N with N a device ordinal >= 0", s)
		}
		return "cuda", n, nil
	}
	return "", 0, fmt.Errorf("--device %q: want cpu, cuda or cuda:N", s)
}

// selftestReport is the JSON form of a selftest run.
type selftestReport struct {
	Device string `json:"device"`
	Detail string `json:"detail"`
	// Reference is the backend the device is checked against.
	Reference string         `json:"reference"`
	Seed      uint64         `json:"seed"`
	Bound     float64        `json:"bound"`
	OK        bool           `json:"ok"`
	Checks    []checkResult  `json:"checks"`
	Bench     []benchResult  `json:"bench,omitempty"`
	Extra     map[string]any `json:"extra,omitempty"`
}

func runSelftest(ctx context.Context, w io.Writer, f *selftestFlags) error {
	if ctx == nil {
		ctx = context.Background()
	}
	be, err := newBackend(f.device, 0)
	if err != nil {
		return fmt.Errorf("selftest: %w", err)
	}
	defer closeBackend(be)
	// The CPU backend is checked against its portable Go kernels, so a CPU
	// selftest compares the assembly with an independent implementation
	// rather than with itself.
	_, onCPU := be.(*cpu.Backend)
	ref := cpu.New(cpu.Options{Portable: onCPU})
	defer ref.Close()
	seed := f.seed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	rep := selftestReport{Device: be.Name(), Detail: describeBackend(be), Reference: describeBackend(ref), Seed: seed, Bound: selftestBound, OK: true}
	rep.Checks, err = runChecks(ctx, be, ref, rand.New(rand.NewPCG(seed, 0x5e1f)))
	if err != nil {
		return err
	}
	failed := 0
	for _, c := range rep.Checks {
		if !c.OK {
			failed++
		}
	}
	rep.OK = failed == 0
	if f.bench {
		if rep.Bench, err = runBench(ctx, be, defaultBenchConfig(f.steps)); err != nil {
			return err
		}
	}
	if f.json {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return fmt.Errorf("selftest: write JSON: %w", err)
		}
	} else if err := printSelftest(w, rep); err != nil {
		return err
	}
	if failed > 0 {
		return fmt.Errorf("selftest: %d of %d checks failed on %s (seed %d)", failed, len(rep.Checks), be.Name(), seed)
	}
	return nil
}

func closeBackend(be kernels.Backend) {
	if c, ok := be.(io.Closer); ok {
		_ = c.Close()
	}
}

// describeBackend is a one-line description of the hardware behind be.
func describeBackend(be kernels.Backend) string {
	switch b := be.(type) {
	case interface{ Describe() string }:
		return b.Describe()
	case *cpu.Backend:
		return fmt.Sprintf("cpu, %d threads, kernel %s", b.Threads(), b.Kernel())
	}
	return be.Name()
}

func printSelftest(w io.Writer, rep selftestReport) error {
	fmt.Fprintf(w, "selftest of %s against %s, seed %d\n", rep.Detail, rep.Reference, rep.Seed)
	if rep.Reference == rep.Detail {
		fmt.Fprintln(w, "(this CPU runs the portable kernels only, so they are checked against themselves)")
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "KERNEL\tSHAPE\tMAX REL ERR\tBOUND\tRESULT")
	for _, c := range rep.Checks {
		res := "ok"
		switch {
		case c.Unwritten > 0:
			res = fmt.Sprintf("FAIL (%d outputs not written or NaN)", c.Unwritten)
		case !c.OK:
			res = "FAIL"
		}
		fmt.Fprintf(tw, "%s\t%s\t%.2e\t%.0e\t%s\n", c.Op, c.Shape, c.MaxRelErr, c.Bound, res)
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("selftest: write table: %w", err)
	}
	if len(rep.Bench) > 0 {
		fmt.Fprintln(w)
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "BENCHMARK\tSHAPE\tRESULT\tTIME/ITER")
		for _, b := range rep.Bench {
			fmt.Fprintf(tw, "%s\t%s\t%.1f %s\t%.3f ms\n", b.Name, b.Shape, b.Value, b.Unit, b.Millis)
		}
		if err := tw.Flush(); err != nil {
			return fmt.Errorf("selftest: write table: %w", err)
		}
	}
	return nil
}
