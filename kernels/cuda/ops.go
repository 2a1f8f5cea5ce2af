//go:build cuda

package cuda

import (
	"fmt"
	"math"
	"unsafe"

	"github.com/cohort-clv/cohort/kernels"
	"gorgonia.org/cu"
)

// Gemm implements kernels.Backend. The 128x128-tile kernel is used when its
// blocks fill every SM at least once; smaller products use the 64x64 tile,
// which has four times the blocks.
func (be *Backend) Gemm(transA, transB bool, m, n, k int, alpha float32, a, b kernels.Buffer, beta float32, c kernels.Buffer) {
	be.live("Gemm")
	checkDims("Gemm", m, n, k)
	ab, bb := be.buf("Gemm", "A", a, m*k), be.buf("Gemm", "B", b, k*n)
	cb := be.buf("Gemm", "C", c, m*n)
	if m == 0 || n == 0 {
		return
	}
	if k == 0 || alpha == 0 {
		be.scaleC(cb, beta)
		return
	}
	if (m+63)/64 > 65535 {
		panic(fmt.Sprintf("cuda: Gemm: m = %d exceeds the grid limit of %d rows", m, 65535*64))
	}
	defer be.enter()()
	tr := 0
	if transA {
		tr |= 1
	}
	if transB {
		tr |= 2
	}
	lda, ldb := k, n
	if transA {
		lda = m
	}
	if transB {
		ldb = k
	}
	// 16-byte loads need every row start 16-byte aligned.
	vec := func(p cu.DevicePtr, ld int) arg {
		if p%16 == 0 && ld%4 == 0 {
			return 1
		}
		return 0
	}
	fn, tile, name := be.fn.gemm128[tr], 128, "sgemm128"
	if ((m+127)/128)*((n+127)/128) < be.info.SMs {
		fn, tile, name = be.fn.gemm64[tr], 64, "sgemm64"
	}
	grid := [3]int{(n + tile - 1) / tile, (m + tile - 1) / tile, 1}
	be.launch(name+[]string{"_nn", "_tn", "_nt", "_tt"}[tr], fn, grid, [3]int{threads, 1, 1},
		intArg(m), intArg(n), intArg(k), f32Arg(alpha), ptrArg(ab.ptr()), ptrArg(bb.ptr()),
		f32Arg(beta), ptrArg(cb.ptr()), vec(ab.ptr(), lda), vec(bb.ptr(), ldb))
}

// scaleC sets C = beta*C without reading C when beta is 0.
func (be *Backend) scaleC(c Buffer, beta float32) {
	if beta == 1 {
		return
	}
	defer be.enter()()
	if beta == 0 {
		be.check("Gemm: zero C", cu.MemsetD32Async(c.ptr(), 0, int64(c.n), be.stream))
		return
	}
	be.launch("scale", be.fn.scale, be.elemGrid(c.n), [3]int{threads, 1, 1}, ptrArg(c.ptr()), f32Arg(beta), intArg(c.n))
}

// BiasAct implements kernels.Backend.
func (be *Backend) BiasAct(x kernels.Buffer, rows, cols int, bias kernels.Buffer, act kernels.Activation) {
	be.live("BiasAct")
	checkDims("BiasAct", rows, cols)
	xb, bb := be.buf("BiasAct", "x", x, rows*cols), be.buf("BiasAct", "bias", bias, cols)
	checkAct("BiasAct", act)
	if rows*cols == 0 {
		return
	}
	relu := 0
	if act == kernels.ReLU {
		relu = 1
	}
	defer be.enter()()
	be.launch("bias_act", be.fn.biasAct, be.elemGrid(rows*cols), [3]int{threads, 1, 1},
		ptrArg(xb.ptr()), ptrArg(bb.ptr()), intArg(rows), intArg(cols), intArg(relu))
}

// ActBackward implements kernels.Backend.
func (be *Backend) ActBackward(grad, out kernels.Buffer, act kernels.Activation) {
	be.live("ActBackward")
	ob := be.buf("ActBackward", "out", out, -1)
	gb := be.buf("ActBackward", "grad", grad, ob.n)
	checkAct("ActBackward", act)
	if act == kernels.Identity || gb.n == 0 {
		return
	}
	defer be.enter()()
	be.launch("relu_backward", be.fn.reluBackward, be.elemGrid(gb.n), [3]int{threads, 1, 1},
		ptrArg(gb.ptr()), ptrArg(ob.ptr()), intArg(gb.n))
}

// colSumRows is COLSUM_ROWS of ops.cu: the rows one block of pass 1 sums.
const colSumRows = 256

// ColSum implements kernels.Backend: pass 1 sums chunks of colSumRows rows
// per column in double, pass 2 adds the chunks in order.
func (be *Backend) ColSum(dst, x kernels.Buffer, rows, cols int, beta float32) {
	be.live("ColSum")
	checkDims("ColSum", rows, cols)
	db, xb := be.buf("ColSum", "dst", dst, cols), be.buf("ColSum", "x", x, rows*cols)
	if cols == 0 {
		return
	}
	if (cols+31)/32 > 65535 {
		panic(fmt.Sprintf("cuda: ColSum: %d columns exceed the grid limit of %d", cols, 65535*32))
	}
	defer be.enter()()
	chunks := (rows + colSumRows - 1) / colSumRows
	var partial cu.DevicePtr
	if chunks > 0 {
		partial = be.scratchFor(8 * int64(chunks) * int64(cols))
		be.launch("colsum_partial", be.fn.colsumPartial, [3]int{chunks, (cols + 31) / 32, 1}, [3]int{32, 8, 1},
			ptrArg(partial), ptrArg(xb.ptr()), intArg(rows), intArg(cols))
	}
	be.launch("colsum_final", be.fn.colsumFinal, be.elemGrid(cols), [3]int{threads, 1, 1},
		ptrArg(db.ptr()), ptrArg(partial), intArg(chunks), intArg(cols), f32Arg(beta))
}

