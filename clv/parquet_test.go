package clv

import (
	"context"
	"errors"
	"math"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"
)

// TestParquetRoundTrip ensures a Parquet log with a DATE column, a quantity
// and string ids loads exactly like the same log as CSV.
func TestParquetRoundTrip(t *testing.T) {
	type row struct {
		Customer string  `parquet:"customer_id"`
		Date     int32   `parquet:"date,date"`
		Amount   float64 `parquet:"amount"`
		Units    int64   `parquet:"units"`
	}
	txns := sampleTxns()
	rows := make([]row, len(txns))
	var csv strings.Builder
	csv.WriteString("customer_id,date,amount,units\n")
	for i, x := range txns {
		rows[i] = row{x.id, dayOf(x.day), x.amount, int64(i % 3)}
		csv.WriteString(x.id + "," + x.day.Format(time.DateOnly) + "," + ftoa(x.amount) + "," + itoa(i%3) + "\n")
	}
	path := filepath.Join(t.TempDir(), "log.parquet")
	if err := parquet.WriteFile(path, rows); err != nil {
		t.Fatal(err)
	}
	ds, err := Load(context.Background(), path, windowOpts)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := loadString(csv.String(), windowOpts)
	if err != nil {
		t.Fatal(err)
	}
	if ds.Report.Format != "parquet" || ds.Report.Columns.Quantity != "units" || ds.Report.Rows != int64(len(txns)) {
		t.Errorf("report %+v", ds.Report)
	}
	sameCustomers(t, ref, ds)
}

// TestParquetTypes ensures integer ids, timestamp dates, decimal amounts
// and mapping by index work, and that a null amount is a bad row named by
// its Parquet row.
func TestParquetTypes(t *testing.T) {
	type row struct {
		Cust  int64     `parquet:"cust"`
		When  time.Time `parquet:"when,timestamp(microsecond)"`
		Cents int64     `parquet:"cents,decimal(2:12)"`
		Note  string    `parquet:"note"`
		Paid  *float64  `parquet:"paid,optional"`
	}
	txns := sampleTxns()
	rows := make([]row, len(txns))
	var csv strings.Builder
	csv.WriteString("cust,date,amount\n")
	one := 1.0
	for i, x := range txns {
		id := int64(x.id[0]-'A') + 10
		rows[i] = row{Cust: id, When: x.day.Add(13 * time.Hour), Cents: int64(x.amount * 100), Note: "n", Paid: &one}
		csv.WriteString(itoa(int(id)) + "," + x.day.Format(time.DateOnly) + "," + ftoa(x.amount) + "\n")
	}
	rows[2].Paid = nil
	path := filepath.Join(t.TempDir(), "typed.parquet")
	if err := parquet.WriteFile(path, rows); err != nil {
		t.Fatal(err)
	}
	ds, err := Load(context.Background(), path, Options{Customer: "1", Date: "when", Amount: "cents",
		CalibrationEnd: windowOpts.CalibrationEnd, Horizon: windowOpts.Horizon})
	if err != nil {
		t.Fatal(err)
	}
	ref, err := loadString(csv.String(), windowOpts)
	if err != nil {
		t.Fatal(err)
	}
	sameCustomers(t, ref, ds)

	_, err = Load(context.Background(), path, Options{Customer: "cust", Date: "when", Amount: "paid"})
	want := "clv: read transactions: " + path + `: row 3: column "paid": null value in a required column`
	if err == nil || err.Error() != want {
		t.Errorf("null amount: error %v\nwant %s", err, want)
	}
	_, err = Load(context.Background(), path, Options{Customer: "cust", Date: "note", Amount: "cents"})
	want = "clv: read transactions: " + path + `: row 1: column "note": "n" is not a date (want 20060102, 2006-01-02, 2006-01-02 15:04:05 or RFC 3339, or set a date format)`
	if err == nil || err.Error() != want {
		t.Errorf("string date: error %v\nwant %s", err, want)
	}
	_, err = Load(context.Background(), path, Options{Customer: "cust", Date: "cents", Amount: "paid"})
	want = "clv: read transactions: " + path + `: date column "cents": type DECIMAL(12,2) cannot hold a date`
	if err == nil || err.Error() != want {
		t.Errorf("decimal date: error %v\nwant %s", err, want)
	}
	_, err = Load(context.Background(), path, Options{Customer: "client"})
	want = "clv: read transactions: " + path + `: customer column "client" is not in the header; the header has: cust, when, cents, note, paid`
	if err == nil || err.Error() != want {
		t.Errorf("unknown column: error %v\nwant %s", err, want)
	}
}

