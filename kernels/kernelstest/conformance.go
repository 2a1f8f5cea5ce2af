// Package kernelstest checks that a kernels.Backend honours the contract in
// package kernels, by comparing every method with a plain float64
// reference on random inputs of awkward shapes. Backends call Conformance
// from their own tests.
package kernelstest

import (
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/cohort-clv/cohort/kernels"
)

// eps32 is the unit roundoff of float32.
const eps32 = 1.0 / (1 << 24)

// Conformance runs the contract checks as subtests, each on a fresh
// Backend from newBackend. A Backend that implements io.Closer is closed
// when its subtest ends.
func Conformance(t *testing.T, newBackend func() kernels.Backend) {
	t.Helper()
	checks := []struct {
		name string
		fn   func(*testing.T, kernels.Backend)
	}{
		{"Memory", checkMemory},
		{"Gemm", checkGemm},
		{"GemmViews", checkGemmViews},
		{"GemmDeterministic", checkGemmDeterministic},
		{"BiasAct", checkBiasAct},
		{"ActBackward", checkActBackward},
		{"ColSum", checkColSum},
		{"ZILNLoss", checkZILNLoss},
		{"ZILNPredict", checkZILNPredict},
		{"Adam", checkAdam},
		{"ScaleAxpy", checkScaleAxpy},
		{"ShapePanics", checkShapePanics},
	}
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			be := newBackend()
			if cl, ok := be.(io.Closer); ok {
				t.Cleanup(func() {
					if err := cl.Close(); err != nil {
						t.Errorf("Close: %v", err)
					}
				})
			}
			c.fn(t, be)
		})
	}
}

// random returns n values uniform in [-1, 1).
func random(rng *rand.Rand, n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(2*rng.Float64() - 1)
	}
	return x
}

// upload allocates a Buffer holding x.
func upload(be kernels.Backend, x []float32) kernels.Buffer {
	b := be.Alloc(len(x))
	be.Upload(b, x)
	return b
}

// download returns the values of b.
func download(be kernels.Backend, b kernels.Buffer) []float32 {
	x := make([]float32, b.Len())
	be.Download(x, b)
	return x
}

// near reports whether got is within tol of want; NaN never is.
func near(got float32, want, tol float64) bool {
	return math.Abs(float64(got)-want) <= tol
}