// ZILNLoss implements kernels.Backend: per-block loss sums, a one-block
// final sum, and one 8-byte copy of the mean back to the host.
func (be *Backend) ZILNLoss(grad, logits, labels kernels.Buffer, rows int) float64 {
	be.live("ZILNLoss")
	checkDims("ZILNLoss", rows)
	lb := be.buf("ZILNLoss", "logits", logits, rows*kernels.ZILNOutputs)
	gb := be.buf("ZILNLoss", "grad", grad, rows*kernels.ZILNOutputs)
	yb := be.buf("ZILNLoss", "labels", labels, rows)
	if rows == 0 {
		return 0
	}
	defer be.enter()()
	blocks := (rows + threads - 1) / threads
	// out at offset 0; the partials from offset 256, keeping them aligned.
	out := be.scratchFor(256 + 8*int64(blocks))
	partial := out + 256
	inv := 1 / float64(rows)
	be.launch("ziln_loss_partial", be.fn.zilnPartial, [3]int{blocks, 1, 1}, [3]int{threads, 1, 1},
		ptrArg(partial), ptrArg(gb.ptr()), ptrArg(lb.ptr()), ptrArg(yb.ptr()), intArg(rows), f64Arg(inv))
	be.launch("ziln_loss_final", be.fn.zilnFinal, [3]int{1, 1, 1}, [3]int{threads, 1, 1},
		ptrArg(out), ptrArg(partial), intArg(blocks), f64Arg(1))
	var loss [1]float64
	be.check("ZILNLoss: copy the loss", cu.MemcpyDtoHAsync(unsafe.Pointer(&loss[0]), out, 8, be.stream))
	be.check("ZILNLoss: synchronize", be.stream.Synchronize())
	return loss[0] * inv
}

// ZILNPredict implements kernels.Backend.
func (be *Backend) ZILNPredict(p, mean, logits kernels.Buffer, rows int) {
	be.live("ZILNPredict")
	checkDims("ZILNPredict", rows)
	lb := be.buf("ZILNPredict", "logits", logits, rows*kernels.ZILNOutputs)
	pb, mb := be.buf("ZILNPredict", "p", p, rows), be.buf("ZILNPredict", "mean", mean, rows)
	if rows == 0 {
		return
	}
	defer be.enter()()
	be.launch("ziln_predict", be.fn.zilnPred, be.elemGrid(rows), [3]int{threads, 1, 1},
		ptrArg(pb.ptr()), ptrArg(mb.ptr()), ptrArg(lb.ptr()), intArg(rows))
}

// Adam implements kernels.Backend with the float32 arithmetic of the CPU
// backend: p = p*decay - step*m/(sqrt(v)*invSqrtBC2 + eps), the per-step
// constants folded in float64 on the host.
func (be *Backend) Adam(params, grads, m, v kernels.Buffer, step int, h kernels.AdamParams) {
	be.live("Adam")
	pb := be.buf("Adam", "params", params, -1)
	gb, mb, vb := be.buf("Adam", "grads", grads, pb.n), be.buf("Adam", "m", m, pb.n), be.buf("Adam", "v", v, pb.n)
	if step < 1 {
		panic(fmt.Sprintf("cuda: Adam: step %d, want >= 1", step))
	}
	if pb.n == 0 {
		return
	}
	bc1 := 1 - math.Pow(float64(h.Beta1), float64(step))
	bc2 := 1 - math.Pow(float64(h.Beta2), float64(step))
	decay := float32(1 - float64(h.LR)*float64(h.WeightDecay))
	stepSize := float32(float64(h.LR) / bc1)
	invSqrtBC2 := float32(1 / math.Sqrt(bc2))
	defer be.enter()()
	be.launch("adamw", be.fn.adamw, be.elemGrid(pb.n), [3]int{threads, 1, 1},
		ptrArg(pb.ptr()), ptrArg(gb.ptr()), ptrArg(mb.ptr()), ptrArg(vb.ptr()), intArg(pb.n),
		f32Arg(h.Beta1), f32Arg(h.Beta2), f32Arg(1-h.Beta1), f32Arg(1-h.Beta2),
		f32Arg(decay), f32Arg(stepSize), f32Arg(invSqrtBC2), f32Arg(h.Eps))
}

// Scale implements kernels.Backend.
func (be *Backend) Scale(x kernels.Buffer, a float32) {
	be.live("Scale")
	xb := be.buf("Scale", "x", x, -1)
	if xb.n == 0 {
		return
	}
	defer be.enter()()
	be.launch("scale", be.fn.scale, be.elemGrid(xb.n), [3]int{threads, 1, 1}, ptrArg(xb.ptr()), f32Arg(a), intArg(xb.n))
}

// Axpy implements kernels.Backend.
func (be *Backend) Axpy(a float32, x, y kernels.Buffer) {
	be.live("Axpy")
	xb := be.buf("Axpy", "x", x, -1)
	yb := be.buf("Axpy", "y", y, xb.n)
	if xb.n == 0 {
		return
	}
	defer be.enter()()
	be.launch("axpy", be.fn.axpy, be.elemGrid(xb.n), [3]int{threads, 1, 1},
		f32Arg(a), ptrArg(xb.ptr()), ptrArg(yb.ptr()), intArg(xb.n))
}
