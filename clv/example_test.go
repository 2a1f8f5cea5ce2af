package clv_test

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/cohort-clv/cohort/clv"
)

// Load a log, cut at a calibration end with a 4-week holdout, and read the
// BTYD summary, a feature and the labels of each customer.
func Example() {
	log := `customer_id,date,amount
alice,2024-01-03,20.00
alice,2024-01-03,5.00
bob,2024-01-10,12.50
alice,2024-02-14,30.00
alice,2024-03-10,18.00
carol,2024-03-20,9.99
carol,2024-03-28,14.50
`
	horizon, err := clv.ParseHorizon("4w")
	if err != nil {
		panic(err)
	}
	ds, err := clv.LoadReader(context.Background(), "log.csv", strings.NewReader(log), clv.Options{
		CalibrationEnd: time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC),
		Horizon:        horizon,
	})
	if err != nil {
		panic(err)
	}
	total := 0
	for i, name := range ds.FeatureNames {
		if name == "spend_total" {
			total = i
		}
	}
	for _, c := range ds.Customers {
		fmt.Printf("%s x=%.0f t_x=%.2f T=%.2f spend=%.2f holdout=%.2f (%d days) %v\n",
			c.ID, c.X, c.Tx, c.T, c.Features[total], c.HoldoutSpend, c.HoldoutPurchases, clv.SplitOf(c.ID))
	}
	fmt.Printf("%d customers, %d left out (first purchase after %s)\n",
		ds.Report.Customers, ds.Report.ExcludedCustomers, ds.Report.CalibrationEnd.Format(time.DateOnly))
	// Output:
	// alice x=1 t_x=6.00 T=8.14 spend=55.00 holdout=18.00 (1 days) validation
	// bob x=0 t_x=0.00 T=7.14 spend=12.50 holdout=0.00 (0 days) test
	// 2 customers, 1 left out (first purchase after 2024-02-29)
}
