package main

import (
	"bytes"
	"context"
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/cohort-clv/cohort/kernels"
	"github.com/cohort-clv/cohort/kernels/cpu"
)

// TestParseDevice ensures --device values parse into a kind and ordinal,
// and malformed ones are refused with the flag named.
func TestParseDevice(t *testing.T) {
	tests := []struct {
		in      string
		kind    string
		ordinal int
		ok      bool
	}{
		{"cpu", "cpu", 0, true}, {"cuda", "cuda", 0, true}, {"cuda:0", "cuda", 0, true}, {"cuda:3", "cuda", 3, true},
		{"cuda:", "", 0, false}, {"cuda:-1", "", 0, false}, {"cuda:x", "", 0, false}, {"gpu", "", 0, false}, {"", "", 0, false},
	}
	for _, tt := range tests {
		kind, ord, err := parseDevice(tt.in)
		if (err == nil) != tt.ok || kind != tt.kind || ord != tt.ordinal {
			t.Errorf("parseDevice(%q) = %q, %d, %v; want %q, %d, ok=%v", tt.in, kind, ord, err, tt.kind, tt.ordinal, tt.ok)
		}
		if err != nil && !strings.Contains(err.Error(), "--device") {
			t.Errorf("parseDevice(%q) error %q does not name the flag", tt.in, err)
		}
	}
}

// TestSelftestCPUJSON ensures selftest on the cpu device checks every
// kernel, passes, and writes valid JSON.
func TestSelftestCPUJSON(t *testing.T) {
	var out bytes.Buffer
	if err := runSelftest(context.Background(), &out, &selftestFlags{device: "cpu", json: true, seed: 42}); err != nil {
		t.Fatalf("selftest: %v\n%s", err, out.String())
	}
	var rep selftestReport
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("selftest JSON: %v\n%s", err, out.String())
	}
	if !rep.OK || rep.Seed != 42 || rep.Device != "cpu" {
		t.Errorf("report ok=%v seed=%d device=%q, want true, 42, cpu", rep.OK, rep.Seed, rep.Device)
	}
	// The CPU backend is checked against its portable kernels, not itself.
	be := cpu.New(cpu.Options{})
	defer be.Close()
	portable := cpu.New(cpu.Options{Portable: true})
	defer portable.Close()
	if !strings.Contains(rep.Reference, portable.Kernel()) {
		t.Errorf("reference %q, want the portable kernel %s", rep.Reference, portable.Kernel())
	}
	if be.Kernel() != portable.Kernel() && rep.Reference == rep.Detail {
		t.Errorf("the %s backend was checked against itself (%q)", be.Kernel(), rep.Reference)
	}
	ops := map[string]bool{}
	for _, c := range rep.Checks {
		ops[c.Op] = true
	}
	for _, op := range []string{"gemm_nn", "gemm_nt", "gemm_tn", "gemm_tt", "bias", "bias_relu", "relu_backward",
		"colsum", "ziln_loss", "ziln_predict", "adamw", "scale_axpy"} {
		if !ops[op] {
			t.Errorf("no check of %s", op)
		}
	}
}

// brokenBackend is a CPU backend with planted faults: a GEMM that writes
// nothing when beta is 0, and predicted means off by 1e-4.
type brokenBackend struct {
	*cpu.Backend
}

func (b brokenBackend) Gemm(ta, tb bool, m, n, k int, alpha float32, a, bb kernels.Buffer, beta float32, c kernels.Buffer) {
	if beta != 0 {
		b.Backend.Gemm(ta, tb, m, n, k, alpha, a, bb, beta, c)
	}
}

func (b brokenBackend) ZILNPredict(p, mean, logits kernels.Buffer, rows int) {
	b.Backend.ZILNPredict(p, mean, logits, rows)
	b.Backend.Scale(mean, 1+1e-4)
}

// TestSelftestCatchesFaults ensures unwritten outputs and small errors fail
// their checks while the correct kernels still pass.
func TestSelftestCatchesFaults(t *testing.T) {
	dev := brokenBackend{cpu.New(cpu.Options{Threads: 1})}
	defer dev.Close()
	ref := cpu.New(cpu.Options{})
	defer ref.Close()
	checks, err := runChecks(context.Background(), dev, ref, rand.New(rand.NewPCG(1, 2)))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range checks {
		wantFail := (strings.HasPrefix(c.Op, "gemm") && strings.Contains(c.Shape, "b=0")) || c.Op == "ziln_predict"
		if c.OK == wantFail {
			t.Errorf("%s %s: ok=%v (err %.2g, unwritten %d), want ok=%v", c.Op, c.Shape, c.OK, c.MaxRelErr, c.Unwritten, !wantFail)
		}
		if wantFail && strings.HasPrefix(c.Op, "gemm") && c.Unwritten == 0 {
			t.Errorf("%s %s: unwritten outputs not counted", c.Op, c.Shape)
		}
	}
	var out bytes.Buffer
	if err := printSelftest(&out, selftestReport{Detail: "broken", Checks: checks}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "FAIL (") {
		t.Errorf("table does not show the unwritten outputs:\n%s", out.String())
	}
}

// TestBenchSmall ensures the benchmark mode times GEMMs and training steps
// and reports positive rates in their units.
func TestBenchSmall(t *testing.T) {
	be := cpu.New(cpu.Options{Threads: 1})
	defer be.Close()
	cfg := benchConfig{
		gemms:  []benchGemm{{"sgemm", false, false, 64, 64, 64}, {"sgemm A^T", true, false, 32, 48, 80}},
		inputs: 8, hidden: []int{16, 8}, batch: 64, steps: 4, trials: 3, minT: time.Millisecond,
	}
	res, err := runBench(context.Background(), be, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 3 {
		t.Fatalf("%d results, want 2 GEMMs and 1 training run", len(res))
	}
	for i, r := range res {
		unit := "GFLOP/s"
		if i == 2 {
			unit = "samples/s"
		}
		if r.Unit != unit || !(r.Value > 0) || !(r.Millis >= 0) {
			t.Errorf("result %d = %+v, want a positive rate in %s", i, r, unit)
		}
	}
	if res[2].Shape != "8-16-8-3 batch 64" {
		t.Errorf("training shape %q", res[2].Shape)
	}
}
