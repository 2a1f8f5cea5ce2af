package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/cohort-clv/cohort/coordinator"
	"github.com/cohort-clv/cohort/internal/etcdtest"
	"github.com/cohort-clv/cohort/membership"
	cohortv1 "github.com/cohort-clv/cohort/proto/cohort/v1"
	"github.com/cohort-clv/cohort/synth"
)

// asMain makes the test binary act as the cohort binary when set, so the
// real-process tests (and the workers they start, which inherit it) need
// no separate build.
const asMain = "COHORT_TEST_AS_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(asMain) == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// cohortCmd is the test binary run as `cohort args...`.
func cohortCmd(t *testing.T, ctx context.Context, args ...string) (*exec.Cmd, *bytes.Buffer, *bytes.Buffer) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, exe, args...)
	cmd.Env = append(os.Environ(), asMain+"=1")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	return cmd, &stdout, &stderr
}

// start starts cmd and returns the channel its Wait result arrives on.
func start(t *testing.T, cmd *exec.Cmd) chan error {
	t.Helper()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	return exited
}

// writeSynthShop writes a small synthetic shop and returns its path.
func writeSynthShop(t *testing.T, customers int) string {
	t.Helper()
	cfg := synth.DefaultConfig(synth.BGNBD)
	cfg.Customers = customers
	var buf bytes.Buffer
	if err := synth.WriteCSV(context.Background(), &buf, cfg); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "shop.csv")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestTrainWorkersProcesses ensures `cohort train --workers 2`, with real
// worker processes and the embedded etcd, writes the run directory with the
// test metrics of the single-process run to 4 digits, and that two such
// runs give bit-identical metrics.
func TestTrainWorkersProcesses(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	data := writeSynthShop(t, 2000)
	common := []string{"train", "--data", data, "--calibration-end", "1997-09-30", "--horizon", "39w",
		"--epochs", "3", "--importance-repeats", "0", "--threads", "1", "-q", "--json"}
	results := map[string]map[string]any{}
	for run, w := range []string{"0", "2", "2"} {
		out := filepath.Join(t.TempDir(), "run")
		cmd, stdout, stderr := cohortCmd(t, ctx, append(common, "--workers", w, "--out", out)...)
		if err := cmd.Run(); err != nil {
			t.Fatalf("--workers %s: %v\n%s", w, err, stderr)
		}
		var res struct {
			Model map[string]any `json:"model_metrics"`
		}
		if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
			t.Fatalf("--workers %s: decode result: %v\n%s", w, err, stdout)
		}
		for _, f := range []string{"model/model.json", "metrics.json", "report.html"} {
			if _, err := os.Stat(filepath.Join(out, f)); err != nil {
				t.Errorf("--workers %s: %v", w, err)
			}
		}
		if run == 2 {
			w = "again"
		}
		results[w] = res.Model
	}
	for _, k := range []string{"normalized_gini", "spearman", "auc", "rmse", "mae"} {
		a, ok1 := results["0"][k].(float64)
		b, ok2 := results["2"][k].(float64)
		if !ok1 || !ok2 || math.Abs(a-b) > 1e-4*max(1, math.Abs(a)) {
			t.Errorf("%s: single process %v, 2 workers %v", k, results["0"][k], results["2"][k])
		}
		if results["2"][k] != results["again"][k] {
			t.Errorf("%s: 2 workers gave %v, then %v", k, results["2"][k], results["again"][k])
		}
	}
}

