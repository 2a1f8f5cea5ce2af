package worker_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/cohort-clv/cohort/coordinator"
	"github.com/cohort-clv/cohort/membership"
	cohortv1 "github.com/cohort-clv/cohort/proto/cohort/v1"
	"github.com/cohort-clv/cohort/rpcerr"
	"github.com/cohort-clv/cohort/sweeprun"
)

// server runs a coordinator Server until the test ends or the returned
// function stops it (a clean stop: it resigns).
func server(t *testing.T, cli *clientv3.Client, name string) (*coordinator.Server, context.CancelFunc) {
	t.Helper()
	s, err := coordinator.NewServer(coordinator.ServerConfig{Client: cli, Name: name, Listen: "127.0.0.1:0", TTL: 2 * time.Second,
		Threads: 1, CheckpointEvery: 10, ChecksumEvery: 5, Logger: slog.New(slog.NewTextHandler(t.Output(), nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := s.Run(ctx); err != nil {
			t.Errorf("coordinator %s: %v", name, err)
		}
	})
	t.Cleanup(func() { cancel(); wg.Wait() })
	return s, cancel
}

// jobsClient dials a coordinator's Jobs API.
func jobsClient(t *testing.T, addr string) cohortv1.JobsClient {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithChainUnaryInterceptor(rpcerr.UnaryClientInterceptor()),
		grpc.WithChainStreamInterceptor(rpcerr.StreamClientInterceptor()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return cohortv1.NewJobsClient(conn)
}

// jobSpec is the proto of a small synthetic job of the given epochs, with
// early stopping off so it runs them all.
func jobSpec(t *testing.T, out string, epochs, workers int) *cohortv1.JobSpec {
	t.Helper()
	s := spec(t, out, epochs)
	return &cohortv1.JobSpec{Name: "test", Source: &cohortv1.JobSpec_DataPath{DataPath: s.Data}, OutDir: out,
		Read:       &cohortv1.ReadOptions{CalibrationEnd: "1997-09-30", Horizon: "39w"},
		Model:      &cohortv1.ModelConfig{MaxEpochs: uint32(epochs), Patience: -1, Seed: 7, Batch: 128},
		MinWorkers: uint32(workers), MaxWorkers: uint32(workers)}
}

// awaitLeader waits until s leads.
func awaitLeader(t *testing.T, s *coordinator.Server) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !s.Leading() {
		if time.Now().After(deadline) {
			t.Fatal("coordinator never led")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// awaitJob reads job id from etcd until ok says yes, and returns it.
func awaitJob(t *testing.T, cli *clientv3.Client, id string, within time.Duration, ok func(*cohortv1.Job) bool) *cohortv1.Job {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		rec, err := coordinator.ReadJob(context.Background(), cli, id)
		if err == nil && ok(rec) {
			return rec
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s: condition not met within %v; last record %v (%v)", id, within, rec, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func finished(r *cohortv1.Job) bool { return r.GetState().Terminal() }

// TestServerTakeover submits a job to the leading coordinator, stops it
// mid-job, and checks that the standby takes the job over: the workers go
// on from their state in a new generation (not from scratch), the job
// succeeds under the standby, and checkpoints were recorded on the way.
func TestServerTakeover(t *testing.T) {
	cli := etcd(t)
	cluster(t, cli, "tk", 3, 2*time.Second)
	s1, stop1 := server(t, cli, "c1")
	awaitLeader(t, s1)
	s2, _ := server(t, cli, "c2")

	// The standby refuses the Jobs API, naming the leader.
	_, err := jobsClient(t, s2.Addr()).List(context.Background(), &cohortv1.ListRequest{})
	if !errors.Is(err, rpcerr.ErrNotLeader) {
		t.Fatalf("standby List: %v, want not leader", err)
	}

	out := t.TempDir()
	resp, err := jobsClient(t, s1.Addr()).Submit(context.Background(), &cohortv1.SubmitRequest{Spec: jobSpec(t, out, 12, 3)})
	if err != nil {
		t.Fatal(err)
	}
	id := resp.GetJob().GetId()
	before := awaitJob(t, cli, id, time.Minute, func(r *cohortv1.Job) bool {
		return r.GetState() == cohortv1.JobState_JOB_STATE_RUNNING && r.GetEpoch() >= 3 && r.GetCheckpointStep() > 0 || finished(r)
	})
	if finished(before) {
		t.Fatalf("job ended before the leader was stopped: %v", before)
	}
	stop1()
	awaitLeader(t, s2)

	// Every epoch record after the takeover continues from where the job
	// was: a generation that started over would report epoch 1 again.
	var mu sync.Mutex
	var epochs []uint32
	wctx, wcancel := context.WithCancel(context.Background())
	defer wcancel()
	go func() {
		for wr := range cli.Watch(wctx, membership.JobKey(id), clientv3.WithRev(0)) {
			for _, ev := range wr.Events {
				rec := &cohortv1.Job{}
				if protojson.Unmarshal(ev.Kv.Value, rec) == nil && rec.GetGeneration() > before.GetGeneration() {
					mu.Lock()
					epochs = append(epochs, rec.GetEpoch())
					mu.Unlock()
				}
			}
		}
	}()
	rec := awaitJob(t, cli, id, 2*time.Minute, finished)
	if rec.GetState() != cohortv1.JobState_JOB_STATE_SUCCEEDED {
		t.Fatalf("job ended %v: %s", rec.GetState(), rec.GetError())
	}
	if rec.GetCoordinator() != "c2" || rec.GetGeneration() <= before.GetGeneration() {
		t.Errorf("finished under %q in generation %d, want c2 after generation %d", rec.GetCoordinator(), rec.GetGeneration(), before.GetGeneration())
	}
	if rec.GetMetrics().GetCustomers() == 0 {
		t.Errorf("no test metrics recorded: %v", rec.GetMetrics())
	}
	if _, err := os.Stat(filepath.Join(out, "model", "model.json")); err != nil {
		t.Errorf("model not written: %v", err)
	}
	mu.Lock()
	for _, e := range epochs {
		if e != 0 && e < before.GetEpoch() {
			t.Errorf("after the takeover the job reported epoch %d, before it was at epoch %d: it started over", e, before.GetEpoch())
			break
		}
	}
	mu.Unlock()
	ptr, err := coordinator.ReadCheckpoint(context.Background(), cli, id)
	if err != nil || ptr == nil || ptr.GetStep() == 0 || ptr.GetStep()%10 != 0 {
		t.Fatalf("checkpoint pointer %v (%v), want one at a multiple of 10 steps", ptr, err)
	}
	// The job succeeded, so it removed its checkpoint files; the pointer
	// stays in etcd as a record of the last one.
	if _, err := os.Stat(ptr.GetPath()); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("checkpoint file of the succeeded job: %v, want it removed", err)
	}
	// The finished job keeps only its last plan in etcd.
	plans, err := cli.Get(context.Background(), membership.GenerationsPrefix(id), clientv3.WithPrefix(), clientv3.WithKeysOnly())
	if err != nil {
		t.Fatal(err)
	}
	if len(plans.Kvs) != 1 || string(plans.Kvs[0].Key) != membership.GenerationKey(id, rec.GetGeneration()) {
		t.Errorf("%d plans left in etcd, want only generation %d's", len(plans.Kvs), rec.GetGeneration())
	}
}

// TestServerResumeAfterFullRestart stops the coordinator and every worker
// mid-job, then starts a new coordinator and new workers: the job goes on
// from its last checkpoint, not from the first epoch.
func TestServerResumeAfterFullRestart(t *testing.T) {
	cli := etcd(t)
	_, stopWorkers := cluster(t, cli, "old", 2, 2*time.Second)
	s1, stop1 := server(t, cli, "c1")
	awaitLeader(t, s1)
	out := t.TempDir()
	resp, err := jobsClient(t, s1.Addr()).Submit(context.Background(), &cohortv1.SubmitRequest{Spec: jobSpec(t, out, 14, 2)})
	if err != nil {
		t.Fatal(err)
	}
	id := resp.GetJob().GetId()
	awaitJob(t, cli, id, time.Minute, func(r *cohortv1.Job) bool { return r.GetCheckpointStep() >= 20 || finished(r) })
	stop1()
	stopWorkers(0)
	stopWorkers(1)
	ptr, err := coordinator.ReadCheckpoint(context.Background(), cli, id)
	if err != nil || ptr == nil {
		t.Fatalf("checkpoint pointer %v (%v)", ptr, err)
	}
	rec, err := coordinator.ReadJob(context.Background(), cli, id)
	if err != nil {
		t.Fatal(err)
	}
	if rec.GetState() != cohortv1.JobState_JOB_STATE_RUNNING {
		t.Fatalf("after the coordinator stopped the job is %v, want RUNNING for the next one", rec.GetState())
	}

	cluster(t, cli, "new", 2, 2*time.Second)
	s2, _ := server(t, cli, "c2")
	awaitLeader(t, s2)
	// The first epoch the new generation reports is the checkpoint's epoch
	// or later (the record holds the old coordinator's last epoch until then).
	next := awaitJob(t, cli, id, time.Minute, func(r *cohortv1.Job) bool {
		return r.GetGeneration() > rec.GetGeneration() && r.GetStep() > rec.GetStep() || finished(r)
	})
	if next.GetEpoch() < ptr.GetEpoch() {
		t.Errorf("resumed at epoch %d, the checkpoint holds epoch %d", next.GetEpoch(), ptr.GetEpoch())
	}
	done := awaitJob(t, cli, id, 2*time.Minute, finished)
	if done.GetState() != cohortv1.JobState_JOB_STATE_SUCCEEDED {
		t.Fatalf("job ended %v: %s", done.GetState(), done.GetError())
	}
}

// TestServerCancel cancels a running job through the Jobs API: it ends
// CANCELLED with the reason, and its workers are free for the next job.
func TestServerCancel(t *testing.T) {
	cli := etcd(t)
	cluster(t, cli, "cx", 2, 2*time.Second)
	s, _ := server(t, cli, "c1")
	awaitLeader(t, s)
	jc := jobsClient(t, s.Addr())
	resp, err := jc.Submit(context.Background(), &cohortv1.SubmitRequest{Spec: jobSpec(t, t.TempDir(), 200, 2)})
	if err != nil {
		t.Fatal(err)
	}
	id := resp.GetJob().GetId()
	awaitJob(t, cli, id, time.Minute, func(r *cohortv1.Job) bool { return r.GetEpoch() >= 1 || finished(r) })
	if _, err := jc.Cancel(context.Background(), &cohortv1.CancelRequest{JobId: id, Reason: "wrong data"}); err != nil {
		t.Fatal(err)
	}
	rec := awaitJob(t, cli, id, 30*time.Second, finished)
	if rec.GetState() != cohortv1.JobState_JOB_STATE_CANCELLED || rec.GetError() != "cancelled: wrong data" {
		t.Fatalf("job ended %v with %q, want CANCELLED with the reason", rec.GetState(), rec.GetError())
	}
	if resp, err := cli.Get(context.Background(), coordinator.CancelKey(id)); err != nil || len(resp.Kvs) != 0 {
		t.Errorf("cancel request still in etcd after the job ended (%v)", err)
	}
	next, err := jc.Submit(context.Background(), &cohortv1.SubmitRequest{Spec: jobSpec(t, t.TempDir(), 2, 2)})
	if err != nil {
		t.Fatal(err)
	}
	after := awaitJob(t, cli, next.GetJob().GetId(), time.Minute, finished)
	if after.GetState() != cohortv1.JobState_JOB_STATE_SUCCEEDED {
		t.Fatalf("the next job ended %v: %s", after.GetState(), after.GetError())
	}
}

// awaitSweep waits until sweep id is done and returns its summary.
func awaitSweep(t *testing.T, cli *clientv3.Client, id string, within time.Duration) *sweeprun.Summary {
	t.Helper()
	for deadline := time.Now().Add(within); ; time.Sleep(100 * time.Millisecond) {
		sum, err := sweeprun.Done(context.Background(), cli, id)
		if err != nil {
			t.Fatal(err)
		}
		if sum != nil {
			return sum
		}
		if time.Now().After(deadline) {
			t.Fatalf("sweep %s not done within %v", id, within)
		}
	}
}

// TestServerSweepTakeover runs a cluster sweep (sweeprun.Submit) on the
// leading coordinator's workers, stops that coordinator mid-sweep, and
// checks the standby resumes it: the sweep finishes, no trial completes
// twice, the sampler holds an observation of every finished trial (it
// continued from the stored ones rather than starting over), and no trial
// job is left RUNNING.
func TestServerSweepTakeover(t *testing.T) {
	cli := etcd(t)
	cluster(t, cli, "sw", 3, 2*time.Second)
	s1, stop1 := server(t, cli, "c1")
	awaitLeader(t, s1)
	s2, _ := server(t, cli, "c2")

	data := spec(t, t.TempDir(), 1).Data
	sp, err := sweeprun.ParseSpec([]byte(fmt.Sprintf(`
data: %s
calibration_end: "1997-09-30"
horizon: 39w
model: {max_epochs: 5, patience: -1, batch: 128}
space:
  parameters:
    - {name: lr, type: float, min: 0.0003, max: 0.01, log: true}
sampler: {algorithm: tpe}
trials: 8
parallel: 2
early_stopping: {rule: none}
seed: 5
`, data)))
	if err != nil {
		t.Fatal(err)
	}
	const id = "Sweep_1"
	ctx := context.Background()
	completions := map[string]int{}
	var mu sync.Mutex
	wctx, wcancel := context.WithCancel(ctx)
	defer wcancel()
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		for wr := range cli.Watch(wctx, sweeprun.SweepsPrefix+id+"/trials/", clientv3.WithPrefix()) {
			for _, ev := range wr.Events {
				var tr sweeprun.Trial
				if json.Unmarshal(ev.Kv.Value, &tr) == nil && tr.Status == sweeprun.Completed {
					mu.Lock()
					completions[string(ev.Kv.Key)]++
					mu.Unlock()
				}
			}
		}
	}()
	if err := sweeprun.Submit(ctx, cli, id, sp, t.TempDir()); err != nil {
		t.Fatal(err)
	}
	finishedTrials := func() int {
		_, trials, err := sweeprun.Load(ctx, cli, id)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, tr := range trials {
			if tr.Finished() {
				n++
			}
		}
		return n
	}
	deadline := time.Now().Add(time.Minute)
	for finishedTrials() < 2 {
		if time.Now().After(deadline) {
			t.Fatal("no two trials finished within a minute")
		}
		time.Sleep(50 * time.Millisecond)
	}
	state, err := sweeprun.SamplerState(ctx, cli, id)
	if err != nil {
		t.Fatal(err)
	}
	before, err := sweeprun.Observations(state)
	if err != nil {
		t.Fatal(err)
	}
	stop1()
	awaitLeader(t, s2)
	sum := awaitSweep(t, cli, id, 3*time.Minute)
	if sum.Error != "" || sum.Trials != 8 || sum.Completed != 8 {
		t.Fatalf("sweep summary %+v, want 8 trials completed", sum)
	}
	state, err = sweeprun.SamplerState(ctx, cli, id)
	if err != nil {
		t.Fatal(err)
	}
	after, err := sweeprun.Observations(state)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("observations: %d when the leader stopped, %d at the end", before, after)
	if before < 2 || after != 8 {
		t.Errorf("sampler observations %d before the takeover and %d after, want >= 2 and 8", before, after)
	}
	wcancel()
	<-watched
	mu.Lock()
	for k, n := range completions {
		if n > 1 {
			t.Errorf("trial %s completed %d times", k, n)
		}
	}
	if len(completions) != 8 {
		t.Errorf("%d trials completed, want 8", len(completions))
	}
	mu.Unlock()
	resp, err := cli.Get(ctx, membership.JobsPrefix+"sw-", clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	jobs := 0
	for _, kv := range resp.Kvs {
		rec := &cohortv1.Job{}
		if strings.Contains(strings.TrimPrefix(string(kv.Key), membership.JobsPrefix), "/") || protojson.Unmarshal(kv.Value, rec) != nil {
			continue
		}
		jobs++
		if !finished(rec) {
			t.Errorf("trial job %s left %v", rec.GetId(), rec.GetState())
		}
	}
	if jobs < 8 {
		t.Errorf("%d trial jobs recorded, want at least 8", jobs)
	}
}

// TestServerWaitsForWorkers loses a running job's only worker: the job is
// recorded PENDING (nobody trains it) rather than failed or left RUNNING,
// and a worker that registers later takes it on from its checkpoint.
func TestServerWaitsForWorkers(t *testing.T) {
	cli := etcd(t)
	s, _ := server(t, cli, "c1")
	id, waiting, ptr := orphanedJob(t, cli, s, "solo-w0")
	if waiting.GetState() != cohortv1.JobState_JOB_STATE_PENDING || waiting.GetWorkers() != 0 {
		t.Fatalf("after its only worker left the job is %v with %d workers, want PENDING with 0", waiting.GetState(), waiting.GetWorkers())
	}
	startWorker(t, cli, "solo-w1", 2*time.Second)
	next := awaitJob(t, cli, id, time.Minute, func(r *cohortv1.Job) bool {
		return r.GetGeneration() > waiting.GetGeneration() && r.GetStep() > waiting.GetStep() || finished(r)
	})
	if next.GetEpoch() < ptr.GetEpoch() {
		t.Errorf("the new worker reported epoch %d, the checkpoint holds epoch %d: it started over", next.GetEpoch(), ptr.GetEpoch())
	}
	done := awaitJob(t, cli, id, time.Minute, finished)
	if done.GetState() != cohortv1.JobState_JOB_STATE_SUCCEEDED {
		t.Fatalf("job ended %v: %s", done.GetState(), done.GetError())
	}
}

// TestServerSweepASHA runs a cluster sweep with ASHA on 2 workers, 2
// trials at a time: pruned trials stop early (fewer epochs than running
// every trial to the end), their jobs end CANCELLED rather than RUNNING,
// and freed workers take the next trials.
func TestServerSweepASHA(t *testing.T) {
	cli := etcd(t)
	cluster(t, cli, "asha", 2, 2*time.Second)
	s, _ := server(t, cli, "c1")
	awaitLeader(t, s)
	sp, err := sweeprun.ParseSpec([]byte(fmt.Sprintf(`
data: %s
calibration_end: "1997-09-30"
horizon: 39w
model: {max_epochs: 9, patience: -1, batch: 128}
space:
  parameters:
    - {name: lr, type: float, min: 0.0001, max: 0.01, log: true}
sampler: {algorithm: tpe}
trials: 8
parallel: 2
early_stopping: {rule: asha, asha: {min_resource: 1, eta: 3}}
seed: 1
`, spec(t, t.TempDir(), 1).Data)))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := sweeprun.Submit(ctx, cli, "asha", sp, t.TempDir()); err != nil {
		t.Fatal(err)
	}
	sum := awaitSweep(t, cli, "asha", 2*time.Minute)
	_, trials, err := sweeprun.Load(ctx, cli, "asha")
	if err != nil {
		t.Fatal(err)
	}
	pruned := 0
	for _, tr := range trials {
		if tr.Status == sweeprun.Pruned {
			pruned++
		}
	}
	t.Logf("%d trials, %d completed, %d pruned, %d epochs of %d for every trial to the end", len(trials), sum.Completed, pruned, sum.Epochs, 8*9)
	if sum.Error != "" || len(trials) != 8 || pruned == 0 || sum.Completed == 0 || sum.Epochs >= 8*9 {
		t.Errorf("summary %+v with %d pruned: want 8 trials, some pruned, some completed, fewer than 72 epochs", sum, pruned)
	}
	resp, err := cli.Get(ctx, membership.JobsPrefix+"sw-asha", clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	cancelled := 0
	for _, kv := range resp.Kvs {
		rec := &cohortv1.Job{}
		if strings.Contains(strings.TrimPrefix(string(kv.Key), membership.JobsPrefix), "/") || protojson.Unmarshal(kv.Value, rec) != nil {
			continue
		}
		if !finished(rec) {
			t.Errorf("trial job %s left %v", rec.GetId(), rec.GetState())
		}
		if rec.GetState() == cohortv1.JobState_JOB_STATE_CANCELLED {
			cancelled++
		}
	}
	if cancelled != pruned {
		t.Errorf("%d trial jobs CANCELLED, %d trials pruned", cancelled, pruned)
	}
}

// TestServerTakeoverWhileWaiting stops the leading coordinator while a job
// waits PENDING for workers: the next leader continues it after its last
// generation, from its checkpoint, rather than start it over at generation 1.
func TestServerTakeoverWhileWaiting(t *testing.T) {
	cli := etcd(t)
	s1, stop1 := server(t, cli, "c1")
	id, waiting, ptr := orphanedJob(t, cli, s1, "wait-w0")
	if waiting.GetState() != cohortv1.JobState_JOB_STATE_PENDING {
		t.Fatalf("job %v, want PENDING", waiting.GetState())
	}
	stop1()
	s2, _ := server(t, cli, "c2")
	awaitLeader(t, s2)
	startWorker(t, cli, "wait-w1", 2*time.Second)
	next := awaitJob(t, cli, id, time.Minute, func(r *cohortv1.Job) bool {
		return r.GetStep() > waiting.GetStep() || finished(r)
	})
	if next.GetGeneration() <= waiting.GetGeneration() || next.GetEpoch() < ptr.GetEpoch() {
		t.Errorf("after the takeover: generation %d epoch %d; before: generation %d, checkpoint at epoch %d",
			next.GetGeneration(), next.GetEpoch(), waiting.GetGeneration(), ptr.GetEpoch())
	}
	if done := awaitJob(t, cli, id, time.Minute, finished); done.GetState() != cohortv1.JobState_JOB_STATE_SUCCEEDED {
		t.Fatalf("job ended %v: %s", done.GetState(), done.GetError())
	}
}

// orphanedJob submits a job to s, which must become the leader, trains it
// on one worker named worker until it has a checkpoint, then stops that
// worker and waits until the job is PENDING or finished. It returns the
// job's id, that record and its checkpoint pointer.
func orphanedJob(t *testing.T, cli *clientv3.Client, s *coordinator.Server, worker string) (string, *cohortv1.Job, *cohortv1.CheckpointPointer) {
	t.Helper()
	stop := startWorker(t, cli, worker, 2*time.Second)
	awaitLeader(t, s)
	resp, err := jobsClient(t, s.Addr()).Submit(context.Background(), &cohortv1.SubmitRequest{Spec: jobSpec(t, t.TempDir(), 12, 1)})
	if err != nil {
		t.Fatal(err)
	}
	id := resp.GetJob().GetId()
	awaitJob(t, cli, id, time.Minute, func(r *cohortv1.Job) bool { return r.GetCheckpointStep() >= 20 || finished(r) })
	stop()
	waiting := awaitJob(t, cli, id, 30*time.Second, func(r *cohortv1.Job) bool {
		return r.GetState() == cohortv1.JobState_JOB_STATE_PENDING || finished(r)
	})
	ptr, err := coordinator.ReadCheckpoint(context.Background(), cli, id)
	if err != nil || ptr == nil {
		t.Fatalf("checkpoint pointer %v (%v)", ptr, err)
	}
	return id, waiting, ptr
}
