//go:build amd64 && !purego

package cpu

import "golang.org/x/sys/cpu"

// avxKernel is the AVX2+FMA micro-kernel: twelve YMM accumulators hold the
// 6×16 tile, each step broadcasts one value of A against two vectors of B.
var avxKernel = microKernel{name: "avx2-fma-6x16", fn: kernelAVX, pack: asmPackers}

// hasAVX2FMA reports whether the CPU and OS support the assembly paths.
func hasAVX2FMA() bool { return cpu.X86.HasAVX2 && cpu.X86.HasFMA && cpu.X86.HasAVX }

// bestKernel picks the assembly kernel when the CPU runs it.
func bestKernel() microKernel {
	if hasAVX2FMA() {
		return avxKernel
	}
	return goKernel
}

func kernelAVX(k int, a, b, c []float32, ldc int, alpha, beta float32) {
	_ = a[k*mr-1]
	_ = b[k*nr-1]
	_ = c[(mr-1)*ldc+nr-1]
	load := 0
	if beta != 0 {
		load = 1
	}
	sgemmKernel6x16(k, &a[0], &b[0], &c[0], ldc, alpha, beta, load)
}

// sgemmKernel6x16 is kernelAVX without bounds checks; k >= 1.
//
//go:noescape
func sgemmKernel6x16(k int, a, b, c *float32, ldc int, alpha, beta float32, load int)

// bestVecOps picks the elementwise loops.
func bestVecOps() vecOps {
	if hasAVX2FMA() {
		return avxVecOps
	}
	return goVecOps
}
