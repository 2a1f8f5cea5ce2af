package main

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cohort-clv/cohort/internal/freeport"
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
	// The restart line names the worker (not "worker process 0") and its
	// backoff as a readable duration.
	type restartLine struct {
		Msg, Worker string
		RestartIn   string `json:"restart_in"`
		Pid         int
	}
	var restart restartLine
	for _, line := range strings.Split(stderr.String(), "\n") {
		var rec restartLine
		if json.Unmarshal([]byte(line), &rec) == nil && strings.Contains(rec.Msg, "worker process ended") {
			restart = rec
		}
	}
	if restart.Worker != "up-w1" || restart.Pid != old || restart.RestartIn != "1s" {
		t.Errorf("restart logged %+v, want worker up-w1, pid %d, restart_in 1s\n%s", restart, old, stderr)
	}
	// The banner lists each worker's /metrics, which stays put across a
	// restart.
	metrics := regexp.MustCompile(`up-w1 (http://\S+)/metrics`).FindStringSubmatch(stdoutSync.String())
	if metrics == nil {
		t.Fatalf("banner lacks up-w1's /metrics:\n%s", stdoutSync)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		code, body := httpGet(metrics[1] + "/readyz")
		if code == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("restarted up-w1 at %s/readyz: %d %q", metrics[1], code, body)
		}
	}

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

// TestUpBanner ensures up's banner gives commands that reach it: the submit
// hint names --coordinator when the job commands would not dial up's
// address by default, and top names --etcd unless etcd is at top's default.
func TestUpBanner(t *testing.T) {
	for _, tc := range []struct {
		name, coord, etcd, env string
		workers                int
		want, dont             []string
	}{
		{name: "defaults", coord: defaultCoordinator, etcd: "http://127.0.0.1:38377", workers: 2,
			want: []string{"cohort up: coordinator 127.0.0.1:7070, etcd http://127.0.0.1:38377, 2 workers\n",
				"submit jobs with:  cohort submit job.yaml\n", "cohort top --etcd http://127.0.0.1:38377\n"},
			dont: []string{"--coordinator"}},
		{name: "listen elsewhere", coord: "127.0.0.1:23070", etcd: "http://127.0.0.1:38377", workers: 1,
			want: []string{", 1 worker\n", "cohort submit job.yaml --coordinator 127.0.0.1:23070",
				"export COHORT_COORDINATOR=127.0.0.1:23070"}},
		{name: "env points at it", coord: "127.0.0.1:23070", env: "127.0.0.1:23070", etcd: "http://127.0.0.1:1", workers: 0,
			want: []string{", 0 workers\n", "cohort submit job.yaml\n"}, dont: []string{"--coordinator"}},
		{name: "env points elsewhere", coord: defaultCoordinator, env: "10.0.0.1:7070", etcd: "http://127.0.0.1:1",
			want: []string{"cohort submit job.yaml --coordinator 127.0.0.1:7070"}},
		{name: "etcd at top's default", coord: defaultCoordinator, etcd: "http://" + defaultEtcd,
			want: []string{"see the cluster:   cohort top\n"}, dont: []string{"--etcd"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := upBanner(tc.coord, tc.etcd, tc.workers, tc.env)
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("banner lacks %q:\n%s", w, got)
				}
			}
			for _, d := range tc.dont {
				if strings.Contains(got, d) {
					t.Errorf("banner has %q:\n%s", d, got)
				}
			}
		})
	}
}

// TestUpTakenPorts ensures a port another process holds fails up at once,
// before it starts etcd, naming the flag that chose it.
func TestUpTakenPorts(t *testing.T) {
	held, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	taken := held.Addr().String()
	for _, tc := range []struct {
		flag string
		want string
	}{
		{"--health-addr", `or --health-addr "" to turn /healthz and /metrics off`},
		{"--listen", "point the job commands at it with --coordinator"},
		{"--etcd-listen", "leave --etcd-listen out"},
	} {
		t.Run(tc.flag, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "up")
			args := []string{"up", "--workers", "0", "--data-dir", dir, "--listen", "127.0.0.1:0", "--health-addr", ""}
			_, _, err := runCohort(t, append(args, tc.flag, taken)...)
			if err == nil || !strings.HasPrefix(err.Error(), tc.flag+" "+taken+": ") || !strings.Contains(err.Error(), "address already in use") ||
				!strings.Contains(err.Error(), tc.want) {
				t.Errorf("up %s %s (taken): error %v, want one naming the flag, the cause and %q", tc.flag, taken, err, tc.want)
			}
			if _, err := os.Stat(filepath.Join(dir, "etcd")); err == nil {
				t.Errorf("up started etcd before finding %s taken", tc.flag)
			}
		})
	}
	if _, _, err := runCohort(t, "up", "--etcd-listen", "2379", "--data-dir", t.TempDir()); err == nil ||
		!strings.Contains(err.Error(), `--etcd-listen "2379": want HOST:PORT`) {
		t.Errorf("--etcd-listen 2379: %v", err)
	}
}

// TestUpEtcdListen runs `cohort up --etcd-listen ADDR`: the banner shows
// ADDR as etcd's address, with the top and submit commands that reach the
// cluster, and cohort top --etcd ADDR reads the cluster through it.
func TestUpEtcdListen(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	etcdAddr := freeport.Addr(t)
	cmd, _, _ := cohortCmd(t, ctx, "up", "--workers", "0", "--data-dir", filepath.Join(t.TempDir(), "up"),
		"--listen", "127.0.0.1:0", "--health-addr", "", "--etcd-listen", etcdAddr)
	stdout, stderr := &syncBuffer{}, &syncBuffer{}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	exited := start(t, cmd)
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		<-exited
	}()
	banner := regexp.MustCompile(`cohort up: coordinator (\S+), etcd (\S+), 0 workers\n(?:.*\n){2}`)
	var m []string
	for m == nil {
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("cohort up exited: %v\n%s", err, stderr)
		case <-ctx.Done():
			t.Fatalf("no banner:\n%s", stderr)
		case <-time.After(50 * time.Millisecond):
		}
		m = banner.FindStringSubmatch(stdout.String())
	}
	pinned := "http://" + etcdAddr
	for _, w := range []string{"etcd " + pinned + ",", "cohort top --etcd " + pinned + "\n", "cohort submit job.yaml --coordinator " + m[1]} {
		if !strings.Contains(m[0], w) {
			t.Errorf("banner lacks %q:\n%s", w, m[0])
		}
	}
	out, _, err := runCohort(t, "top", "--etcd", pinned, "--json")
	if err != nil {
		t.Fatalf("top through --etcd-listen: %v\n%s", err, stderr)
	}
	var snap struct {
		Workers []any `json:"workers"`
	}
	if err := json.Unmarshal([]byte(out), &snap); err != nil || snap.Workers == nil {
		t.Errorf("top --json through --etcd-listen: %v:\n%s", err, out)
	}
}
