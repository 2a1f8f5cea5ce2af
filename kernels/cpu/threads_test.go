package cpu

import (
	"math"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"

	"github.com/cohort-clv/cohort/kernels"
)

// stepResults runs one of every operation on fixed random inputs with the
// given thread count and returns every output, concatenated.
func stepResults(threads int) []float32 {
	be := New(Options{Threads: threads})
	defer be.Close()
	rng := rand.New(rand.NewPCG(42, 43))
	rnd := func(n int) []float32 {
		x := make([]float32, n)
		for i := range x {
			x[i] = float32(rng.NormFloat64())
		}
		return x
	}
	var out []float32
	// Shapes that split unevenly over 2 and 3 threads, in both directions.
	for _, s := range [][3]int{{301, 77, 290}, {40, 700, 300}, {1024, 3, 256}, {3100, 40, 30}} {
		m, n, k := s[0], s[1], s[2]
		for tr := range 4 {
			c := Wrap(rnd(m * n))
			be.Gemm(tr&1 != 0, tr&2 != 0, m, n, k, 0.7, Wrap(rnd(m*k)), Wrap(rnd(k*n)), 0.3, c)
			out = append(out, Floats(c)...)
		}
	}
	for _, s := range [][2]int{{5000, 3}, {1000, 130}, {9000, 40}} {
		d := Wrap(rnd(s[1]))
		be.ColSum(d, Wrap(rnd(s[0]*s[1])), s[0], s[1], 0.5)
		out = append(out, Floats(d)...)
	}
	x := Wrap(rnd(700 * 300))
	be.BiasAct(x, 700, 300, Wrap(rnd(300)), kernels.ReLU)
	g := Wrap(rnd(700 * 300))
	be.ActBackward(g, x, kernels.ReLU)
	out = append(out, Floats(x)...)
	out = append(out, Floats(g)...)

	const rows = 5000
	logits, labels := rnd(3*rows), rnd(rows)
	for i := range labels {
		labels[i] = max(0, labels[i]) * 10
	}
	grad := Wrap(make([]float32, 3*rows))
	loss := be.ZILNLoss(grad, Wrap(logits), Wrap(labels), rows)
	out = append(out, Floats(grad)...)
	out = append(out, float32(loss), float32(loss-float64(float32(loss))))

	p, gr := Wrap(rnd(100003)), Wrap(rnd(100003))
	m, v := Wrap(make([]float32, 100003)), Wrap(make([]float32, 100003))
	be.Adam(p, gr, m, v, 1, kernels.AdamParams{LR: 1e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 1e-2})
	be.Axpy(0.5, gr, p)
	be.Scale(p, 0.9)
	return append(out, Floats(p)...)
}

// TestThreadCountsAgree ensures every operation gives bit-identical results
// at 1, 2 and 3 threads and on repeated runs, so that training is
// reproducible for a seed whatever the machine.
func TestThreadCountsAgree(t *testing.T) {
	want := stepResults(1)
	for _, threads := range []int{1, 2, 3} {
		got := stepResults(threads)
		if len(got) != len(want) {
			t.Fatalf("threads=%d: %d outputs, want %d", threads, len(got), len(want))
		}
		for i := range got {
			if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
				t.Fatalf("threads=%d: output %d = %v, one thread gave %v", threads, i, got[i], want[i])
			}
		}
	}
}

// TestZILNGradientFiniteDifference ensures the backend's own gradient is
// the derivative of the backend's own loss, by central differences.
func TestZILNGradientFiniteDifference(t *testing.T) {
	be := New(Options{Threads: 1})
	defer be.Close()
	rng := rand.New(rand.NewPCG(7, 9))
	const rows = 16
	logits := make([]float32, 3*rows)
	labels := make([]float32, rows)
	for i := range rows {
		logits[3*i] = float32(rng.NormFloat64())
		logits[3*i+1] = float32(1 + rng.NormFloat64())
		logits[3*i+2] = float32(rng.NormFloat64())
		if i%3 != 0 {
			labels[i] = float32(math.Exp(1 + rng.NormFloat64()))
		}
	}
	grad := be.Alloc(3 * rows)
	be.ZILNLoss(grad, Wrap(logits), Wrap(labels), rows)
	scratch := be.Alloc(3 * rows)
	for i := range logits {
		// h is a power of two so z±h are exact in float32.
		const h = 1.0 / 256
		z := logits[i]
		logits[i] = z + h
		up := be.ZILNLoss(scratch, Wrap(logits), Wrap(labels), rows)
		logits[i] = z - h
		down := be.ZILNLoss(scratch, Wrap(logits), Wrap(labels), rows)
		logits[i] = z
		fd := (up - down) / (2 * h)
		if g := float64(Floats(grad)[i]); math.Abs(g-fd) > 1e-3*math.Abs(fd)+1e-5 {
			t.Errorf("d loss / d logit[%d] = %v, finite difference %v", i, g, fd)
		}
	}
}

