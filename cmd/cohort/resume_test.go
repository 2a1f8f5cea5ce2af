package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/cohort-clv/cohort/job"
	"github.com/cohort-clv/cohort/model"
)

// TestTrainResume ensures a run cut short and continued with --resume ends
// with the weights of a run that was never interrupted: training 4 epochs
// cut after the second, then resumed, equals training 4 epochs at once
// (early stopping off, constant learning rate); and that the resumed run,
// once finished, removes the checkpoints.
func TestTrainResume(t *testing.T) {
	dir := t.TempDir()
	data := writeShop(t, dir, "shop.csv", "customer_id,date,amount")
	flags := []string{"--patience", "-1", "--batch", "256", "--checkpoint-every", "4", "--threads", "1", "--epochs", "4"}
	whole := filepath.Join(dir, "whole")
	if _, stderr, err := runCohort(t, append(trainArgs(data, whole, flags...), "-q")...); err != nil {
		t.Fatalf("train: %v\n%s", err, stderr)
	}
	cut := filepath.Join(dir, "cut")
	interruptTrain(t, 2, trainArgs(data, cut, flags...)...)
	path, st, err := job.LatestCheckpoint(job.CheckpointDir(cut))
	if err != nil {
		t.Fatal(err)
	}
	if st.Adam.Step%4 != 0 || st.Adam.Step == 0 || st.Done {
		t.Fatalf("newest checkpoint %s at step %d (done %v), want a multiple of 4 mid-run", path, st.Adam.Step, st.Done)
	}
	_, stderr, err := runCohort(t, append(trainArgs(data, cut, flags...), "--resume")...)
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
	for _, out := range []string{whole, cut} {
		if _, err := os.Stat(job.CheckpointDir(out)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("a finished run left %s: %v", job.CheckpointDir(out), err)
		}
	}

	// --resume with no checkpoint says so.
	_, _, err = runCohort(t, append(trainArgs(data, filepath.Join(dir, "none")), "--resume")...)
	if err == nil || !strings.Contains(err.Error(), "no checkpoint") {
		t.Errorf("--resume without checkpoints: %v, want a no-checkpoint error", err)
	}
}

// interruptTrain runs `cohort args...` (a training with progress on
// stderr, so not --quiet) in this process and cancels it as the line of
// epoch is printed, as Ctrl-C would. It returns the error, which carries
// the hint main prints.
func interruptTrain(t *testing.T, epoch int, args ...string) error {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	root := newRootCmd()
	root.SetOut(io.Discard)
	mark := fmt.Sprintf("epoch %3d/", epoch)
	root.SetErr(writerFunc(func(p []byte) (int, error) {
		if strings.Contains(string(p), mark) {
			cancel()
		}
		return len(p), nil
	}))
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("%q cancelled after epoch %d: %v, want context.Canceled", args, epoch, err)
	}
	return err
}

