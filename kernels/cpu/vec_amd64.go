//go:build amd64 && !purego

package cpu

// avxVecOps run the bulk of each slice through AVX2 and the last len%8
// values through the portable loops.
var avxVecOps = vecOps{
	name: "avx2",
	biasReLU: func(x, bias []float32) {
		bias = bias[:len(x)]
		n := len(x) &^ 7
		if n > 0 {
			biasReLUAVX(&x[0], &bias[0], n)
		}
		biasReLUGo(x[n:], bias[n:])
	},
	biasAdd: func(x, bias []float32) {
		bias = bias[:len(x)]
		n := len(x) &^ 7
		if n > 0 {
			biasAddAVX(&x[0], &bias[0], n)
		}
		biasAddGo(x[n:], bias[n:])
	},
	reluBackward: func(g, out []float32) {
		out = out[:len(g)]
		n := len(g) &^ 7
		if n > 0 {
			reluBackwardAVX(&g[0], &out[0], n)
		}
		reluBackwardGo(g[n:], out[n:])
	},
	scale: func(x []float32, a float32) {
		n := len(x) &^ 7
		if n > 0 {
			scaleAVX(&x[0], n, a)
		}
		scaleGo(x[n:], a)
	},
	axpy: func(a float32, x, y []float32) {
		y = y[:len(x)]
		n := len(x) &^ 7
		if n > 0 {
			axpyAVX(&x[0], &y[0], n, a)
		}
		axpyGo(a, x[n:], y[n:])
	},
	addTo: func(dst, x []float32) {
		x = x[:len(dst)]
		n := len(dst) &^ 7
		if n > 0 {
			addToAVX(&dst[0], &x[0], n)
		}
		addToGo(dst[n:], x[n:])
	},
	adam: func(p, g, m, v []float32, c adamConsts) {
		g, m, v = g[:len(p)], m[:len(p)], v[:len(p)]
		n := len(p) &^ 7
		if n > 0 {
			adamAVX(&p[0], &g[0], &m[0], &v[0], n, &c)
		}
		adamGo(p[n:], g[n:], m[n:], v[n:], c)
	},
}

//go:noescape
func biasReLUAVX(x, bias *float32, n int)

//go:noescape
func biasAddAVX(x, bias *float32, n int)

//go:noescape
func reluBackwardAVX(grad, out *float32, n int)

//go:noescape
func scaleAVX(x *float32, n int, a float32)

//go:noescape
func axpyAVX(x, y *float32, n int, a float32)

//go:noescape
func addToAVX(dst, x *float32, n int)

//go:noescape
func adamAVX(p, grad, m, v *float32, n int, c *adamConsts)
