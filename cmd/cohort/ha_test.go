package main

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/cohort-clv/cohort/coordinator"
	"github.com/cohort-clv/cohort/membership"
	cohortv1 "github.com/cohort-clv/cohort/proto/cohort/v1"
	"github.com/cohort-clv/cohort/rpcerr"
)

// leader reads the leading coordinator's name and address from etcd.
func leader(ctx context.Context, cli *clientv3.Client) (string, string, error) {
	resp, err := cli.Get(ctx, membership.ElectionPrefix+"/", append(clientv3.WithFirstCreate(), clientv3.WithPrefix())...)
	if err != nil {
		return "", "", err
	}
	if len(resp.Kvs) == 0 {
		return "", "", membership.ErrNoLeader
	}
	return membership.ParseCoordinatorValue(string(resp.Kvs[0].Value))
}

// TestCoordinatorKilled runs a cluster of real processes (2 coordinators,
// 3 workers, the test's etcd), submits a CDNOW-sized synthetic job, kills
// the leading coordinator with SIGKILL mid-job, and checks that the standby
// takes the job over within the lease TTL plus a few seconds, that the job
// succeeds under it, and that its test Gini is within 1% of the same job's
// fault-free run on the same cluster.
func TestCoordinatorKilled(t *testing.T) {
	const ttl = 2 * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	emb, err := membership.StartEmbedded(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer emb.Close()
	eps := strings.Join(emb.Endpoints(), ",")
	cli, err := membership.Dial(ctx, membership.Config{Endpoints: emb.Endpoints()})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()

	procs := map[string]*exec.Cmd{}
	var logs []*bytes.Buffer
	start := func(name string, args ...string) {
		cmd, _, stderr := cohortCmd(t, ctx, args...)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		procs[name] = cmd
		logs = append(logs, stderr)
		t.Cleanup(func() {
			cmd.Process.Signal(syscall.SIGTERM)
			cmd.Wait()
		})
	}
	for i := range 3 {
		name := fmt.Sprintf("hw%d", i)
		start(name, "--log-level", "warn", "worker", "--etcd", eps, "--name", name, "--lease-ttl", ttl.String(), "--health-addr", "")
	}
	for _, name := range []string{"c1", "c2"} {
		start(name, "coordinator", "--etcd", eps, "--name", name, "--listen", "127.0.0.1:0", "--health-addr", "",
			"--lease-ttl", ttl.String(), "--threads", "1")
		time.Sleep(300 * time.Millisecond) // c1 campaigns first
	}
	defer func() {
		if t.Failed() {
			for _, l := range logs {
				t.Log(l.String())
			}
		}
	}()

	data := writeSynthShop(t, 3000)
	submit := func(out string) string {
		var lastErr error
		for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
			_, addr, err := leader(ctx, cli)
			if err != nil {
				lastErr = err
				continue
			}
			conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
				grpc.WithChainUnaryInterceptor(rpcerr.UnaryClientInterceptor()))
			if err != nil {
				t.Fatal(err)
			}
			resp, err := cohortv1.NewJobsClient(conn).Submit(ctx, &cohortv1.SubmitRequest{Spec: &cohortv1.JobSpec{
				Name: "ha", Source: &cohortv1.JobSpec_DataPath{DataPath: data}, OutDir: out,
				Read:       &cohortv1.ReadOptions{CalibrationEnd: "1997-09-30", Horizon: "39w"},
				Model:      &cohortv1.ModelConfig{MaxEpochs: 40, Patience: -1, Seed: 3, Batch: 128},
				MinWorkers: 2, MaxWorkers: 3, CheckpointEvery: 20, ImportanceRepeats: 0}})
			conn.Close()
			if err == nil {
				return resp.GetJob().GetId()
			}
			lastErr = err
		}
		t.Fatalf("submit: %v", lastErr)
		return ""
	}
	await := func(id string, ok func(*cohortv1.Job) bool) *cohortv1.Job {
		for {
			rec, err := coordinator.ReadJob(ctx, cli, id)
			if err == nil && ok(rec) {
				return rec
			}
			select {
			case <-ctx.Done():
				t.Fatalf("job %s: %v (last record %v)", id, ctx.Err(), rec)
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
	ended := func(r *cohortv1.Job) bool {
		s := r.GetState()
		return s == cohortv1.JobState_JOB_STATE_SUCCEEDED || s == cohortv1.JobState_JOB_STATE_FAILED || s == cohortv1.JobState_JOB_STATE_CANCELLED
	}

	clean := await(submit(filepath.Join(t.TempDir(), "clean")), ended)
	if clean.GetState() != cohortv1.JobState_JOB_STATE_SUCCEEDED {
		t.Fatalf("fault-free job ended %v: %s", clean.GetState(), clean.GetError())
	}
	want := clean.GetMetrics().GetNormalizedGini()

	id := submit(filepath.Join(t.TempDir(), "ha"))
	before := await(id, func(r *cohortv1.Job) bool { return r.GetEpoch() >= 3 || ended(r) })
	if ended(before) {
		t.Fatalf("job ended before the kill: %v", before)
	}
	lead, _, err := leader(ctx, cli)
	if err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	if err := procs[lead].Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	next := await(id, func(r *cohortv1.Job) bool {
		return r.GetGeneration() > before.GetGeneration() && r.GetEpoch() > before.GetEpoch() || ended(r)
	})
	took := time.Since(killed)
	t.Logf("leader %s killed at epoch %d; the standby's generation %d finished an epoch %v later", lead, before.GetEpoch(), next.GetGeneration(), took)
	if took > ttl+5*time.Second {
		t.Errorf("the standby's first epoch came %v after the kill, want within TTL %v + 5s", took, ttl)
	}
	rec := await(id, ended)
	if rec.GetState() != cohortv1.JobState_JOB_STATE_SUCCEEDED {
		t.Fatalf("job ended %v: %s", rec.GetState(), rec.GetError())
	}
	if rec.GetCoordinator() == lead || rec.GetCoordinator() == "" {
		t.Errorf("job finished under %q, the killed leader was %q", rec.GetCoordinator(), lead)
	}
	got := rec.GetMetrics().GetNormalizedGini()
	t.Logf("test gini %.5f, fault-free %.5f", got, want)
	if math.Abs(got-want) > 0.01*math.Abs(want) {
		t.Errorf("test gini %.5f, fault-free %.5f: differ by more than 1%%", got, want)
	}
}
