package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

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
	var status struct {
		State  sweeprun.State   `json:"state"`
		Trials []sweeprun.Trial `json:"trials"`
	}
	if err := json.Unmarshal([]byte(stdout), &status); err != nil {
		t.Fatalf("status --json: %v\n%s", err, stdout)
	}
	trials := status.Trials
	if len(trials) != 4 || status.State != sweeprun.StateDone {
		t.Errorf("status lists %d trials of a sweep %q, want 4 of a sweep done", len(trials), status.State)
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
		{[]string{"sweep", "--resume", "a", "--trials", "3", "--dir", dir}, "new sweep"},
		{[]string{"sweep", "delete", "nosuch", "--dir", dir}, "no directory"},
	} {
		_, _, err := runCohort(t, tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want one mentioning %q", tc.args, err, tc.want)
		}
	}
}

// writeTinySpec writes a spec of 2 grid trials of 2 epochs over a
// synthetic shop (dir/shop.csv, written if missing, unless data names
// another file) into dir and returns its path.
func writeTinySpec(t *testing.T, dir, name, data, extra string) string {
	t.Helper()
	if _, err := os.Stat(filepath.Join(dir, "shop.csv")); err != nil {
		writeShop(t, dir, "shop.csv", "customer_id,date,amount")
	}
	if data == "" {
		data = "shop.csv"
	}
	spec := filepath.Join(dir, name)
	yaml := fmt.Sprintf(`
data: %s
calibration_end: "%s"
horizon: 39w
model: {max_epochs: 2, batch: 512, hidden: "8"}
space: {parameters: [{name: lr, type: categorical, values: [0.01, 0.003]}]}
sampler: {algorithm: grid}
trials: 2
threads: 2
early_stopping: {rule: none}
%s`, data, calibrationEnd, extra)
	if err := os.WriteFile(spec, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	return spec
}

// TestSweepNewIDNotBurned ensures a new sweep with bad data creates nothing,
// so its id stays free, and that a taken id is refused with how to resume
// or delete it.
func TestSweepNewIDNotBurned(t *testing.T) {
	dir := t.TempDir()
	sweeps := filepath.Join(dir, "sweeps")
	good := writeTinySpec(t, dir, "good.yaml", "", "")
	if _, stderr, err := runCohort(t, "sweep", good, "--id", "taken", "--dir", sweeps, "-q"); err != nil {
		t.Fatalf("sweep: %v\n%s", err, stderr)
	}
	for _, tc := range []struct {
		name, data, extra, id string
		want                  []string
	}{
		{"bad column", "", "columns: {customer: client}", "col", []string{`"client"`, "nothing was created"}},
		{"missing file", "nope.csv", "", "nofile", []string{"nope.csv", "nothing was created"}},
		{"taken id", "", "", "taken", []string{"sweep taken exists", "--resume taken", "cohort sweep delete taken", filepath.Join(sweeps, "taken")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec := writeTinySpec(t, dir, tc.id+".yaml", tc.data, tc.extra)
			_, _, err := runCohort(t, "sweep", spec, "--id", tc.id, "--dir", sweeps, "-q")
			for _, w := range tc.want {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Errorf("error %v, want one mentioning %q", err, w)
				}
			}
			if tc.id != "taken" {
				if _, err := os.Stat(filepath.Join(sweeps, tc.id)); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("a failed new sweep left %s behind (%v)", filepath.Join(sweeps, tc.id), err)
				}
			}
		})
	}
	// delete frees the id.
	if _, stderr, err := runCohort(t, "sweep", "delete", "taken", "--dir", sweeps); err != nil || !strings.Contains(stderr, "deleted sweep taken") {
		t.Fatalf("delete: %v\n%s", err, stderr)
	}
	if _, stderr, err := runCohort(t, "sweep", good, "--id", "taken", "--dir", sweeps, "-q"); err != nil {
		t.Fatalf("sweep after delete: %v\n%s", err, stderr)
	}
}

// TestSweepInUse ensures that while a process holds a sweep (as a running
// sweep does), status and results read it through that process's etcd, and
// resume and delete refuse at once, saying the sweep is in use, instead of
// waiting for the embedded etcd's lock.
func TestSweepInUse(t *testing.T) {
	dir := t.TempDir()
	sweeps := filepath.Join(dir, "sweeps")
	spec := writeTinySpec(t, dir, "spec.yaml", "", "")
	if _, stderr, err := runCohort(t, "sweep", spec, "--id", "busy", "--dir", sweeps, "-q"); err != nil {
		t.Fatalf("sweep: %v\n%s", err, stderr)
	}
	f := &sweepFlags{dir: sweeps}
	_, release, err := f.connect(context.Background(), "busy", connectRun)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { release() }()
	const inUse = "sweep busy is in use by another cohort process (running?)"
	for _, tc := range []struct {
		name    string
		args    []string
		wantErr string // empty: it reads the running sweep
		wantOut string
	}{
		{"status", []string{"sweep", "status", "busy"}, "", "best: trial"},
		{"status json", []string{"sweep", "status", "busy", "--json"}, "", `"status": "completed"`},
		{"status state", []string{"sweep", "status", "busy"}, "", "sweep busy is done"},
		{"results", []string{"sweep", "results", "busy", "--out", "-"}, "", "trial,status,value"},
		{"resume", []string{"sweep", "--resume", "busy"}, inUse, ""},
		{"delete", []string{"sweep", "delete", "busy"}, inUse, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			began := time.Now()
			stdout, _, err := runCohort(t, append(tc.args, "--dir", sweeps)...)
			if took := time.Since(began); took > 5*time.Second {
				t.Errorf("took %v, want an answer within seconds", took)
			}
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Errorf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || !strings.Contains(stdout, tc.wantOut) {
				t.Errorf("error %v, output %q; want %q", err, stdout, tc.wantOut)
			}
		})
	}
	// Without the holder's address, status says the sweep is in use too.
	if err := os.Remove(sweepEndpointPath(f.sweepDir("busy"))); err != nil {
		t.Fatal(err)
	}
	if _, _, err := runCohort(t, "sweep", "status", "busy", "--dir", sweeps); err == nil || !strings.Contains(err.Error(), inUse) {
		t.Errorf("status without the holder's address: error %v, want %q", err, inUse)
	}
	release()
	release = func() {}
	if _, stderr, err := runCohort(t, "sweep", "status", "busy", "--dir", sweeps); err != nil {
		t.Errorf("status once released: %v\n%s", err, stderr)
	}
}

