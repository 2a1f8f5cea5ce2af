package cpu

import (
	"fmt"
	"testing"
)

// BenchmarkPack reports the packing rate of both operands in both layouts
// for a 1024×512 operand, one kc block at a time as gemm packs it.
func BenchmarkPack(b *testing.B) {
	const rows, cols = 1024, 512
	src := make([]float32, rows*cols)
	for i := range src {
		src[i] = float32(i)
	}
	dst := make([]float32, (rows+nr)*cols)
	pk := bestKernel().pack
	for _, trans := range []bool{false, true} {
		b.Run(fmt.Sprintf("A/trans=%v", trans), func(b *testing.B) {
			for b.Loop() {
				for pc := 0; pc < cols; pc += kc {
					pk.packA(dst, src, trans, rows, cols, 0, (rows+mr-1)/mr, pc, min(kc, cols-pc))
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/(rows*cols), "ns/value")
		})
		b.Run(fmt.Sprintf("B/trans=%v", trans), func(b *testing.B) {
			for b.Loop() {
				for pc := 0; pc < rows; pc += kc {
					pk.packB(dst, src, trans, cols, rows, 0, cols/nr, pc, min(kc, rows-pc))
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/(rows*cols), "ns/value")
		})
	}
}
