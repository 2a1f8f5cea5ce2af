package clv

import (
	"context"
	"path/filepath"
	"slices"
	"testing"

	"github.com/parquet-go/parquet-go"
)

// TestIngestCountsLateCustomers ensures the customers whose first purchase
// falls after the calibration end are counted as left out whether or not
// there is a holdout: without one their rows are dropped while parsing, and
// the report said 0 (predict and features scored as of an early date). CSV
// in any row order, with one or more parsers, and Parquet must agree.
func TestIngestCountsLateCustomers(t *testing.T) {
	type pqRow struct {
		Customer string  `parquet:"customer_id"`
		Date     int32   `parquet:"date,date"`
		Amount   float64 `parquet:"amount"`
	}
	txns := sampleTxns() // sorted by customer: A B C D E
	reversed := slices.Clone(txns)
	slices.Reverse(reversed)
	pqPath := filepath.Join(t.TempDir(), "log.parquet")
	rows := make([]pqRow, len(txns))
	for i, x := range txns {
		rows[i] = pqRow{x.id, dayOf(x.day), x.amount}
	}
	if err := parquet.WriteFile(pqPath, rows); err != nil {
		t.Fatal(err)
	}
	readers := []struct {
		name string
		load func(o Options) (*Dataset, error)
	}{
		{"csv", func(o Options) (*Dataset, error) { return loadString(render(txns, ",", "\n", true), o) }},
		{"csv reversed", func(o Options) (*Dataset, error) { return loadString(render(reversed, ",", "\n", true), o) }},
		{"csv 2 threads", func(o Options) (*Dataset, error) {
			o.Threads = 2
			return loadString(render(txns, ",", "\n", true), o)
		}},
		{"parquet", func(o Options) (*Dataset, error) { return Load(context.Background(), pqPath, o) }},
	}
	tests := []struct {
		name                       string
		opts                       Options
		customers, excluded        int
		rowsAfterEnd, transactions int64
	}{
		// A, B and C bought by 03-15; D (03-20) and E (04-02) only after it.
		{"no holdout", Options{CalibrationEnd: mustDate("2020-03-15")}, 3, 2, 4, 8},
		// Only A and C bought by 01-10; B, D and E are left out.
		{"no holdout, early", Options{CalibrationEnd: mustDate("2020-01-10")}, 2, 3, 9, 3},
		// D first bought in the holdout; E only after its end (rows ignored).
		{"holdout", Options{CalibrationEnd: mustDate("2020-03-15"), Horizon: Horizon{Days: 14}}, 3, 2, 2, 10},
		{"whole log", Options{}, 5, 0, 0, 12},
	}
	for _, tt := range tests {
		for _, rd := range readers {
			t.Run(tt.name+"/"+rd.name, func(t *testing.T) {
				ds, err := rd.load(tt.opts)
				if err != nil {
					t.Fatal(err)
				}
				r := ds.Report
				if r.Customers != tt.customers || r.ExcludedCustomers != tt.excluded || r.RowsAfterEnd != tt.rowsAfterEnd ||
					r.Transactions != tt.transactions || len(ds.Customers) != tt.customers {
					t.Errorf("customers %d (%d in the dataset), excluded %d, rows after end %d, transactions %d; want %d, %d, %d, %d",
						r.Customers, len(ds.Customers), r.ExcludedCustomers, r.RowsAfterEnd, r.Transactions,
						tt.customers, tt.excluded, tt.rowsAfterEnd, tt.transactions)
				}
				for _, c := range ds.Customers {
					if c.T < 0 || len(c.Features) != len(ds.FeatureNames) {
						t.Errorf("customer %s: T %v, %d features", c.ID, c.T, len(c.Features))
					}
				}
			})
		}
	}
}
