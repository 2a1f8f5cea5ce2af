package coordinator

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	cohortv1 "github.com/cohort-clv/cohort/proto/cohort/v1"
	"github.com/cohort-clv/cohort/rpcerr"
)

// TestQueuedJobReadsNoData submits a job whose log cannot be read to a
// cluster without workers. While it waits PENDING it has not read its
// data (it has not failed on it: a queue of waiting jobs holds no data in
// the leader's memory); once a worker registers it reads the log and
// fails on it.
func TestQueuedJobReadsNoData(t *testing.T) {
	cli := jobsEtcd(t)
	s, err := NewServer(ServerConfig{Client: cli, Name: "c1", Listen: "127.0.0.1:0", TTL: 2 * time.Second, Threads: 1,
		Logger: slog.New(slog.DiscardHandler)})
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
	conn, err := grpc.NewClient(s.Addr(), grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithChainUnaryInterceptor(rpcerr.UnaryClientInterceptor()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	jc := cohortv1.NewJobsClient(conn)

	data := filepath.Join(t.TempDir(), "junk.csv")
	if err := os.WriteFile(data, []byte("customer,date,amount\nA,yesterday,12\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	spec := &cohortv1.JobSpec{Name: "queued", Source: &cohortv1.JobSpec_DataPath{DataPath: data}, OutDir: t.TempDir(),
		Read:  &cohortv1.ReadOptions{CalibrationEnd: "2024-09-30", Horizon: "39w"},
		Model: &cohortv1.ModelConfig{MaxEpochs: 2, Seed: 1}, MinWorkers: 1, MaxWorkers: 1}
	sub, err := jc.Submit(t.Context(), &cohortv1.SubmitRequest{Spec: spec})
	if err != nil {
		t.Fatal(err)
	}
	id := sub.GetJob().GetId()
	await := func(what string, ok func(*cohortv1.Job) bool) *cohortv1.Job {
		t.Helper()
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			rec, err := ReadJob(t.Context(), cli, id)
			if err != nil {
				t.Fatal(err)
			}
			if ok(rec) {
				return rec
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: the record stayed %s %q", what, rec.GetState(), rec.GetMessage())
			}
		}
	}
	await("waiting", func(r *cohortv1.Job) bool { return strings.HasPrefix(r.GetMessage(), "waiting for workers: 0 live") })
	time.Sleep(500 * time.Millisecond)
	if rec, _ := ReadJob(t.Context(), cli, id); rec.GetState() != cohortv1.JobState_JOB_STATE_PENDING {
		t.Fatalf("a job waiting for workers is %s (%s): it read its data before it could run", rec.GetState(), rec.GetError())
	}
	fakeWorker(t, cli, "w0")
	rec := await("failed", func(r *cohortv1.Job) bool { return r.GetState().Terminal() })
	if rec.GetState() != cohortv1.JobState_JOB_STATE_FAILED || !strings.Contains(rec.GetError(), "junk.csv:2") {
		t.Errorf("once a worker came the job ended %s %q; want FAILED naming junk.csv:2", rec.GetState(), rec.GetError())
	}
}
