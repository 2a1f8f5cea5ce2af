package clv

import (
	"bytes"
	"context"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"
)

// benchLog generates n rows of customer_id,date,amount for n/10 customers,
// in date order (as shops export them), so customers interleave.
func benchLog(n int) []byte {
	rng := rand.New(rand.NewPCG(7, 8))
	start := mustDate("2020-01-01")
	var b bytes.Buffer
	b.WriteString("customer_id,date,amount\n")
	customers := max(n/10, 1)
	for i := range n {
		day := start.AddDate(0, 0, i*730/n)
		b.WriteString("C")
		b.WriteString(strconv.Itoa(rng.IntN(customers)))
		b.WriteByte(',')
		b.WriteString(day.Format(time.DateOnly))
		b.WriteByte(',')
		b.WriteString(strconv.FormatFloat(float64(rng.IntN(20000))/100, 'f', 2, 64))
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// BenchmarkLoad measures Load on an in-memory CSV of 500k rows; rows/s is
// the figure to compare with scripts/bench-ingest.sh.
func BenchmarkLoad(b *testing.B) {
	const rows = 500_000
	data := benchLog(rows)
	o := Options{CalibrationEnd: mustDate("2021-06-30"), Horizon: Horizon{Days: 182}}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := LoadReader(context.Background(), "bench.csv", bytes.NewReader(data), o); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(rows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkLoadDecimalComma is BenchmarkLoad on the same log written the
// European way (";" and decimal commas, Options.Decimal ","), whose
// numbers take the rewriting parser instead of parseFloat's fast path.
func BenchmarkLoadDecimalComma(b *testing.B) {
	const rows = 500_000
	data := bytes.ReplaceAll(benchLog(rows), []byte(","), []byte(";"))
	data = bytes.ReplaceAll(data, []byte("."), []byte(","))
	o := Options{CalibrationEnd: mustDate("2021-06-30"), Horizon: Horizon{Days: 182}, Decimal: ","}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := LoadReader(context.Background(), "bench.csv", bytes.NewReader(data), o); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(rows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkParseNumber measures the amount parser on the fields most logs
// hold, plain decimals: parseFloat's fast path, which nothing else may slow.
func BenchmarkParseNumber(b *testing.B) {
	fields := [][]byte{[]byte("12.50"), []byte("199.99"), []byte("3"), []byte("-5.25"), []byte("1049.00"), []byte("0.5")}
	var sum float64
	for b.Loop() {
		for _, f := range fields {
			v, _ := parseNumber(f, '.')
			sum += v
		}
	}
	if sum == 0 {
		b.Fatal("no numbers parsed")
	}
}

// BenchmarkLoadCurrency is BenchmarkLoad on the same log with every amount
// written "$12.50", as spreadsheets export it: each amount fails the fast
// path and takes the currency path (money.go).
func BenchmarkLoadCurrency(b *testing.B) {
	const rows = 500_000
	var data []byte
	for line := range bytes.Lines(benchLog(rows)) {
		if bytes.HasPrefix(line, []byte("customer_id")) {
			data = append(data, line...)
			continue
		}
		i := bytes.LastIndexByte(line, ',') + 1
		data = append(append(append(data, line[:i]...), '$'), line[i:]...)
	}
	o := Options{CalibrationEnd: mustDate("2021-06-30"), Horizon: Horizon{Days: 182}}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := LoadReader(context.Background(), "bench.csv", bytes.NewReader(data), o); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(rows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}
