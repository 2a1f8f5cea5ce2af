package eval

import (
	"fmt"
	"math"
)

// Verdict answers, from a Bootstrap, the two questions a user asks of a run
// before trusting its predictions: which predictor ranks the customers
// better, and whether the model's total spend is right. The tables hold the
// evidence; the verdict saves reading seven intervals to find it.
type Verdict struct {
	// Ranking is VerdictModel or VerdictBaseline when that predictor's
	// normalized Gini is the higher one in at least DecisiveShare of the
	// resamples, VerdictUnclear otherwise, and "" without a baseline.
	Ranking string `json:"ranking,omitempty"`
	// Level is LevelHigh or LevelLow when the model's spend ratio lies
	// above or below 1 in 95% of the resamples (its 90% interval misses
	// 1), LevelOK when the interval holds 1, and "" when the ratio is
	// undefined (nobody spent anything).
	Level string `json:"level,omitempty"`
	// Text says both in sentences, for the CLI and the report.
	Text []string `json:"text"`
}

// Verdict values.
const (
	VerdictModel    = "model"
	VerdictBaseline = "baseline"
	VerdictUnclear  = "unclear"

	LevelOK   = "ok"
	LevelHigh = "high"
	LevelLow  = "low"
)

// DecisiveShare is the share of resamples one predictor must win for the
// verdict to name it: a one-sided test at the 5% level, the convention a
// reader of a 90% interval expects.
const DecisiveShare = 0.95

// wideRatio is the width of a spend ratio interval past which the verdict
// stops calling a ratio that holds 1 "right": an interval of 0.4-1.8 holds
// 1 only because it holds nearly everything.
const wideRatio = 0.3

// newVerdict reads b. The ranking rests on the normalized Gini alone: it is
// the headline ranking score of the CLV literature, and Spearman and AUC
// almost always agree with it; the tables show them for the exceptions.
func newVerdict(b *Bootstrap) Verdict {
	var v Verdict
	if b.Baseline != nil {
		share := float64(b.ModelBetter[MetricNormalizedGini])
		switch {
		case math.IsNaN(share):
		case share >= DecisiveShare:
			v.Ranking = VerdictModel
			v.Text = append(v.Text, fmt.Sprintf(
				"The deep model ranks customers better than the baseline: its normalized Gini is the higher one in %s of resampled test sets.",
				percent(share)))
		case share <= 1-DecisiveShare:
			v.Ranking = VerdictBaseline
			v.Text = append(v.Text, fmt.Sprintf(
				"The baseline ranks these customers better: the deep model's normalized Gini is the higher one in only %s of resampled test sets. "+
					"Prefer the baseline's predictions (the baseline_* columns of cohort predict), or train on more customers or a longer history.",
				percent(share)))
		default:
			v.Ranking = VerdictUnclear
			v.Text = append(v.Text, fmt.Sprintf(
				"Neither ranks customers clearly better: the deep model's normalized Gini is the higher one in %s of resampled test sets "+
					"(a clear win needs %s either way); the test set is too small to tell them apart.",
				percent(share), percent(DecisiveShare)))
		}
	}
	r := b.Model[MetricSpendRatio]
	lo, hi := float64(r.P5), float64(r.P95)
	switch {
	case math.IsNaN(lo) || math.IsNaN(hi):
	case lo > 1:
		v.Level = LevelHigh
		v.Text = append(v.Text, fmt.Sprintf(
			"The deep model over-predicts these customers' total spend: predicted / actual is %.2f-%.2f in 90%% of resampled test sets.", lo, hi))
	case hi < 1:
		v.Level = LevelLow
		v.Text = append(v.Text, fmt.Sprintf(
			"The deep model under-predicts these customers' total spend: predicted / actual is %.2f-%.2f in 90%% of resampled test sets.", lo, hi))
	case hi-lo > wideRatio:
		v.Level = LevelOK
		v.Text = append(v.Text, fmt.Sprintf(
			"The test set is too small to check the deep model's total spend: predicted / actual is anywhere from %.2f to %.2f in 90%% of resampled test sets.", lo, hi))
	default:
		v.Level = LevelOK
		v.Text = append(v.Text, fmt.Sprintf(
			"The deep model's total spend matches the actual within the test set's noise: predicted / actual is %.2f-%.2f in 90%% of resampled test sets.", lo, hi))
	}
	return v
}

// percent formats a share as a whole percentage, never rounding a share
// short of all or none up to 100% or down to 0%, so the text cannot claim
// a unanimity the draws do not have.
func percent(share float64) string {
	p := math.Round(100 * share)
	switch {
	case p == 100 && share < 1:
		p = 99
	case p == 0 && share > 0:
		p = 1
	}
	return fmt.Sprintf("%.0f%%", p)
}
