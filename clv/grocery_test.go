package clv

import (
	"context"
	"encoding/csv"
	"os"
	"testing"

	"github.com/cohort-clv/cohort/internal/shareddata"
)

// TestGroceryCountOnly ensures BTYDplus's groceryElog (cust,date: no spend
// column) reads with Amount "none", calibration through 2006-12-31 and a
// 52-week holdout, into labels that are each customer's holdout purchase
// days, counted here independently from the file: 3,389 days of 517 of the
// 1,525 customers (PROVENANCE.md).
func TestGroceryCountOnly(t *testing.T) {
	path := shareddata.Path(t, "groceryElog.csv")
	o := Options{Amount: AmountNone, CalibrationEnd: mustDate("2006-12-31"), Horizon: Horizon{Days: 52 * 7}}
	ds, err := Load(context.Background(), path, o)
	if err != nil {
		t.Fatal(err)
	}

	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	type day struct{ cust, date string }
	seen := map[day]bool{}
	calDays, holdDays := map[string]int{}, map[string]int{}
	for _, r := range recs[1:] { // header cust,date; ISO dates compare as strings
		if seen[day{r[0], r[1]}] {
			continue
		}
		seen[day{r[0], r[1]}] = true
		switch {
		case r[1] <= "2006-12-31":
			calDays[r[0]]++
		case r[1] <= "2007-12-30":
			holdDays[r[0]]++
		}
	}

	r := ds.Report
	if r.Rows != 10483 || r.Customers != 1525 || r.ExcludedCustomers != 0 || r.Columns.Amount != AmountNone ||
		r.TotalAmount != float64(r.PurchaseDays) {
		t.Errorf("report %+v: want 10,483 rows, 1,525 customers, amount none, total amount = purchase days", r)
	}
	total, buyers := 0, 0
	for i := range ds.Customers {
		c := &ds.Customers[i]
		if c.HoldoutPurchases != holdDays[c.ID] || c.HoldoutSpend != float64(holdDays[c.ID]) {
			t.Errorf("customer %s: holdout %d days, spend %v; the file has %d days", c.ID, c.HoldoutPurchases, c.HoldoutSpend, holdDays[c.ID])
		}
		if c.X != float64(calDays[c.ID]-1) || feature(t, ds, c, "spend_total") != float64(calDays[c.ID]) {
			t.Errorf("customer %s: x %v, spend_total %v; the file has %d calibration days", c.ID, c.X, feature(t, ds, c, "spend_total"), calDays[c.ID])
		}
		if c.X > 0 && c.RepeatMeanSpend != 1 {
			t.Errorf("customer %s: repeat mean spend %v, want 1", c.ID, c.RepeatMeanSpend)
		}
		total += c.HoldoutPurchases
		if c.HoldoutPurchases > 0 {
			buyers++
		}
	}
	if total != 3389 || buyers != 517 {
		t.Errorf("holdout: %d purchase days of %d customers, want 3,389 of 517", total, buyers)
	}
}
