package sweep

import (
	"fmt"
	"math/bits"
	"math/rand/v2"
)

// joeKuo holds the primitive polynomials (degree s, interior coefficients
// a) and initial direction numbers m of dimensions 2..21 from Joe and Kuo's
// new-joe-kuo-6.21201 table; dimension 1 is the van der Corput sequence.
var joeKuo = [...]struct {
	s, a uint
	m    []uint32
}{
	{1, 0, []uint32{1}},
	{2, 1, []uint32{1, 3}},
	{3, 1, []uint32{1, 3, 1}},
	{3, 2, []uint32{1, 1, 1}},
	{4, 1, []uint32{1, 1, 3, 3}},
	{4, 4, []uint32{1, 3, 5, 13}},
	{5, 2, []uint32{1, 1, 5, 5, 17}},
	{5, 4, []uint32{1, 1, 5, 5, 5}},
	{5, 7, []uint32{1, 1, 7, 11, 19}},
	{5, 11, []uint32{1, 1, 5, 1, 1}},
	{5, 13, []uint32{1, 1, 1, 3, 11}},
	{5, 14, []uint32{1, 3, 5, 5, 31}},
	{6, 1, []uint32{1, 3, 3, 9, 7, 49}},
	{6, 13, []uint32{1, 1, 1, 15, 21, 21}},
	{6, 16, []uint32{1, 3, 1, 13, 27, 49}},
	{6, 19, []uint32{1, 1, 1, 15, 7, 5}},
	{6, 22, []uint32{1, 3, 1, 15, 13, 25}},
	{6, 25, []uint32{1, 1, 5, 5, 19, 61}},
	{7, 1, []uint32{1, 3, 7, 11, 23, 15, 103}},
	{7, 4, []uint32{1, 3, 7, 13, 13, 15, 69}},
}

// maxSobolDim is the number of dimensions with direction numbers here.
const maxSobolDim = len(joeKuo) + 1

const sobolBits = 32

// sobol generates a Sobol sequence in gray-code order (the order of Joe and
// Kuo and of SciPy), optionally scrambled by a random linear matrix scramble
// plus a random digital shift (Matoušek 1998; Owen 2003), which keeps every
// (t, m, s)-net property while removing the sequence's structure and the
// point at the origin. The point at any index is computed directly, so the
// generator's only state is (seed, index).
type sobol struct {
	v     [][sobolBits]uint32 // direction numbers, one row per dimension
	shift []uint32
}

// newSobol builds a generator of dim dimensions, scrambled when scramble is
// set; the scramble is a deterministic function of seed.
func newSobol(dim int, scramble bool, seed uint64) (*sobol, error) {
	if dim < 1 || dim > maxSobolDim {
		return nil, fmt.Errorf("sweep: sobol: %d dimensions, want 1..%d", dim, maxSobolDim)
	}
	s := &sobol{v: make([][sobolBits]uint32, dim), shift: make([]uint32, dim)}
	for k := range sobolBits {
		s.v[0][k] = 1 << (sobolBits - 1 - k)
	}
	for j := 1; j < dim; j++ {
		jk := joeKuo[j-1]
		v := &s.v[j]
		for k := uint(0); k < jk.s; k++ {
			v[k] = jk.m[k] << (sobolBits - 1 - k)
		}
		for k := jk.s; k < sobolBits; k++ {
			v[k] = v[k-jk.s] ^ (v[k-jk.s] >> jk.s)
			for l := uint(1); l < jk.s; l++ {
				if (jk.a>>(jk.s-1-l))&1 == 1 {
					v[k] ^= v[k-l]
				}
			}
		}
	}
	if !scramble {
		return s, nil
	}
	rng := rand.New(rand.NewPCG(seed, 0x5ab01))
	for j := range dim {
		// Lower-triangular binary matrix with unit diagonal, acting on the
		// digits most significant first: row r mixes digits 0..r.
		var rows [sobolBits]uint32
		for r := range sobolBits {
			diag := uint32(1) << (sobolBits - 1 - r)
			above := ^(diag - 1) &^ diag // digits 0..r-1
			rows[r] = diag | (rng.Uint32() & above)
		}
		for k := range sobolBits {
			var out uint32
			for r := range sobolBits {
				if bits.OnesCount32(rows[r]&s.v[j][k])&1 == 1 {
					out |= 1 << (sobolBits - 1 - r)
				}
			}
			s.v[j][k] = out
		}
		s.shift[j] = rng.Uint32()
	}
	return s, nil
}

// at writes the point of index i (0-based) into dst.
func (s *sobol) at(i uint64, dst []float64) {
	g := i ^ (i >> 1)
	for j := range s.v {
		x := s.shift[j]
		for k := 0; g>>k != 0 && k < sobolBits; k++ {
			if (g>>k)&1 == 1 {
				x ^= s.v[j][k]
			}
		}
		dst[j] = float64(x) / (1 << sobolBits)
	}
}
