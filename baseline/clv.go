package baseline

import (
	"fmt"
	"math"
)

// Forecaster is a purchase-count model: BGNBD, MBGNBD and ParetoNBD.
type Forecaster interface {
	// ExpectedPurchases is the expected number of purchases in the next
	// horizon weeks of a customer with calibration summary c.
	ExpectedPurchases(c RFM, horizon float64) float64
	// PAlive is the probability that the customer is still active at T.
	PAlive(c RFM) float64
	// UnconditionalPurchases is E[X(t)] for a newly acquired customer.
	UnconditionalPurchases(t float64) float64
}

var (
	_ Forecaster = BGNBD{}
	_ Forecaster = MBGNBD{}
	_ Forecaster = ParetoNBD{}
)

// ExpectedHoldoutSpend returns a customer's expected spend over the next
// horizon weeks: expected purchases times Gamma-Gamma expected spend per
// purchase, with mbar the mean value of the customer's repeat purchases
// (ignored when c.X is 0). This is the classic baseline for the deep model's
// holdout-spend label.
func ExpectedHoldoutSpend(m Forecaster, g GammaGamma, c RFM, mbar, horizon float64) float64 {
	return m.ExpectedPurchases(c, horizon) * g.ExpectedSpend(c.X, mbar)
}

// Discount sets how CLV discounts future spend: the horizon is cut into
// periods of StepWeeks, and the spend expected in period k (1-based) is
// divided by (1+Rate)^k, as lifetimes' customer_lifetime_value does. The
// zero Discount means no discounting.
type Discount struct {
	// StepWeeks is the length of a period, e.g. 52.0/12 for months.
	StepWeeks float64
	// Rate is the discount rate per period, e.g. 0.01 a month.
	Rate float64
}

// CLV returns the customer's expected spend over the next horizon weeks,
// discounted per d. With a zero Discount it equals ExpectedHoldoutSpend.
func CLV(m Forecaster, g GammaGamma, c RFM, mbar, horizon float64, d Discount) (float64, error) {
	if math.IsNaN(horizon) || horizon < 0 || math.IsInf(horizon, 0) {
		return math.NaN(), fmt.Errorf("baseline: clv: horizon %v weeks, want finite and >= 0", horizon)
	}
	if d.Rate == 0 {
		return ExpectedHoldoutSpend(m, g, c, mbar, horizon), nil
	}
	if !(d.StepWeeks > 0) || math.IsInf(d.StepWeeks, 0) || !(d.Rate > -1) || math.IsInf(d.Rate, 0) {
		return math.NaN(), fmt.Errorf("baseline: clv: discount %+v, want StepWeeks > 0 and Rate > -1", d)
	}
	steps := int(math.Ceil(horizon / d.StepWeeks))
	if steps > 1_000_000 {
		return math.NaN(), fmt.Errorf("baseline: clv: %d discount periods, want at most 1e6", steps)
	}
	spend := g.ExpectedSpend(c.X, mbar)
	total, prev := 0.0, 0.0
	for k := 1; k <= steps; k++ {
		cum := m.ExpectedPurchases(c, math.Min(float64(k)*d.StepWeeks, horizon))
		total += (cum - prev) * spend / math.Pow(1+d.Rate, float64(k))
		prev = cum
	}
	return total, nil
}
