package clv

import (
	"context"
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

func ftoa(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }
func itoa(i int) string     { return strconv.Itoa(i) }
