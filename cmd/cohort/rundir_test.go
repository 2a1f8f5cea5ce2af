package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/cohort-clv/cohort/internal/dirlock"
	"github.com/cohort-clv/cohort/job"
)

// cancelOn runs `cohort args...` in this process and cancels it, as Ctrl-C
// would, as soon as stderr shows mark. It returns stderr and the error.
func cancelOn(t *testing.T, mark string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	root := newRootCmd()
	root.SetOut(new(bytes.Buffer))
	var mu sync.Mutex
	var stderr strings.Builder
	root.SetErr(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		stderr.Write(p)
		if strings.Contains(stderr.String(), mark) {
			cancel()
		}
		return len(p), nil
	}))
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	mu.Lock()
	defer mu.Unlock()
	return stderr.String(), err
}

// snapshot reads the files of a finished run, to tell whether a refused
// command touched them.
func snapshot(t *testing.T, out string) map[string]string {
	t.Helper()
	m := map[string]string{}
	for _, name := range []string{"model/model.json", "metrics.json", "report.html"} {
		b, err := os.ReadFile(filepath.Join(out, name))
		if err != nil {
			t.Fatal(err)
		}
		m[name] = string(b)
	}
	return m
}

func sameSnapshot(t *testing.T, out string, want map[string]string) {
	t.Helper()
	for name, b := range snapshot(t, out) {
		if b != want[name] {
			t.Errorf("%s changed", name)
		}
	}
}

// outputsIn are the run outputs, lock file and etcd directory in dir.
func outputsIn(dir string) []string {
	var got []string
	for _, name := range append(runOutputs(), runLockFile, etcdDir) {
		if _, err := os.Lstat(filepath.Join(dir, name)); err == nil {
			got = append(got, name)
		}
	}
	return got
}

