package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"

	"github.com/cohort-clv/cohort/clusterview"
	"github.com/cohort-clv/cohort/internal/etcdtest"
	"github.com/cohort-clv/cohort/internal/freeport"
	"github.com/cohort-clv/cohort/membership"
	cohortv1 "github.com/cohort-clv/cohort/proto/cohort/v1"
)

func u32(v uint32) *uint32 { return &v }
func u64(v uint64) *uint64 { return &v }

// fakeCluster starts an embedded etcd holding two registered workers (one
// with a GPU, one CPU-only, both training rank of "tmux-job") and that job's
// record; it returns the client endpoints. Everything stops with the test.
func fakeCluster(t *testing.T, ctx context.Context) string {
	t.Helper()
	eps, cli := etcdtest.Start(t)
	sess, err := membership.NewSession(ctx, cli)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sess.Close() })
	workers := map[string]*cohortv1.NodeStatus{
		"tmux-gpu-worker": {Hostname: "gpu-host", Gpus: []*cohortv1.GPUSummary{{Index: 0, Name: "NVIDIA H100", Healthy: true,
			UtilizationPercent: u32(73), MemoryUsedBytes: u64(20 << 30), MemoryTotalBytes: u64(80 << 30), PowerMilliwatts: u32(350000)}},
			Activity: &cohortv1.WorkerActivity{JobId: "tmux-job", Rank: 0, Allreduces: 10, ComputeSeconds: 0.1}},
		"tmux-cpu-worker": {Hostname: "cpu-host", NvmlError: "gpustats: NVML not available",
			Host:     &cohortv1.HostSummary{Cpus: 4, MemoryUsedBytes: u64(1 << 30), MemoryTotalBytes: u64(8 << 30)},
			Activity: &cohortv1.WorkerActivity{JobId: "tmux-job", Rank: 1, Allreduces: 10, ComputeSeconds: 0.1}},
	}
	for name, node := range workers {
		b, err := protojson.Marshal(&cohortv1.WorkerStatus{Node: node})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := membership.Register(ctx, sess, name, b); err != nil {
			t.Fatal(err)
		}
	}
	job, _ := protojson.Marshal(&cohortv1.Job{Id: "tmux-job", State: cohortv1.JobState_JOB_STATE_RUNNING, Workers: 2})
	if _, err := cli.Put(ctx, membership.JobKey("tmux-job"), string(job)); err != nil {
		t.Fatal(err)
	}

	return strings.Join(eps, ",")
}

// TestGpusEtcd ensures `cohort gpus --etcd` lists every GPU of the cluster
// with its worker, and the GPU-less machine, in the table and in JSON.
func TestGpusEtcd(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	endpoints := fakeCluster(t, ctx)
	out, _, err := runCohort(t, "gpus", "--etcd", endpoints)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "tmux-gpu-worker  gpu-host  0") || !strings.Contains(out, "73%") ||
		!strings.Contains(out, "tmux-cpu-worker") || !strings.Contains(out, "NVML not available") {
		t.Errorf("table:\n%s", out)
	}
	out, _, err = runCohort(t, "gpus", "--etcd", endpoints, "--json")
	if err != nil {
		t.Fatal(err)
	}
	var c clusterview.Cluster
	if err := json.Unmarshal([]byte(out), &c); err != nil {
		t.Fatalf("json: %v\n%s", err, out)
	}
	if len(c.GPUs) != 1 || c.GPUs[0].Worker != "tmux-gpu-worker" || c.GPUs[0].PowerWatts == nil || *c.GPUs[0].PowerWatts != 350 ||
		c.GPUs[0].TemperatureCelsius != nil || len(c.Hosts) != 2 {
		t.Errorf("cluster %+v", c)
	}
}

// TestTopPlain ensures `cohort top` without a terminal prints one plain
// snapshot with both workers and exits.
func TestTopPlain(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	endpoints := fakeCluster(t, ctx)
	out, _, err := runCohort(t, "top", "--etcd", endpoints, "--sort", "util")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(out, "cohort top ") != 1 || !strings.Contains(out, "tmux-gpu-worker") || !strings.Contains(out, "4 cpus") {
		t.Errorf("output:\n%s", out)
	}
	if _, _, err := runCohort(t, "top", "--etcd", endpoints, "--sort", "speed"); err == nil || !strings.Contains(err.Error(), "--sort") {
		t.Errorf("bad --sort: %v", err)
	}
}

