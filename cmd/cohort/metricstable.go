package main

import (
	"fmt"
	"io"
	"math"
	"text/tabwriter"

	"github.com/cohort-clv/cohort/eval"
)

// printMetrics prints the deep model's and the baseline's holdout metrics
// side by side, marking the better of each with '*'.
func printMetrics(w io.Writer, m, b eval.Metrics) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "metric\tdeep model\tBG/NBD+GG\t")
	for _, k := range []eval.Metric{eval.MetricNormalizedGini, eval.MetricSpearman, eval.MetricAUC,
		eval.MetricDecileMAPE, eval.MetricRMSE, eval.MetricMAE, eval.MetricSpendRatio} {
		mv, bv := m.Get(k), b.Get(k)
		ms, bs := fmtMetric(mv), fmtMetric(bv)
		switch {
		case k.Better(mv, bv):
			ms += "*"
		case k.Better(bv, mv):
			bs += "*"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t\n", k, ms, bs)
	}
	tw.Flush()
}

func fmtMetric(v float64) string {
	if math.IsNaN(v) {
		return "n/a"
	}
	return fmt.Sprintf("%.4f", v)
}

// printNoise says how much of the model's scores sampling noise could
// explain, so a user can tell a weak model from a small test set.
func printNoise(w io.Writer, n *eval.Noise) {
	if n == nil {
		return
	}
	fmt.Fprintf(w, "sampling noise (if the deep model were exactly right): decile_mape %.3f [%.3f-%.3f], normalized_gini %.3f [%.3f-%.3f] (median [10th-90th percentile] of %d simulated holdouts)\n",
		n.DecileMAPE.Median, n.DecileMAPE.P10, n.DecileMAPE.P90,
		n.NormalizedGini.Median, n.NormalizedGini.P10, n.NormalizedGini.P90, n.Draws)
}