// checkMemory ensures Alloc zeroes, Upload/Download round-trip and Slice shares storage.
func checkMemory(t *testing.T, be kernels.Backend) {
	for _, n := range []int{0, 1, 7, 1000} {
		b := be.Alloc(n)
		if b.Len() != n {
			t.Fatalf("Alloc(%d).Len() = %d", n, b.Len())
		}
		for i, v := range download(be, b) {
			if v != 0 {
				t.Fatalf("Alloc(%d)[%d] = %v, want 0", n, i, v)
			}
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	x := random(rng, 100)
	b := upload(be, x)
	for i, v := range download(be, b) {
		if v != x[i] {
			t.Fatalf("round trip [%d] = %v, want %v", i, v, x[i])
		}
	}
	view := b.Slice(10, 20)
	if view.Len() != 20 {
		t.Fatalf("Slice(10, 20).Len() = %d", view.Len())
	}
	be.Upload(view, make([]float32, 20))
	y := download(be, b)
	for i, v := range y {
		want := x[i]
		if i >= 10 && i < 30 {
			want = 0
		}
		if v != want {
			t.Fatalf("after writing a view, [%d] = %v, want %v", i, v, want)
		}
	}
	if got := download(be, view.Slice(5, 3)); len(got) != 3 {
		t.Fatalf("Slice of a Slice has %d values, want 3", len(got))
	}
	mustPanic(t, "Slice past the end", func() { b.Slice(95, 10) })
}

// gemmCase is one product of the Gemm table.
type gemmCase struct {
	m, n, k        int
	transA, transB bool
	alpha, beta    float32
}

func (c gemmCase) String() string {
	return fmt.Sprintf("%dx%dx%d/tA=%v/tB=%v/a=%g/b=%g", c.m, c.n, c.k, c.transA, c.transB, c.alpha, c.beta)
}

// gemmCases crosses awkward shapes (edges of every register tile and cache
// block, k past several blocks, n past the column block) with both
// transposes and the special alpha and beta values.
func gemmCases(rng *rand.Rand) []gemmCase {
	shapes := [][3]int{
		{1, 1, 1}, {7, 13, 5}, {6, 16, 1}, {5, 17, 3}, {12, 32, 64}, {65, 129, 257},
		{1, 300, 40}, {300, 1, 40}, {31, 3, 300}, {150, 70, 520}, {13, 4200, 9}, {3100, 17, 7},
		{64, 48, 1}, {2, 2, 600},
	}
	for range 6 {
		shapes = append(shapes, [3]int{1 + rng.IntN(200), 1 + rng.IntN(200), 1 + rng.IntN(300)})
	}
	scalars := [][2]float32{{1, 0}, {1, 1}, {-0.5, 0}, {1.5, -2}, {0.25, 1}}
	var cases []gemmCase
	for i, s := range shapes {
		for tr := range 4 {
			ab := scalars[(i+tr)%len(scalars)]
			cases = append(cases, gemmCase{m: s[0], n: s[1], k: s[2], transA: tr&1 != 0, transB: tr&2 != 0, alpha: ab[0], beta: ab[1]})
		}
	}
	// The degenerate cases: alpha 0 and k 0 only scale C.
	return append(cases,
		gemmCase{m: 9, n: 10, k: 11, alpha: 0, beta: 0.5},
		gemmCase{m: 9, n: 10, k: 0, alpha: 1, beta: 2},
		gemmCase{m: 9, n: 10, k: 0, alpha: 1, beta: 0},
	)
}

// checkGemm ensures Gemm matches the float64 product for every shape, transpose, alpha and beta.
func checkGemm(t *testing.T, be kernels.Backend) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, c := range gemmCases(rng) {
		t.Run(c.String(), func(t *testing.T) {
			a, b := random(rng, c.m*c.k), random(rng, c.k*c.n)
			cIn := random(rng, c.m*c.n)
			if c.beta == 0 {
				for i := range cIn {
					cIn[i] = float32(math.NaN()) // beta 0 must not read C
				}
			}
			got := runGemm(be, c, a, b, cIn)
			compareGemm(t, c, a, b, cIn, got)
		})
	}
}

func runGemm(be kernels.Backend, c gemmCase, a, b, cIn []float32) []float32 {
	cb := upload(be, cIn)
	be.Gemm(c.transA, c.transB, c.m, c.n, c.k, c.alpha, upload(be, a), upload(be, b), c.beta, cb)
	return download(be, cb)
}

func compareGemm(t *testing.T, c gemmCase, a, b, cIn, got []float32) {
	t.Helper()
	want, mag := refGemm(c.transA, c.transB, c.m, c.n, c.k, float64(c.alpha), a, b, float64(c.beta), cIn)
	bad := 0
	for i, w := range want {
		// A float32 sum of k products in any order errs by at most about
		// k*eps*sum|terms|; two more roundings for alpha and beta.
		tol := 2*eps32*float64(c.k+3)*mag[i] + 1e-30
		if !near(got[i], w, tol) {
			if bad++; bad <= 5 {
				t.Errorf("C[%d,%d] = %v, want %v (tol %.3g)", i/c.n, i%c.n, got[i], w, tol)
			}
		}
	}
	if bad > 5 {
		t.Errorf("... %d elements wrong in all", bad)
	}
}

// checkGemmViews ensures Gemm reads and writes Slice views at odd offsets and nothing outside them.
func checkGemmViews(t *testing.T, be kernels.Backend) {
	rng := rand.New(rand.NewPCG(5, 6))
	c := gemmCase{m: 37, n: 21, k: 19, transA: true, alpha: 1, beta: 1}
	a, b, cIn := random(rng, c.m*c.k), random(rng, c.k*c.n), random(rng, c.m*c.n)
	const off = 3
	total := off + len(a) + len(b) + len(cIn) + off
	all := make([]float32, total)
	for i := range all {
		all[i] = 42
	}
	copy(all[off:], a)
	copy(all[off+len(a):], b)
	copy(all[off+len(a)+len(b):], cIn)
	buf := upload(be, all)
	av := buf.Slice(off, len(a))
	bv := buf.Slice(off+len(a), len(b))
	cv := buf.Slice(off+len(a)+len(b), len(cIn))
	be.Gemm(c.transA, c.transB, c.m, c.n, c.k, c.alpha, av, bv, c.beta, cv)
	out := download(be, buf)
	compareGemm(t, c, a, b, cIn, out[off+len(a)+len(b):total-off])
	for _, i := range []int{0, 1, 2, total - 3, total - 2, total - 1} {
		if out[i] != 42 {
			t.Errorf("value %d outside the views changed to %v", i, out[i])
		}
	}
}

// checkGemmDeterministic ensures repeating a product gives bit-identical results.
func checkGemmDeterministic(t *testing.T, be kernels.Backend) {
	rng := rand.New(rand.NewPCG(7, 8))
	c := gemmCase{m: 257, n: 131, k: 300, transB: true, alpha: 1}
	a, b := random(rng, c.m*c.k), random(rng, c.k*c.n)
	first := runGemm(be, c, a, b, make([]float32, c.m*c.n))
	for range 3 {
		again := runGemm(be, c, a, b, make([]float32, c.m*c.n))
		for i := range first {
			if math.Float32bits(first[i]) != math.Float32bits(again[i]) {
				t.Fatalf("C[%d] = %v then %v", i, first[i], again[i])
			}
		}
	}
}

// mustPanic fails the test unless fn panics.
func mustPanic(t *testing.T, what string, fn func()) {
	t.Helper()
	defer func() {
		if recover() == nil {
			t.Errorf("%s did not panic", what)
		}
	}()
	fn()
}