// TestCloseStopsWorkers ensures Close stops the pool's goroutines, is
// idempotent, and leaves a Backend that still computes.
func TestCloseStopsWorkers(t *testing.T) {
	be := New(Options{Threads: 4})
	if got := be.pool.size(); got != 4 {
		t.Fatalf("pool size %d, want 4", got)
	}
	for range 2 {
		if err := be.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if got := be.pool.size(); got != 1 {
		t.Fatalf("pool size after Close %d, want 1", got)
	}
	for _, ch := range be.pool.jobs {
		select {
		case _, open := <-ch:
			if open {
				t.Fatal("a job channel delivered after Close")
			}
		default:
			t.Fatal("a job channel is still open after Close")
		}
	}
	x := Wrap([]float32{1, -2, 3})
	be.Scale(x, 2)
	if got := Floats(x); got[0] != 2 || got[1] != -4 || got[2] != 6 {
		t.Fatalf("Scale after Close = %v", got)
	}
}

// TestOptionsDefault ensures Threads 0 means GOMAXPROCS.
func TestOptionsDefault(t *testing.T) {
	be := New(Options{})
	defer be.Close()
	if be.Threads() < 1 {
		t.Fatalf("Threads() = %d", be.Threads())
	}
}

// TestFloatsShares ensures Floats and Wrap expose the same memory, and
// Floats refuses buffers of other backends.
func TestFloatsShares(t *testing.T) {
	host := []float32{1, 2, 3, 4}
	b := Wrap(host)
	Floats(b.Slice(1, 2))[0] = 9
	if host[1] != 9 {
		t.Fatalf("write through Floats of a Slice did not reach the host slice: %v", host)
	}
	defer func() {
		if recover() == nil {
			t.Fatal("Floats of a foreign buffer did not panic")
		}
	}()
	Floats(foreign{})
}

// foreign is a Buffer of some other backend.
type foreign struct{}

func (foreign) Len() int                        { return 0 }
func (foreign) Slice(off, n int) kernels.Buffer { return foreign{} }

// TestGemmBlockingInvariant ensures that packing fewer k blocks at a time
// (as a product too large for one packing phase does) changes nothing, bit
// for bit: every element still sees the k blocks in the same order.
func TestGemmBlockingInvariant(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	const m, n, k = 70, 50, 3*kc + 17
	a, b := randFloats(rng, m*k), randFloats(rng, k*n)
	c0 := randFloats(rng, m*n)
	var results [][]float32
	for _, pm := range []int{packMax, (m + n + nr) * kc, 1} {
		for _, threads := range []int{1, 3} {
			be := New(Options{Threads: threads})
			be.packMax = pm
			for tr := range 4 {
				c := append([]float32(nil), c0...)
				be.Gemm(tr&1 != 0, tr&2 != 0, m, n, k, 1.5, Wrap(a), Wrap(b), 0.5, Wrap(c))
				results = append(results, c)
			}
			be.Close()
		}
	}
	for i := 4; i < len(results); i++ {
		want := results[i%4]
		for j := range want {
			if math.Float32bits(results[i][j]) != math.Float32bits(want[j]) {
				t.Fatalf("run %d (transposes %d): C[%d] = %v, default blocking gave %v", i, i%4, j, results[i][j], want[j])
			}
		}
	}
}

func randFloats(rng *rand.Rand, n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	return x
}

// TestUnclosedBackendReleasesWorkers ensures a Backend dropped without
// Close has its goroutines stopped once the garbage collector finds it.
func TestUnclosedBackendReleasesWorkers(t *testing.T) {
	before := runtime.NumGoroutine()
	func() {
		be := New(Options{Threads: 4})
		x := be.Alloc(1 << 16)
		be.Scale(x, 2) // run the pool once
	}()
	for range 100 {
		runtime.GC()
		if runtime.NumGoroutine() <= before {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%d goroutines remain, %d before the Backend", runtime.NumGoroutine(), before)
}