// TestSweepOutput ensures what a sweep prints: -q leaves only warnings and
// errors on stderr; otherwise trial configs read as name=value, progress has
// the elapsed time and the best trial's evaluation is announced; --json
// gives best_trial as an object and best_run's elapsed time; a finished
// sweep resumed says so and trains nothing; --trials overrides the spec.
func TestSweepOutput(t *testing.T) {
	dir := t.TempDir()
	sweeps := filepath.Join(dir, "sweeps")
	spec := writeTinySpec(t, dir, "spec.yaml", "", "")
	for _, tc := range []struct {
		name             string
		args             []string
		stderr, noStderr []string
		stdout           []string
	}{
		{"quiet", []string{"sweep", spec, "--id", "q", "-q"}, nil,
			[]string{"trial started", "trial ended", "trials 2/2", "sweep q:", "level=INFO", "reading"}, []string{"best trial", "2 of 2 trials completed"}},
		{"progress", []string{"sweep", spec, "--id", "p"},
			[]string{`config="lr=0.01"`, "evaluating the best trial", "s elapsed", "trials 2/2 done", "sweep finished: best trial written"}, nil, nil},
		{"trials flag", []string{"sweep", spec, "--id", "t", "-q", "--trials", "1", "--parallel", "1"}, nil, nil, []string{"1 of 1 trials completed"}},
		{"json", []string{"sweep", spec, "--id", "j", "-q", "--json"}, nil, nil, []string{`"best_trial": {`, `"id": `}},
		{"resume finished", []string{"sweep", "--resume", "j", "--json"}, []string{"sweep j already finished: best trial", "nothing to do"},
			[]string{"training the best trial again", "trial started"}, []string{`"best_trial": {`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stdout, stderr, err := runCohort(t, append(tc.args, "--dir", sweeps)...)
			if err != nil {
				t.Fatalf("%v\n%s", err, stderr)
			}
			for _, w := range tc.stderr {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr)
				}
			}
			for _, w := range tc.noStderr {
				if strings.Contains(stderr, w) {
					t.Errorf("stderr has %q:\n%s", w, stderr)
				}
			}
			for _, w := range tc.stdout {
				if !strings.Contains(stdout, w) {
					t.Errorf("stdout lacks %q:\n%s", w, stdout)
				}
			}
			if slices.Contains(tc.args, "--json") {
				var doc struct {
					Best    sweeprun.Trial `json:"best_trial"`
					BestRun struct {
						Elapsed int64 `json:"elapsed_ns"`
					} `json:"best_run"`
				}
				if err := json.Unmarshal([]byte(stdout), &doc); err != nil || doc.BestRun.Elapsed <= 0 || doc.Best.Config["lr"] == nil {
					t.Errorf("--json: best_trial %+v, best_run.elapsed_ns %d (%v)", doc.Best, doc.BestRun.Elapsed, err)
				}
			}
		})
	}
}

// TestSweepHelp ensures sweep --help documents the flags that exist and the
// spec's keys: the sampler's seed, conditional parameters, grid sizes,
// retries, threads, workers_per_trial, where relative paths start, and
// that a resumed sweep's running trial starts again.
func TestSweepHelp(t *testing.T) {
	stdout, _, err := runCohort(t, "sweep", "--help")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"--parallel int", "--trials int", "when:", "grid:", "retries:", "threads:", "workers_per_trial:",
		"the sampler's seed", "model.seed", "starts again from its first epoch", "relative paths start at the spec's directory",
		"weight_decay 1e-4, seed 1", "cohort sweep delete", "max_epochs"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("sweep --help lacks %q", want)
		}
	}
}

// TestSweepRelativeDirPrintsAbsolute ensures a local sweep given a relative
// --dir prints and stores absolute paths, as a cluster sweep does, so that
// a resume from another directory names the same files.
func TestSweepRelativeDirPrintsAbsolute(t *testing.T) {
	dir := t.TempDir()
	spec := writeTinySpec(t, dir, "spec.yaml", "", "")
	t.Chdir(dir)
	stdout, stderr, err := runCohort(t, "sweep", spec, "--id", "rel", "-q", "--json", "--dir", "sweeps")
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	var doc struct {
		Out, Model, Results string
	}
	if err := json.Unmarshal([]byte(stdout), &doc); err != nil {
		t.Fatalf("%v\n%s", err, stdout)
	}
	for _, p := range []string{doc.Out, doc.Model, doc.Results} {
		if !filepath.IsAbs(p) || !strings.Contains(p, filepath.Join("sweeps", "rel")) {
			t.Errorf("sweep --json printed path %q, want an absolute path under sweeps/rel:\n%s", p, stdout)
		}
	}
}
