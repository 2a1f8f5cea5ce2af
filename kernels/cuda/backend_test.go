//go:build cuda

package cuda

import (
	"math"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/cohort-clv/cohort/kernels"
	"github.com/cohort-clv/cohort/kernels/cpu"
	"github.com/cohort-clv/cohort/kernels/kernelstest"
)

// These tests need an NVIDIA GPU: a cuda test binary stops at start-up
// without one (package internal/cuinit). CI only compiles them.

func newTestBackend(t *testing.T) *Backend {
	t.Helper()
	be, err := New(Options{SyncEachLaunch: true})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return be
}

// TestConformance ensures the CUDA backend honours the kernels.Backend
// contract on every shape of the shared conformance suite.
func TestConformance(t *testing.T) {
	kernelstest.Conformance(t, func() kernels.Backend { return newTestBackend(t) })
}

// TestMatchesCPU ensures every operation agrees with the CPU backend on the
// MLP's shapes, including the aligned-vector GEMM path both tiles take.
func TestMatchesCPU(t *testing.T) {
	be := newTestBackend(t)
	defer be.Close()
	ref := cpu.New(cpu.Options{})
	defer ref.Close()
	rng := rand.New(rand.NewPCG(31, 32))
	shapes := [][3]int{{4096, 512, 64}, {512, 512, 4096}, {4096, 256, 512}, {64, 64, 64}, {8192, 512, 512}}
	for _, s := range shapes {
		m, n, k := s[0], s[1], s[2]
		for tr := range 4 {
			a, b, c := randn(rng, m*k), randn(rng, k*n), randn(rng, m*n)
			got := gemmOn(be, tr&1 != 0, tr&2 != 0, m, n, k, a, b, c)
			want := gemmOn(ref, tr&1 != 0, tr&2 != 0, m, n, k, a, b, c)
			for i := range want {
				if math.Abs(float64(got[i]-want[i])) > 1e-5*float64(k) {
					t.Fatalf("%dx%dx%d tr=%d: C[%d] = %v, cpu %v", m, n, k, tr, i, got[i], want[i])
				}
			}
		}
	}
}

func gemmOn(be kernels.Backend, ta, tb bool, m, n, k int, a, b, c []float32) []float32 {
	ab, bb, cb := be.Alloc(len(a)), be.Alloc(len(b)), be.Alloc(len(c))
	be.Upload(ab, a)
	be.Upload(bb, b)
	be.Upload(cb, c)
	be.Gemm(ta, tb, m, n, k, 0.5, ab, bb, 1, cb)
	out := make([]float32, len(c))
	be.Download(out, cb)
	return out
}

func randn(rng *rand.Rand, n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	return x
}

// TestZILNLossDeterministic ensures the reduced loss is bit-identical
// across repeats.
func TestZILNLossDeterministic(t *testing.T) {
	be := newTestBackend(t)
	defer be.Close()
	rng := rand.New(rand.NewPCG(33, 34))
	const rows = 100003
	logits, labels := randn(rng, 3*rows), randn(rng, rows)
	lb, yb, gb := be.Alloc(3*rows), be.Alloc(rows), be.Alloc(3*rows)
	be.Upload(lb, logits)
	be.Upload(yb, labels)
	first := be.ZILNLoss(gb, lb, yb, rows)
	for range 5 {
		if again := be.ZILNLoss(gb, lb, yb, rows); math.Float64bits(again) != math.Float64bits(first) {
			t.Fatalf("loss %v then %v", first, again)
		}
	}
}

// TestPoolReuse ensures a dropped Buffer's device block is reused, zeroed,
// by the next Alloc of its size class.
func TestPoolReuse(t *testing.T) {
	be := newTestBackend(t)
	defer be.Close()
	b := be.Alloc(1000)
	be.Upload(b, randn(rand.New(rand.NewPCG(1, 1)), 1000))
	ptr := b.(Buffer).ptr()
	b = nil
	for range 50 {
		runtime.GC()
		if p, ok := be.pool.get(sizeClass(4000)); ok {
			be.pool.put(p, sizeClass(4000))
			break
		}
		runtime.Gosched()
	}
	c := be.Alloc(999)
	if got := c.(Buffer).ptr(); got != ptr {
		t.Fatalf("Alloc after the drop got block %v, want the dropped %v", got, ptr)
	}
	x := make([]float32, 999)
	be.Download(x, c)
	for i, v := range x {
		if v != 0 {
			t.Fatalf("reused block [%d] = %v, want 0", i, v)
		}
	}
}

// TestForeignBuffer ensures a Buffer of another Backend is refused.
func TestForeignBuffer(t *testing.T) {
	be, other := newTestBackend(t), newTestBackend(t)
	defer be.Close()
	defer other.Close()
	defer func() {
		if recover() == nil {
			t.Fatal("Scale of another Backend's buffer did not panic")
		}
	}()
	be.Scale(other.Alloc(4), 2)
}
