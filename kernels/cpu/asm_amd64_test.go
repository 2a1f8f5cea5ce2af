//go:build amd64 && !purego

package cpu

import (
	"math"
	"math/rand/v2"
	"testing"
)

// The conformance tests exercise the assembly (on CPUs that have AVX2);
// `go test -tags purego` exercises the portable code. These tests pit the
// two against each other directly, so one plain run covers both.

func randSlice(rng *rand.Rand, n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	return x
}

func skipWithoutAVX2(t *testing.T) {
	t.Helper()
	if !hasAVX2FMA() {
		t.Skip("CPU lacks AVX2/FMA")
	}
}

// TestMicroKernelsAgree ensures the assembly and Go micro-kernels compute
// the same tile, for both beta paths and odd depths.
func TestMicroKernelsAgree(t *testing.T) {
	skipWithoutAVX2(t)
	rng := rand.New(rand.NewPCG(1, 1))
	for _, k := range []int{1, 2, 3, 4, 5, 7, 64, 255, 256} {
		for _, beta := range []float32{0, 1, -0.5} {
			a, b := randSlice(rng, k*mr), randSlice(rng, k*nr)
			const ldc = nr + 3 // a row stride wider than the tile
			c0 := randSlice(rng, mr*ldc)
			cAsm := append([]float32(nil), c0...)
			cGo := append([]float32(nil), c0...)
			avxKernel.fn(k, a, b, cAsm, ldc, 1.25, beta)
			goKernel.fn(k, a, b, cGo, ldc, 1.25, beta)
			for i := range cGo {
				if i%ldc >= nr {
					if cAsm[i] != c0[i] {
						t.Fatalf("k=%d: asm wrote outside the tile at %d", k, i)
					}
					continue
				}
				if math.Abs(float64(cAsm[i]-cGo[i])) > 1e-5*float64(k) {
					t.Fatalf("k=%d beta=%v: C[%d] asm %v, Go %v", k, beta, i, cAsm[i], cGo[i])
				}
			}
		}
	}
}

// TestPackersAgree ensures the assembly packers move exactly the values
// the Go packers move.
func TestPackersAgree(t *testing.T) {
	skipWithoutAVX2(t)
	rng := rand.New(rand.NewPCG(2, 2))
	spread := func(f func(dst, src []float32, ld, k, panels int)) func(dst, src []float32, ld, k int) {
		return func(dst, src []float32, ld, k int) { f(dst, src, ld, k, 3) }
	}
	cases := []struct {
		name      string
		asm, gold func(dst, src []float32, ld, k int)
		w, panels int
	}{
		{"gatherA", asmPackers.gatherA, goPackers.gatherA, mr, 1},
		{"spreadA", spread(asmPackers.spreadA), spread(goPackers.spreadA), mr, 3},
		{"gatherB", asmPackers.gatherB, goPackers.gatherB, nr, 1},
		{"spreadB", spread(asmPackers.spreadB), spread(goPackers.spreadB), nr, 3},
	}
	for _, c := range cases {
		for _, k := range []int{1, 3, 17, 256} {
			ld := 3*c.w + k + 5
			src := randSlice(rng, ld*max(k, c.w))
			got, want := make([]float32, c.panels*c.w*k), make([]float32, c.panels*c.w*k)
			c.asm(got, src, ld, k)
			c.gold(want, src, ld, k)
			for i := range want {
				if got[i] != want[i] {
					t.Fatalf("%s k=%d: [%d] = %v, want %v", c.name, k, i, got[i], want[i])
				}
			}
		}
	}
}

// TestVecOpsAgree ensures the AVX2 elementwise loops match the Go loops on
// lengths with and without a tail.
func TestVecOpsAgree(t *testing.T) {
	skipWithoutAVX2(t)
	rng := rand.New(rand.NewPCG(3, 3))
	type op func(v vecOps, x, y, z, w []float32)
	ops := map[string]op{
		"biasReLU":     func(v vecOps, x, y, _, _ []float32) { v.biasReLU(x, y) },
		"biasAdd":      func(v vecOps, x, y, _, _ []float32) { v.biasAdd(x, y) },
		"reluBackward": func(v vecOps, x, y, _, _ []float32) { v.reluBackward(x, y) },
		"scale":        func(v vecOps, x, _, _, _ []float32) { v.scale(x, -1.5) },
		"axpy":         func(v vecOps, x, y, _, _ []float32) { v.axpy(0.75, x, y) },
		"addTo":        func(v vecOps, x, y, _, _ []float32) { v.addTo(x, y) },
		"adam": func(v vecOps, p, g, m, w []float32) {
			for i := range w {
				w[i] = w[i] * w[i] // v >= 0
			}
			v.adam(p, g, m, w, adamConsts{b1: 0.9, b2: 0.999, c1: 0.1, c2: 0.001, decay: 0.99, step: 0.01, invSqrtBC2: 3, eps: 1e-8})
		},
	}
	for name, f := range ops {
		for _, n := range []int{1, 7, 8, 9, 64, 1003} {
			in := [4][]float32{randSlice(rng, n), randSlice(rng, n), randSlice(rng, n), randSlice(rng, n)}
			var a, g [4][]float32
			for i := range in {
				a[i] = append([]float32(nil), in[i]...)
				g[i] = append([]float32(nil), in[i]...)
			}
			f(avxVecOps, a[0], a[1], a[2], a[3])
			f(goVecOps, g[0], g[1], g[2], g[3])
			for s := range a {
				for i := range a[s] {
					if d := math.Abs(float64(a[s][i] - g[s][i])); d > 1e-6*(1+math.Abs(float64(g[s][i]))) {
						t.Fatalf("%s n=%d: operand %d [%d] avx %v, Go %v", name, n, s, i, a[s][i], g[s][i])
					}
				}
			}
		}
	}
}
