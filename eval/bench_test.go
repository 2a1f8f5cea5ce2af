package eval

import "testing"

// BenchmarkCompute scores 100,000 CLV-like customers: every metric, which
// sorts the predictions a handful of times.
func BenchmarkCompute(b *testing.B) {
	pred, actual := sample(9, 100_000, 0)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Compute(pred, actual); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkComputeLegacy is BenchmarkCompute for the implementation that
// sorted each vector up to three times (legacy_test.go), for comparison.
func BenchmarkComputeLegacy(b *testing.B) {
	pred, actual := sample(9, 100_000, 0)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := legacyCompute(pred, actual); err != nil {
			b.Fatal(err)
		}
	}
}
