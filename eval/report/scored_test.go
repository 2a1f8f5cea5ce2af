package report

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/cohort-clv/cohort/eval"
)

// metricsDocOf renders r's metrics.json and decodes it.
func metricsDocOf(t *testing.T, r *Report) map[string]any {
	t.Helper()
	b, err := r.MetricsJSON()
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	return doc
}

// TestReportScoredAllIsNotATestSet ensures a report of every customer
// (eval --split all) says so, and how many of them the model trained on or
// chose its epoch with, instead of calling them test customers that
// training never used; metrics.json keeps test_customers as the number
// scored and adds run.scored and run.in_sample_customers.
func TestReportScoredAllIsNotATestSet(t *testing.T) {
	d := sampleData(t, 200)
	d.Summary.Scored = ScoredAll
	d.Summary.Train, d.Summary.Validation, d.Summary.Test = 140, 31, 29
	r, doc := render(t, d, true)
	p := parseHTML(t, doc)
	for _, bad := range []string{"were not used for training", "test customers who spent", "of the 200 test customers", "these 200 test customers"} {
		if strings.Contains(strings.ToLower(p.text), strings.ToLower(bad)) {
			t.Errorf("page of every customer says %q", bad)
		}
	}
	for _, want := range []string{
		"all 200 customers were scored",
		"140 of them trained the model and 31 chose its epoch (in-sample",
		"29 are test customers",
		"Scored customers who spent",
		"resamples of the 200 scored customers",
	} {
		if !strings.Contains(p.text, want) {
			t.Errorf("page lacks %q", want)
		}
	}

	m := metricsDocOf(t, r)
	run := m["run"].(map[string]any)
	if m["test_customers"] != 200.0 || run["scored"] != "all" || run["in_sample_customers"] != 171.0 {
		t.Errorf("test_customers %v, run.scored %v, run.in_sample_customers %v; want 200, all, 171",
			m["test_customers"], run["scored"], run["in_sample_customers"])
	}
	if rule, _ := run["split_rule"].(string); !strings.HasPrefix(rule, "none: all customers scored") || run["train"] != 140.0 || run["test"] != 29.0 {
		t.Errorf("run.split_rule %q, train %v, test %v; want no held-out claim, 140, 29", rule, run["train"], run["test"])
	}

	t.Run("test split", func(t *testing.T) {
		d := sampleData(t, 200)
		r, doc := render(t, d, true)
		if p := parseHTML(t, doc); !strings.Contains(p.text, "The 200 test customers were not used for training or early stopping") {
			t.Error("page of the test split lost its held-out sentence")
		}
		run := metricsDocOf(t, r)["run"].(map[string]any)
		if _, ok := run["in_sample_customers"]; run["scored"] != "test" || ok || run["split_rule"] != DefaultSplitRule {
			t.Errorf("run.scored %v, in_sample_customers present %v, split_rule %v; want test, absent, the default", run["scored"], ok, run["split_rule"])
		}
	})
	t.Run("counts disagree", func(t *testing.T) {
		d := sampleData(t, 100)
		d.Summary.Scored = ScoredAll
		d.Summary.Train, d.Summary.Validation, d.Summary.Test = 70, 15, 14
		if _, err := New(d); err == nil || !strings.Contains(err.Error(), "splits 99 scored customers") {
			t.Errorf("error %v, want the split counts refused", err)
		}
	})
}

// TestReportCountOnlyWording ensures the report of a count-only run speaks
// of purchase days, never of spend or money, and shows the constant
// Gamma-Gamma model as one line instead of its stand-in shapes of 2^40.
func TestReportCountOnlyWording(t *testing.T) {
	d := sampleData(t, 200)
	for i := range d.Actual { // whole purchase days
		d.Actual[i] = float64(int(d.Actual[i]) % 7)
	}
	d.Quantity = eval.PurchaseDays
	d.Summary.Calibration = "factor"
	d.BaselineParams.GammaGamma = GammaGamma{P: 1 << 40, Q: 1<<40 + 1, V: 1, Constant: true}
	v := eval.NewVerdict(d.Bootstrap, eval.PurchaseDays)
	b := *d.Bootstrap
	b.Verdict = v
	d.Bootstrap = &b
	r, doc := render(t, d, true)
	p := parseHTML(t, doc)
	if m := regexp.MustCompile(`(?i)[^.;:]*\b(spend|spent|spends|spending|money)\b[^.;:]*`).FindAllString(p.text, -1); len(m) > 0 {
		t.Errorf("count-only page talks of spend: %q", m)
	}
	for _, want := range []string{
		"Test customers who bought",
		"total holdout purchase days " + fmtDays(r.ModelMetrics().TotalActual),
		"Purchase-day ratio", "Total predicted purchase days", "Root mean squared error of purchase days per customer",
		"every purchase day counts 1",
	} {
		if !strings.Contains(p.text, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Contains(p.text, "1.1e+12") || strings.Contains(p.text, "1.1e12") {
		t.Error("page shows the constant model's stand-in shapes")
	}
	if _, ok := p.cells["Total predicted purchase days"]; !ok {
		t.Error("no Total predicted purchase days row")
	}
	params := metricsDocOf(t, r)["baseline"].(map[string]any)["params"].(map[string]any)
	if gg := params["gamma_gamma"].(map[string]any); params["gamma_gamma_constant"] != true || gg["v"] != 1.0 {
		t.Errorf("metrics.json params %v, want gamma_gamma_constant true, gamma_gamma.v 1", params)
	}

	t.Run("spend", func(t *testing.T) {
		_, doc := render(t, sampleData(t, 200), true)
		p := parseHTML(t, doc)
		for _, want := range []string{"Test customers who spent", "total holdout spend", "Spend ratio", "Gamma-Gamma (spend per purchase)"} {
			if !strings.Contains(p.text, want) {
				t.Errorf("spend page lacks %q", want)
			}
		}
		if strings.Contains(p.text, "purchase day") {
			t.Error("spend page speaks of purchase days")
		}
	})
}

// TestReportSpendRatioLegend ensures the report says that the spend ratio's
// tick goes to the ratio nearer 1 on a log scale, the rule of
// eval.MetricSpendRatio.Better, so that 1.104 beating 0.898 reads right.
func TestReportSpendRatioLegend(t *testing.T) {
	_, doc := render(t, sampleData(t, 200), true)
	p := parseHTML(t, doc)
	for _, want := range []string{"nearer 1 on a log scale", "2 is as far from 1 as 0.5"} {
		if !strings.Contains(p.text, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if !eval.MetricSpendRatio.Better(1.1042, 0.8984) {
		t.Fatal("the legend no longer describes eval.MetricSpendRatio.Better")
	}
}
