package cpu

import "testing"

// BenchmarkMicroKernel times the micro-kernel alone on L1-resident panels:
// its GFLOP/s is the ceiling of the blocked SGEMM.
func BenchmarkMicroKernel(b *testing.B) {
	for _, mk := range []microKernel{bestKernel(), goKernel} {
		b.Run(mk.name, func(b *testing.B) {
			a := make([]float32, kc*mr)
			bp := make([]float32, kc*nr)
			c := make([]float32, mr*nr)
			for i := range a {
				a[i] = float32(i%7) / 7
			}
			for i := range bp {
				bp[i] = float32(i%5) / 5
			}
			fm := startFlops(b)
			for b.Loop() {
				mk.fn(kc, a, bp, c, nr, 1, 1)
			}
			fm.report(b, 2*kc*mr*nr)
		})
	}
}