// TestTopUnderTmux ensures `cohort top` on a real terminal (a tmux pane)
// shows the registered workers with a GPU row and a CPU row, and quits on q.
// It needs tmux: CI installs it (apt-get install -y tmux); elsewhere the test
// skips without it.
func TestTopUnderTmux(t *testing.T) {
	tmux, err := exec.LookPath("tmux")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("tmux not found; CI must install it (apt-get install -y tmux)")
		}
		t.Skip("tmux not found")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	endpoints := fakeCluster(t, ctx)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	// A private server socket keeps the test away from the user's tmux.
	socket := fmt.Sprintf("cohort-top-test-%d", os.Getpid())
	run := func(args ...string) (string, error) {
		out, err := exec.CommandContext(ctx, tmux, append([]string{"-L", socket}, args...)...).CombinedOutput()
		return string(out), err
	}
	defer run("kill-server")
	if out, err := run("new-session", "-d", "-s", "top", "-x", "160", "-y", "48", "-e", asMain+"=1",
		exe, "top", "--etcd", endpoints); err != nil {
		t.Fatalf("tmux new-session: %v: %s", err, out)
	}
	var screen string
	deadline := time.Now().Add(20 * time.Second)
	for {
		screen, err = run("capture-pane", "-p", "-t", "top")
		if err != nil {
			t.Fatalf("tmux capture-pane: %v: %s", err, screen)
		}
		if strings.Contains(screen, "tmux-gpu-worker") && strings.Contains(screen, "tmux-cpu-worker") &&
			strings.Contains(screen, "GPU 0") && strings.Contains(screen, "4 cpus") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("screen never showed both workers with a GPU and a CPU row:\n%s", screen)
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("screen:\n%s", screen)
	if !strings.Contains(screen, "73%") || !strings.Contains(screen, "tmux-job") {
		t.Errorf("screen lacks the GPU's utilisation or the job:\n%s", screen)
	}
	if out, err := run("send-keys", "-t", "top", "q"); err != nil {
		t.Fatalf("tmux send-keys: %v: %s", err, out)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if _, err := run("has-session", "-t", "top"); err != nil {
			break // q ended top, and with it the session
		}
		if time.Now().After(deadline) {
			screen, _ = run("capture-pane", "-p", "-t", "top")
			t.Fatalf("top still running 10 s after q:\n%s", screen)
		}
	}
}

// TestWorkerPublishesMachine ensures a real `cohort worker` process
// publishes its machine (hostname, and host CPU and memory or GPUs) in its
// etcd status within a few seconds, where `cohort gpus --etcd` reads it.
func TestWorkerPublishesMachine(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	eps, cli := etcdtest.Start(t)
	wctx, stop := context.WithCancel(ctx)
	cmd, _, stderr := cohortCmd(t, wctx, "worker", "--etcd", strings.Join(eps, ","), "--name", "real-worker")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { stop(); _ = cmd.Wait() }()
	host, _ := os.Hostname()
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(250 * time.Millisecond) {
		s, err := clusterview.Read(ctx, cli, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		c := clusterview.ClusterOf(s)
		if len(c.Hosts) == 1 && c.Hosts[0].Err == "" {
			h := c.Hosts[0]
			if h.Worker != "real-worker" || h.Hostname != host || (h.GPUs == 0 && h.CPUs == 0) {
				t.Errorf("host row %+v, want real-worker on %s with GPUs or CPUs", h, host)
			}
			if h.GPUs == 0 && h.NVMLError == "" {
				t.Errorf("no GPUs and no reason why: %+v", h)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no machine status within 20 s: %+v\nworker stderr:\n%s", c.Hosts, stderr)
		}
	}
}

// TestTopJSON ensures `cohort top --json` prints one snapshot: the workers
// with their published status and the jobs, as protojson.
func TestTopJSON(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	endpoints := fakeCluster(t, ctx)
	out, _, err := runCohort(t, "top", "--etcd", endpoints, "--json")
	if err != nil {
		t.Fatal(err)
	}
	var snap struct {
		Time    time.Time `json:"time"`
		Workers []struct {
			Name   string          `json:"name"`
			Status json.RawMessage `json:"status"`
		} `json:"workers"`
		Jobs []json.RawMessage `json:"jobs"`
	}
	if err := json.Unmarshal([]byte(out), &snap); err != nil {
		t.Fatalf("%v:\n%s", err, out)
	}
	if snap.Time.IsZero() || len(snap.Workers) != 2 || len(snap.Jobs) != 1 {
		t.Fatalf("snapshot %+v, want a time, 2 workers, 1 job:\n%s", snap, out)
	}
	var ws cohortv1.WorkerStatus
	if err := protojson.Unmarshal(snap.Workers[1].Status, &ws); err != nil || snap.Workers[1].Name != "tmux-gpu-worker" ||
		ws.GetNode().GetHostname() != "gpu-host" {
		t.Errorf("worker %s: %v, status %v", snap.Workers[1].Name, err, &ws)
	}
	var j cohortv1.Job
	if err := protojson.Unmarshal(snap.Jobs[0], &j); err != nil || j.GetId() != "tmux-job" {
		t.Errorf("job: %v, %v", err, &j)
	}
	if _, _, err := runCohort(t, "top", "--etcd", endpoints, "--json", "--interval", "1s"); err == nil {
		t.Error("top --json --interval 1s: accepted")
	}
}

// TestEtcdUnreachableHint ensures top and gpus --etcd, when no etcd
// answers, say that cohort up prints its etcd address (and, for top's
// default, that up can serve one there).
func TestEtcdUnreachableHint(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"top default", []string{"top"}, []string{"no --etcd given, so top tried " + defaultEtcd,
			"cohort up prints the address of its etcd", "--etcd-listen " + defaultEtcd}},
		{"top --etcd", []string{"top", "--etcd", freeport.Addr(t)}, []string{"cohort up prints the address of its etcd"}},
		{"gpus --etcd", []string{"gpus", "--etcd", freeport.Addr(t)}, []string{"cohort up prints the address of its etcd"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel() // each waits out the dial timeout
			if len(tc.args) == 1 {
				if c, err := net.DialTimeout("tcp", defaultEtcd, time.Second); err == nil {
					c.Close()
					t.Skip("something listens at " + defaultEtcd)
				}
			}
			_, _, err := runCohort(t, tc.args...)
			for _, w := range tc.want {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Errorf("%v: error %v, want one containing %q", tc.args, err, w)
				}
			}
		})
	}
}
