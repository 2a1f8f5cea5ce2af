//go:build amd64 && !purego

package cpu

// The full-panel packers in assembly. Each checks that its slices cover
// every value the assembly touches, then hands over raw pointers.

var asmPackers = packers{
	gatherA: func(dst, src []float32, ld, k int) {
		checkPanel(dst, src, mr, ld, k)
		gatherPanel6(&dst[0], &src[0], ld, k)
	},
	spreadA: func(dst, src []float32, ld, k, panels int) {
		checkSpread(dst, src, mr, ld, k, panels)
		spreadPanels6(&dst[0], &src[0], ld, k, panels, mr*k)
	},
	gatherB: func(dst, src []float32, ld, k int) {
		checkPanel(dst, src, nr, ld, k)
		gatherPanel16(&dst[0], &src[0], ld, k)
	},
	spreadB: func(dst, src []float32, ld, k, panels int) {
		checkSpread(dst, src, nr, ld, k, panels)
		spreadPanels16(&dst[0], &src[0], ld, k, panels, nr*k)
	},
}

// checkPanel panics (by indexing) unless dst holds k*w values and src
// reaches the last value a w-wide gathered panel of depth k reads.
func checkPanel(dst, src []float32, w, ld, k int) {
	_ = dst[k*w-1]
	_ = src[(w-1)*ld+k-1]
}

// checkSpread is checkPanel for a spread of panels panels.
func checkSpread(dst, src []float32, w, ld, k, panels int) {
	_ = dst[panels*w*k-1]
	_ = src[(k-1)*ld+panels*w-1]
}

//go:noescape
func gatherPanel6(dst, src *float32, ld, k int)

//go:noescape
func gatherPanel16(dst, src *float32, ld, k int)

//go:noescape
func spreadPanels6(dst, src *float32, ld, k, panels, pstride int)

//go:noescape
func spreadPanels16(dst, src *float32, ld, k, panels, pstride int)
