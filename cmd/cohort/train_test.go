package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/cohort-clv/cohort/eval"
	"github.com/cohort-clv/cohort/job"
	"github.com/cohort-clv/cohort/synth"
)

// Every training here cuts a 3000-customer synthetic shop (78 weeks from
// 1997-01-01) into 39 weeks of calibration and 39 of holdout.
const (
	shopCustomers  = 3000
	calibrationEnd = "1997-09-30"
)

// writeShop writes a synthetic shop as CSV to dir/name with header in place
// of synth's "customer_id,date,amount".
func writeShop(t *testing.T, dir, name, header string) string {
	t.Helper()
	cfg := synth.DefaultConfig(synth.BGNBD)
	cfg.Customers = shopCustomers
	var buf bytes.Buffer
	if err := synth.WriteCSV(context.Background(), &buf, cfg); err != nil {
		t.Fatalf("generate shop: %v", err)
	}
	body, ok := bytes.CutPrefix(buf.Bytes(), []byte("customer_id,date,amount\n"))
	if !ok {
		t.Fatalf("synth header changed: %.40q", buf.Bytes())
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, append([]byte(header+"\n"), body...), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// trainArgs are the flags of a fast training on data into out.
func trainArgs(data, out string, extra ...string) []string {
	return append([]string{"train", "--data", data, "--calibration-end", calibrationEnd, "--horizon", "39w",
		"--out", out, "--epochs", "3", "--importance-repeats", "0"}, extra...)
}

// mappedRun is a `cohort train` run on a shop whose header (buyer, when,
// paid) clv cannot guess, so the columns are mapped by flags.
type mappedRun struct {
	dir, data, out string
}

// metricsFile decodes the deep model's and the baseline's scores from a
// metrics.json.
func metricsFile(t *testing.T, path string) (model, base eval.Metrics, testCustomers int) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		TestCustomers   int `json:"test_customers"`
		Model, Baseline eval.Metrics
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return doc.Model, doc.Baseline, doc.TestCustomers
}

// TestTrainPredictEval ensures `cohort train` with mapped columns prints the
// split, a metrics table that agrees with metrics.json and the paths of what
// it wrote, and then drives predict and eval on that model (they share one
// training: rendering a report costs seconds under -race).
func TestTrainPredictEval(t *testing.T) {
	dir := t.TempDir()
	r := mappedRun{dir: dir, data: writeShop(t, dir, "odd.csv", "buyer,when,paid"), out: filepath.Join(dir, "run")}
	stdout, stderr, err := runCohort(t, trainArgs(r.data, r.out,
		"--customer", "buyer", "--date", "when", "--amount", "paid", "-q")...)
	if err != nil {
		t.Fatalf("train: %v\n%s", err, stderr)
	}
	if stderr != "" {
		t.Errorf("-q still printed %q", stderr)
	}
	model, base, test := metricsFile(t, filepath.Join(r.out, "metrics.json"))
	if !strings.HasPrefix(stdout, "read "+r.data+" (csv") || !strings.Contains(stdout, "\n  bad rows: none\n") ||
		!strings.Contains(stdout, fmt.Sprintf("\ncustomers %d (train ", shopCustomers)) ||
		!strings.Contains(stdout, fmt.Sprintf("holdout metrics on the %d test customers:", test)) {
		t.Errorf("stdout does not report the split:\n%s", stdout)
	}
	checkMetricsTable(t, stdout, model, base)
	for _, line := range []string{
		"model    " + filepath.Join(r.out, "model"),
		"metrics  " + filepath.Join(r.out, "metrics.json"),
		"report   " + filepath.Join(r.out, "report.html"),
	} {
		if !strings.Contains(stdout, line+"\n") {
			t.Errorf("stdout lacks %q:\n%s", line, stdout)
		}
		path := strings.TrimSpace(line[len("metrics  "):])
		if _, err := os.Stat(path); err != nil {
			t.Errorf("printed path: %v", err)
		}
	}

	t.Run("predict", func(t *testing.T) { testPredict(t, r) })
	t.Run("predict overrides", func(t *testing.T) { testPredictOverrides(t, r) })
	t.Run("predict refuses", func(t *testing.T) { testPredictRefuses(t, r) })
	t.Run("predict extra quantity", func(t *testing.T) { testPredictExtraQuantity(t, r) })
	t.Run("eval", func(t *testing.T) { testEval(t, r, model, base, test) })
	t.Run("eval refuses", func(t *testing.T) { testEvalRefuses(t, r) })
}

// checkMetricsTable ensures the table printed in out has a row per metric
// with both scores as metrics.json has them, the better one starred.
func checkMetricsTable(t *testing.T, out string, model, base eval.Metrics) {
	t.Helper()
	rows := map[string][]string{}
	header := false
	for line := range strings.Lines(out) {
		if strings.HasPrefix(line, "sampling noise") {
			break // the noise band's table follows; its rows share the names
		}
		f := strings.Fields(line)
		if len(f) == 3 {
			rows[f[0]] = f[1:]
		}
		header = header || strings.Join(f, " ") == "metric deep model BG/NBD+GG"
	}
	if !header {
		t.Errorf("no metrics table header in:\n%s", out)
	}
	for _, k := range []eval.Metric{eval.MetricNormalizedGini, eval.MetricSpearman, eval.MetricAUC,
		eval.MetricDecileMAPE, eval.MetricRMSE, eval.MetricMAE, eval.MetricSpendRatio} {
		row := rows[string(k)]
		if row == nil {
			t.Errorf("no %s row in:\n%s", k, out)
			continue
		}
		mv, bv := model.Get(k), base.Get(k)
		want := []string{fmt.Sprintf("%.4f", mv), fmt.Sprintf("%.4f", bv)}
		switch {
		case k.Better(mv, bv):
			want[0] += "*"
		case k.Better(bv, mv):
			want[1] += "*"
		}
		if row[0] != want[0] || row[1] != want[1] {
			t.Errorf("%s row %v, want %v (model %v, baseline %v in metrics.json)", k, row, want, mv, bv)
		}
	}
}

// TestPrintMetrics ensures the metrics table stars the better score of each
// metric by its own direction, stars nothing on a tie, and shows undefined
// scores as n/a.
func TestPrintMetrics(t *testing.T) {
	m := eval.Metrics{NormalizedGini: 0.5, Spearman: math.NaN(), AUC: 0.7, DecileMAPE: 0.2, RMSE: 10, MAE: 3, SpendRatio: 1.1}
	b := eval.Metrics{NormalizedGini: 0.6, Spearman: 0.1, AUC: 0.7, DecileMAPE: 0.4, RMSE: 9, MAE: math.NaN(), SpendRatio: 0.95}
	var buf bytes.Buffer
	printMetrics(&buf, m, b)
	want := map[string][2]string{
		"normalized_gini": {"0.5000", "0.6000*"},
		"spearman":        {"n/a", "0.1000*"},
		"auc":             {"0.7000", "0.7000"},
		"decile_mape":     {"0.2000*", "0.4000"},
		"rmse":            {"10.0000", "9.0000*"},
		"mae":             {"3.0000*", "n/a"},
		"spend_ratio":     {"1.1000", "0.9500*"},
	}
	lines := strings.Split(strings.TrimRight(buf.String(), "\n"), "\n")
	if len(lines) != len(want)+1 || strings.Join(strings.Fields(lines[0]), " ") != "metric deep model BG/NBD+GG" {
		t.Fatalf("table:\n%s", buf.String())
	}
	for _, line := range lines[1:] {
		f := strings.Fields(line)
		w, ok := want[f[0]]
		if !ok || len(f) != 3 || f[1] != w[0] || f[2] != w[1] {
			t.Errorf("row %q, want %s %v", line, f[0], w)
		}
	}
}

// TestTrainJSON ensures `cohort train --json` prints only the Result as JSON
// on stdout, with the test metrics of metrics.json, and progress on stderr.
func TestTrainJSON(t *testing.T) {
	dir := t.TempDir()
	data := writeShop(t, dir, "shop.csv", "customer_id,date,amount")
	out := filepath.Join(dir, "run")
	stdout, stderr, err := runCohort(t, trainArgs(data, out, "--json", "--hidden", "8", "--seed", "3")...)
	if err != nil {
		t.Fatalf("train: %v", err)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal([]byte(stdout), &raw); err != nil {
		t.Fatalf("stdout is not one JSON object: %v\n%s", err, stdout)
	}
	for _, k := range []string{"model_metrics", "baseline_metrics", "split", "history", "model_dir"} {
		if raw[k] == nil {
			t.Errorf("JSON lacks %q", k)
		}
	}
	var res job.Result
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatal(err)
	}
	model, base, test := metricsFile(t, res.MetricsPath)
	if res.Split.Test != test || res.Split.Train+res.Split.Validation+res.Split.Test != shopCustomers {
		t.Errorf("split %+v, metrics.json has %d test customers of %d", res.Split, test, shopCustomers)
	}
	if res.Model.NormalizedGini != model.NormalizedGini || res.Model.RMSE != model.RMSE ||
		res.BaselineMetrics.AUC != base.AUC || math.IsNaN(res.Model.AUC) {
		t.Errorf("JSON model %+v baseline %+v; metrics.json model %+v baseline %+v", res.Model, res.BaselineMetrics, model, base)
	}
	if res.ModelDir != filepath.Join(out, "model") || res.ReportPath != filepath.Join(out, "report.html") {
		t.Errorf("paths %q %q", res.ModelDir, res.ReportPath)
	}
	tr, err := job.LoadTrained(res.ModelDir)
	if err != nil {
		t.Fatal(err)
	}
	if h := tr.Net.Config.Hidden; len(h) != 1 || h[0] != 8 || tr.Net.Config.Seed != 3 || tr.Net.Config.MaxEpochs != 3 {
		t.Errorf("flags --hidden 8 --seed 3 --epochs 3 gave config %+v", tr.Net.Config)
	}
	for _, want := range []string{"reading transactions", "epoch   1/3", "writing model, metrics and report"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("progress on stderr lacks %q:\n%s", want, stderr)
		}
	}
}

