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
