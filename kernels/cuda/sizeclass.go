package cuda

import "math/bits"

// sizeClass rounds a byte count up to 256 bytes, then to one of four steps
// per power of two (2^e, 1.25*2^e, 1.5*2^e, 1.75*2^e), so a reused block
// wastes at most a quarter of its size.
func sizeClass(bytes int64) int64 {
	if bytes <= 1024 {
		return (bytes + 255) &^ 255
	}
	e := bits.Len64(uint64(bytes-1)) - 1 // 2^e < bytes <= 2^(e+1)
	step := int64(1) << (e - 2)
	return (bytes + step - 1) / step * step
}
