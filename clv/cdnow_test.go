package clv

import (
	"context"
	"encoding/csv"
	"hash/fnv"
	"math"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/cohort-clv/cohort/internal/shareddata"
)

// cdnowOpts are the calibration and holdout of every CDNOW paper.
var cdnowOpts = Options{CalibrationEnd: mustDate("1997-09-30"), Horizon: Horizon{Days: 39 * 7}}

// loadSample loads CDNOW_sample.txt keyed by its sample id (column 2).
func loadSample(t *testing.T) *Dataset {
	t.Helper()
	o := cdnowOpts
	o.Customer, o.Date, o.Amount = "2", "3", "5"
	ds, err := Load(context.Background(), shareddata.Path(t, "CDNOW_sample.txt"), o)
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

// byNumber indexes customers by their id read as an integer ("0001" = 1).
func byNumber(t *testing.T, ds *Dataset) map[int]*Customer {
	t.Helper()
	m := make(map[int]*Customer, len(ds.Customers))
	for i := range ds.Customers {
		n, err := strconv.Atoi(ds.Customers[i].ID)
		if err != nil {
			t.Fatal(err)
		}
		m[n] = &ds.Customers[i]
	}
	return m
}

// TestCDNOWSummary ensures the BTYD conventions rebuild lifetimes'
// cdnow_customers_summary_with_transactions.csv from CDNOW_sample.txt: x
// exactly, t_x and T to 2 decimals, zbar within 0.01 (PROVENANCE.md); and
// the holdout holds 1,882 repeat purchase days of 684 customers.
func TestCDNOWSummary(t *testing.T) {
	ds := loadSample(t)
	f, err := os.Open(shareddata.Path(t, "cdnow_customers_summary_with_transactions.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	got := byNumber(t, ds)
	if len(recs)-1 != 2357 || len(got) != 2357 || ds.Report.Rows != 6919 || ds.Report.PurchaseDays != 6696 {
		t.Fatalf("%d summary rows, %d customers, %d rows, %d purchase days; want 2357, 2357, 6919, 6696",
			len(recs)-1, len(got), ds.Report.Rows, ds.Report.PurchaseDays)
	}
	two := func(v float64) string { return strconv.FormatFloat(v, 'f', 2, 64) }
	bad := 0
	for _, r := range recs[1:] {
		id, _ := strconv.Atoi(r[0])
		c := got[id]
		zbar, _ := strconv.ParseFloat(r[4], 64)
		if c == nil || strconv.Itoa(int(c.X)) != r[1] || two(c.Tx) != r[2] || two(c.T) != r[3] || math.Abs(c.RepeatMeanSpend-zbar) > 0.01 {
			if bad++; bad <= 5 {
				t.Errorf("customer %s: got %+v, want x=%s t_x=%s T=%s zbar=%s", r[0], c, r[1], r[2], r[3], r[4])
			}
		}
	}
	var holdout, buyers int
	for _, c := range ds.Customers {
		holdout += c.HoldoutPurchases
		if c.HoldoutPurchases > 0 {
			buyers++
		}
	}
	if holdout != 1882 || buyers != 684 {
		t.Errorf("holdout purchase days %d by %d customers, want 1882 by 684", holdout, buyers)
	}
}

// TestCDNOWElogMatchesSample ensures the comma-separated copy of the sample
// (cdnowElog.csv, with a header whose names the defaults recognise) gives
// the same summaries as the whitespace-separated original.
func TestCDNOWElogMatchesSample(t *testing.T) {
	sample := byNumber(t, loadSample(t))
	o := cdnowOpts
	o.Customer = "sampleid"
	ds, err := Load(context.Background(), shareddata.Path(t, "cdnowElog.csv"), o)
	if err != nil {
		t.Fatal(err)
	}
	if ds.Report.Columns.Amount != "sales" || ds.Report.Columns.Quantity != "cds" || ds.Report.Delimiter != "," {
		t.Errorf("detected %+v, delimiter %q", ds.Report.Columns, ds.Report.Delimiter)
	}
	for id, c := range byNumber(t, ds) {
		s := sample[id]
		if s == nil || s.X != c.X || s.Tx != c.Tx || s.T != c.T || s.HoldoutSpend != c.HoldoutSpend {
			t.Fatalf("customer %d: elog %+v, sample %+v", id, c, s)
		}
	}
}

// TestCDNOWMaster ensures the full cohort, read with its whitespace header
// and CRLF lines by the defaults alone, has the counts of PROVENANCE.md.
func TestCDNOWMaster(t *testing.T) {
	ds, err := Load(context.Background(), shareddata.Path(t, "CDNOW_master.txt"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	r := ds.Report
	if r.Rows != 69659 || r.Transactions != 69659 || r.Customers != 23570 || r.PurchaseDays != 67591 {
		t.Errorf("rows %d transactions %d customers %d purchase days %d; want 69659, 69659, 23570, 67591",
			r.Rows, r.Transactions, r.Customers, r.PurchaseDays)
	}
	if math.Abs(r.TotalAmount-2500315.63) > 0.005 || r.TotalQuantity != 167881 {
		t.Errorf("totals $%.2f, %v CDs; want $2500315.63, 167881", r.TotalAmount, r.TotalQuantity)
	}
	if r.Delimiter != "whitespace" || !r.Header || r.Columns.Amount != "dollar_value" || r.Columns.Quantity != "number_of_cds" {
		t.Errorf("detected delimiter %q header %v columns %+v", r.Delimiter, r.Header, r.Columns)
	}
	if !r.FirstDate.Equal(mustDate("1997-01-01")) || !r.LastDate.Equal(mustDate("1998-06-30")) {
		t.Errorf("dates %v .. %v", r.FirstDate, r.LastDate)
	}
	// Without a calibration end it is the last date, so T dates each first purchase.
	lastFirst := time.Time{}
	for _, c := range ds.Customers {
		first := r.CalibrationEnd.AddDate(0, 0, -int(math.Round(c.T*7)))
		if first.After(lastFirst) {
			lastFirst = first
		}
	}
	if !lastFirst.Equal(mustDate("1997-03-25")) {
		t.Errorf("last first purchase %v, want 1997-03-25", lastFirst)
	}
}

// TestSplitOf ensures SplitOf is FNV-1a 64 modulo 100 as documented, and
// that it puts 70/15/15 percent of the CDNOW customers in Train, Validation
// and Test (within 1.5 points; one standard error is about 0.3).
func TestSplitOf(t *testing.T) {
	ds, err := Load(context.Background(), shareddata.Path(t, "CDNOW_master.txt"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	var n [3]int
	for _, c := range ds.Customers {
		s := SplitOf(c.ID)
		n[s]++
		h := fnv.New64a()
		h.Write([]byte(c.ID))
		want := Test
		if b := h.Sum64() % 100; b < 70 {
			want = Train
		} else if b < 85 {
			want = Validation
		}
		if s != want {
			t.Fatalf("SplitOf(%q) = %v, want %v", c.ID, s, want)
		}
	}
	for s, want := range []float64{0.70, 0.15, 0.15} {
		got := float64(n[s]) / float64(len(ds.Customers))
		if math.Abs(got-want) > 0.015 {
			t.Errorf("%v: %.3f of customers, want %.2f ± 0.015", Split(s), got, want)
		}
	}
}
