package synth

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"io"
	"math"
	"regexp"
	"strconv"
	"testing"
	"time"
)

// TestWriteCSVMatchesGenerate ensures WriteCSV writes Generate's transactions
// in the same order, as ids, calendar dates and amounts rounded to cents.
func TestWriteCSVMatchesGenerate(t *testing.T) {
	cfg := small(ParetoNBD, 3000, 9)
	var buf bytes.Buffer
	if err := WriteCSV(context.Background(), &buf, cfg); err != nil {
		t.Fatalf("WriteCSV: %v", err)
	}
	rows, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	want := collect(t, cfg)
	if len(rows) != len(want)+1 {
		t.Fatalf("%d rows, want header + %d", len(rows), len(want))
	}
	if h := rows[0]; len(h) != 3 || h[0] != "customer_id" || h[1] != "date" || h[2] != "amount" {
		t.Fatalf("header %q", h)
	}
	cents := regexp.MustCompile(`^[0-9]+\.[0-9]{2}$`)
	for i, row := range rows[1:] {
		tx := want[i]
		if row[0] != tx.Customer {
			t.Fatalf("row %d: id %q, want %q", i+2, row[0], tx.Customer)
		}
		if d := tx.Time.Format(time.DateOnly); row[1] != d {
			t.Fatalf("row %d: date %q, want %q (time %v)", i+2, row[1], d, tx.Time)
		}
		if !cents.MatchString(row[2]) {
			t.Fatalf("row %d: amount %q is not written with two decimals", i+2, row[2])
		}
		a, _ := strconv.ParseFloat(row[2], 64)
		if math.Abs(a-tx.Amount) > 0.005+1e-9 {
			t.Fatalf("row %d: amount %s, exact %v", i+2, row[2], tx.Amount)
		}
	}
}

// TestCustomerIDs ensures ids are zero-padded to 7 digits, or to the width of
// the customer count when that is wider, so they sort like their numbers.
func TestCustomerIDs(t *testing.T) {
	tests := []struct {
		k, customers int
		want         string
	}{
		{1, 10, "c0000001"},
		{1234567, 9999999, "c1234567"},
		{1, 10000000, "c00000001"},
		{10000000, 10000000, "c10000000"},
	}
	for _, tt := range tests {
		if got := string(appendID(nil, tt.k, idWidth(tt.customers))); got != tt.want {
			t.Errorf("customer %d of %d: %q, want %q", tt.k, tt.customers, got, tt.want)
		}
	}
}

// TestAppendCents ensures amounts are written with two decimals and agree
// with strconv's rounding away from exact half-cent ties.
func TestAppendCents(t *testing.T) {
	for _, v := range []float64{0, 0.004, 0.006, 0.01, 0.1, 0.99, 0.995001, 1, 12.345678, 99.999, 100, 123456.78, 1e11 + 0.25, 2e12, 3.7e300} {
		got := string(appendCents(nil, v))
		if want := strconv.FormatFloat(v, 'f', 2, 64); got != want {
			t.Errorf("%v: %q, want %q", v, got, want)
		}
	}
}

// failWriter fails every write after the first n bytes.
type failWriter struct{ n int }

func (w *failWriter) Write(p []byte) (int, error) {
	if w.n < len(p) {
		return 0, errors.New("disk full")
	}
	w.n -= len(p)
	return len(p), nil
}

// TestWriteCSVErrors ensures a failing writer and a bad config are reported.
func TestWriteCSVErrors(t *testing.T) {
	err := WriteCSV(context.Background(), &failWriter{n: 1 << 20}, small(BGNBD, 200000, 1))
	if err == nil || err.Error() != "synth: write csv: disk full" {
		t.Fatalf("failing writer: %v", err)
	}
	bad := small(BGNBD, 10, 1)
	bad.Params.Gamma = -1
	var pe *ParamError
	if err := WriteCSV(context.Background(), io.Discard, bad); !errors.As(err, &pe) || pe.Field != "gamma" {
		t.Fatalf("bad gamma: %v", err)
	}
}

// TestWriteCSVConstantMemory ensures the number of allocations does not grow
// with the number of customers: nothing is kept per customer.
func TestWriteCSVConstantMemory(t *testing.T) {
	allocs := func(customers int) float64 {
		cfg := small(BGNBD, customers, 1)
		return testing.AllocsPerRun(2, func() {
			if err := WriteCSV(context.Background(), io.Discard, cfg); err != nil {
				t.Fatal(err)
			}
		})
	}
	few, many := allocs(100), allocs(20000)
	t.Logf("allocations: %v for 100 customers, %v for 20000", few, many)
	if many > few+20 {
		t.Fatalf("allocations grow with customers: %v for 100, %v for 20000", few, many)
	}
}
