package baseline_test

import (
	"context"
	"fmt"
	"log"

	"github.com/cohort-clv/cohort/baseline"
)

// A fitted BG/NBD and Gamma-Gamma pair scores a customer: expected purchases
// and spend over the next 39 weeks, and the chance the customer is still
// active. The parameters are those Fader, Hardie & Lee (2005) estimated on
// the CDNOW sample; customer 1 of that sample bought twice more after the
// first purchase, the last time at week 30.43 of 38.86, for $22.35 on average.
func Example() {
	bg := baseline.BGNBD{R: 0.243, Alpha: 4.414, A: 0.793, B: 2.426}
	gg := baseline.GammaGamma{P: 6.25, Q: 3.74, V: 15.44}
	c := baseline.RFM{X: 2, Tx: 30.43, T: 38.86}

	fmt.Printf("P(alive)           %.3f\n", bg.PAlive(c))
	fmt.Printf("purchases, 39 wk   %.3f\n", bg.ExpectedPurchases(c, 39))
	fmt.Printf("spend per purchase $%.2f\n", gg.ExpectedSpend(c.X, 22.35))
	fmt.Printf("spend, 39 wk       $%.2f\n", baseline.ExpectedHoldoutSpend(bg, gg, c, 22.35, 39))
	clv, err := baseline.CLV(bg, gg, c, 22.35, 52, baseline.Discount{StepWeeks: 52.0 / 12, Rate: 0.01})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("1-year CLV at 1%%/month $%.2f\n", clv)
	// Output:
	// P(alive)           0.727
	// purchases, 39 wk   1.226
	// spend per purchase $24.66
	// spend, 39 wk       $30.24
	// 1-year CLV at 1%/month $36.21
}

// FitBGNBD takes one RFM summary per customer, in weeks; FitInfo says how the
// optimizer ended. (Not run: it needs a customer base, such as the one clv
// builds from a transaction log.)
func ExampleFitBGNBD() {
	var customers []baseline.RFM // from clv.Load: {X, Tx, T} per customer
	m, info, err := baseline.FitBGNBD(context.Background(), customers)
	if err != nil {
		log.Fatal(err)
	}
	if !info.Converged {
		log.Printf("BG/NBD fit did not converge: %s", info.Status)
	}
	fmt.Printf("r=%.3f alpha=%.3f a=%.3f b=%.3f LL=%.1f\n", m.R, m.Alpha, m.A, m.B, info.LogLikelihood)
}
