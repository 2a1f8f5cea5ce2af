package main

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cohort-clv/cohort/sweeprun"
)

// TestSweepCommand ensures cohort sweep runs a spec to the end and that
// status and results read every trial back from the sweep's etcd.
func TestSweepCommand(t *testing.T) {
	dir := t.TempDir()
	data := writeShop(t, dir, "shop.csv", "customer_id,date,amount")
	spec := filepath.Join(dir, "spec.yaml")
	yaml := fmt.Sprintf(`
data: %s
calibration_end: "%s"
horizon: 39w
model: {max_epochs: 3, batch: 256}
space:
  parameters:
    - {name: hidden, type: categorical, values: ["16", "32,16"]}
    - {name: lr, type: float, min: 0.0005, max: 0.01, log: true}
sampler: {algorithm: random}
trials: 4
parallel: 2
threads: 2
early_stopping: {rule: median}
`, data, calibrationEnd)
	if err := os.WriteFile(spec, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	sweeps := filepath.Join(dir, "sweeps")
	stdout, stderr, err := runCohort(t, "sweep", spec, "--id", "c1", "--dir", sweeps)
	if err != nil {
		t.Fatalf("sweep: %v\n%s", err, stderr)
	}
	if !strings.Contains(stdout, "best trial") || !strings.Contains(stderr, "trials 4/4 done") {
		t.Errorf("sweep output lacks the best trial or the final progress:\n%s\n%s", stdout, stderr)
	}
	if _, err := os.Stat(filepath.Join(sweeps, "c1", sweeprun.BestDir, "model")); err != nil {
		t.Errorf("best model: %v", err)
	}

	stdout, stderr, err = runCohort(t, "sweep", "status", "c1", "--dir", sweeps, "--json")
	if err != nil {
		t.Fatalf("status: %v\n%s", err, stderr)
	}
	var trials []sweeprun.Trial
	if err := json.Unmarshal([]byte(stdout), &trials); err != nil {
		t.Fatalf("status --json: %v\n%s", err, stdout)
	}
	if len(trials) != 4 {
		t.Errorf("status lists %d trials, want 4", len(trials))
	}
	out := filepath.Join(dir, "results.csv")
	if _, stderr, err = runCohort(t, "sweep", "results", "c1", "--dir", sweeps, "--out", out); err != nil {
		t.Fatalf("results: %v\n%s", err, stderr)
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 5 || rows[0][0] != "trial" {
		t.Errorf("results.csv has %d rows starting %v, want a header and 4 trials", len(rows), rows[0])
	}
	stdout, stderr, err = runCohort(t, "sweep", "results", "c1", "--dir", sweeps, "--out", "-")
	if err != nil {
		t.Fatalf("results --out -: %v\n%s", err, stderr)
	}
	if want, _ := os.ReadFile(out); stdout != string(want) {
		t.Errorf("results --out - printed\n%s\nwant the file's\n%s", stdout, want)
	}

	// A finished sweep resumed with --json prints its outcome for machines.
	stdout, stderr, err = runCohort(t, "sweep", "--resume", "c1", "--dir", sweeps, "--json", "-q")
	if err != nil {
		t.Fatalf("sweep --resume --json: %v\n%s", err, stderr)
	}
	var doc struct {
		Sweep string         `json:"sweep"`
		Best  sweeprun.Trial `json:"best_trial"`
		Run   struct {
			ModelDir string         `json:"model_dir"`
			Model    map[string]any `json:"model_metrics"`
		} `json:"best_run"`
	}
	if err := json.Unmarshal([]byte(stdout), &doc); err != nil {
		t.Fatalf("sweep --json: %v\n%s", err, stdout)
	}
	best, _ := sweeprun.BestTrial(trials)
	if doc.Sweep != "c1" || doc.Best.ID != best.ID || doc.Best.Value != best.Value {
		t.Errorf("sweep --json names sweep %q best trial %d (%v), want c1 and trial %d (%v)", doc.Sweep, doc.Best.ID, doc.Best.Value, best.ID, best.Value)
	}
	if _, ok := doc.Run.Model["normalized_gini"]; !ok || doc.Run.ModelDir == "" {
		t.Errorf("sweep --json best_run lacks the test Gini or the model directory:\n%s", stdout)
	}
}

// TestSweepFlagErrors ensures sweep refuses contradictory or missing input
// with an error that says what is expected.
func TestSweepFlagErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"sweep", "--dir", dir}, "spec file is required"},
		{[]string{"sweep", "x.yaml", "--resume", "a", "--dir", dir}, "not both"},
		{[]string{"sweep", "status", "nosuch", "--dir", dir}, "no embedded etcd"},
		{[]string{"sweep", "results", "nosuch", "--dir", dir}, "--out is required"},
		{[]string{"sweep", filepath.Join(dir, "missing.yaml"), "--dir", dir}, "missing.yaml"},
	} {
		_, _, err := runCohort(t, tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want one mentioning %q", tc.args, err, tc.want)
		}
	}
}
