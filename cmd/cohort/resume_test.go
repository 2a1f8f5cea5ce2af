package main

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/cohort-clv/cohort/job"
	"github.com/cohort-clv/cohort/model"
)

// TestTrainResume ensures a run cut short and continued with --resume ends
// with the weights of a run that was never interrupted: training 2 epochs,
// then resuming the newest checkpoint with --epochs 4, equals training 4
// epochs at once (early stopping off, constant learning rate).
func TestTrainResume(t *testing.T) {
	dir := t.TempDir()
	data := writeShop(t, dir, "shop.csv", "customer_id,date,amount")
	flags := []string{"--patience", "-1", "--batch", "256", "--checkpoint-every", "4", "--threads", "1", "-q"}
	whole := filepath.Join(dir, "whole")
	if _, stderr, err := runCohort(t, append(trainArgs(data, whole, flags...), "--epochs", "4")...); err != nil {
		t.Fatalf("train: %v\n%s", err, stderr)
	}
	cut := filepath.Join(dir, "cut")
	if _, stderr, err := runCohort(t, append(trainArgs(data, cut, flags...), "--epochs", "2")...); err != nil {
		t.Fatalf("train: %v\n%s", err, stderr)
	}
	path, st, err := job.LatestCheckpoint(job.CheckpointDir(cut))
	if err != nil {
		t.Fatal(err)
	}
	if st.Adam.Step%4 != 0 || st.Adam.Step == 0 {
		t.Fatalf("newest checkpoint %s at step %d, want a multiple of 4", path, st.Adam.Step)
	}
	_, stderr, err := runCohort(t, append(trainArgs(data, cut, slices.DeleteFunc(slices.Clone(flags), func(s string) bool { return s == "-q" })...),
		"--epochs", "4", "--resume")...)
	if err != nil {
		t.Fatalf("train --resume: %v\n%s", err, stderr)
	}
	if !strings.Contains(stderr, "resuming from "+path) {
		t.Errorf("stderr does not say where it resumed from:\n%s", stderr)
	}
	a, err := model.Load(filepath.Join(whole, "model"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := model.Load(filepath.Join(cut, "model"))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(a.Params(), b.Params()) {
		t.Error("the resumed run's weights differ from the uninterrupted run's")
	}

	// --resume with no checkpoint says so.
	_, _, err = runCohort(t, append(trainArgs(data, filepath.Join(dir, "none")), "--resume")...)
	if err == nil || !strings.Contains(err.Error(), "no checkpoint") {
		t.Errorf("--resume without checkpoints: %v, want a no-checkpoint error", err)
	}
}

// TestTrainCalibrationFlag ensures --calibration isotonic trains, stores
// the calibration with the model (predict applies it) and keeps the
// ranking of the factor calibration, and that a bad value is refused
// before anything is written.
func TestTrainCalibrationFlag(t *testing.T) {
	dir := t.TempDir()
	data := writeShop(t, dir, "shop.csv", "customer_id,date,amount")
	gini := map[string]float64{}
	for _, c := range []string{"factor", "isotonic"} {
		out := filepath.Join(dir, c)
		if _, stderr, err := runCohort(t, append(trainArgs(data, out, "--threads", "1", "-q"), "--calibration", c)...); err != nil {
			t.Fatalf("train --calibration %s: %v\n%s", c, err, stderr)
		}
		m, _, _ := metricsFile(t, filepath.Join(out, "metrics.json"))
		gini[c] = m.NormalizedGini
		tr, err := job.LoadTrained(filepath.Join(out, "model"))
		if err != nil {
			t.Fatal(err)
		}
		if got := tr.Meta.Calibration != nil; got != (c == "isotonic") {
			t.Errorf("--calibration %s: model stores a calibration: %v", c, got)
		}
		if _, stderr, err := runCohort(t, "predict", "--model", filepath.Join(out, "model"), "--data", data,
			"--calibration-end", calibrationEnd, "--out", filepath.Join(out, "p.csv")); err != nil {
			t.Fatalf("predict with the %s model: %v\n%s", c, err, stderr)
		}
	}
	if d := gini["isotonic"] - gini["factor"]; d > 1e-3 || d < -1e-3 {
		t.Errorf("test gini %.5f with isotonic, %.5f with the factor: a monotone calibration keeps the ranking", gini["isotonic"], gini["factor"])
	}
	_, _, err := runCohort(t, append(trainArgs(data, filepath.Join(dir, "bad")), "--calibration", "platt")...)
	if err == nil || !strings.Contains(err.Error(), "want factor or isotonic") {
		t.Errorf("--calibration platt: %v", err)
	}
}
