package sweep

import (
	"math"
	"math/rand/v2"
	"testing"
)

// sobolPublished holds the first 32 points of the unscrambled 21-dimensional
// Sobol sequence with Joe–Kuo new-joe-kuo-6.21201 direction numbers, times
// 32, as printed by SciPy 1.10 (scipy.stats.qmc.Sobol(d=21, scramble=False)).
var sobolPublished = [32][21]int{
	{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
	{16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16},
	{24, 8, 8, 8, 24, 24, 8, 24, 24, 24, 24, 24, 8, 8, 24, 8, 24, 8, 24, 8, 8},
	{8, 24, 24, 24, 8, 8, 24, 8, 8, 8, 8, 8, 24, 24, 8, 24, 8, 24, 8, 24, 24},
	{12, 12, 20, 28, 12, 4, 12, 28, 28, 20, 28, 12, 12, 20, 12, 28, 12, 28, 28, 4, 4},
	{28, 28, 4, 12, 28, 20, 28, 12, 12, 4, 12, 28, 28, 4, 28, 12, 28, 12, 12, 20, 20},
	{20, 4, 28, 20, 20, 28, 4, 4, 4, 12, 4, 20, 4, 28, 20, 20, 20, 20, 4, 12, 12},
	{4, 20, 12, 4, 4, 12, 20, 20, 20, 28, 20, 4, 20, 12, 4, 4, 4, 4, 20, 28, 28},
	{6, 10, 30, 14, 18, 10, 14, 30, 30, 10, 22, 2, 30, 30, 26, 30, 26, 26, 30, 10, 6},
	{22, 26, 14, 30, 2, 26, 30, 14, 14, 26, 6, 18, 14, 14, 10, 14, 10, 10, 14, 26, 22},
	{30, 2, 22, 6, 10, 18, 6, 6, 6, 18, 14, 26, 22, 22, 2, 22, 2, 18, 6, 2, 14},
	{14, 18, 6, 22, 26, 2, 22, 22, 22, 2, 30, 10, 6, 6, 18, 6, 18, 2, 22, 18, 30},
	{10, 6, 10, 18, 30, 14, 2, 2, 2, 30, 10, 14, 18, 10, 22, 2, 22, 6, 2, 14, 2},
	{26, 22, 26, 2, 14, 30, 18, 18, 18, 14, 26, 30, 2, 26, 6, 18, 6, 22, 18, 30, 18},
	{18, 14, 2, 26, 6, 22, 10, 26, 26, 6, 18, 22, 26, 2, 14, 10, 14, 14, 26, 6, 10},
	{2, 30, 18, 10, 22, 6, 26, 10, 10, 22, 2, 6, 10, 18, 30, 26, 30, 30, 10, 22, 26},
	{3, 15, 15, 21, 9, 31, 17, 27, 15, 5, 3, 13, 21, 21, 11, 1, 25, 19, 25, 1, 23},
	{19, 31, 31, 5, 25, 15, 1, 11, 31, 21, 19, 29, 5, 5, 27, 17, 9, 3, 9, 17, 7},
	{27, 7, 7, 29, 17, 7, 25, 3, 23, 29, 27, 21, 29, 29, 19, 9, 1, 27, 1, 9, 31},
	{11, 23, 23, 13, 1, 23, 9, 19, 7, 13, 11, 5, 13, 13, 3, 25, 17, 11, 17, 25, 15},
	{15, 3, 27, 9, 5, 27, 29, 7, 19, 17, 31, 1, 25, 1, 7, 29, 21, 15, 5, 5, 19},
	{31, 19, 11, 25, 21, 11, 13, 23, 3, 1, 15, 17, 9, 17, 23, 13, 5, 31, 21, 21, 3},
	{23, 11, 19, 1, 29, 3, 21, 31, 11, 9, 7, 25, 17, 9, 31, 21, 13, 7, 29, 13, 27},
	{7, 27, 3, 17, 13, 19, 5, 15, 27, 25, 23, 9, 1, 25, 15, 5, 29, 23, 13, 29, 11},
	{5, 5, 17, 27, 27, 21, 31, 5, 17, 15, 21, 15, 11, 11, 17, 31, 3, 9, 7, 11, 17},
	{21, 21, 1, 11, 11, 5, 15, 21, 1, 31, 5, 31, 27, 27, 1, 15, 19, 25, 23, 27, 1},
	{29, 13, 25, 19, 3, 13, 23, 29, 9, 23, 13, 23, 3, 3, 9, 23, 27, 1, 31, 3, 25},
	{13, 29, 9, 3, 19, 29, 7, 13, 25, 7, 29, 7, 19, 19, 25, 7, 11, 17, 15, 19, 9},
	{9, 9, 5, 7, 23, 17, 19, 25, 13, 27, 9, 3, 7, 31, 29, 3, 15, 21, 27, 15, 21},
	{25, 25, 21, 23, 7, 1, 3, 9, 29, 11, 25, 19, 23, 15, 13, 19, 31, 5, 11, 31, 5},
	{17, 1, 13, 15, 15, 9, 27, 1, 21, 3, 17, 27, 15, 23, 5, 11, 23, 29, 3, 7, 29},
	{1, 17, 29, 31, 31, 25, 11, 17, 5, 19, 1, 11, 31, 7, 21, 27, 7, 13, 19, 23, 13},
}

// TestSobolMatchesPublished ensures the unscrambled generator reproduces the
// published sequence in all 21 dimensions.
func TestSobolMatchesPublished(t *testing.T) {
	s, err := newSobol(maxSobolDim, false, 0)
	if err != nil {
		t.Fatal(err)
	}
	u := make([]float64, maxSobolDim)
	for i, want := range sobolPublished {
		s.at(uint64(i), u)
		for j := range u {
			if u[j]*32 != float64(want[j]) {
				t.Fatalf("point %d dim %d = %v, want %v/32", i, j+1, u[j], want[j])
			}
		}
	}
}

// TestSobolStratified ensures scrambled points stay a (0, m, 1)-net in every
// dimension: the first 2^m points put exactly one point in each interval
// [k/2^m, (k+1)/2^m), for several seeds and m up to 10.
func TestSobolStratified(t *testing.T) {
	for _, seed := range []uint64{1, 2, 99} {
		s, err := newSobol(maxSobolDim, true, seed)
		if err != nil {
			t.Fatal(err)
		}
		u := make([]float64, maxSobolDim)
		s.at(0, u)
		if u[0] == 0 && u[1] == 0 {
			t.Fatalf("seed %d: scrambled sequence starts at the origin", seed)
		}
		for m := 1; m <= 10; m++ {
			n := 1 << m
			counts := make([][]int, maxSobolDim)
			for j := range counts {
				counts[j] = make([]int, n)
			}
			for i := range n {
				s.at(uint64(i), u)
				for j, x := range u {
					if x < 0 || x >= 1 {
						t.Fatalf("seed %d point %d dim %d = %v outside [0,1)", seed, i, j, x)
					}
					counts[j][int(x*float64(n))]++
				}
			}
			for j := range counts {
				for k, c := range counts[j] {
					if c != 1 {
						t.Fatalf("seed %d, first %d points, dim %d: interval %d holds %d points, want 1", seed, n, j+1, k, c)
					}
				}
			}
		}
	}
}

// TestSobolLowDiscrepancy ensures scrambled Sobol points are better spread
// than independent uniforms: the L2-star discrepancy of 256 points in 6
// dimensions is below that of each of 5 pseudo-random sets.
func TestSobolLowDiscrepancy(t *testing.T) {
	const n, d = 256, 6
	s, err := newSobol(d, true, 7)
	if err != nil {
		t.Fatal(err)
	}
	pts := make([][]float64, n)
	for i := range pts {
		pts[i] = make([]float64, d)
		s.at(uint64(i), pts[i])
	}
	sob := l2StarDiscrepancy(pts)
	for seed := range uint64(5) {
		rng := rand.New(rand.NewPCG(seed, 1))
		for i := range pts {
			for j := range pts[i] {
				pts[i][j] = rng.Float64()
			}
		}
		if r := l2StarDiscrepancy(pts); sob >= r {
			t.Errorf("sobol discrepancy %.5f not below random set %d's %.5f", sob, seed, r)
		}
	}
}

// l2StarDiscrepancy is Warnock's closed form.
func l2StarDiscrepancy(x [][]float64) float64 {
	n, d := float64(len(x)), len(x[0])
	a := math.Pow(3, -float64(d))
	var b, c float64
	for _, p := range x {
		prod := 1.0
		for _, v := range p {
			prod *= 1 - v*v
		}
		b += prod
	}
	for _, p := range x {
		for _, q := range x {
			prod := 1.0
			for k := range d {
				prod *= 1 - max(p[k], q[k])
			}
			c += prod
		}
	}
	return math.Sqrt(a - math.Pow(2, 1-float64(d))/n*b + c/(n*n))
}

// TestSobolDimensions ensures the generator refuses dimensions it has no
// direction numbers for.
func TestSobolDimensions(t *testing.T) {
	for _, d := range []int{0, maxSobolDim + 1} {
		if _, err := newSobol(d, true, 1); err == nil {
			t.Errorf("newSobol(%d) succeeded, want an error", d)
		}
	}
}