// TestRunDirLifecycle ensures one run directory goes through its life as
// the audit asked: a process that holds it makes train, eval and demo
// fail at once, naming the holder; a finished run is refused without
// --overwrite by train (also with --resume=auto), by eval (which would
// replace its metrics) and by demo; eval --overwrite replaces the metrics
// and keeps the model; train --overwrite removes the old run's files
// before it trains, so an interruption leaves no old model behind; and
// --resume=auto then resumes, and once the run finished starts afresh
// with --overwrite. No lock file is left behind.
func TestRunDirLifecycle(t *testing.T) {
	dir := t.TempDir()
	data := writeShop(t, dir, "shop.csv", "customer_id,date,amount")
	out := filepath.Join(dir, "run")
	small := []string{"--hidden", "8", "--threads", "1", "--patience", "-1", "--batch", "256"}
	train := func(extra ...string) []string { return trainArgs(data, out, append(small, extra...)...) }
	if _, stderr, err := runCohort(t, train("--epochs", "1", "-q")...); err != nil {
		t.Fatalf("train: %v\n%s", err, stderr)
	}
	first := snapshot(t, out)
	evalArgs := func(extra ...string) []string {
		return append([]string{"eval", "--model", filepath.Join(out, "model"), "--data", data, "--out", out,
			"--calibration-end", calibrationEnd, "-q"}, extra...)
	}
	demo := []string{"demo", "--customers", "100", "--out", out, "-q"}

	t.Run("in use", func(t *testing.T) {
		l, err := dirlock.TryLock(filepath.Join(out, runLockFile))
		if err != nil {
			t.Fatal(err)
		}
		defer l.Unlock()
		want := fmt.Sprintf("--out %s is in use by another cohort process (pid %d)", out, os.Getpid())
		for _, args := range [][]string{train("--overwrite"), evalArgs("--overwrite"), demo} {
			_, stderr, err := runCohort(t, args...)
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("%s: %v, want %q", args[0], err, want)
			}
			if strings.Contains(stderr, stageText("read")) {
				t.Errorf("%s read the data before it was refused:\n%s", args[0], stderr)
			}
		}
		sameSnapshot(t, out, first)
	})

	t.Run("finished run", func(t *testing.T) {
		tests := []struct {
			name string
			args []string
			want string
		}{
			{"train", train("-q"), "--out " + out + ": holds a finished run (model/); add --overwrite to replace it"},
			{"train --resume=auto", train("-q", "--resume=auto"), "holds a finished run (model/); add --overwrite"},
			{"eval", evalArgs(), "--out " + out + " holds a training run (model/): eval would replace its metrics.json and report.html; add --overwrite"},
			{"demo", demo, "holds a run that is not a demo's (model/, and no shop.csv.gz)"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				if _, _, err := runCohort(t, tt.args...); err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Errorf("%v, want %q", err, tt.want)
				}
				sameSnapshot(t, out, first)
				if got := outputsIn(out); strings.Join(got, " ") != "model metrics.json report.html" {
					t.Errorf("--out holds %q", got)
				}
			})
		}
	})

	t.Run("eval --overwrite", func(t *testing.T) {
		if _, stderr, err := runCohort(t, evalArgs("--overwrite")...); err != nil {
			t.Fatalf("eval --overwrite: %v\n%s", err, stderr)
		}
		now := snapshot(t, out)
		if now["model/model.json"] != first["model/model.json"] {
			t.Error("eval replaced the model")
		}
		if now["metrics.json"] == first["metrics.json"] || strings.Contains(now["metrics.json"], `"history"`) {
			t.Error("eval --overwrite left the training metrics")
		}
	})

	// --overwrite removes the finished run before training: cut short
	// at its first epoch, the directory holds its checkpoints and no
	// model, metrics or report at all.
	ckpt := []string{"--epochs", "3", "--checkpoint-every", "1", "--seed", "7"}
	if _, err := cancelOn(t, "epoch   1/", train(append(ckpt, "--overwrite")...)...); !errors.Is(err, context.Canceled) {
		t.Fatalf("train --overwrite cut short: %v, want a cancellation", err)
	}
	if got := outputsIn(out); len(got) != 0 {
		t.Errorf("after the interrupted --overwrite run, --out holds %q, want no outputs and no lock file", got)
	}
	if _, _, err := job.LatestCheckpoint(job.CheckpointDir(out)); err != nil {
		t.Fatalf("the interrupted run left no checkpoint: %v", err)
	}

	// --resume=auto resumes what is there, then refuses the finished run,
	// and with --overwrite starts over; "--resume auto" reads the same.
	for i, tc := range []struct {
		args       []string
		wantResume bool
		wantErr    string
	}{
		{train(append(ckpt, "--resume=auto")...), true, ""},
		{train(append(ckpt, "--resume", "auto")...), false, "holds a finished run (model/)"},
		{train(append(ckpt, "--resume=auto", "--overwrite")...), false, ""},
	} {
		_, stderr, err := runCohort(t, tc.args...)
		switch {
		case tc.wantErr == "" && err != nil:
			t.Fatalf("run %d: %v\n%s", i, err, stderr)
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Fatalf("run %d: %v, want %q", i, err, tc.wantErr)
		}
		if got := strings.Contains(stderr, "resuming from "); got != tc.wantResume {
			t.Errorf("run %d resumed: %v, want %v\n%s", i, got, tc.wantResume, stderr)
		}
		if got := outputsIn(out); strings.Join(got, " ") != "model metrics.json report.html" {
			t.Errorf("run %d: --out holds %q", i, got)
		}
		if _, err := os.Stat(job.CheckpointDir(out)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("run %d left %s: %v", i, job.CheckpointDir(out), err)
		}
	}
}

// TestTrainInterruptedWriteLeavesNoModel is the audit's reproduction: an
// interruption while the run directory is written (the model saved, the
// report not yet) must not leave a model that predict would take for a
// finished run. The directory the command created goes with it.
func TestTrainInterruptedWriteLeavesNoModel(t *testing.T) {
	dir := t.TempDir()
	data := writeShop(t, dir, "shop.csv", "customer_id,date,amount")
	out := filepath.Join(dir, "fresh")
	_, err := cancelOn(t, stageText("write"), trainArgs(data, out, "--hidden", "8", "--epochs", "1", "--checkpoint-every", "0")...)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("train cut short while writing: %v, want a cancellation", err)
	}
	if _, err := os.Stat(out); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the interrupted run left %s (holding %q)", out, outputsIn(out))
	}
}

