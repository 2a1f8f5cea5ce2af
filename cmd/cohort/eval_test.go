package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cohort-clv/cohort/eval"
	"github.com/cohort-clv/cohort/job"
)

// sameMetrics compares two Metrics exactly, NaN equal to NaN, through their
// JSON encoding (shortest round-trip floats, null for NaN).
func sameMetrics(t *testing.T, what string, got, want eval.Metrics) {
	t.Helper()
	g, err := json.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	w, err := json.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(g, w) {
		t.Errorf("%s:\n got %s\nwant %s", what, g, w)
	}
}

// testEval ensures eval --split test on the training log and windows, with
// the column mapping and the horizon inherited from training, reproduces the
// training run's test metrics exactly and writes its own metrics.json and
// report.html.
func testEval(t *testing.T, r mappedRun, model, base eval.Metrics, test int) {
	out := filepath.Join(r.dir, "eval")
	stdout, _, err := runCohort(t, "eval", "--model", filepath.Join(r.out, "model"), "--data", r.data,
		"--calibration-end", calibrationEnd, "--split", "test", "--out", out, "--json")
	if err != nil {
		t.Fatalf("eval: %v", err)
	}
	var res job.Evaluation
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatalf("--json output %q: %v", stdout, err)
	}
	if res.Customers != test {
		t.Errorf("evaluated %d customers, training tested %d", res.Customers, test)
	}
	sameMetrics(t, "eval vs train, deep model", res.Model, model)
	sameMetrics(t, "eval vs train, baseline", res.BaselineMetrics, base)
	if res.MetricsPath != filepath.Join(out, "metrics.json") || res.ReportPath != filepath.Join(out, "report.html") {
		t.Errorf("paths %q %q", res.MetricsPath, res.ReportPath)
	}
	m, b, n := metricsFile(t, res.MetricsPath)
	if n != test {
		t.Errorf("eval's metrics.json has %d test customers, want %d", n, test)
	}
	sameMetrics(t, "eval's metrics.json, deep model", m, model)
	sameMetrics(t, "eval's metrics.json, baseline", b, base)
	if fi, err := os.Stat(res.ReportPath); err != nil || fi.Size() == 0 {
		t.Errorf("report: %v", err)
	}
}

// testEvalRefuses ensures eval refuses a horizon other than the model's,
// naming both, and a zero one (it would silently mean the model's), and
// writes nothing then.
func testEvalRefuses(t *testing.T, r mappedRun) {
	tests := []struct{ horizon, want string }{
		{"26w", "--horizon 26w (26.0 weeks) differs from the 39.0 weeks"},
		{"0w", `--horizon "0w": a zero horizon is not allowed; leave --horizon out to evaluate over the 39.0 weeks the model was trained for`},
	}
	for _, tt := range tests {
		out := filepath.Join(t.TempDir(), "eval")
		_, _, err := runCohort(t, "eval", "--model", filepath.Join(r.out, "model"), "--data", r.data, "--horizon", tt.horizon, "--out", out)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("--horizon %s: got %v, want %q", tt.horizon, err, tt.want)
		}
		if _, err := os.Stat(out); !os.IsNotExist(err) {
			t.Errorf("refused run created %s (%v)", out, err)
		}
	}
}

// TestEvalFlagErrors ensures eval names a bad --split and missing flags
// before reading anything.
func TestEvalFlagErrors(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--model", dir, "--out", dir, "--split", "foo"}, `--split "foo": want test or all`},
		{[]string{"--model", dir, "--split", "all"}, "--model and --out are required"},
		{[]string{"--out", dir}, "--model and --out are required"},
		{[]string{"--model", dir, "--out", dir}, "model.json"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			_, _, err := runCohort(t, append([]string{"eval", "--data", "x.csv", "--horizon", "39w"}, tt.args...)...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
}
