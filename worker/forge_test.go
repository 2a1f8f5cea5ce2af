package worker_test

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/cohort-clv/cohort/allreduce"
	"github.com/cohort-clv/cohort/membership"
	cohortv1 "github.com/cohort-clv/cohort/proto/cohort/v1"
	"github.com/cohort-clv/cohort/rpcerr"
)

// TestForgedRequestsRefused runs a real job on two in-process workers and,
// while it trains, sends what a client that can reach the coordinator and
// the workers, but not etcd, can send (audit 7 net #4, #8): Shard, Report
// (epoch, error, checkpoint), ReportFinal and a ring hello that name the
// right job, generation, rank and worker but carry no token, or a wrong
// one. Every one is refused with PERMISSION_DENIED, and the job still
// succeeds with a model that learned something.
func TestForgedRequestsRefused(t *testing.T) {
	cli := etcd(t)
	cluster(t, cli, "fg", 2, 2*time.Second)
	s, _ := server(t, cli, "c1")
	awaitLeader(t, s)
	out := t.TempDir()
	resp, err := jobsClient(t, s.Addr()).Submit(context.Background(), &cohortv1.SubmitRequest{Spec: jobSpec(t, out, 40, 2)})
	if err != nil {
		t.Fatal(err)
	}
	id := resp.GetJob().GetId()
	rec := awaitJob(t, cli, id, time.Minute, func(r *cohortv1.Job) bool {
		return r.GetState() == cohortv1.JobState_JOB_STATE_RUNNING && r.GetEpoch() >= 1 || finished(r)
	})
	if finished(rec) {
		t.Fatalf("job ended before the forgeries: %v", rec)
	}
	// What an etcd client sees: the plan, with its token.
	gr, err := cli.Get(context.Background(), membership.GenerationKey(id, rec.GetGeneration()))
	if err != nil || len(gr.Kvs) == 0 {
		t.Fatalf("read plan: %v", err)
	}
	plan := &cohortv1.GenerationPlan{}
	if err := cohortv1.UnmarshalRecord(gr.Kvs[0].Value, plan); err != nil {
		t.Fatal(err)
	}
	if len(plan.GetToken()) != cohortv1.TokenLen {
		t.Fatalf("plan token of %d bytes, want %d", len(plan.GetToken()), cohortv1.TokenLen)
	}
	conn, err := grpc.NewClient(plan.GetCoordinatorAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithChainUnaryInterceptor(rpcerr.UnaryClientInterceptor()),
		grpc.WithChainStreamInterceptor(rpcerr.StreamClientInterceptor()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	coord, data := cohortv1.NewCoordinatorClient(conn), cohortv1.NewDataClient(conn)
	gen, w0 := plan.GetGeneration(), plan.GetWorkers()[0].GetName()
	wrong := append([]byte(nil), plan.GetToken()...)
	wrong[0] ^= 1

	for _, token := range [][]byte{nil, wrong} {
		name := "no token"
		if token != nil {
			name = "wrong token"
		}
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			denied := func(what string, err error) {
				t.Helper()
				if !errors.Is(err, rpcerr.ErrPermissionDenied) || status.Code(rpcerr.ToStatus(err)) != codes.PermissionDenied {
					t.Errorf("%s: %v, want PERMISSION_DENIED", what, err)
				}
			}
			st, err := data.Shard(ctx, &cohortv1.ShardRequest{JobId: id, Generation: gen, Rank: 0, WorldSize: 2,
				Split: cohortv1.Split_SPLIT_TRAIN, Token: token})
			if err == nil {
				_, err = st.Recv()
			}
			denied("Shard", err)
			for _, r := range []*cohortv1.ReportRequest{
				{Report: &cohortv1.ReportRequest_Error{Error: "forged: boom"}},
				{Report: &cohortv1.ReportRequest_Epoch{Epoch: &cohortv1.EpochStats{Epoch: 39, TrainLoss: 0.1, Steps: 1}}},
				{Report: &cohortv1.ReportRequest_Checkpoint{Checkpoint: &cohortv1.CheckpointPointer{Step: 1, Path: "/etc/passwd",
					Sha256: strings.Repeat("ab", 32), Bytes: 1}}},
			} {
				r.JobId, r.Generation, r.Rank, r.Worker, r.Token = id, gen, 0, w0, token
				_, err := coord.Report(ctx, r)
				denied("Report", err)
			}
			fs, err := coord.ReportFinal(ctx)
			if err != nil {
				t.Fatal(err)
			}
			chunks := cohortv1.FinalModelChunks(&cohortv1.FinalModel{Params: make([]byte, 4),
				Epochs: []*cohortv1.EpochStats{{Epoch: 1}}})
			chunks[0].JobId, chunks[0].Generation, chunks[0].Worker, chunks[0].Token = id, gen, w0, token
			for _, c := range chunks {
				if err := fs.Send(c); err != nil {
					break
				}
			}
			_, err = fs.CloseAndRecv()
			denied("ReportFinal", err)

			// A ring hello to rank 1 claiming to be rank 0: refused before
			// it can take rank 0's lane.
			denied("ring hello", forgeHello(ctx, plan, token))
		})
	}

	done := awaitJob(t, cli, id, 2*time.Minute, finished)
	if done.GetState() != cohortv1.JobState_JOB_STATE_SUCCEEDED {
		t.Fatalf("job %s: %v: %s", id, done.GetState(), done.GetError())
	}
	if done.GetEpoch() != 40 || done.GetMetrics().GetNormalizedGini() < 0.3 {
		t.Errorf("job ended at epoch %d with Gini %.3f: want epoch 40 and a model that learned", done.GetEpoch(),
			done.GetMetrics().GetNormalizedGini())
	}
}

// forgeHello opens a lane to rank 1 of the plan as rank 0 with the given
// token and returns how the receiver answered.
func forgeHello(ctx context.Context, plan *cohortv1.GenerationPlan, token []byte) error {
	conn, err := grpc.NewClient(plan.GetWorkers()[1].GetRingAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()
	st, err := cohortv1.NewRingClient(conn).Stream(ctx, grpc.CallContentSubtype(allreduce.CodecName))
	if err != nil {
		return rpcerr.FromStatus(err)
	}
	hello := &cohortv1.Chunk{Job: plan.GetJobId(), Generation: plan.GetGeneration(), Phase: cohortv1.Phase_PHASE_HELLO,
		From: 0, To: 1, Lane: 0, Lanes: 1, Token: token}
	if err := st.Send(hello); err != nil && !errors.Is(err, io.EOF) {
		return rpcerr.FromStatus(err)
	}
	_, err = st.Recv()
	if err == nil {
		return errors.New("the receiver acked a forged hello")
	}
	return rpcerr.FromStatus(err)
}