// TestTrainWorkerKilled ensures that after kill -9 of one of 4 worker
// processes the job goes on in generation 2 of the 3 survivors within the
// lease TTL + 2 s of the kill, completes with its run directory written and
// a test Gini within 1% of the fault-free run, and that etcd records it
// SUCCEEDED and the parent's log shows the new generation.
func TestTrainWorkerKilled(t *testing.T) {
	const ttl = 2 * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	eps, cli := etcdtest.Start(t)
	data := writeSynthShop(t, 2000)
	args := func(out string) []string {
		return []string{"train", "--data", data, "--calibration-end", "1997-09-30", "--horizon", "39w",
			"--epochs", "60", "--patience", "-1", "--importance-repeats", "0", "--threads", "1", "-q", "--json",
			"--workers", "4", "--etcd", strings.Join(eps, ","), "--lease-ttl", ttl.String(), "--out", out}
	}
	gini := func(stdout *bytes.Buffer) float64 {
		var res struct {
			Model struct {
				Gini float64 `json:"normalized_gini"`
			} `json:"model_metrics"`
		}
		if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
			t.Fatalf("decode result: %v\n%s", err, stdout)
		}
		return res.Model.Gini
	}
	clean, cleanOut, cleanErr := cohortCmd(t, ctx, args(filepath.Join(t.TempDir(), "clean"))...)
	if err := clean.Run(); err != nil {
		t.Fatalf("fault-free run: %v\n%s", err, cleanErr)
	}
	want := gini(cleanOut)

	out := filepath.Join(t.TempDir(), "run")
	cmd, stdout, stderr := cohortCmd(t, ctx, args(out)...)
	exited := start(t, cmd)

	// Wait for the job's second epoch, then kill the worker of rank 1.
	id := awaitJob(t, ctx, cli, func(j *cohortv1.Job) bool {
		return j.GetState() == cohortv1.JobState_JOB_STATE_RUNNING && j.GetEpoch() >= 2
	}, exited, stderr)
	pids := workerPids(t, ctx, cli)
	if len(pids) != 4 {
		t.Fatalf("%d workers registered, want 4", len(pids))
	}
	victim := pids[id+"-w1"]
	killed := time.Now()
	if err := syscall.Kill(victim, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	rec, err := coordinator.ReadJob(ctx, cli, id)
	if err != nil {
		t.Fatal(err)
	}
	at := rec.GetEpoch()
	// The next epoch of generation 2 bounds the time to the next step.
	awaitJob(t, ctx, cli, func(j *cohortv1.Job) bool {
		return j.GetId() == id && (j.GetGeneration() >= 2 && j.GetEpoch() > at || j.GetState() != cohortv1.JobState_JOB_STATE_RUNNING)
	}, exited, stderr)
	took := time.Since(killed)
	t.Logf("generation 2 finished an epoch %v after the kill (epoch %d at the kill)", took, at)
	if took > ttl+2*time.Second {
		t.Errorf("generation 2 finished an epoch %v after the kill, want within TTL %v + 2s", took, ttl)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("cohort train failed after a worker died: %v\n%s", err, stderr)
		}
	case <-ctx.Done():
		t.Fatal("cohort train did not finish")
	}
	rec = awaitState(t, ctx, cli, id, cohortv1.JobState_JOB_STATE_SUCCEEDED)
	if rec.GetGeneration() != 2 || rec.GetWorkers() != 3 {
		t.Errorf("job record: generation %d, %d workers; want 2, 3", rec.GetGeneration(), rec.GetWorkers())
	}
	for _, f := range []string{"model/model.json", "metrics.json", "report.html"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Error(err)
		}
	}
	got := gini(stdout)
	t.Logf("test gini %.5f, fault-free %.5f", got, want)
	if math.Abs(got-want) > 0.01*math.Abs(want) {
		t.Errorf("test gini %.5f, fault-free %.5f: differ by more than 1%%", got, want)
	}
	if !strings.Contains(stderr.String(), "new generation") {
		t.Errorf("the parent's log does not show the new generation:\n%s", stderr)
	}
	for name, pid := range pids {
		if alive(pid) {
			t.Errorf("worker %s (pid %d) still runs after cohort train exited", name, pid)
		}
	}
}

