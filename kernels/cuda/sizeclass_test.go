package cuda

import "testing"

// TestSizeClass ensures size classes cover the request, are 256-byte
// multiples, waste at most a quarter above 1 KiB, and are stable.
func TestSizeClass(t *testing.T) {
	tests := []struct{ bytes, want int64 }{
		{1, 256}, {256, 256}, {257, 512}, {1024, 1024}, {1025, 1280}, {1280, 1280},
		{1281, 1536}, {2048, 2048}, {2049, 2560}, {3 << 20, 3 << 20}, {(3 << 20) + 1, 3<<20 + 1<<19},
	}
	for _, tt := range tests {
		if got := sizeClass(tt.bytes); got != tt.want {
			t.Errorf("sizeClass(%d) = %d, want %d", tt.bytes, got, tt.want)
		}
	}
	for b := int64(1); b < 1<<22; b = b*3/2 + 7 {
		c := sizeClass(b)
		if c < b || c%256 != 0 || (b > 1024 && float64(c) > 1.25*float64(b)) || sizeClass(c) != c {
			t.Fatalf("sizeClass(%d) = %d: not a tight, stable, 256-byte multiple", b, c)
		}
	}
}
