package cpu

import "github.com/cohort-clv/cohort/kernels"

// Register tile of the micro-kernel and cache blocking of the packed
// operands. A kc×nr panel of B (16 KiB) stays in L1 while the mc×kc block of
// A (96 KiB) comes from L2 (512 KiB per core on the Zen 3 these were tuned
// on; mc 72..144 measured alike); B's panels for a chunk of C come from L3.
const (
	mr = 6
	nr = 16
	kc = 256
	mc = 96 // a multiple of mr
)

// gemmParallelMin is the flop count below which a product runs on one
// goroutine: waking the pool costs more than it saves.
const gemmParallelMin = 1 << 18

// microKernel multiplies a packed mr×k panel of A by a packed k×nr panel of
// B and writes alpha*AB + beta*C into the mr×nr tile at c with row stride
// ldc. When beta is 0, C is not read.
type microKernel struct {
	name string
	fn   func(k int, a, b, c []float32, ldc int, alpha, beta float32)
	pack packers // fill the panels fn reads
}

// workspace is one thread's scratch.
type workspace struct {
	tile [mr * nr]float32 // an edge tile before it is clipped into C
	col  []float32        // ColSum block sums
}

// Chunks of C, in tiles, whose operands are packed together, and the most
// values packed at once (16 MiB): a product that fits packs all of k in one
// parallel phase and computes in one more, so threads meet at two barriers;
// a larger one packs and computes a few k blocks at a time.
const (
	chunkTilesM = 512
	chunkTilesN = 256
	packMax     = 1 << 22
)

// gemmArgs is one product: C = alpha*op(A)*op(B) + beta*C, all row-major.
type gemmArgs struct {
	transA, transB bool
	m, n, k        int
	alpha, beta    float32
	a, b, c        []float32
	// transC says the product computed is Cᵀ = op(B)ᵀ*op(A)ᵀ, of m×n,
	// and c holds C, n×m: tiles are written back transposed.
	transC bool
}

// Gemm implements kernels.Backend.
func (be *Backend) Gemm(transA, transB bool, m, n, k int, alpha float32, a, b kernels.Buffer, beta float32, c kernels.Buffer) {
	checkDims("Gemm", m, n, k)
	g := gemmArgs{transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, beta: beta,
		a: Floats(a), b: Floats(b), c: Floats(c)}
	checkLen("Gemm", "A", g.a, m*k)
	checkLen("Gemm", "B", g.b, k*n)
	checkLen("Gemm", "C", g.c, m*n)
	be.gemm(&g)
}

// gemm walks C in chunks and k in groups of kc blocks. For each it packs
// both operands, the threads sharing the panels, then splits the chunk's
// tiles between the threads. Each element of C sees the same k blocks in the same
// order whichever thread computes it, so the result does not depend on the
// thread count.
func (be *Backend) gemm(g *gemmArgs) {
	if g.m == 0 || g.n == 0 {
		return
	}
	if g.k == 0 || g.alpha == 0 {
		scaleC(g.c, g.beta)
		return
	}
	if g.n < nr/2 && g.m > g.n {
		// A thin C (the ZILN head has 3 columns) would leave most of each
		// nr-wide tile empty; its transpose fills mr-high tiles better.
		g = &gemmArgs{transA: !g.transB, transB: !g.transA, m: g.n, n: g.m, k: g.k,
			alpha: g.alpha, beta: g.beta, a: g.b, b: g.a, c: g.c, transC: true}
	}
	tilesM := (g.m + mr - 1) / mr
	tilesN := (g.n + nr - 1) / nr
	threads := be.pool.size()
	if 2*g.m*g.n*g.k < gemmParallelMin {
		threads = 1
	}
	for ti0 := 0; ti0 < tilesM; ti0 += chunkTilesM {
		ti1 := min(ti0+chunkTilesM, tilesM)
		for tj0 := 0; tj0 < tilesN; tj0 += chunkTilesN {
			tj1 := min(tj0+chunkTilesN, tilesN)
			blocks := max(1, be.packMax/(((ti1-ti0)*mr+(tj1-tj0)*nr)*kc))
			for pc := 0; pc < g.k; pc += blocks * kc {
				be.gemmChunk(g, threads, ti0, ti1, tj0, tj1, pc, min(pc+blocks*kc, g.k))
			}
		}
	}
}

