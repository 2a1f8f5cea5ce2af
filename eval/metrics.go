// Package eval scores predictions of holdout spend against what customers
// actually spent, for any predictor: the deep ZILN model and the
// BG/NBD + Gamma-Gamma baseline are judged by the same code.
//
// The ranking metrics follow google/lifetime_value's metrics.py, the
// reference implementation of Wang, Liu & Miao (2019): the normalized Gini
// of the gain chart (cumulative share of actual spend with customers sorted
// by prediction, normalized by the perfect ranking's Gini) and the decile
// MAPE (deciles of the prediction as pandas.qcut cuts them, mean predicted
// against mean actual spend per decile). Spearman correlation, the AUC of
// "spends anything in the holdout", RMSE, MAE and the ratio of total
// predicted to total actual spend complete the picture.
//
// A metric that the data cannot define (a Gini when nobody spent anything,
// an AUC without both spenders and non-spenders, a correlation of a constant)
// is NaN in Metrics and null in its JSON encoding, because JSON has no NaN.
//
// PermutationImportance measures how much a model's metric drops when one
// feature column is shuffled. The HTML report lives in eval/report.
package eval

import (
	"fmt"
	"math"
)

// Metrics are the scores of one predictor on one set of customers. Fields that
// the data leave undefined are NaN (see the package doc).
type Metrics struct {
	// Customers is the number of customers scored.
	Customers int `json:"customers"`
	// Spenders is the number of customers whose actual spend is > 0.
	Spenders int `json:"spenders"`
	// NormalizedGini is Gini / the perfect ranking's Gini: 1 for a perfect
	// ranking, about 0 for a random one, negative when reversed.
	NormalizedGini float64 `json:"normalized_gini"`
	// Gini is the raw Gini of the gain chart, 2*mean(gain) - 1.
	Gini float64 `json:"gini"`
	// Spearman is the rank correlation of prediction and actual spend.
	Spearman float64 `json:"spearman"`
	// DecileMAPE is the mean over prediction deciles of
	// |mean predicted - mean actual| / |mean actual|.
	DecileMAPE float64 `json:"decile_mape"`
	// DecileBuckets is how many deciles DecileMAPE averages: fewer than 10
	// when tied predictions merge deciles or a decile's actual mean is 0.
	DecileBuckets int `json:"decile_buckets"`
	// AUC is the ROC AUC of "actual > 0" scored by the predicted spend.
	AUC float64 `json:"auc"`
	// AUCReturn is the same AUC scored by a separate probability of
	// returning (WithReturnScore); NaN when none was given.
	AUCReturn float64 `json:"auc_p_return"`
	// RMSE and MAE are the root mean squared and mean absolute errors.
	RMSE float64 `json:"rmse"`
	MAE  float64 `json:"mae"`
	// SpendRatio is TotalPredicted / TotalActual (1 = unbiased in total).
	SpendRatio     float64 `json:"spend_ratio"`
	TotalPredicted float64 `json:"total_predicted"`
	TotalActual    float64 `json:"total_actual"`
	MeanPredicted  float64 `json:"mean_predicted"`
	MeanActual     float64 `json:"mean_actual"`
}

// Option adjusts Compute.
type Option func(*options)

type options struct {
	pReturn []float64
}

// WithReturnScore adds AUCReturn: the AUC of "actual > 0" scored by p, one
// probability of returning per customer (the ZILN head's p, or the
// baseline's probability of a purchase within the horizon).
func WithReturnScore(p []float64) Option {
	return func(o *options) { o.pReturn = p }
}

// Compute scores pred against actual, both one value per customer in the
// same order. It fails when the lengths differ, when there are no customers
// or when any value is NaN or infinite; metrics that the data leave undefined
// are NaN rather than errors.
func Compute(pred, actual []float64, opts ...Option) (Metrics, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	if err := validate(pred, actual); err != nil {
		return Metrics{}, fmt.Errorf("eval: compute: %w", err)
	}
	if o.pReturn != nil {
		if err := validate(o.pReturn, actual); err != nil {
			return Metrics{}, fmt.Errorf("eval: compute: return score: %w", err)
		}
	}

	return compute(pred, newActualSide(actual), o.pReturn), nil
}

// compute is Compute on validated inputs, with the actual values' side
// already sorted. Each vector is sorted once: the prediction's order gives
// the gain curve, the average ranks and the decile cuts.
func compute(pred []float64, a *actualSide, pReturn []float64) Metrics {
	actual := a.v
	n := len(actual)
	m := Metrics{Customers: n, AUCReturn: math.NaN()}
	var sse, sae float64
	for i, y := range actual {
		d := pred[i] - y
		sse += d * d
		sae += math.Abs(d)
		m.TotalPredicted += pred[i]
	}
	m.TotalActual, m.Spenders = a.total, a.spenders
	m.RMSE = math.Sqrt(sse / float64(n))
	m.MAE = sae / float64(n)
	m.MeanPredicted = m.TotalPredicted / float64(n)
	m.MeanActual = m.TotalActual / float64(n)
	m.SpendRatio = ratio(m.TotalPredicted, m.TotalActual)

	order := descendingOrder(pred)
	m.Gini, m.NormalizedGini = math.NaN(), math.NaN()
	if a.total != 0 {
		m.Gini = orderedGini(pred, actual, order, a.total)
		m.NormalizedGini = ratio(m.Gini, a.perfect)
	}
	predRanks := ranksFromOrder(pred, order)
	m.Spearman = spearman(predRanks, a.ranks)
	m.DecileMAPE, m.DecileBuckets = decileMAPE(newDecileCuts(pred, order).stats(pred, actual))
	m.AUC = aucOf(predRanks, actual)
	if pReturn != nil {
		m.AUCReturn = aucOf(averageRanks(pReturn), actual)
	}
	return m
}

// validate checks the inputs every exported function shares: equal, nonzero
// lengths and finite values, naming the first offending customer index.
func validate(pred, actual []float64) error {
	if len(pred) != len(actual) {
		return fmt.Errorf("%d predictions for %d actual values", len(pred), len(actual))
	}
	if len(actual) == 0 {
		return fmt.Errorf("no customers")
	}
	for i := range actual {
		if !finite(pred[i]) {
			return fmt.Errorf("prediction %d is %v, want a finite number", i, pred[i])
		}
		if !finite(actual[i]) {
			return fmt.Errorf("actual value %d is %v, want a finite number", i, actual[i])
		}
	}
	return nil
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// ratio is num/den, NaN instead of ±Inf when den is 0.
func ratio(num, den float64) float64 {
	if den == 0 {
		return math.NaN()
	}
	return num / den
}
