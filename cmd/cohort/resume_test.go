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
