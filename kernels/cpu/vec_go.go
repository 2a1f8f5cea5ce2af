package cpu

import "math"

// vecOps are the inner loops of the elementwise operations, chosen once in
// New like the GEMM kernel.
type vecOps struct {
	name         string
	biasReLU     func(x, bias []float32)         // x = max(x+bias, 0)
	biasAdd      func(x, bias []float32)         // x += bias
	reluBackward func(g, out []float32)          // g = 0 where out <= 0
	scale        func(x []float32, a float32)    // x *= a
	axpy         func(a float32, x, y []float32) // y += a*x
	addTo        func(dst, x []float32)          // dst += x
	adam         func(p, g, m, v []float32, c adamConsts)
}

// goVecOps are the portable loops.
var goVecOps = vecOps{
	name:         "go",
	biasReLU:     biasReLUGo,
	biasAdd:      biasAddGo,
	reluBackward: reluBackwardGo,
	scale:        scaleGo,
	axpy:         axpyGo,
	addTo:        addToGo,
	adam:         adamGo,
}

func biasReLUGo(x, bias []float32) {
	bias = bias[:len(x)]
	for j, v := range x {
		x[j] = max(v+bias[j], 0)
	}
}

func biasAddGo(x, bias []float32) {
	bias = bias[:len(x)]
	for j := range x {
		x[j] += bias[j]
	}
}

// reluBackwardGo keeps g where out > 0 (so a NaN output zeroes it, as the
// assembly does), by masking bits: the branch would be mispredicted on
// every other value.
func reluBackwardGo(g, out []float32) {
	g = g[:len(out)]
	for i, o := range out {
		b := int32(math.Float32bits(o))
		// All ones when b > 0 as an integer: positive, non-zero, not NaN
		// with the sign bit set. Positive NaNs keep g; they never come
		// out of max(x, 0) anyway.
		keep := uint32((-b &^ b) >> 31)
		g[i] = math.Float32frombits(math.Float32bits(g[i]) & keep)
	}
}

func scaleGo(x []float32, a float32) {
	for i := range x {
		x[i] *= a
	}
}

func axpyGo(a float32, x, y []float32) {
	y = y[:len(x)]
	for i, v := range x {
		y[i] += a * v
	}
}

func addToGo(dst, x []float32) {
	x = x[:len(dst)]
	for i, v := range x {
		dst[i] += v
	}
}
