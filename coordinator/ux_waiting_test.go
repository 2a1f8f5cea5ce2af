package coordinator

import (
	"bytes"
	"context"
	"errors"
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

	"github.com/cohort-clv/cohort/job"
	"github.com/cohort-clv/cohort/membership"
	cohortv1 "github.com/cohort-clv/cohort/proto/cohort/v1"
	"github.com/cohort-clv/cohort/rpcerr"
	"github.com/cohort-clv/cohort/synth"
)

// syncLog is a log sink the server's goroutines and the test share.
type syncLog struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *syncLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *syncLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// fakeWorker registers a worker with a ring address under a lease of its
// own and returns a function that ends the lease (the worker goes away).
// Nothing listens at the address: the tests that use it never get as far
// as a generation.
func fakeWorker(t *testing.T, cli *clientv3.Client, name string) func() {
	t.Helper()
	sess, err := membership.NewSession(t.Context(), cli, membership.WithTTL(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	st, err := protojson.Marshal(&cohortv1.WorkerStatus{RingAddr: "127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := membership.Register(t.Context(), sess, name, st); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	stop := func() { once.Do(func() { sess.Close() }) }
	t.Cleanup(stop)
	return stop
}

// smallShop writes a synthetic log of a few hundred customers.
func smallShop(t *testing.T) string {
	t.Helper()
	cfg := synth.DefaultConfig(synth.BGNBD)
	cfg.Customers = 300
	var buf bytes.Buffer
	if err := synth.WriteCSV(t.Context(), &buf, cfg); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "shop.csv")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestServerSaysWhyAJobWaits submits a job that needs 5 workers to a
// cluster of 2: the job's record, its watch snapshot and its events say
// how many workers are live and how many it needs, as workers come and go.
// A cancel then ends the waiting job at once: it is CANCELLED (not put
// back to PENDING by its owner) and the owner's goroutine returns rather
// than live until the coordinator stops.
func TestServerSaysWhyAJobWaits(t *testing.T) {
	cli := jobsEtcd(t)
	logs := &syncLog{}
	s, err := NewServer(ServerConfig{Client: cli, Name: "c1", Listen: "127.0.0.1:0", TTL: 2 * time.Second, Threads: 1,
		Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = s.Run(ctx) })
	t.Cleanup(func() { stop(); wg.Wait() })
	for deadline := time.Now().Add(20 * time.Second); !s.Leading(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the coordinator never led")
		}
	}
	fakeWorker(t, cli, "w0")
	fakeWorker(t, cli, "w1")

	conn, err := grpc.NewClient(s.Addr(), grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithChainUnaryInterceptor(rpcerr.UnaryClientInterceptor()),
		grpc.WithChainStreamInterceptor(rpcerr.StreamClientInterceptor()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	jc := cohortv1.NewJobsClient(conn)
	spec := &cohortv1.JobSpec{Name: "wait", Source: &cohortv1.JobSpec_DataPath{DataPath: smallShop(t)}, OutDir: t.TempDir(),
		Read:       &cohortv1.ReadOptions{CalibrationEnd: "1997-09-30", Horizon: "39w"},
		Model:      &cohortv1.ModelConfig{MaxEpochs: 2, Seed: 1},
		MinWorkers: 5, MaxWorkers: 5}
	sub, err := jc.Submit(t.Context(), &cohortv1.SubmitRequest{Spec: spec})
	if err != nil {
		t.Fatal(err)
	}
	id := sub.GetJob().GetId()
	awaitRecord := func(what string, ok func(*cohortv1.Job) bool) *cohortv1.Job {
		t.Helper()
		var rec *cohortv1.Job
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			if rec, err = ReadJob(t.Context(), cli, id); err == nil && ok(rec) {
				return rec
			}
			if time.Now().After(deadline) {
				t.Fatalf("job %s: %s: last record %v (%v)\n%s", id, what, rec, err, logs)
			}
		}
	}
	const two, three = "waiting for workers: 2 live, needs 5", "waiting for workers: 3 live, needs 5"
	rec := awaitRecord("message "+two, func(r *cohortv1.Job) bool { return r.GetMessage() == two })
	if rec.GetState() != cohortv1.JobState_JOB_STATE_PENDING {
		t.Errorf("waiting job is %v, want PENDING", rec.GetState())
	}

	st, err := jc.Watch(t.Context(), &cohortv1.WatchRequest{JobId: id})
	if err != nil {
		t.Fatal(err)
	}
	recv := func() *cohortv1.JobEvent {
		t.Helper()
		ev, err := st.Recv()
		if err != nil {
			t.Fatalf("watch: %v\n%s", err, logs)
		}
		return ev
	}
	if ev := recv(); ev.GetMessage() != "state PENDING: "+two {
		t.Errorf("snapshot message %q, want %q", ev.GetMessage(), "state PENDING: "+two)
	}
	gone := fakeWorker(t, cli, "w2")
	if ev := recv(); ev.GetKind() != cohortv1.JobEvent_KIND_PROGRESS || ev.GetMessage() != three {
		t.Errorf("after a third worker came: %v %q, want PROGRESS %q", ev.GetKind(), ev.GetMessage(), three)
	}
	gone()
	if ev := recv(); ev.GetMessage() != two {
		t.Errorf("after it went: %v %q, want %q", ev.GetKind(), ev.GetMessage(), two)
	}

	if _, ok := s.job(id); !ok {
		t.Fatalf("job %s does not run on the leader", id)
	}
	cancelled := time.Now()
	if _, err := jc.Cancel(t.Context(), &cohortv1.CancelRequest{JobId: id, Reason: "test"}); err != nil {
		t.Fatal(err)
	}
	for {
		if _, ok := s.job(id); !ok {
			break
		}
		if time.Since(cancelled) > 5*time.Second {
			t.Fatalf("job %s still runs on the leader 5s after its cancel\n%s", id, logs)
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("the cancelled job's goroutine returned %v after the cancel", time.Since(cancelled).Round(time.Millisecond))
	// A worker that comes now must not start the cancelled job.
	fakeWorker(t, cli, "w3")
	fakeWorker(t, cli, "w4")
	fakeWorker(t, cli, "w5")
	time.Sleep(500 * time.Millisecond)
	rec = awaitRecord("CANCELLED", func(r *cohortv1.Job) bool { return r.GetState().Terminal() })
	if rec.GetState() != cohortv1.JobState_JOB_STATE_CANCELLED || rec.GetError() != "cancelled: test" || rec.GetMessage() != "" ||
		rec.GetGeneration() != 0 {
		t.Errorf("after the cancel: %v, error %q, message %q, generation %d; want CANCELLED, %q, no message, no generation",
			rec.GetState(), rec.GetError(), rec.GetMessage(), rec.GetGeneration(), "cancelled: test")
	}
	if strings.Contains(logs.String(), "left to the next leader") {
		t.Errorf("the cancelled job was left to the next leader:\n%s", logs)
	}
	if n, err := cli.Get(t.Context(), CancelKey(id), clientv3.WithCountOnly()); err != nil || n.Count != 0 {
		t.Errorf("cancel key of the pending job: %v (%v), want none", n, err)
	}
}

// TestJobWriteKeepsACancel ensures a job's write after Jobs.Cancel ended
// its PENDING record fails as a cancellation instead of overwriting it,
// and that End then leaves the CANCELLED record as Cancel wrote it.
func TestJobWriteKeepsACancel(t *testing.T) {
	cli := jobsEtcd(t)
	ctx := t.Context()
	svc := newTestJobs(cli, fakeLeadership{}, JobsOptions{})
	putJobRecord(t, cli, &cohortv1.Job{Id: "held", State: cohortv1.JobState_JOB_STATE_PENDING})
	rec, rev, err := readJobRevision(ctx, cli, "held")
	if err != nil {
		t.Fatal(err)
	}
	j := newJob(Config{Client: cli, JobID: "held", Record: rec, RecordRevision: rev}, "")
	if err := j.put(ctx, func(r *cohortv1.Job) { r.Message = waitingMessage(1, 1, 2) }); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Cancel(ctx, &cohortv1.CancelRequest{JobId: "held", Reason: "no longer needed"}); err != nil {
		t.Fatal(err)
	}
	err = j.put(ctx, func(r *cohortv1.Job) { r.State = cohortv1.JobState_JOB_STATE_RUNNING })
	var cr errCancelRequested
	if !errors.Is(err, context.Canceled) || !errors.As(err, &cr) || cr.reason != "no longer needed" {
		t.Fatalf("write after the cancel: %v, want the cancellation with its reason", err)
	}
	if err := j.End(ctx, nil, err); err != nil {
		t.Fatal(err)
	}
	got, err := ReadJob(ctx, cli, "held")
	if err != nil {
		t.Fatal(err)
	}
	if got.GetState() != cohortv1.JobState_JOB_STATE_CANCELLED || got.GetError() != "cancelled: no longer needed" || got.GetMessage() != "" {
		t.Errorf("record after End: %v %q, message %q; want Cancel's CANCELLED record", got.GetState(), got.GetError(), got.GetMessage())
	}
}

// TestWaitingMessage pins the text users read in status and watch.
func TestWaitingMessage(t *testing.T) {
	for _, tc := range []struct {
		live, free, need int
		want             string
	}{
		{2, 2, 5, "waiting for workers: 2 live, needs 5"},
		{0, 0, 1, "waiting for workers: 0 live, needs 1"},
		{4, 1, 2, "waiting for workers: 4 live (3 busy with other jobs), needs 2"},
	} {
		if got := waitingMessage(tc.live, tc.free, tc.need); got != tc.want {
			t.Errorf("waitingMessage(%d, %d, %d) = %q, want %q", tc.live, tc.free, tc.need, got, tc.want)
		}
	}
}

// TestDescribeChangeUX ensures a watch says what changed for a waiting job
// and that a checkpoint row's step is the checkpoint's.
func TestDescribeChangeUX(t *testing.T) {
	pending := func(msg string) *cohortv1.Job {
		return &cohortv1.Job{State: cohortv1.JobState_JOB_STATE_PENDING, Message: msg}
	}
	for _, tc := range []struct {
		prev, cur *cohortv1.Job
		kind      cohortv1.JobEvent_Kind
		msg       string
	}{
		{pending("waiting for workers: 2 live, needs 5"), pending("waiting for workers: 3 live, needs 5"),
			cohortv1.JobEvent_KIND_PROGRESS, "waiting for workers: 3 live, needs 5"},
		{&cohortv1.Job{State: cohortv1.JobState_JOB_STATE_RUNNING}, pending("waiting for workers: 1 live, needs 2"),
			cohortv1.JobEvent_KIND_STATE, "state RUNNING -> PENDING: waiting for workers: 1 live, needs 2"},
		{pending("waiting for workers: 1 live, needs 2"), &cohortv1.Job{State: cohortv1.JobState_JOB_STATE_RUNNING, Generation: 1},
			cohortv1.JobEvent_KIND_STATE, "state PENDING -> RUNNING"},
	} {
		kind, msg := describeChange(tc.prev, tc.cur)
		if kind != tc.kind || msg != tc.msg {
			t.Errorf("describeChange(%v, %v) = %v %q, want %v %q", tc.prev, tc.cur, kind, msg, tc.kind, tc.msg)
		}
	}
}

// TestCheckpointAdvancesStep ensures the record's step is never behind
// the checkpoint it records: a checkpoint of step 100 is 100 steps done,
// even when the last epoch ended at step 99.
func TestCheckpointAdvancesStep(t *testing.T) {
	cli := jobsEtcd(t)
	ctx := t.Context()
	j := newJob(Config{Client: cli, JobID: "ckpt", CheckpointDir: "/tmp"}, "")
	if err := j.put(ctx, func(r *cohortv1.Job) { r.State, r.Step, r.Epoch = cohortv1.JobState_JOB_STATE_RUNNING, 99, 3 }); err != nil {
		t.Fatal(err)
	}
	ptr := &cohortv1.CheckpointPointer{Step: 100, Epoch: 4, Path: "/tmp/" + job.CheckpointName("ckpt", 100), Sha256: strings.Repeat("ab", 32)}
	if err := j.checkpointed(ctx, &cohortv1.ReportRequest{Worker: "w0"}, ptr); err != nil {
		t.Fatal(err)
	}
	rec, err := ReadJob(ctx, cli, "ckpt")
	if err != nil {
		t.Fatal(err)
	}
	if rec.GetStep() != 100 || rec.GetCheckpointStep() != 100 {
		t.Errorf("after a checkpoint of step 100: step %d, checkpoint step %d; want both 100", rec.GetStep(), rec.GetCheckpointStep())
	}
}
