package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cohort-clv/cohort/job"
	"github.com/cohort-clv/cohort/model"
)

// TestTrainWorkersResumeFingerprint ensures the checkpoints of
// `cohort train --workers 2` carry the run's fingerprint (the coordinator
// sends it in the generation plan), so that --resume with another --seed
// is refused naming the seed, as for a local run, and --resume with the
// same flags continues without the warning about a checkpoint without a
// fingerprint.
func TestTrainWorkersResumeFingerprint(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	data := writeSynthShop(t, 2000)
	out := filepath.Join(t.TempDir(), "run")
	train := func(extra ...string) (string, error) {
		t.Helper()
		args := append(trainArgs(data, out, "--workers", "2", "--threads", "1", "--patience", "-1", "--batch", "256",
			"--checkpoint-every", "4"), extra...)
		cmd, _, stderr := cohortCmd(t, ctx, args...)
		err := cmd.Run()
		return stderr.String(), err
	}
	if stderr, err := train("--epochs", "2", "--seed", "1", "-q"); err != nil {
		t.Fatalf("train --workers 2: %v\n%s", err, stderr)
	}
	path, _, err := job.LatestCheckpoint(job.CheckpointDir(out))
	if err != nil {
		t.Fatal(err)
	}
	if _, fp, err := model.LoadCheckpointWith(path); err != nil || fp == nil {
		t.Fatalf("worker checkpoint %s: fingerprint %q (err %v), want the run's", path, fp, err)
	}

	stderr, err := train("--epochs", "3", "--seed", "2", "--resume")
	if err == nil {
		t.Fatalf("--resume with another --seed succeeded:\n%s", stderr)
	}
	if !strings.Contains(stderr, "resume from "+path) || !strings.Contains(stderr, "trained with seed 1, this run has seed 2") ||
		strings.Contains(stderr, "no fingerprint") {
		t.Errorf("--resume with another --seed: %v\n%s\nwant the fingerprint's refusal naming the seed", err, stderr)
	}

	stderr, err = train("--epochs", "3", "--seed", "1", "--resume")
	if err != nil {
		t.Fatalf("--resume with the same flags: %v\n%s", err, stderr)
	}
	if !strings.Contains(stderr, "resuming from "+path) {
		t.Errorf("stderr does not say where it resumed from:\n%s", stderr)
	}
	if strings.Contains(stderr, "without a fingerprint") || strings.Contains(stderr, "no fingerprint") {
		t.Errorf("--resume of a worker checkpoint warns that it has no fingerprint:\n%s", stderr)
	}
}
