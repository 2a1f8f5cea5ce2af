package eval

import (
	"fmt"
	"math"
)

// Metric names one score of Metrics, by its JSON key.
type Metric string

// The metrics PermutationImportance (and anything else that picks one score)
// can select.
const (
	MetricNormalizedGini Metric = "normalized_gini"
	MetricSpearman       Metric = "spearman"
	MetricDecileMAPE     Metric = "decile_mape"
	MetricAUC            Metric = "auc"
	MetricRMSE           Metric = "rmse"
	MetricMAE            Metric = "mae"
	MetricSpendRatio     Metric = "spend_ratio"
)

// metricTable is immutable: each metric's accessor and its goodness, a
// transform under which higher is always better, so that comparisons and
// importance drops need no per-metric cases.
var metricTable = map[Metric]struct {
	get      func(Metrics) float64
	goodness func(float64) float64
}{
	MetricNormalizedGini: {func(m Metrics) float64 { return m.NormalizedGini }, higher},
	MetricSpearman:       {func(m Metrics) float64 { return m.Spearman }, higher},
	MetricDecileMAPE:     {func(m Metrics) float64 { return m.DecileMAPE }, lower},
	MetricAUC:            {func(m Metrics) float64 { return m.AUC }, higher},
	MetricRMSE:           {func(m Metrics) float64 { return m.RMSE }, lower},
	MetricMAE:            {func(m Metrics) float64 { return m.MAE }, lower},
	// A spend ratio of 2 is as wrong as one of 0.5.
	MetricSpendRatio: {func(m Metrics) float64 { return m.SpendRatio }, func(v float64) float64 { return -math.Abs(math.Log(v)) }},
}

func higher(v float64) float64 { return v }
func lower(v float64) float64  { return -v }

// ParseMetric accepts a metric's JSON key ("normalized_gini", "rmse", ...).
func ParseMetric(s string) (Metric, error) {
	if _, ok := metricTable[Metric(s)]; !ok {
		return "", fmt.Errorf("eval: parse metric: unknown metric %q, want one of normalized_gini, spearman, decile_mape, auc, rmse, mae, spend_ratio", s)
	}
	return Metric(s), nil
}

// Get returns the named score, NaN for an unknown name.
func (m Metrics) Get(k Metric) float64 {
	e, ok := metricTable[k]
	if !ok {
		return math.NaN()
	}
	return e.get(m)
}

// goodness maps a score of metric k so that higher is better: Gini, Spearman
// and AUC as they are, errors negated, a spend ratio by its log distance from
// 1. Unknown metrics and undefined scores give NaN.
func (k Metric) goodness(v float64) float64 {
	e, ok := metricTable[k]
	if !ok {
		return math.NaN()
	}
	return e.goodness(v)
}

// Better reports whether score a beats score b on metric k: higher Gini,
// Spearman and AUC, lower errors, a spend ratio nearer 1. A defined score
// beats an undefined (NaN) one; equal scores beat nothing.
func (k Metric) Better(a, b float64) bool {
	ga, gb := k.goodness(a), k.goodness(b)
	switch {
	case math.IsNaN(ga):
		return false
	case math.IsNaN(gb):
		return true
	default:
		return ga > gb
	}
}
