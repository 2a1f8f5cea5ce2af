package synth

import (
	"context"
	"io"
	"testing"
)

// BenchmarkWriteCSV measures CSV generation into io.Discard for CDNOW-like
// parameters, reporting customers/s and transactions/s.
func BenchmarkWriteCSV(b *testing.B) {
	for _, p := range []Process{BGNBD, ParetoNBD} {
		b.Run(p.String(), func(b *testing.B) {
			cfg := small(p, 100000, 1)
			var n Counts
			cfg.OnProgress = func(c Counts) { n = c }
			var customers, transactions int64
			b.ReportAllocs()
			for b.Loop() {
				if err := WriteCSV(context.Background(), io.Discard, cfg); err != nil {
					b.Fatal(err)
				}
				customers += n.Customers
				transactions += n.Transactions
			}
			secs := b.Elapsed().Seconds()
			b.ReportMetric(float64(customers)/secs, "customers/s")
			b.ReportMetric(float64(transactions)/secs, "tx/s")
		})
	}
}

// BenchmarkGenerate measures Generate alone (no formatting).
func BenchmarkGenerate(b *testing.B) {
	cfg := small(BGNBD, 100000, 1)
	var transactions int64
	for b.Loop() {
		if err := Generate(context.Background(), cfg, func(Transaction) error {
			transactions++
			return nil
		}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(transactions)/b.Elapsed().Seconds(), "tx/s")
}
