package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
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
// fingerprint. The run is cut short by SIGINT, as by Ctrl-C, whose hint
// names its newest checkpoint; the resumed run, once finished, removes
// the checkpoints.
func TestTrainWorkersResumeFingerprint(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	data := writeSynthShop(t, 2000)
	out := filepath.Join(t.TempDir(), "run")
	args := func(extra ...string) []string {
		return append(trainArgs(data, out, "--workers", "2", "--threads", "1", "--patience", "-1", "--batch", "256",
			"--checkpoint-every", "4"), extra...)
	}
	train := func(extra ...string) (string, error) {
		t.Helper()
		cmd, _, stderr := cohortCmd(t, ctx, args(extra...)...)
		err := cmd.Run()
		return stderr.String(), err
	}

	// More epochs than the run can train before the signal lands.
	cmd, _, _ := cohortCmd(t, ctx, args("--epochs", "1000", "--seed", "1")...)
	var (
		mu     sync.Mutex
		stderr strings.Builder
		epoch  = make(chan struct{})
		once   sync.Once
	)
	cmd.Stderr = writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		stderr.Write(p)
		if strings.Contains(stderr.String(), "epoch   1/") {
			once.Do(func() { close(epoch) })
		}
		return len(p), nil
	})
	exited := start(t, cmd)
	select {
	case <-epoch:
	case err := <-exited:
		t.Fatalf("train --workers 2 ended before its first epoch: %v\n%s", err, stderr.String())
	}
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	err := <-exited
	path, st, cerr := job.LatestCheckpoint(job.CheckpointDir(out))
	if cerr != nil {
		t.Fatalf("the interrupted run left no checkpoint: %v\n%s", cerr, stderr.String())
	}
	mu.Lock()
	cut := stderr.String()
	mu.Unlock()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 130 ||
		!strings.Contains(cut, fmt.Sprintf("cohort: interrupted; the same command with --resume continues from the checkpoint at epoch %d, step %d (%s)", st.Epoch, st.Adam.Step, path)) {
		t.Errorf("SIGINT: %v\n%s\nwant exit 130 and the --resume hint naming %s", err, cut, path)
	}
	if _, fp, err := model.LoadCheckpointWith(path); err != nil || fp == nil {
		t.Fatalf("worker checkpoint %s: fingerprint %q (err %v), want the run's", path, fp, err)
	}

	more := strconv.Itoa(st.Epoch + 1)
	out2, err := train("--epochs", more, "--seed", "2", "--resume")
	if err == nil {
		t.Fatalf("--resume with another --seed succeeded:\n%s", out2)
	}
	if !strings.Contains(out2, "resume from "+path) || !strings.Contains(out2, "trained with seed 1, this run has seed 2") ||
		strings.Contains(out2, "no fingerprint") {
		t.Errorf("--resume with another --seed: %v\n%s\nwant the fingerprint's refusal naming the seed", err, out2)
	}

	out2, err = train("--epochs", more, "--seed", "1", "--resume")
	if err != nil {
		t.Fatalf("--resume with the same flags: %v\n%s", err, out2)
	}
	if !strings.Contains(out2, "resuming from "+path) {
		t.Errorf("stderr does not say where it resumed from:\n%s", out2)
	}
	if strings.Contains(out2, "without a fingerprint") || strings.Contains(out2, "no fingerprint") {
		t.Errorf("--resume of a worker checkpoint warns that it has no fingerprint:\n%s", out2)
	}
	if _, err := os.Stat(job.CheckpointDir(out)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the finished run left %s: %v", job.CheckpointDir(out), err)
	}
}