// TestTrainParentKilled ensures the workers of `cohort train --workers`
// die with it when it is killed with SIGKILL (no orphans).
func TestTrainParentKilled(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("Pdeathsig is Linux only")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	eps, cli := etcdtest.Start(t)
	cmd, _, stderr := cohortCmd(t, ctx, "train", "--data", writeSynthShop(t, 2000), "--calibration-end", "1997-09-30",
		"--horizon", "39w", "--epochs", "100000", "--patience", "-1", "--importance-repeats", "0", "--threads", "1", "-q",
		"--workers", "2", "--etcd", strings.Join(eps, ","), "--lease-ttl", "2s", "--out", filepath.Join(t.TempDir(), "run"))
	exited := start(t, cmd)
	awaitJob(t, ctx, cli, func(j *cohortv1.Job) bool { return j.GetEpoch() >= 1 }, exited, stderr)
	pids := workerPids(t, ctx, cli)
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-exited
	deadline := time.Now().Add(5 * time.Second)
	for name, pid := range pids {
		for alive(pid) {
			if time.Now().After(deadline) {
				t.Fatalf("worker %s (pid %d) outlived its killed parent by 5s", name, pid)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// alive reports whether pid runs: it exists and is not a zombie waiting
// for a parent (or init) to reap it.
func alive(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return !errors.Is(err, os.ErrNotExist) && runtime.GOOS != "linux"
	}
	// The state follows the parenthesised command name: "pid (comm) S ...".
	i := bytes.LastIndexByte(stat, ')')
	return i < 0 || i+2 >= len(stat) || stat[i+2] != 'Z'
}

// awaitJob watches the job records until one satisfies ok and returns its id.
func awaitJob(t *testing.T, ctx context.Context, cli *clientv3.Client, ok func(*cohortv1.Job) bool, exited <-chan error, stderr *bytes.Buffer) string {
	t.Helper()
	for {
		resp, err := cli.Get(ctx, membership.JobsPrefix, clientv3.WithPrefix())
		if err != nil {
			t.Fatal(err)
		}
		for _, kv := range resp.Kvs {
			if strings.Contains(string(kv.Key), "/gen/") {
				continue
			}
			j := &cohortv1.Job{}
			if protojson.Unmarshal(kv.Value, j) == nil && ok(j) {
				return j.GetId()
			}
		}
		select {
		case err := <-exited:
			t.Fatalf("cohort train exited early: %v\n%s", err, stderr)
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// awaitState watches job id until it reaches state.
func awaitState(t *testing.T, ctx context.Context, cli *clientv3.Client, id string, state cohortv1.JobState) *cohortv1.Job {
	t.Helper()
	wch := cli.Watch(ctx, membership.JobKey(id))
	for {
		resp, err := cli.Get(ctx, membership.JobKey(id))
		if err != nil || len(resp.Kvs) == 0 {
			t.Fatalf("read job %s: %v", id, err)
		}
		j := &cohortv1.Job{}
		if err := protojson.Unmarshal(resp.Kvs[0].Value, j); err != nil {
			t.Fatal(err)
		}
		if j.GetState() == state {
			return j
		}
		select {
		case <-wch:
		case <-ctx.Done():
			t.Fatalf("job %s is %v, waited for %v: %v", id, j.GetState(), state, ctx.Err())
		}
	}
}

// workerPids reads the registered workers' pids by name.
func workerPids(t *testing.T, ctx context.Context, cli *clientv3.Client) map[string]int {
	t.Helper()
	resp, err := cli.Get(ctx, membership.WorkersPrefix, clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, kv := range resp.Kvs {
		st := &cohortv1.WorkerStatus{}
		if err := protojson.Unmarshal(kv.Value, st); err != nil {
			t.Fatal(err)
		}
		out[strings.TrimPrefix(string(kv.Key), membership.WorkersPrefix)] = int(st.GetPid())
	}
	return out
}

// TestWorkerCommand ensures `cohort worker` registers with its ring and
// health addresses, answers /healthz, and on SIGTERM exits 0 and removes
// its registration at once (it revokes its lease).
func TestWorkerCommand(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	eps, cli := etcdtest.Start(t)
	cmd, _, stderr := cohortCmd(t, ctx, "worker", "--etcd", strings.Join(eps, ","), "--name", "solo", "--lease-ttl", "10s")
	exited := start(t, cmd)
	var st cohortv1.WorkerStatus
	for st.GetHealthAddr() == "" {
		resp, err := cli.Get(ctx, membership.WorkerKey("solo"))
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.Kvs) == 1 {
			if err := protojson.Unmarshal(resp.Kvs[0].Value, &st); err != nil {
				t.Fatal(err)
			}
		}
		select {
		case err := <-exited:
			t.Fatalf("worker exited: %v\n%s", err, stderr)
		case <-time.After(20 * time.Millisecond):
		}
	}
	if st.GetRingAddr() == "" || st.GetPid() != int64(cmd.Process.Pid) {
		t.Errorf("status %v, want a ring address and pid %d", &st, cmd.Process.Pid)
	}
	resp, err := http.Get("http://" + st.GetHealthAddr() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || strings.TrimSpace(string(body)) != "ok" {
		t.Errorf("/healthz: %d %q", resp.StatusCode, body)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("worker exited with %v after SIGTERM\n%s", err, stderr)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("worker still running 5s after SIGTERM")
	}
	// The lease TTL is 10s: the key is gone this early only if revoked.
	if resp, err := cli.Get(ctx, membership.WorkerKey("solo")); err != nil || len(resp.Kvs) != 0 {
		t.Errorf("registration after exit: %v, %v", resp, err)
	}
}

// TestTrainMinWorkersFlag ensures --min-workers outside 1..--workers is
// refused with an error naming the flag.
func TestTrainMinWorkersFlag(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	data := writeSynthShop(t, 200)
	for _, mw := range []string{"0", "3"} {
		cmd, _, stderr := cohortCmd(t, ctx, "train", "--data", data, "--calibration-end", "1997-09-30", "--horizon", "39w",
			"--workers", "2", "--min-workers", mw, "-q", "--out", filepath.Join(t.TempDir(), "run"))
		if err := cmd.Run(); err == nil || !strings.Contains(stderr.String(), "--min-workers "+mw) {
			t.Errorf("--min-workers %s: exit %v, stderr %q; want an error naming the flag", mw, err, stderr)
		}
	}
}
