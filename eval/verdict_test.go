package eval

import (
	"context"
	"math"
	"strings"
	"testing"
)

func TestVerdict(t *testing.T) {
	ratio := func(lo, hi float64) map[Metric]Band {
		return map[Metric]Band{MetricSpendRatio: {Median: Float((lo + hi) / 2), P5: Float(lo), P95: Float(hi)}}
	}
	gini := func(share float64) map[Metric]Float {
		return map[Metric]Float{MetricNormalizedGini: Float(share), MetricSpearman: Float(share)}
	}
	split := func(gini, rho float64) map[Metric]Float {
		return map[Metric]Float{MetricNormalizedGini: Float(gini), MetricSpearman: Float(rho)}
	}
	tests := []struct {
		name          string
		b             Bootstrap
		ranking       string
		level         string
		wantTextParts []string
	}{
		{"model wins, total right", Bootstrap{Model: ratio(0.95, 1.05), Baseline: ratio(0.8, 0.9), ModelBetter: gini(1)},
			VerdictModel, LevelOK, []string{"deep model ranks the customers who spend most better", "in 100% of", "0.95-1.05", "within the test set's noise"}},
		{"model wins at the threshold", Bootstrap{Model: ratio(1.04, 1.17), Baseline: ratio(0.8, 0.9), ModelBetter: gini(0.95)},
			VerdictModel, LevelHigh, []string{"in 95% of", "over-predicts", "1.04-1.17"}},
		{"baseline wins", Bootstrap{Model: ratio(0.4, 1.8), Baseline: ratio(0.6, 1.9), ModelBetter: gini(0.02)},
			VerdictBaseline, LevelOK, []string{"baseline ranks the customers who spend most better", "only 2% of", "baseline_*", "too small to check", "0.40 to 1.80"}},
		{"baseline wins at the threshold", Bootstrap{Model: ratio(0.5, 0.9), Baseline: ratio(0.6, 1.9), ModelBetter: gini(0.05)},
			VerdictBaseline, LevelLow, []string{"only 5% of", "under-predicts", "0.50-0.90"}},
		{"unclear", Bootstrap{Model: ratio(0.9, 1.1), Baseline: ratio(0.9, 1.1), ModelBetter: gini(0.6)},
			VerdictUnclear, LevelOK, []string{"Neither ranks the customers who spend most clearly better", "in 60% of", "needs 95%"}},
		{"nearly unanimous is not rounded to all", Bootstrap{Model: ratio(0.9, 1.1), Baseline: ratio(0.9, 1.1), ModelBetter: gini(0.998)},
			VerdictModel, LevelOK, []string{"in 99% of"}},
		{"nearly none is not rounded to none", Bootstrap{Model: ratio(0.9, 1.1), Baseline: ratio(0.9, 1.1), ModelBetter: gini(0.004)},
			VerdictBaseline, LevelOK, []string{"only 1% of"}},
		{"model finds big spenders, baseline orders the rest", Bootstrap{Model: ratio(0.95, 1.09), Baseline: ratio(1, 1.2), ModelBetter: split(0.995, 0.06)},
			VerdictModel, LevelOK, []string{"in 99% of", "neither is clearly better: the deep model's Spearman is the higher one in 6% of"}},
		{"model finds big spenders, baseline clearly orders the rest", Bootstrap{Model: ratio(0.95, 1.09), Baseline: ratio(1, 1.2), ModelBetter: split(1, 0.03)},
			VerdictModel, LevelOK, []string{"in 100% of", "the baseline does better: its Spearman is the higher one in 97% of"}},
		{"baseline finds big spenders, model orders the rest", Bootstrap{Model: ratio(0.95, 1.05), Baseline: ratio(1, 1.2), ModelBetter: split(0.01, 0.97)},
			VerdictBaseline, LevelOK, []string{"only 1% of", "the deep model does better: its Spearman is the higher one in 97% of"}},
		{"no baseline", Bootstrap{Model: ratio(0.9, 1.1)}, "", LevelOK, []string{"within the test set's noise"}},
		{"undefined ratio", Bootstrap{Model: ratio(math.NaN(), math.NaN()), Baseline: ratio(1, 1), ModelBetter: gini(1)},
			VerdictModel, "", []string{"ranks the customers who spend most better"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := newVerdict(&tc.b, Spend)
			if v.Ranking != tc.ranking || v.Level != tc.level {
				t.Errorf("ranking %q level %q, want %q %q", v.Ranking, v.Level, tc.ranking, tc.level)
			}
			text := strings.Join(v.Text, " ")
			for _, part := range tc.wantTextParts {
				if !strings.Contains(text, part) {
					t.Errorf("text %q lacks %q", text, part)
				}
			}
			want := 0
			for _, s := range []string{tc.ranking, tc.level} {
				if s != "" {
					want++
				}
			}
			if tc.ranking != "" && v.Order != tc.ranking {
				want++ // a different reading of Spearman is spelled out
			}
			if len(v.Text) != want {
				t.Errorf("%d sentences, want %d: %q", len(v.Text), want, v.Text)
			}
		})
	}
}

// TestPairedBootstrapVerdict checks PairedBootstrap fills the verdict from
// its own draws: a model that ranks perfectly beats a constant baseline.
func TestPairedBootstrapVerdict(t *testing.T) {
	actual := make([]float64, 200)
	model := make([]float64, 200)
	baseline := make([]float64, 200)
	for i := range actual {
		actual[i] = float64(i % 17)
		model[i] = actual[i] + 0.5
		baseline[i] = 8.5
	}
	b, err := PairedBootstrap(context.Background(), actual, model, baseline, 50, 1)
	if err != nil {
		t.Fatal(err)
	}
	if b.Verdict.Ranking != VerdictModel {
		t.Errorf("ranking %q, want %q (model better share %v)", b.Verdict.Ranking, VerdictModel, b.ModelBetter[MetricNormalizedGini])
	}
	if b.Verdict.Level != LevelHigh {
		t.Errorf("level %q, want %q for a model that adds 0.5 to every customer", b.Verdict.Level, LevelHigh)
	}
}

func TestFormatShare(t *testing.T) {
	for _, tc := range []struct {
		share float64
		want  string
	}{{1, "100%"}, {0.999, "99%"}, {0.975, "98%"}, {0.5, "50%"}, {0.004, "1%"}, {0, "0%"}, {math.NaN(), "n/a"}} {
		if got := FormatShare(tc.share); got != tc.want {
			t.Errorf("FormatShare(%v) = %q, want %q", tc.share, got, tc.want)
		}
	}
}

// TestVerdictPurchaseDays ensures a count-only run's verdict speaks of
// purchase days, not spend.
func TestVerdictPurchaseDays(t *testing.T) {
	b := Bootstrap{Model: map[Metric]Band{MetricSpendRatio: {Median: 1.1, P5: 1.02, P95: 1.2}},
		Baseline: map[Metric]Band{}, ModelBetter: map[Metric]Float{MetricNormalizedGini: 0.5, MetricSpearman: 0.5}}
	text := strings.Join(NewVerdict(&b, PurchaseDays).Text, " ")
	for _, want := range []string{"customers who buy most often", "total purchase days: predicted / actual is 1.02-1.20"} {
		if !strings.Contains(text, want) {
			t.Errorf("%q lacks %q", text, want)
		}
	}
	if strings.Contains(text, "spend") {
		t.Errorf("%q speaks of spend", text)
	}
}
