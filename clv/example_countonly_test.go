package clv_test

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/cohort-clv/cohort/clv"
)

// Read a log without a spend column: every purchase day is worth 1, so
// alice's two line items on 2024-01-03 count once and the labels are
// purchase days.
func ExampleOptions_CountOnly() {
	log := `cust,date
alice,2024-01-03
alice,2024-01-03
bob,2024-01-10
alice,2024-02-14
alice,2024-03-10
alice,2024-03-27
`
	ds, err := clv.LoadReader(context.Background(), "grocery.csv", strings.NewReader(log), clv.Options{
		Amount:         clv.AmountNone,
		CalibrationEnd: time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC),
		Horizon:        clv.Horizon{Days: 28},
	})
	if err != nil {
		panic(err)
	}
	for _, c := range ds.Customers {
		fmt.Printf("%s x=%.0f repeat mean=%.0f holdout=%.0f (%d days)\n", c.ID, c.X, c.RepeatMeanSpend, c.HoldoutSpend, c.HoldoutPurchases)
	}
	fmt.Printf("amount column %q, %d rows, %.0f purchase days\n", ds.Report.Columns.Amount, ds.Report.Rows, ds.Report.TotalAmount)
	// Output:
	// alice x=1 repeat mean=1 holdout=2 (2 days)
	// bob x=0 repeat mean=0 holdout=0 (0 days)
	// amount column "none", 6 rows, 5 purchase days
}
