//go:build !amd64 || purego

package cpu

// bestKernel returns the portable kernel: this build has no assembly.
func bestKernel() microKernel { return goKernel }

// bestVecOps returns the portable elementwise loops.
func bestVecOps() vecOps { return goVecOps }
