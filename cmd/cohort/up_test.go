package main

import (
	"context"
	"path/filepath"
	"regexp"
	"syscall"
	"testing"
	"time"

	"github.com/cohort-clv/cohort/membership"
)

// TestUp runs `cohort up --workers 2`: it prints where its coordinator and
// etcd are, its two workers register, a worker killed with SIGKILL is
// started again (a new process registers under the same name), and SIGTERM
// stops the whole cluster cleanly, leaving no worker process behind.
func TestUp(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd, _, _ := cohortCmd(t, ctx, "up", "--workers", "2", "--data-dir", filepath.Join(t.TempDir(), "up"),
		"--listen", "127.0.0.1:0", "--health-addr", "", "--lease-ttl", "2s", "--threads", "1")
	stdoutSync := &syncBuffer{}
	cmd.Stdout = stdoutSync
	stderr := &syncBuffer{}
	cmd.Stderr = stderr
	exited := start(t, cmd)
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		<-exited
	}()
	banner := regexp.MustCompile(`cohort up: coordinator (\S+), etcd (\S+), 2 workers`)
	var m []string
	for m == nil {
		select {
		case err := <-exited:
			t.Fatalf("cohort up exited: %v\n%s", err, stderr)
		case <-ctx.Done():
			t.Fatalf("no banner:\n%s", stderr)
		case <-time.After(50 * time.Millisecond):
		}
		m = banner.FindStringSubmatch(stdoutSync.String())
	}
	cli, err := membership.Dial(ctx, membership.Config{Endpoints: []string{m[2]}})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	await := func(ok func(map[string]int) bool) map[string]int {
		for {
			pids := workerPids(t, ctx, cli)
			if ok(pids) {
				return pids
			}
			select {
			case err := <-exited:
				t.Fatalf("cohort up exited: %v\n%s", err, stderr)
			case <-ctx.Done():
				t.Fatalf("workers %v\n%s", pids, stderr)
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
	pids := await(func(p map[string]int) bool { return p["up-w0"] > 0 && p["up-w1"] > 0 })
	old := pids["up-w1"]
	if err := syscall.Kill(old, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	again := await(func(p map[string]int) bool { return p["up-w1"] > 0 && p["up-w1"] != old })
	t.Logf("worker up-w1: pid %d killed, pid %d registered", old, again["up-w1"])

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		exited <- err // for the deferred wait
		if err != nil {
			t.Fatalf("cohort up exited with %v after SIGTERM\n%s", err, stderr)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("cohort up still runs 20 s after SIGTERM")
	}
	for name, pid := range again {
		if alive(pid) {
			t.Errorf("worker %s (pid %d) still runs after cohort up exited", name, pid)
		}
	}
}
