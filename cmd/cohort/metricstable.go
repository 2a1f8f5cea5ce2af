package main

import (
	"fmt"
	"io"
	"math"
	"strings"
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

// printMetricsLegend explains the stars of printMetrics, and for a
// count-only run (q PurchaseDays) what the error metrics count.
func printMetricsLegend(w io.Writer, q eval.Quantity) {
	fmt.Fprintln(w, "*: the better of the two; for spend_ratio, the one nearer 1 on a log scale (2 is as far from 1 as 0.5)")
	if q == eval.PurchaseDays {
		fmt.Fprintln(w, "count-only log: rmse, mae and spend_ratio measure purchase days, not money")
	}
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
	fmt.Fprintf(w, "\nsampling noise: if the deep model were exactly right, %d holdouts drawn from it would score\n", n.Draws)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "metric\tmedian\t90% of draws\t")
	for _, b := range []struct {
		name string
		band eval.Band
	}{{"normalized_gini", n.NormalizedGini}, {"decile_mape", n.DecileMAPE}, {"spend_ratio", n.SpendRatio}} {
		fmt.Fprintf(tw, "%s\t%.4f\t%.4f-%.4f\t\n", b.name, b.band.Median, b.band.P5, b.band.P95)
	}
	tw.Flush()
}

// printBootstrap shows how far each test metric, and the model's lead over
// the baseline, would move on another test set of the same size, so a user
// can tell a real win from a lucky split.
func printBootstrap(w io.Writer, b *eval.Bootstrap, customers int) {
	printBootstrapOf(w, b, customers, "test customers")
}

// printBootstrapOf is printBootstrap for customers described by who ("test
// customers", or "customers" when every customer was scored).
func printBootstrapOf(w io.Writer, b *eval.Bootstrap, customers int, who string) {
	if b == nil {
		return
	}
	fmt.Fprintf(w, "\non %d resamples of the %d %s (paired bootstrap), 90%% of them score\n", b.Draws, customers, who)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	if b.Baseline == nil {
		fmt.Fprintln(tw, "metric\tdeep model\t")
	} else {
		fmt.Fprintln(tw, "metric\tdeep model\tBG/NBD+GG\tmodel - baseline\tmodel better in\t")
	}
	for _, k := range []eval.Metric{eval.MetricNormalizedGini, eval.MetricSpearman, eval.MetricAUC,
		eval.MetricDecileMAPE, eval.MetricRMSE, eval.MetricMAE, eval.MetricSpendRatio} {
		m, ok := b.Model[k]
		if !ok {
			continue
		}
		if b.Baseline == nil {
			fmt.Fprintf(tw, "%s\t%s\t\n", k, fmtBand(m))
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t\n", k, fmtBand(m), fmtBand(b.Baseline[k]), fmtBand(b.Difference[k]), eval.FormatShare(float64(b.ModelBetter[k])))
	}
	tw.Flush()
	if len(b.Verdict.Text) > 0 {
		fmt.Fprintln(w)
		for _, line := range b.Verdict.Text {
			fmt.Fprintln(w, wrap("verdict: ", line, 100))
		}
	}
}

// wrap prefixes text with lead and breaks it at spaces into lines of at
// most width characters, indenting the continuations under the text.
func wrap(lead, text string, width int) string {
	indent := strings.Repeat(" ", len(lead))
	var lines []string
	line, empty := lead, true
	for _, word := range strings.Fields(text) {
		if !empty && len(line)+1+len(word) > width {
			lines = append(lines, line)
			line, empty = indent, true
		}
		if !empty {
			line += " "
		}
		line += word
		empty = false
	}
	return strings.Join(append(lines, line), "\n")
}

// fmtBand is a band's 90% interval, "lo..hi".
func fmtBand(b eval.Band) string {
	return fmtMetric(float64(b.P5)) + ".." + fmtMetric(float64(b.P95))
}
