package cpu

import (
	"fmt"

	"github.com/cohort-clv/cohort/kernels"
)

// elemParallelMin is the element count below which an elementwise
// operation stays on the calling goroutine.
const elemParallelMin = 1 << 15

// parallelFor splits [0,n) into one contiguous range per thread, each a
// multiple of align, and runs fn on them. Elementwise results do not depend
// on the split.
func (be *Backend) parallelFor(n, align, work int, fn func(lo, hi int)) {
	threads := be.pool.size()
	if work < elemParallelMin || threads == 1 || n <= align {
		fn(0, n)
		return
	}
	per := (n + threads - 1) / threads
	per = (per + align - 1) / align * align
	tasks := (n + per - 1) / per
	be.pool.run(tasks, func(t int) {
		fn(t*per, min((t+1)*per, n))
	})
}

// BiasAct implements kernels.Backend.
func (be *Backend) BiasAct(x kernels.Buffer, rows, cols int, bias kernels.Buffer, act kernels.Activation) {
	checkDims("BiasAct", rows, cols)
	xs, bs := Floats(x), Floats(bias)
	checkLen("BiasAct", "x", xs, rows*cols)
	checkLen("BiasAct", "bias", bs, cols)
	checkAct("BiasAct", act)
	be.parallelFor(rows, 1, rows*cols, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			row := xs[i*cols : (i+1)*cols]
			if act == kernels.ReLU {
				be.vec.biasReLU(row, bs)
			} else {
				be.vec.biasAdd(row, bs)
			}
		}
	})
}

// ActBackward implements kernels.Backend.
func (be *Backend) ActBackward(grad, out kernels.Buffer, act kernels.Activation) {
	gs, os := Floats(grad), Floats(out)
	checkLen("ActBackward", "grad", gs, len(os))
	checkAct("ActBackward", act)
	if act == kernels.Identity {
		return
	}
	be.parallelFor(len(gs), 64, len(gs), func(lo, hi int) {
		be.vec.reluBackward(gs[lo:hi], os[lo:hi])
	})
}

// Scale implements kernels.Backend.
func (be *Backend) Scale(x kernels.Buffer, a float32) {
	xs := Floats(x)
	be.parallelFor(len(xs), 64, len(xs), func(lo, hi int) {
		be.vec.scale(xs[lo:hi], a)
	})
}

// Axpy implements kernels.Backend.
func (be *Backend) Axpy(a float32, x, y kernels.Buffer) {
	xs, ys := Floats(x), Floats(y)
	checkLen("Axpy", "y", ys, len(xs))
	be.parallelFor(len(xs), 64, 2*len(xs), func(lo, hi int) {
		be.vec.axpy(a, xs[lo:hi], ys[lo:hi])
	})
}

func checkAct(op string, act kernels.Activation) {
	if act != kernels.Identity && act != kernels.ReLU {
		panic(fmt.Sprintf("cpu: %s: unknown activation %d", op, act))
	}
}

// Row blocks of a column sum: colSumBlock rows are summed in float32, the
// block sums are added in float64 per chunk of colSumChunk rows, and chunk
// totals are added in order. Both sizes are constants, so the result does
// not depend on the thread count.
const (
	colSumBlock = 128
	colSumChunk = 2048
)

// ColSum implements kernels.Backend.
func (be *Backend) ColSum(dst, x kernels.Buffer, rows, cols int, beta float32) {
	checkDims("ColSum", rows, cols)
	ds, xs := Floats(dst), Floats(x)
	checkLen("ColSum", "dst", ds, cols)
	checkLen("ColSum", "x", xs, rows*cols)
	chunks := (rows + colSumChunk - 1) / colSumChunk
	if cap(be.partial) < chunks*cols {
		be.partial = make([]float64, chunks*cols)
	}
	partial := be.partial[:chunks*cols]
	threads := be.pool.size()
	if rows*cols < elemParallelMin {
		threads = 1
	}
	if chunks >= threads {
		per := (chunks + threads - 1) / threads
		be.pool.run((chunks+per-1)/per, func(t int) {
			for ch := t * per; ch < min((t+1)*per, chunks); ch++ {
				be.colSumChunk(t, partial[ch*cols:(ch+1)*cols], xs, rows, cols, ch, 0, cols)
			}
		})
	} else {
		per := (cols + threads - 1) / threads
		per = (per + 7) / 8 * 8
		be.pool.run((cols+per-1)/per, func(t int) {
			c0, c1 := t*per, min((t+1)*per, cols)
			for ch := range chunks {
				be.colSumChunk(t, partial[ch*cols:(ch+1)*cols], xs, rows, cols, ch, c0, c1)
			}
		})
	}
	for j := range ds {
		s := 0.0
		for ch := range chunks {
			s += partial[ch*cols+j]
		}
		if beta != 0 {
			s += float64(beta) * float64(ds[j])
		}
		ds[j] = float32(s)
	}
}

// colSumChunk sets part[c0:c1] to the column sums of chunk ch of x.
func (be *Backend) colSumChunk(t int, part []float64, xs []float32, rows, cols, ch, c0, c1 int) {
	ws := &be.ws[t]
	if len(ws.col) < c1-c0 {
		ws.col = make([]float32, c1-c0)
	}
	acc := ws.col[:c1-c0]
	p := part[c0:c1]
	clear(p)
	r0, r1 := ch*colSumChunk, min((ch+1)*colSumChunk, rows)
	for b := r0; b < r1; b += colSumBlock {
		clear(acc)
		for i := b; i < min(b+colSumBlock, r1); i++ {
			be.vec.addTo(acc, xs[i*cols+c0:i*cols+c1])
		}
		for j, v := range acc {
			p[j] += float64(v)
		}
	}
}