// TestTrainFlagErrors ensures bad or missing flags fail before any work, and
// before the run directory is created, with a message naming the flag.
func TestTrainFlagErrors(t *testing.T) {
	dir := t.TempDir()
	data := writeShop(t, dir, "shop.csv", "customer_id,date,amount")
	tests := []struct {
		name  string
		args  []string // after train; --out DIR is added unless noOut
		want  string
		noOut bool
	}{
		{name: "no data", args: []string{"--horizon", "39w"}, want: "--data is required"},
		{name: "no horizon", args: []string{"--data", data, "--calibration-end", calibrationEnd},
			want: "--horizon is required for training"},
		{name: "zero horizon", args: []string{"--data", data, "--calibration-end", calibrationEnd, "--horizon", "0w"},
			want: `--horizon "0w": a zero horizon is not allowed; training learns the spend over the holdout`},
		{name: "no out", args: []string{"--data", data, "--horizon", "39w"}, noOut: true, want: "--out is required"},
		{name: "bad calibration end", args: []string{"--data", data, "--horizon", "39w", "--calibration-end", "30/09/1997"},
			want: `--calibration-end "30/09/1997": want a date like 1997-09-30`},
		{name: "bad horizon", args: []string{"--data", data, "--horizon", "39x"}, want: `--horizon "39x": want`},
		{name: "hidden not a number", args: []string{"--data", data, "--horizon", "39w", "--hidden", "64,x"},
			want: `invalid argument "64,x" for "--hidden" flag`},
		{name: "hidden zero", args: []string{"--data", data, "--horizon", "39w", "--hidden", "8,0"},
			want: "--hidden 8,0: hidden[1] must be >= 1, got 0"},
		{name: "negative threads", args: []string{"--data", data, "--horizon", "39w", "--threads", "-1"},
			want: "--threads must be >= 0 (0: all cores), got -1"},
		{name: "bad negative policy", args: []string{"--data", data, "--horizon", "39w", "--negative", "keep"},
			want: `--negative "keep": want net, drop or error`},
		{name: "unknown flag", args: []string{"--data", data, "--horizon", "39w", "--epoch", "3"},
			want: "unknown flag: --epoch"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "run")
			args := append([]string{"train", "-q"}, tt.args...)
			if !tt.noOut {
				args = append(args, "--out", out)
			}
			stdout, _, err := runCohort(t, args...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error containing %q", err, tt.want)
			}
			if stdout != "" {
				t.Errorf("stdout %q after an error", stdout)
			}
			if _, err := os.Stat(out); !os.IsNotExist(err) {
				t.Errorf("a failed run created %s (%v)", out, err)
			}
		})
	}
}

