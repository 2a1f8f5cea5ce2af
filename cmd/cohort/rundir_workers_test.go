//go:build unix

package main

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestTrainWorkersEtcdInRunDir is the audit's reproduction: SIGKILL of
// `cohort train --workers N` (what Airflow, the OOM killer and Kubernetes
// send last) left the embedded etcd's ~120 MB in $TMPDIR for good. The
// etcd now lives in OUT/.etcd: the killed run leaves it there and nothing
// in $TMPDIR, and the next run in OUT removes it, with the stale lock
// file, before it starts.
func TestTrainWorkersEtcdInRunDir(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp) // the children inherit it
	data := writeSynthShop(t, 2000)
	out := filepath.Join(t.TempDir(), "run")
	args := func(extra ...string) []string {
		return append(trainArgs(data, out, "--workers", "1", "--threads", "1", "--patience", "-1", "-q"), extra...)
	}

	cmd, _, stderr := cohortCmd(t, ctx, args("--epochs", "100000")...)
	exited := start(t, cmd)
	member := filepath.Join(out, etcdDir, "member")
	for {
		if _, err := os.Stat(member); err == nil {
			break
		}
		select {
		case err := <-exited:
			t.Fatalf("train --workers 1 ended before its etcd started in %s: %v\n%s", out, err, stderr)
		case <-time.After(10 * time.Millisecond):
		}
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-exited
	if _, err := os.Stat(member); err != nil {
		t.Fatalf("the killed run's etcd is not in %s: %v", out, err)
	}
	if _, err := os.Stat(filepath.Join(out, runLockFile)); err != nil {
		t.Fatalf("the killed run left no lock file (the test expects a stale one): %v", err)
	}
	leaked := func() []string {
		es, _ := os.ReadDir(tmp)
		var s []string
		for _, e := range es {
			if strings.HasPrefix(e.Name(), "cohort-etcd-") {
				s = append(s, e.Name())
			}
		}
		return s
	}
	if l := leaked(); len(l) > 0 {
		t.Errorf("the run used $TMPDIR for its etcd: %q", l)
	}

	// --overwrite: the killed run may have left checkpoints.
	run, _, stderr := cohortCmd(t, ctx, args("--epochs", "2", "--overwrite")...)
	if err := run.Run(); err != nil {
		t.Fatalf("train --workers 1 after the killed run: %v\n%s", err, stderr)
	}
	for _, name := range []string{etcdDir, runLockFile} {
		if _, err := os.Stat(filepath.Join(out, name)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("the finished run left %s: %v", name, err)
		}
	}
	if _, err := os.Stat(filepath.Join(out, "model", "model.json")); err != nil {
		t.Errorf("the second run wrote no model: %v", err)
	}
	if l := leaked(); len(l) > 0 {
		t.Errorf("the run used $TMPDIR for its etcd: %q", l)
	}
}