// unwritableDir is an existing directory this process cannot create files
// in: a 0555 one, or for root (whom permissions do not stop) /sys.
func unwritableDir(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		d := t.TempDir()
		if err := os.Chmod(d, 0o555); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.Chmod(d, 0o755) })
		return d
	}
	f, err := os.CreateTemp("/sys", ".probe-*")
	if err == nil {
		f.Close()
		os.Remove(f.Name())
		t.Skip("/sys is writable here")
	}
	if _, serr := os.Stat("/sys"); serr != nil {
		t.Skip("no /sys")
	}
	return "/sys"
}

// TestOutWriteCheck ensures every command that writes an --out checks
// that it can before the expensive work: with a log or model that does
// not exist, the error is about --out, not about them (which the old code
// reported first, after reading, or after training for train).
func TestOutWriteCheck(t *testing.T) {
	ro := unwritableDir(t)
	missing := filepath.Join(t.TempDir(), "missing.csv")
	tests := []struct {
		args []string
		out  string
	}{
		{[]string{"train", "-q", "--data", missing, "--horizon", "39w"}, ro},
		{[]string{"features", "-q", "--data", missing}, filepath.Join(ro, "f.csv")},
		{[]string{"features", "-q", "--data", missing}, filepath.Join(ro, "new", "dir", "f.csv")},
		{[]string{"predict", "-q", "--model", filepath.Join(t.TempDir(), "model"), "--data", missing}, filepath.Join(ro, "p.parquet")},
		{[]string{"gen", "-q", "--customers", "10"}, filepath.Join(ro, "g.csv.gz")},
	}
	for _, tt := range tests {
		t.Run(tt.args[0]+" "+tt.out, func(t *testing.T) {
			_, _, err := runCohort(t, append(tt.args, "--out", tt.out)...)
			want := "--out " + tt.out + ": cannot be written: "
			if err == nil || !strings.HasPrefix(err.Error(), want) || strings.Contains(err.Error(), ".cohort") {
				t.Errorf("%v, want %q and the cause (no temporary or lock file name)", err, want)
			}
		})
	}
}

// TestCheckWritable ensures the probe leaves nothing behind in a
// directory it can write.
func TestCheckWritable(t *testing.T) {
	dir := t.TempDir()
	if err := checkWritable(dir); err != nil {
		t.Fatal(err)
	}
	if err := checkOutFileWritable(filepath.Join(dir, "a", "b", "p.csv")); err != nil {
		t.Fatal(err)
	}
	if names := dirNames(t, dir); len(names) != 0 {
		t.Errorf("the probe left %q", names)
	}
}

// TestDemoTwice ensures `cohort demo` run twice into one directory (the
// README's first command, typed again) replaces its own earlier demo.
func TestDemoTwice(t *testing.T) {
	out := filepath.Join(t.TempDir(), "demo")
	for i, seed := range []string{"11", "12"} {
		_, stderr, err := runCohort(t, "demo", "--customers", "100", "--seed", seed, "--out", out)
		if err != nil {
			t.Fatalf("demo %d: %v\n%s", i+1, err, stderr)
		}
		if got := strings.Contains(stderr, "replacing the earlier demo in "+out); got != (i == 1) {
			t.Errorf("demo %d says it replaces an earlier demo: %v\n%s", i+1, got, stderr)
		}
	}
	if names := dirNames(t, out); strings.Join(names, " ") != "metrics.json model report.html shop.csv.gz" {
		t.Errorf("--out holds %q", names)
	}
	tr, err := job.LoadTrained(filepath.Join(out, "model"))
	if err != nil {
		t.Fatal(err)
	}
	if tr.Net.Config.Seed != 12 {
		t.Errorf("the model is not the second demo's: seed %d", tr.Net.Config.Seed)
	}
}