// TestPrintBootstrap ensures the bootstrap table shows each metric's 90%
// interval for both predictors, their difference and the model's share of
// wins, and only the model's interval without a baseline.
func TestPrintBootstrap(t *testing.T) {
	band := func(lo, hi float64) eval.Band {
		return eval.Band{Median: eval.Float((lo + hi) / 2), P5: eval.Float(lo), P95: eval.Float(hi)}
	}
	b := &eval.Bootstrap{
		Draws:       40,
		Model:       map[eval.Metric]eval.Band{eval.MetricNormalizedGini: band(0.6, 0.7), eval.MetricSpendRatio: band(1.02, 1.2)},
		Baseline:    map[eval.Metric]eval.Band{eval.MetricNormalizedGini: band(0.5, 0.6), eval.MetricSpendRatio: band(0.8, 0.9)},
		Difference:  map[eval.Metric]eval.Band{eval.MetricNormalizedGini: band(0.05, 0.15), eval.MetricSpendRatio: band(0.2, 0.3)},
		ModelBetter: map[eval.Metric]eval.Float{eval.MetricNormalizedGini: 0.975, eval.MetricSpendRatio: 0.5},
	}
	tests := []struct {
		name string
		b    *eval.Bootstrap
		want []string // rows, fields joined by one space
	}{
		{"nil", nil, nil},
		{"paired", b, []string{
			"on 40 resamples of the 123 test customers (paired bootstrap), 90% of them score",
			"metric deep model BG/NBD+GG model - baseline model better in",
			"normalized_gini 0.6000..0.7000 0.5000..0.6000 0.0500..0.1500 98%",
			"spend_ratio 1.0200..1.2000 0.8000..0.9000 0.2000..0.3000 50%",
		}},
		{"model only", &eval.Bootstrap{Draws: 40, Model: b.Model}, []string{
			"on 40 resamples of the 123 test customers (paired bootstrap), 90% of them score",
			"metric deep model",
			"normalized_gini 0.6000..0.7000",
			"spend_ratio 1.0200..1.2000",
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			printBootstrap(&buf, tc.b, 123)
			var got []string
			for _, line := range strings.Split(buf.String(), "\n") {
				if f := strings.Fields(line); len(f) > 0 {
					got = append(got, strings.Join(f, " "))
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("table:\n%s\nwant rows %q", buf.String(), tc.want)
			}
		})
	}
}

// TestPrintVerdict ensures the verdict follows the bootstrap table, each
// sentence wrapped to 100 columns under its "verdict:" label, with no word
// lost or split.
func TestPrintVerdict(t *testing.T) {
	long := strings.Repeat("word ", 40) + "end."
	b := &eval.Bootstrap{Draws: 10, Verdict: eval.Verdict{Text: []string{"Short one.", long}}}
	var buf bytes.Buffer
	printBootstrap(&buf, b, 5)
	out := buf.String()
	i := strings.Index(out, "verdict: Short one.\n")
	if i < 0 {
		t.Fatalf("no first verdict line in\n%s", out)
	}
	lines := strings.Split(strings.TrimRight(out[i:], "\n"), "\n")
	if len(lines) < 3 || !strings.HasPrefix(lines[1], "verdict: word") {
		t.Fatalf("verdict lines\n%s", out[i:])
	}
	var words []string
	for j, line := range lines[1:] {
		if len(line) > 100 {
			t.Errorf("line %q is %d long, want <= 100", line, len(line))
		}
		if j > 0 && !strings.HasPrefix(line, strings.Repeat(" ", len("verdict: "))+"w") && !strings.HasSuffix(line, "end.") {
			t.Errorf("continuation %q not indented under the text", line)
		}
		words = append(words, strings.Fields(strings.TrimPrefix(line, "verdict:"))...)
	}
	if got := strings.Join(words, " "); got != strings.TrimSpace(long) {
		t.Errorf("wrapped text %q, want %q", got, long)
	}
}