// TestParquetCorrupt ensures a damaged Parquet file is an error, not a
// panic.
func TestParquetCorrupt(t *testing.T) {
	content := "PAR1" + strings.Repeat("\x07", 100) + "PAR1"
	_, err := LoadReader(context.Background(), "bad.parquet", strings.NewReader(content), Options{})
	if err == nil || !strings.HasPrefix(err.Error(), "clv: read transactions: bad.parquet: ") {
		t.Errorf("error %v", err)
	}
}

// TestParquetDateRange ensures an out-of-range DATE or timestamp (a "no
// date" placeholder such as INT32_MIN) is a bad date row named by its
// Parquet row, not a panic in the features (audit5 item 2), and that
// skipping it leaves the other rows' features as the CSV gives them.
func TestParquetDateRange(t *testing.T) {
	type dated struct {
		Customer string  `parquet:"customer_id"`
		Date     int32   `parquet:"date,date"`
		Amount   float64 `parquet:"amount"`
	}
	type stamped struct {
		Customer string  `parquet:"customer_id"`
		When     int64   `parquet:"when,timestamp(microsecond)"`
		Amount   float64 `parquet:"amount"`
	}
	txns := sampleTxns()
	write := func(t *testing.T, rows any) string {
		t.Helper()
		path := filepath.Join(t.TempDir(), "log.parquet")
		var err error
		switch r := rows.(type) {
		case []dated:
			err = parquet.WriteFile(path, r)
		case []stamped:
			err = parquet.WriteFile(path, r)
		}
		if err != nil {
			t.Fatal(err)
		}
		return path
	}
	datedRows := func(bad int32) []dated {
		rows := make([]dated, len(txns))
		for i, x := range txns {
			rows[i] = dated{x.id, dayOf(x.day), x.amount}
		}
		rows[2].Date = bad
		return rows
	}
	stampedRows := func(bad int64) []stamped {
		rows := make([]stamped, len(txns))
		for i, x := range txns {
			rows[i] = stamped{x.id, x.day.Add(13 * time.Hour).UnixMicro(), x.amount}
		}
		rows[2].When = bad
		return rows
	}
	// The CSV of the same log without row 3.
	var csv strings.Builder
	csv.WriteString("customer_id,date,amount\n")
	for i, x := range txns {
		if i != 2 {
			csv.WriteString(x.id + "," + x.day.Format(time.DateOnly) + "," + ftoa(x.amount) + "\n")
		}
	}
	ref, err := loadString(csv.String(), windowOpts)
	if err != nil {
		t.Fatal(err)
	}
	const tail = " is outside the supported years 1900-2200 (a placeholder for a missing date?)"
	tests := []struct {
		name string
		rows any
		opts Options
		want string // after "FILE: row 3: column ..."
	}{
		{"DATE INT32_MIN", datedRows(math.MinInt32), Options{},
			`column "date": 1970-01-01 - 2147483648 days (year -5877641)` + tail},
		{"DATE INT32_MAX", datedRows(math.MaxInt32), Options{},
			`column "date": 1970-01-01 + 2147483647 days (year 5881580)` + tail},
		{"DATE before 1900", datedRows(dayOf(mustDate("1899-12-31"))), Options{},
			`column "date": 1899-12-31` + tail},
		{"timestamp INT64_MAX", stampedRows(math.MaxInt64), Options{Date: "when"},
			`column "when": timestamp 1970-01-01 + 106751991 days (year 294247)` + tail},
		{"timestamp INT64_MIN", stampedRows(math.MinInt64), Options{Date: "when"},
			`column "when": timestamp 1970-01-01 - 106751992 days (year -290308)` + tail},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := write(t, tc.rows)
			o := tc.opts
			_, err := Load(context.Background(), path, o)
			want := "clv: read transactions: " + path + ": row 3: " + tc.want
			if err == nil || err.Error() != want {
				t.Fatalf("error %v\nwant %s", err, want)
			}
			var re *RowError
			if !errors.As(err, &re) || re.Reason != ReasonBadDate || !re.Parquet {
				t.Errorf("error %#v, want a Parquet bad_date RowError", re)
			}
			o.SkipBadRows, o.CalibrationEnd, o.Horizon = true, windowOpts.CalibrationEnd, windowOpts.Horizon
			ds, err := Load(context.Background(), path, o)
			if err != nil {
				t.Fatal(err)
			}
			if ds.Report.BadRows[ReasonBadDate] != 1 {
				t.Errorf("bad rows %v, want bad_date 1", ds.Report.BadRows)
			}
			sameCustomers(t, ref, ds)
		})
	}
}

func ftoa(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }
func itoa(i int) string     { return strconv.Itoa(i) }