// TestTrainBesideEarlierCheckpoints is the audit's reproduction, scaled
// down: an earlier run with other flags left its checkpoints in
// DIR/checkpoints. It ensures a fresh run there is refused before
// training, naming the directory, the newest checkpoint's epoch and step,
// --resume and --overwrite; that --overwrite deletes them, so the run's
// Ctrl-C hint names its own checkpoint and --resume continues its own
// run; that the finished run removes its checkpoints; and that the same
// command then runs again with --overwrite.
func TestTrainBesideEarlierCheckpoints(t *testing.T) {
	dir := t.TempDir()
	data := writeShop(t, dir, "shop.csv", "customer_id,date,amount")
	out := filepath.Join(dir, "res3")
	ckdir := job.CheckpointDir(out)
	train := func(extra ...string) []string {
		return append(trainArgs(data, out, "--threads", "1", "--patience", "-1", "--batch", "256"), extra...)
	}
	old := []string{"--hidden", "8", "--epochs", "50", "--checkpoint-every", "5"}
	cur := []string{"--hidden", "16,16", "--epochs", "50", "--checkpoint-every", "2"}

	// A run that finishes leaves no checkpoints; one cut short does.
	if _, stderr, err := runCohort(t, train("--hidden", "8", "--epochs", "2", "--checkpoint-every", "5", "-q")...); err != nil {
		t.Fatalf("train: %v\n%s", err, stderr)
	}
	if _, err := os.Stat(ckdir); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("the finished run left %s: %v", ckdir, err)
	}
	// --overwrite: the directory holds the finished run.
	interruptTrain(t, 2, append(train(old...), "--overwrite")...)
	oldPath, oldSt, err := job.LatestCheckpoint(ckdir)
	if err != nil {
		t.Fatalf("the interrupted run left no checkpoint: %v", err)
	}
	left := dirNames(t, ckdir)

	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"fresh", train(cur...), []string{"--out " + out + ": ", ckdir + " holds the checkpoints of an earlier run",
			fmt.Sprintf("epoch %d, step %d: %s", oldSt.Epoch, oldSt.Adam.Step, oldPath), "add --resume", "--overwrite"}},
		{"without checkpoints of its own", train("--hidden", "16,16", "--checkpoint-every", "0"), []string{ckdir + " holds the checkpoints"}},
		{"resume with other flags", append(train(cur...), "--resume"), []string{"resume from " + oldPath,
			"the checkpoint was trained with hidden layers 8, this run has hidden layers 16,16", "--overwrite instead of --resume"}},
		{"resume and overwrite", append(train(cur...), "--resume", "--overwrite"), []string{"--resume continues", "--overwrite deletes them"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, stderr, err := runCohort(t, tc.args...)
			if err == nil {
				t.Fatalf("succeeded beside the earlier run's checkpoints:\n%s", stderr)
			}
			t.Log(err)
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\nwant it to say %q", err, w)
				}
			}
			if strings.Contains(stderr, stageText("train")) {
				t.Errorf("it trained before refusing:\n%s", stderr)
			}
			if got := dirNames(t, ckdir); !slices.Equal(got, left) {
				t.Errorf("the checkpoints are now %q, were %q", got, left)
			}
		})
	}

	// --overwrite starts over: the Ctrl-C hint and --resume are this run's.
	err = interruptTrain(t, 2, append(train(cur...), "--overwrite")...)
	path, st, cerr := job.LatestCheckpoint(ckdir)
	if cerr != nil {
		t.Fatal(cerr)
	}
	// With --overwrite in the command, --resume=auto resumes (--resume
	// beside --overwrite would be refused).
	if msg, _ := exitMessage(err, nil); !strings.Contains(msg, fmt.Sprintf("the same command with --resume=auto continues from the checkpoint at epoch %d, step %d (%s)", st.Epoch, st.Adam.Step, path)) {
		t.Errorf("exit message %q, want the hint to name %s", msg, path)
	}
	for _, name := range dirNames(t, ckdir) {
		_, fp, err := model.LoadCheckpointWith(filepath.Join(ckdir, name))
		if err != nil || !strings.Contains(string(fp), `"hidden":[16,16]`) {
			t.Errorf("%s: fingerprint %s (err %v), want this run's (hidden 16,16)", name, fp, err)
		}
	}
	_, stderr, err := runCohort(t, append(train(cur...), "--resume", "--epochs", strconv.Itoa(st.Epoch+1))...)
	if err != nil {
		t.Fatalf("--resume: %v\n%s", err, stderr)
	}
	if !strings.Contains(stderr, "resuming from "+path) {
		t.Errorf("stderr does not say it resumed from %s:\n%s", path, stderr)
	}
	if _, err := os.Stat(ckdir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the finished run left %s: %v", ckdir, err)
	}

	// No checkpoints are left to refuse, but the finished run is: the same
	// command again replaces it only with --overwrite.
	again := train("--hidden", "16,16", "--epochs", "2", "--checkpoint-every", "2", "-q")
	if _, _, err := runCohort(t, again...); err == nil || !strings.Contains(err.Error(), "holds a finished run (model/); add --overwrite") {
		t.Fatalf("the same command after the finished run: %v, want a refusal naming the finished run", err)
	}
	if _, stderr, err := runCohort(t, append(again, "--overwrite")...); err != nil {
		t.Fatalf("the same command with --overwrite after the finished run: %v\n%s", err, stderr)
	}
}

// dirNames are the names in dir, sorted.
func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var s []string
	for _, e := range es {
		s = append(s, e.Name())
	}
	slices.Sort(s)
	return s
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
