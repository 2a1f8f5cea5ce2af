package cpu

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"
)

// benchShape is one product C(m×n) = op(A)(m×k) * op(B)(k×n).
type benchShape struct {
	name           string
	m, n, k        int
	transA, transB bool
}

// benchShapes are 1024³ and the products of one training step of the
// 64-512-512-256-3 MLP at batch 1024: forward X*W, backward dY*Wᵀ (transB)
// and Xᵀ*dY (transA).
var benchShapes = []benchShape{
	{"1024x1024x1024", 1024, 1024, 1024, false, false},
	{"fwd_1024x512x64", 1024, 512, 64, false, false},
	{"fwd_1024x512x512", 1024, 512, 512, false, false},
	{"fwd_1024x256x512", 1024, 256, 512, false, false},
	{"fwd_1024x3x256", 1024, 3, 256, false, false},
	{"dx_1024x512x512_tB", 1024, 512, 512, false, true},
	{"dx_1024x512x256_tB", 1024, 512, 256, false, true},
	{"dw_64x512x1024_tA", 64, 512, 1024, true, false},
	{"dw_512x512x1024_tA", 512, 512, 1024, true, false},
	{"dw_512x256x1024_tA", 512, 256, 1024, true, false},
	{"dx_1024x256x3_tB", 1024, 256, 3, false, true},
	{"dw_256x3x1024_tA", 256, 3, 1024, true, false},
}

// BenchmarkGemm reports GFLOP/s of this package's SGEMM and gonum's
// blas32.Gemm on the same operands, at 1 and 2 threads. gonum's threads
// are set through GOMAXPROCS, which its Sgemm reads.
func BenchmarkGemm(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 1))
	for _, s := range benchShapes {
		a := make([]float32, s.m*s.k)
		bb := make([]float32, s.k*s.n)
		for i := range a {
			a[i] = rng.Float32()
		}
		for i := range bb {
			bb[i] = rng.Float32()
		}
		c := make([]float32, s.m*s.n)
		flops := 2 * float64(s.m) * float64(s.n) * float64(s.k)
		for _, threads := range []int{1, 2} {
			b.Run(fmt.Sprintf("%s/threads=%d/impl=cohort", s.name, threads), func(b *testing.B) {
				be := New(Options{Threads: threads})
				defer be.Close()
				ab, bbuf, cb := Wrap(a), Wrap(bb), Wrap(c)
				fm := startFlops(b)
				for b.Loop() {
					be.Gemm(s.transA, s.transB, s.m, s.n, s.k, 1, ab, bbuf, 0, cb)
				}
				fm.report(b, flops)
			})
			b.Run(fmt.Sprintf("%s/threads=%d/impl=gonum", s.name, threads), func(b *testing.B) {
				defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(threads))
				ga := blas32.General{Rows: s.m, Cols: s.k, Stride: s.k, Data: a}
				if s.transA {
					ga = blas32.General{Rows: s.k, Cols: s.m, Stride: s.m, Data: a}
				}
				gb := blas32.General{Rows: s.k, Cols: s.n, Stride: s.n, Data: bb}
				if s.transB {
					gb = blas32.General{Rows: s.n, Cols: s.k, Stride: s.k, Data: bb}
				}
				gc := blas32.General{Rows: s.m, Cols: s.n, Stride: s.n, Data: c}
				fm := startFlops(b)
				for b.Loop() {
					blas32.Gemm(trans(s.transA), trans(s.transB), 1, ga, gb, 0, gc)
				}
				fm.report(b, flops)
			})
		}
	}
}

func trans(t bool) blas.Transpose {
	if t {
		return blas.Trans
	}
	return blas.NoTrans
}
