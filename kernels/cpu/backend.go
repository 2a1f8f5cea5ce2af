// Package cpu is the pure-Go (plus amd64 assembly) Backend of cohort: the
// default compute engine and the reference every other backend is checked
// against.
//
// Matrix products use a Goto/BLIS-style blocked SGEMM: op(A) is packed into
// MR-row panels and op(B) into NR-column panels (transposes are absorbed by
// the packing), and a register-blocked micro-kernel multiplies one panel pair.
// On amd64 with AVX2 and FMA the micro-kernel is assembly; elsewhere, or with
// the build tag purego, it is portable Go. The kernel is chosen once, in New.
//
// Work is split over a small pool of goroutines owned by the Backend. The
// split is fixed by the shapes and the thread count and every output element
// is reduced in the same order whatever the split, so results are
// bit-identical run to run and across thread counts. Call Close to stop the
// pool.
package cpu

import (
	"fmt"
	"runtime"

	"github.com/cohort-clv/cohort/kernels"
)

// Options configures a Backend.
type Options struct {
	// Threads is the number of goroutines that share the work of one
	// operation; 0 means runtime.GOMAXPROCS(0).
	Threads int
	// Portable uses the portable Go micro-kernel and elementwise loops even
	// where the assembly ones run: the independent reference that
	// cohort selftest checks the assembly against.
	Portable bool
}

// Backend is the CPU implementation of kernels.Backend. Like every Backend
// it is not safe for concurrent use.
type Backend struct {
	threads int
	pool    *pool
	kern    microKernel
	vec     vecOps
	ws      []workspace // one per thread
	pack    []float32   // packed GEMM operands, grown on demand
	packMax int         // packMax, but tests shrink it to reach every path
	partial []float64   // scratch for deterministic reductions
}

var _ kernels.Backend = (*Backend)(nil)

// New returns a Backend using opts.Threads goroutines per operation. The
// worker goroutines live until Close; a Backend that becomes unreachable
// without Close has them stopped by the garbage collector, but relying on
// that leaks them for an unbounded time.
func New(opts Options) *Backend {
	t := opts.Threads
	if t <= 0 {
		t = runtime.GOMAXPROCS(0)
	}
	b := &Backend{
		threads: t,
		pool:    newPool(t),
		kern:    bestKernel(),
		vec:     bestVecOps(),
		ws:      make([]workspace, t),
		packMax: packMax,
	}
	if opts.Portable {
		b.kern, b.vec = goKernel, goVecOps
	}
	runtime.AddCleanup(b, func(p *pool) { p.close() }, b.pool)
	return b
}

// Close stops the worker goroutines. It is idempotent. A closed Backend
// still works, on the calling goroutine only.
func (be *Backend) Close() error {
	be.pool.close()
	return nil
}

// Threads reports how many goroutines share one operation.
func (be *Backend) Threads() int { return be.threads }

// Kernel names the SGEMM micro-kernel in use ("avx2-fma-6x16" or
// "go-6x16"), for logs and benchmarks.
func (be *Backend) Kernel() string { return be.kern.name }

// Name implements kernels.Backend.
func (be *Backend) Name() string { return "cpu" }

// Buffer is a span of host memory: a CPU Buffer is a []float32.
type Buffer struct {
	data []float32
}

// Len implements kernels.Buffer.
func (b Buffer) Len() int { return len(b.data) }

// Slice implements kernels.Buffer; the view shares storage with b.
func (b Buffer) Slice(off, n int) kernels.Buffer {
	if off < 0 || n < 0 || off+n > len(b.data) {
		panic(fmt.Sprintf("cpu: Slice(%d, %d) out of range of a buffer of %d values", off, n, len(b.data)))
	}
	return Buffer{data: b.data[off : off+n : off+n]}
}

// Floats returns the values of a CPU Buffer without copying: writes through
// the slice are writes to the buffer. It panics when b is not a CPU Buffer.
func Floats(b kernels.Buffer) []float32 {
	cb, ok := b.(Buffer)
	if !ok {
		panic(fmt.Sprintf("cpu: buffer of type %T is not a cpu.Buffer", b))
	}
	return cb.data
}

// Wrap returns a Buffer backed by f, without copying, so host data can be
// handed to a CPU Backend directly.
func Wrap(f []float32) kernels.Buffer { return Buffer{data: f} }

// Alloc implements kernels.Backend.
func (be *Backend) Alloc(n int) kernels.Buffer {
	if n < 0 {
		panic(fmt.Sprintf("cpu: Alloc(%d): negative size", n))
	}
	return Buffer{data: make([]float32, n)}
}

// Upload implements kernels.Backend.
func (be *Backend) Upload(dst kernels.Buffer, src []float32) {
	d := Floats(dst)
	if len(d) != len(src) {
		panic(fmt.Sprintf("cpu: Upload of %d values into a buffer of %d", len(src), len(d)))
	}
	copy(d, src)
}

// Download implements kernels.Backend.
func (be *Backend) Download(dst []float32, src kernels.Buffer) {
	s := Floats(src)
	if len(dst) != len(s) {
		panic(fmt.Sprintf("cpu: Download of a buffer of %d values into %d", len(s), len(dst)))
	}
	copy(dst, s)
}

// checkLen panics with the operation and operand names when a buffer does
// not hold exactly want values.
func checkLen(op, name string, b []float32, want int) {
	if len(b) != want {
		panic(fmt.Sprintf("cpu: %s: %s has %d values, want %d", op, name, len(b), want))
	}
}

// checkDims panics when a dimension is negative.
func checkDims(op string, dims ...int) {
	for _, d := range dims {
		if d < 0 {
			panic(fmt.Sprintf("cpu: %s: negative dimension %v", op, dims))
		}
	}
}
