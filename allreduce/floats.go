package allreduce

import (
	"encoding/binary"
	"math"
	"unsafe"
)

// littleEndian reports whether the host stores float32 the way the wire
// does, so buffers can be viewed as bytes without copying.
func littleEndian() bool {
	x := uint16(1)
	return *(*byte)(unsafe.Pointer(&x)) == 1
}

// bytesOf returns the wire bytes of f: a view of f itself on little-endian
// hosts, else a fresh encoding (fresh, as a transport may still be sending
// the previous one).
func bytesOf(f []float32) []byte {
	if len(f) == 0 {
		return nil
	}
	if littleEndian() {
		return unsafe.Slice((*byte)(unsafe.Pointer(&f[0])), 4*len(f))
	}
	b := make([]byte, 0, 4*len(f))
	for _, v := range f {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
	}
	return b
}

// floatsOf returns the float32 values of wire bytes b: a view of b when the
// host is little-endian and b is aligned, else a decoding in scratch.
func floatsOf(b []byte, scratch []float32) ([]float32, []float32) {
	n := len(b) / 4
	if n == 0 {
		return nil, scratch
	}
	if littleEndian() && uintptr(unsafe.Pointer(&b[0]))%4 == 0 {
		return unsafe.Slice((*float32)(unsafe.Pointer(&b[0])), n), scratch
	}
	scratch = scratch[:0]
	for i := range n {
		scratch = append(scratch, math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:])))
	}
	return scratch, scratch
}

// applyFrags sums (or copies) a payload that arrives in pieces of any length
// at any alignment into dst, carrying a value split across two pieces.
func applyFrags(dst []float32, frags [][]byte, sum bool) {
	var (
		carry [4]byte
		nc    int
		i     int
	)
	put := func(v float32) {
		if sum {
			dst[i] += v
		} else {
			dst[i] = v
		}
		i++
	}
	for _, b := range frags {
		if nc > 0 {
			k := copy(carry[nc:], b)
			nc, b = nc+k, b[k:]
			if nc < 4 {
				continue
			}
			put(math.Float32frombits(binary.LittleEndian.Uint32(carry[:])))
			nc = 0
		}
		n := len(b) / 4
		switch {
		case n == 0:
		case sum:
			addBytes(dst[i:i+n], b[:4*n])
		case littleEndian():
			copy(unsafe.Slice((*byte)(unsafe.Pointer(&dst[i])), 4*n), b)
		default:
			for j := range n {
				dst[i+j] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*j:]))
			}
		}
		i += n
		nc = copy(carry[:], b[4*n:])
	}
}

// addBytes adds little-endian float32 values b to dst: through a view when
// b is aligned, else decoding each value (one unaligned load on amd64).
func addBytes(dst []float32, b []byte) {
	if len(dst) == 0 {
		return
	}
	if littleEndian() && uintptr(unsafe.Pointer(&b[0]))%4 == 0 {
		add(dst, unsafe.Slice((*float32)(unsafe.Pointer(&b[0])), len(dst)))
		return
	}
	b = b[:4*len(dst)]
	for j := range dst {
		dst[j] += math.Float32frombits(binary.LittleEndian.Uint32(b[4*j:]))
	}
}

// addScalar sums src into dst element by element, always in the same
// order: the portable add, and the reference the vector one is tested
// against. Unrolled, as it runs on every byte the ring receives.
func addScalar(dst, src []float32) {
	src = src[:len(dst)]
	i := 0
	for ; i+4 <= len(dst); i += 4 {
		d, s := dst[i:i+4:i+4], src[i:i+4:i+4]
		d[0] += s[0]
		d[1] += s[1]
		d[2] += s[2]
		d[3] += s[3]
	}
	for ; i < len(dst); i++ {
		dst[i] += src[i]
	}
}