// gemmChunk adds the part [p0,p1) of the k sum to the tiles [ti0,ti1)×
// [tj0,tj1) of C, kc at a time. The packed A panels of the block starting
// at pc start at ap[(pc-p0)*rows], those of B at bp[(pc-p0)*cols].
func (be *Backend) gemmChunk(g *gemmArgs, threads, ti0, ti1, tj0, tj1, p0, p1 int) {
	rows, cols := (ti1-ti0)*mr, (tj1-tj0)*nr
	aLen, bLen := rows*(p1-p0), cols*(p1-p0)
	if len(be.pack) < aLen+bLen {
		be.pack = make([]float32, aLen+bLen)
	}
	ap, bp := be.pack[:aLen], be.pack[aLen:aLen+bLen]
	pk := &be.kern.pack
	be.pool.run(threads, func(t int) {
		a0, a1 := share(ti0, ti1, threads, t)
		b0, b1 := share(tj0, tj1, threads, t)
		for pc := p0; pc < p1; pc += kc {
			kcur := min(kc, p1-pc)
			pk.packA(ap[(pc-p0)*rows+(a0-ti0)*mr*kcur:], g.a, g.transA, g.m, g.k, a0, a1, pc, kcur)
			pk.packB(bp[(pc-p0)*cols+(b0-tj0)*nr*kcur:], g.b, g.transB, g.n, g.k, b0, b1, pc, kcur)
		}
	})
	// Split the longer side of the chunk, in whole tiles.
	splitM := rows >= cols
	tiles := tj1 - tj0
	if splitM {
		tiles = ti1 - ti0
	}
	parts := min(threads, tiles)
	be.pool.run(parts, func(t int) {
		i0, i1, j0, j1 := ti0, ti1, tj0, tj1
		if splitM {
			i0, i1 = share(ti0, ti1, parts, t)
		} else {
			j0, j1 = share(tj0, tj1, parts, t)
		}
		for pc := p0; pc < p1; pc += kc {
			beta := g.beta
			if pc > 0 {
				beta = 1
			}
			be.gemmTiles(&be.ws[t], g, ap[(pc-p0)*rows:], bp[(pc-p0)*cols:], ti0, tj0, i0, i1, j0, j1, min(kc, p1-pc), beta)
		}
	})
}

// share returns part t of [lo,hi) split into parts nearly equal ranges.
func share(lo, hi, parts, t int) (int, int) {
	n := hi - lo
	return lo + n*t/parts, lo + n*(t+1)/parts
}

// gemmTiles computes the tiles [i0,i1)×[j0,j1) of C for one k block from
// the chunk's packed panels, whose first tiles are ti0 and tj0.
func (be *Backend) gemmTiles(ws *workspace, g *gemmArgs, ap, bp []float32, ti0, tj0, i0, i1, j0, j1, kcur int, beta float32) {
	kern := be.kern.fn
	ldc := g.n
	if g.transC {
		ldc = g.m
	}
	// mc rows of A at a time stay in L2 while every B panel passes by.
	for ic := i0; ic < i1; ic += mc / mr {
		icEnd := min(ic+mc/mr, i1)
		for tj := j0; tj < j1; tj++ {
			bpan := bp[(tj-tj0)*nr*kcur : (tj-tj0+1)*nr*kcur]
			jr := tj * nr
			nn := min(nr, g.n-jr)
			for ti := ic; ti < icEnd; ti++ {
				apan := ap[(ti-ti0)*mr*kcur : (ti-ti0+1)*mr*kcur]
				ir := ti * mr
				mm := min(mr, g.m-ir)
				if g.transC {
					kern(kcur, apan, bpan, ws.tile[:], nr, 1, 0)
					mergeTileT(g.c[jr*ldc+ir:], ldc, ws.tile[:], mm, nn, g.alpha, beta)
					continue
				}
				off := ir*ldc + jr
				if mm == mr && nn == nr {
					kern(kcur, apan, bpan, g.c[off:], ldc, g.alpha, beta)
					continue
				}
				kern(kcur, apan, bpan, ws.tile[:], nr, 1, 0)
				mergeTile(g.c[off:], ldc, ws.tile[:], mm, nn, g.alpha, beta)
			}
		}
	}
}

