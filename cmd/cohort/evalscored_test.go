package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cohort-clv/cohort/eval"
)

// TestEvalSplitAllCLI ensures eval --split all on the training log never
// calls the customers it scored test customers, says how many of them are
// in-sample, and warns on stderr that their scores are in-sample.
func TestEvalSplitAllCLI(t *testing.T) {
	dir := t.TempDir()
	data := writeShop(t, dir, "shop.csv", "customer_id,date,amount")
	out := filepath.Join(dir, "run")
	if _, _, err := runCohort(t, trainArgs(data, out, "--hidden", "8", "-q")...); err != nil {
		t.Fatalf("train: %v", err)
	}
	stdout, stderr, err := runCohort(t, "eval", "--model", filepath.Join(out, "model"), "--data", data,
		"--calibration-end", calibrationEnd, "--split", "all", "--out", filepath.Join(dir, "all"), "-q")
	if err != nil {
		t.Fatalf("eval: %v", err)
	}
	if strings.Contains(stdout, "test customers") {
		t.Errorf("eval --split all calls the customers test customers:\n%s", stdout)
	}
	for _, want := range []string{"holdout metrics on all ", "trained the model or chose its epoch", "customers (paired bootstrap)"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, stdout)
		}
	}
	if !strings.Contains(stderr, "warning: ") || !strings.Contains(stderr, "in-sample") {
		t.Errorf("stderr %q, want a warning that the scores are in-sample", stderr)
	}
}

// TestPrintMetricsLegend ensures eval's metric table says that the
// spend_ratio star goes to the ratio nearer 1 on a log scale, and for a
// count-only run that the error metrics count purchase days.
func TestPrintMetricsLegend(t *testing.T) {
	var buf bytes.Buffer
	printMetricsLegend(&buf, eval.Spend)
	if s := buf.String(); !strings.Contains(s, "nearer 1 on a log scale (2 is as far from 1 as 0.5)") || strings.Contains(s, "purchase days") {
		t.Errorf("spend legend %q", s)
	}
	buf.Reset()
	printMetricsLegend(&buf, eval.PurchaseDays)
	if s := buf.String(); !strings.Contains(s, "measure purchase days, not money") {
		t.Errorf("count-only legend %q", s)
	}
}
