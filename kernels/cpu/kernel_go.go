package cpu

// goKernel is the portable micro-kernel: no SIMD, but a 2×4 block of
// accumulators per pass keeps the loads per multiply-add low.
var goKernel = microKernel{name: "go-6x16", fn: kernelGo, pack: goPackers}

// goPackers are the portable full-panel packers.
var goPackers = packers{
	gatherA: gatherGo(mr), spreadA: spreadGo(mr),
	gatherB: gatherGo(nr), spreadB: spreadGo(nr),
}

// gatherGo returns a packer setting dst[p*w+r] = src[r*ld+p].
func gatherGo(w int) func(dst, src []float32, ld, k int) {
	return func(dst, src []float32, ld, k int) {
		dst = dst[:w*k]
		for r := range w {
			row := src[r*ld : r*ld+k]
			for p, v := range row {
				dst[p*w+r] = v
			}
		}
	}
}

// spreadGo returns a packer setting dst[q*w*k+p*w+c] = src[p*ld+q*w+c].
func spreadGo(w int) func(dst, src []float32, ld, k, panels int) {
	return func(dst, src []float32, ld, k, panels int) {
		for p := range k {
			row := src[p*ld : p*ld+panels*w]
			for q := range panels {
				d := dst[q*w*k+p*w : q*w*k+p*w+w]
				s := row[q*w : q*w+w]
				for c := range d {
					d[c] = s[c]
				}
			}
		}
	}
}

func kernelGo(k int, a, b, c []float32, ldc int, alpha, beta float32) {
	var acc [mr * nr]float32
	a = a[:k*mr]
	b = b[:k*nr]
	for i := 0; i < mr; i += 2 {
		for j := 0; j < nr; j += 4 {
			var c00, c01, c02, c03, c10, c11, c12, c13 float32
			ai, bi := i, j
			for range k {
				aw := a[ai : ai+2 : ai+2]
				bw := b[bi : bi+4 : bi+4]
				a0, a1 := aw[0], aw[1]
				b0, b1, b2, b3 := bw[0], bw[1], bw[2], bw[3]
				c00 += a0 * b0
				c01 += a0 * b1
				c02 += a0 * b2
				c03 += a0 * b3
				c10 += a1 * b0
				c11 += a1 * b1
				c12 += a1 * b2
				c13 += a1 * b3
				ai += mr
				bi += nr
			}
			r0 := acc[i*nr+j : i*nr+j+4 : i*nr+j+4]
			r0[0], r0[1], r0[2], r0[3] = c00, c01, c02, c03
			r1 := acc[(i+1)*nr+j : (i+1)*nr+j+4 : (i+1)*nr+j+4]
			r1[0], r1[1], r1[2], r1[3] = c10, c11, c12, c13
		}
	}
	for i := range mr {
		row := c[i*ldc : i*ldc+nr : i*ldc+nr]
		t := acc[i*nr : i*nr+nr : i*nr+nr]
		if beta == 0 {
			for j := range row {
				row[j] = alpha * t[j]
			}
			continue
		}
		for j := range row {
			row[j] = alpha*t[j] + beta*row[j]
		}
	}
}