// mergeTile writes the mm×nn corner of an edge tile into C.
func mergeTile(c []float32, ldc int, t []float32, mm, nn int, alpha, beta float32) {
	for i := range mm {
		row := c[i*ldc : i*ldc+nn]
		tr := t[i*nr : i*nr+nn]
		if beta == 0 {
			for j := range row {
				row[j] = alpha * tr[j]
			}
			continue
		}
		for j := range row {
			row[j] = alpha*tr[j] + beta*row[j]
		}
	}
}

// mergeTileT writes the transpose of the mm×nn corner of an edge tile into
// C: tile element (i, j) goes to c[j*ldc+i].
func mergeTileT(c []float32, ldc int, t []float32, mm, nn int, alpha, beta float32) {
	for i := range mm {
		tr := t[i*nr : i*nr+nn]
		if beta == 0 {
			for j, v := range tr {
				c[j*ldc+i] = alpha * v
			}
			continue
		}
		for j, v := range tr {
			c[j*ldc+i] = alpha*v + beta*c[j*ldc+i]
		}
	}
}

// scaleC sets C = beta*C, writing zeros without reading C when beta is 0.
func scaleC(c []float32, beta float32) {
	switch beta {
	case 0:
		clear(c)
	case 1:
	default:
		for i := range c {
			c[i] *= beta
		}
	}
}

// packers fill full panels of depth k. gather interleaves w strided rows
// into one panel: dst[p*w+r] = src[r*ld+p]. spread cuts each of k rows
// into panels w wide: dst[q*w*k+p*w+c] = src[p*ld+q*w+c] for q < panels,
// reading src sequentially. A panels are mr wide, B panels nr wide.
type packers struct {
	gatherA, gatherB func(dst, src []float32, ld, k int)
	spreadA, spreadB func(dst, src []float32, ld, k, panels int)
}

// packA packs panels [q0,q1) of columns [p0,p0+kcur) of op(A) (m×k):
// panel q holds, for each p, the mr values op(A)[q*mr+r][p0+p] at
// dst[(q-q0)*mr*kcur + p*mr + r]. Rows past m are zero.
func (pk *packers) packA(dst, a []float32, trans bool, m, k, q0, q1, p0, kcur int) {
	full := max(q0, min(q1, m/mr)) // panels [q0,full) have all mr rows
	if trans && full > q0 {        // A is stored k×m: panel rows are contiguous
		pk.spreadA(dst, a[p0*m+q0*mr:], m, kcur, full-q0)
	}
	for q := q0; q < q1; q++ {
		panel := dst[(q-q0)*mr*kcur : (q-q0+1)*mr*kcur]
		i0 := q * mr
		switch {
		case q < full && trans:
		case q < full:
			pk.gatherA(panel, a[i0*k+p0:], k, kcur)
		default: // the last, partial panel
			clear(panel)
			for r := range m - i0 {
				for p := range kcur {
					if trans {
						panel[p*mr+r] = a[(p0+p)*m+i0+r]
					} else {
						panel[p*mr+r] = a[(i0+r)*k+p0+p]
					}
				}
			}
		}
	}
}

// packB packs panels [q0,q1) of rows [p0,p0+kcur) of op(B) (k×n): panel q
// holds, for each p, the nr values op(B)[p0+p][q*nr+c] at
// dst[(q-q0)*nr*kcur + p*nr + c]. Columns past n are zero.
func (pk *packers) packB(dst, b []float32, trans bool, n, k, q0, q1, p0, kcur int) {
	full := max(q0, min(q1, n/nr))
	if !trans && full > q0 { // B is stored k×n: panel rows are contiguous
		pk.spreadB(dst, b[p0*n+q0*nr:], n, kcur, full-q0)
	}
	for q := q0; q < q1; q++ {
		panel := dst[(q-q0)*nr*kcur : (q-q0+1)*nr*kcur]
		j0 := q * nr
		switch {
		case q < full && !trans:
		case q < full:
			pk.gatherB(panel, b[j0*k+p0:], k, kcur)
		default:
			clear(panel)
			for c := range n - j0 {
				for p := range kcur {
					if trans {
						panel[p*nr+c] = b[(j0+c)*k+p0+p]
					} else {
						panel[p*nr+c] = b[(p0+p)*n+j0+c]
					}
				}
			}
		}
	}
}
