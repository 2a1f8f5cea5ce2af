package allreduce

import (
	"fmt"
	"math"
	"testing"
)

// TestAddMatchesScalar ensures the vector add gives the scalar loop's bits
// for every length around its unrolling boundaries, at every alignment of
// dst and src, and for the values where float rounding is delicate
// (subnormals, infinities, NaN, signed zeros, cancellation).
func TestAddMatchesScalar(t *testing.T) {
	special := []float32{0, float32(math.Copysign(0, -1)), 1, -1, math.MaxFloat32, -math.MaxFloat32,
		math.SmallestNonzeroFloat32, -math.SmallestNonzeroFloat32, float32(math.Inf(1)), float32(math.Inf(-1)),
		float32(math.NaN()), 1e-30, 3.4e38, 16777216, 1.0000001}
	fill := func(n int, seed uint32) []float32 {
		out := make([]float32, n)
		x := seed
		for i := range out {
			x = x*1664525 + 1013904223
			if x%5 == 0 {
				out[i] = special[int(x>>8)%len(special)]
			} else {
				out[i] = math.Float32frombits(x>>2 | 0x3c000000) // mixed magnitudes
			}
		}
		return out
	}
	for _, n := range []int{0, 1, 3, 4, 5, 15, 16, 17, 31, 33, 64, 67, 1000, 4099} {
		for _, off := range []int{0, 1, 2, 3} {
			t.Run(fmt.Sprintf("n=%d/off=%d", n, off), func(t *testing.T) {
				dst := fill(n+off, uint32(n))[off:]
				src := fill(n+3, uint32(7*n+1))[3-off%4:][:n]
				want := append([]float32(nil), dst...)
				addScalar(want, src)
				add(dst, src)
				for i := range dst {
					if math.Float32bits(dst[i]) != math.Float32bits(want[i]) {
						t.Fatalf("element %d: got %v (%#x), want %v (%#x)", i, dst[i], math.Float32bits(dst[i]), want[i], math.Float32bits(want[i]))
					}
				}
			})
		}
	}
}

// BenchmarkAdd times the ring's inner loop on one default-sized chunk, in
// cache, against the portable scalar loop.
func BenchmarkAdd(b *testing.B) {
	for _, tc := range []struct {
		name string
		fn   func(dst, src []float32)
	}{{"vector", add}, {"scalar", addScalar}} {
		b.Run(tc.name, func(b *testing.B) {
			dst, src := make([]float32, DefaultChunkBytes/4), make([]float32, DefaultChunkBytes/4)
			b.SetBytes(DefaultChunkBytes)
			for b.Loop() {
				tc.fn(dst, src)
			}
		})
	}
}
