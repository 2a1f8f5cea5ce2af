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
	// Order is the same reading of Spearman's rank correlation, which
	// weighs every customer alike where the Gini weighs them by spend; the
	// text names it only when it decisively contradicts Ranking.
	Order string `json:"order,omitempty"`
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

// Quantity names what a run predicts, for the verdict's sentences.
type Quantity string

// The quantities a run predicts: spend, or purchase days for a count-only
// log.
const (
	Spend        Quantity = "spend"
	PurchaseDays Quantity = "purchase days"
)

// most says which customers the Gini rewards ranking first.
func (q Quantity) most() string {
	if q == PurchaseDays {
		return "who buy most often"
	}
	return "who spend most"
}

// total names the sum the spend ratio compares.
func (q Quantity) total() string { return "total " + string(q) }

// NewVerdict reads b for a run that predicts q; PairedBootstrap fills
// Bootstrap.Verdict with NewVerdict(b, Spend).
func NewVerdict(b *Bootstrap, q Quantity) Verdict { return newVerdict(b, q) }

// newVerdict reads b. The ranking rests on the normalized Gini, the
// headline ranking score of the CLV literature: how much of the spend the
// top of the ranking holds. Spearman's verdict is added where it says the
// opposite, since then the two predictors are good at different things.
func newVerdict(b *Bootstrap, q Quantity) Verdict {
	var v Verdict
	if b.Baseline != nil {
		share := float64(b.ModelBetter[MetricNormalizedGini])
		v.Order = winner(float64(b.ModelBetter[MetricSpearman]))
		v.Ranking = winner(share)
		switch v.Ranking {
		case VerdictModel:
			v.Text = append(v.Text, fmt.Sprintf(
				"The deep model ranks the customers %s better than the baseline: its normalized Gini is the higher one in %s of resampled test sets.",
				q.most(), FormatShare(share)))
		case VerdictBaseline:
			v.Text = append(v.Text, fmt.Sprintf(
				"The baseline ranks the customers %s better: the deep model's normalized Gini is the higher one in only %s of resampled test sets. "+
					"Prefer the baseline's predictions (the baseline_* columns of cohort predict), or train on more customers or a longer history.",
				q.most(), FormatShare(share)))
		case VerdictUnclear:
			v.Text = append(v.Text, fmt.Sprintf(
				"Neither ranks the customers %s clearly better: the deep model's normalized Gini is the higher one in %s of resampled test sets "+
					"(a clear win needs %s either way); the test set is too small to tell them apart.",
				q.most(), FormatShare(share), FormatShare(DecisiveShare)))
		}
		// Spearman weighs every customer alike, most of them spending
		// nothing, where the Gini weighs them by spend: say so when it
		// reads otherwise.
		if rho := float64(b.ModelBetter[MetricSpearman]); v.Ranking != "" && v.Order != "" && v.Order != v.Ranking {
			switch v.Order {
			case VerdictBaseline:
				v.Text = append(v.Text, fmt.Sprintf(
					"Ordered over all customers, by rank correlation, the baseline does better: its Spearman is the higher one in %s of resampled test sets.",
					FormatShare(1-rho)))
			case VerdictModel:
				v.Text = append(v.Text, fmt.Sprintf(
					"Ordered over all customers, by rank correlation, the deep model does better: its Spearman is the higher one in %s of resampled test sets.",
					FormatShare(rho)))
			default:
				v.Text = append(v.Text, fmt.Sprintf(
					"Ordered over all customers, by rank correlation, neither is clearly better: the deep model's Spearman is the higher one in %s of resampled test sets.",
					FormatShare(rho)))
			}
		}
	}
	r := b.Model[MetricSpendRatio]
	lo, hi := float64(r.P5), float64(r.P95)
	switch {
	case math.IsNaN(lo) || math.IsNaN(hi):
	case lo > 1:
		v.Level = LevelHigh
		v.Text = append(v.Text, fmt.Sprintf(
			"The deep model over-predicts these customers' %s: predicted / actual is %.2f-%.2f in 90%% of resampled test sets.", q.total(), lo, hi))
	case hi < 1:
		v.Level = LevelLow
		v.Text = append(v.Text, fmt.Sprintf(
			"The deep model under-predicts these customers' %s: predicted / actual is %.2f-%.2f in 90%% of resampled test sets.", q.total(), lo, hi))
	case hi-lo > wideRatio:
		v.Level = LevelOK
		v.Text = append(v.Text, fmt.Sprintf(
			"The test set is too small to check the deep model's %s: predicted / actual is anywhere from %.2f to %.2f in 90%% of resampled test sets.", q.total(), lo, hi))
	default:
		v.Level = LevelOK
		v.Text = append(v.Text, fmt.Sprintf(
			"The deep model's %s matches the actual within the test set's noise: predicted / actual is %.2f-%.2f in 90%% of resampled test sets.", q.total(), lo, hi))
	}
	return v
}

// winner names the predictor that wins at least DecisiveShare of the
// resamples, given the model's share; VerdictUnclear otherwise, "" for NaN.
func winner(share float64) string {
	switch {
	case math.IsNaN(share):
		return ""
	case share >= DecisiveShare:
		return VerdictModel
	case share <= 1-DecisiveShare:
		return VerdictBaseline
	}
	return VerdictUnclear
}

// FormatShare formats a share as a whole percentage, never rounding a share
// short of all or none up to 100% or down to 0%, so a table or a sentence
// cannot claim a unanimity the draws do not have.
func FormatShare(share float64) string {
	if math.IsNaN(share) {
		return "n/a"
	}
	p := math.Round(100 * share)
	switch {
	case p == 100 && share < 1:
		p = 99
	case p == 0 && share > 0:
		p = 1
	}
	return fmt.Sprintf("%.0f%%", p)
}
