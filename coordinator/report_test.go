package coordinator

import (
	"context"
	"encoding/binary"
	"errors"
	"math"
	"net"
	"strings"
	"testing"
	"unicode/utf8"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	cohortv1 "github.com/cohort-clv/cohort/proto/cohort/v1"
	"github.com/cohort-clv/cohort/rpcerr"
)

// TestEndRecordsLongErrors ensures a job that fails with a long error,
// one whose 4096th byte falls inside a rune or that holds invalid UTF-8,
// is recorded FAILED with a clipped, encodable error. A cut inside a rune
// once made every write of the record fail, leaving it RUNNING for good.
func TestEndRecordsLongErrors(t *testing.T) {
	cli := jobsEtcd(t)
	for _, tc := range []struct {
		name string
		err  string
	}{
		{"ascii", strings.Repeat("a", 5000)},
		{"rune across the bound", strings.Repeat("a", cohortv1.MaxErrorLen-1) + "é and more"},
		{"runes only", strings.Repeat("é", 3000)},
		{"invalid bytes", "open /data/\xff\xfe.csv: no such file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			j := newJob(Config{Client: cli, JobID: "end-" + strings.ReplaceAll(tc.name, " ", "-")}, "")
			if err := j.put(ctx, func(r *cohortv1.Job) { r.State = cohortv1.JobState_JOB_STATE_RUNNING }); err != nil {
				t.Fatal(err)
			}
			if err := j.End(ctx, nil, errors.New(tc.err)); err != nil {
				t.Fatalf("End: %v", err)
			}
			rec, err := ReadJob(ctx, cli, j.ID())
			if err != nil {
				t.Fatal(err)
			}
			if e := rec.GetError(); rec.GetState() != cohortv1.JobState_JOB_STATE_FAILED || len(e) > cohortv1.MaxErrorLen ||
				!utf8.ValidString(e) || e == "" {
				t.Errorf("etcd holds %v with a %d-byte error (valid UTF-8: %v), want FAILED with 1..%d bytes of UTF-8",
					rec.GetState(), len(e), utf8.ValidString(e), cohortv1.MaxErrorLen)
			}
		})
	}
}

// TestPutKeepsRecordWhenEncodingFails ensures a change that cannot be
// encoded is not kept: the job's next writes go through.
func TestPutKeepsRecordWhenEncodingFails(t *testing.T) {
	cli := jobsEtcd(t)
	ctx := t.Context()
	j := newJob(Config{Client: cli, JobID: "put-bad"}, "")
	if err := j.put(ctx, func(r *cohortv1.Job) { r.State = cohortv1.JobState_JOB_STATE_RUNNING }); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		change  func(*cohortv1.Job)
		wantErr bool
	}{
		{"invalid UTF-8", func(r *cohortv1.Job) { r.Error, r.Epoch = "bad \xff", 99 }, true},
		{"next write", func(r *cohortv1.Job) { r.Epoch = 3 }, false},
		{"end", func(r *cohortv1.Job) { r.State = cohortv1.JobState_JOB_STATE_SUCCEEDED }, false},
	} {
		if err := j.put(ctx, tc.change); (err != nil) != tc.wantErr {
			t.Fatalf("%s: put = %v, want error %v", tc.name, err, tc.wantErr)
		}
	}
	rec, err := ReadJob(ctx, cli, j.ID())
	if err != nil {
		t.Fatal(err)
	}
	if rec.GetState() != cohortv1.JobState_JOB_STATE_SUCCEEDED || rec.GetEpoch() != 3 || rec.GetError() != "" {
		t.Errorf("etcd holds %v at epoch %d with error %q, want SUCCEEDED at epoch 3, no error",
			rec.GetState(), rec.GetEpoch(), rec.GetError())
	}
}

// testToken is the generation token of reportJob's generation.
var testToken = []byte("0123456789abcdef")

// reportJob is a job running generation 1 of workers w0 and w1 on a fake
// prepared job whose network has hidden layers hidden; its reports are
// buffered.
func reportJob(t *testing.T, hidden []int) (*Job, *generation) {
	t.Helper()
	plan, err := NewPlan("j", 1, []string{"w0", "w1"})
	if err != nil {
		t.Fatal(err)
	}
	p := prepared(10, 3)
	p.Spec.Model.Hidden = hidden
	p.Spec.Model.MaxEpochs = cohortv1.MaxEpochs
	g := &generation{plan: plan, prep: p, token: testToken, reports: make(chan *cohortv1.ReportRequest, 16), done: make(chan struct{})}
	j := &Job{cfg: Config{JobID: "j"}, gen: g}
	return j, g
}

// TestReportChecksSender ensures Report refuses a report out of bounds, or
// from a rank and name that are not the plan's, and takes epochs and the
// final model from rank 0 only: any rank could once end a job.
func TestReportChecksSender(t *testing.T) {
	j, g := reportJob(t, nil)
	svc := reportService{jobs: func(id string) (*Job, bool) { return j, id == "j" }}
	epoch := &cohortv1.ReportRequest_Epoch{Epoch: &cohortv1.EpochStats{Epoch: 1}}
	final := &cohortv1.ReportRequest_Final{Final: &cohortv1.FinalModel{Epochs: []*cohortv1.EpochStats{{Epoch: 1}}}}
	fail := &cohortv1.ReportRequest_Error{Error: "boom"}
	for _, tc := range []struct {
		name   string
		rank   uint32
		worker string
		report any
		want   error // nil: queued
	}{
		{"epoch from rank 0", 0, "w0", epoch, nil},
		{"error from rank 1", 1, "w1", fail, nil},
		{"final from rank 0", 0, "w0", final, nil},
		{"epoch from rank 1", 1, "w1", epoch, rpcerr.ErrInvalidArgument},
		{"final from rank 1", 1, "w1", final, rpcerr.ErrInvalidArgument},
		{"checkpoint from rank 1", 1, "w1", &cohortv1.ReportRequest_Checkpoint{Checkpoint: &cohortv1.CheckpointPointer{
			Step: 1, Path: "/c", Sha256: strings.Repeat("ab", 32)}}, rpcerr.ErrInvalidArgument},
		{"another worker's rank", 0, "w1", fail, rpcerr.ErrInvalidArgument},
		{"a worker outside the plan", 1, "w9", fail, rpcerr.ErrInvalidArgument},
		{"rank past the plan", 2, "w2", fail, rpcerr.ErrInvalidArgument},
		{"rank past every plan", cohortv1.MaxWorkers, "w0", fail, rpcerr.ErrInvalidArgument},
		{"long name", 0, strings.Repeat("w", cohortv1.MaxNameLen+1), fail, rpcerr.ErrInvalidArgument},
		{"long error", 1, "w1", &cohortv1.ReportRequest_Error{Error: strings.Repeat("e", cohortv1.MaxErrorLen+1)}, rpcerr.ErrInvalidArgument},
		{"no report", 0, "w0", nil, rpcerr.ErrInvalidArgument},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := &cohortv1.ReportRequest{JobId: "j", Generation: 1, Rank: tc.rank, Worker: tc.worker, Token: testToken}
			switch r := tc.report.(type) {
			case *cohortv1.ReportRequest_Epoch:
				req.Report = r
			case *cohortv1.ReportRequest_Final:
				req.Report = r
			case *cohortv1.ReportRequest_Error:
				req.Report = r
			case *cohortv1.ReportRequest_Checkpoint:
				req.Report = r
			}
			_, err := svc.Report(t.Context(), req)
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("Report = %v, want %v", err, tc.want)
			}
			select {
			case got := <-g.reports:
				if tc.want != nil || got != req {
					t.Errorf("queued %v", got)
				}
			default:
				if tc.want == nil {
					t.Error("accepted but not queued")
				}
			}
		})
	}
}

// serveReports serves j's Coordinator service on a loopback server built
// as every coordinator's is, and returns a client of it.
func serveReports(t *testing.T, j *Job) cohortv1.CoordinatorClient {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := newGRPCServer()
	cohortv1.RegisterCoordinatorServer(gs, reportService{jobs: func(id string) (*Job, bool) { return j, id == "j" }})
	served := make(chan error, 1)
	go func() { served <- gs.Serve(lis) }()
	t.Cleanup(func() { gs.Stop(); <-served })
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithChainUnaryInterceptor(rpcerr.UnaryClientInterceptor()),
		grpc.WithChainStreamInterceptor(rpcerr.StreamClientInterceptor()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return cohortv1.NewCoordinatorClient(conn)
}

// sendChunks streams chunks to ReportFinal as a worker does.
func sendChunks(ctx context.Context, cli cohortv1.CoordinatorClient, chunks []*cohortv1.FinalModelChunk) error {
	st, err := cli.ReportFinal(ctx)
	if err != nil {
		return err
	}
	for _, c := range chunks {
		if err := st.Send(c); err != nil {
			break // CloseAndRecv says why
		}
	}
	_, err = st.CloseAndRecv()
	return err
}

// TestReportFinalStreams ensures a final model far over gRPC's default
// 4 MiB reaches Train whole as a stream of chunks, which the coordinator
// checks against the sender and the job's network, while one message
// over 4 MiB is refused: the server (which also serves the unauthenticated
// Jobs API) once took messages of up to 1 GiB.
func TestReportFinalStreams(t *testing.T) {
	j, g := reportJob(t, []int{1024, 1024}) // over a million parameters: > 4 MiB
	cli := serveReports(t, j)
	want, err := g.paramBytes()
	if err != nil {
		t.Fatal(err)
	}
	if want <= 4<<20 {
		t.Fatalf("the network has %d param bytes; the test needs more than 4 MiB", want)
	}
	model := func(params, epochs int) *cohortv1.FinalModel {
		f := &cohortv1.FinalModel{Params: make([]byte, params), Mean: []float32{1, 2, 3}, Std: []float32{4, 5, 6}, BestEpoch: 2}
		for i := range f.Params {
			f.Params[i] = byte(i * 7)
			if i%4 == 3 {
				f.Params[i] = 0x3f // a finite float32's top byte
			}
		}
		for i := range epochs {
			f.Epochs = append(f.Epochs, &cohortv1.EpochStats{Epoch: uint32(i + 1)})
		}
		return f
	}
	chunks := func(f *cohortv1.FinalModel, rank uint32, worker string) []*cohortv1.FinalModelChunk {
		cs := cohortv1.FinalModelChunks(f)
		cs[0].JobId, cs[0].Generation, cs[0].Rank, cs[0].Worker = "j", 1, rank, worker
		cs[0].Token = testToken
		return cs
	}
	good := model(want, 20000)
	for _, tc := range []struct {
		name   string
		chunks []*cohortv1.FinalModelChunk
		want   error // nil: queued
	}{
		{"whole", chunks(good, 0, "w0"), nil},
		{"from rank 1", chunks(good, 1, "w1"), rpcerr.ErrInvalidArgument},
		{"under another name", chunks(good, 0, "w1"), rpcerr.ErrInvalidArgument},
		{"another generation", func() []*cohortv1.FinalModelChunk {
			cs := chunks(good, 0, "w0")
			cs[0].Generation = 2
			return cs
		}(), rpcerr.ErrStaleGeneration},
		{"not the network's size", chunks(model(want+4, 1), 0, "w0"), rpcerr.ErrInvalidArgument},
		{"more params than announced", func() []*cohortv1.FinalModelChunk {
			cs := chunks(good, 0, "w0")
			cs[1].Params = append(cs[1].Params, 1, 2, 3, 4)
			return cs
		}(), rpcerr.ErrInvalidArgument},
		{"more epochs than announced", func() []*cohortv1.FinalModelChunk {
			cs := chunks(good, 0, "w0")
			cs[0].EpochCount = 3
			return cs
		}(), rpcerr.ErrInvalidArgument},
		{"no last chunk", func() []*cohortv1.FinalModelChunk {
			cs := chunks(good, 0, "w0")
			cs[len(cs)-1].Last = false
			return cs
		}(), rpcerr.ErrInvalidArgument},
		{"no token", func() []*cohortv1.FinalModelChunk {
			cs := chunks(good, 0, "w0")
			cs[0].Token = nil
			return cs
		}(), rpcerr.ErrPermissionDenied},
		{"wrong token", func() []*cohortv1.FinalModelChunk {
			cs := chunks(good, 0, "w0")
			cs[0].Token = []byte("0123456789abcdeF")
			return cs
		}(), rpcerr.ErrPermissionDenied},
		{"NaN param", func() []*cohortv1.FinalModelChunk {
			f := proto.CloneOf(good)
			binary.LittleEndian.PutUint32(f.Params[40:], math.Float32bits(float32(math.NaN())))
			return chunks(f, 0, "w0")
		}(), rpcerr.ErrInvalidArgument},
		{"no epochs", chunks(model(want, 0), 0, "w0"), rpcerr.ErrInvalidArgument},
		{"epoch past max_epochs", func() []*cohortv1.FinalModelChunk {
			f := proto.CloneOf(good)
			f.Epochs[5].Epoch = cohortv1.MaxEpochs + 1
			return chunks(f, 0, "w0")
		}(), rpcerr.ErrInvalidArgument},
		{"out of order", func() []*cohortv1.FinalModelChunk {
			cs := chunks(good, 0, "w0")
			cs[1], cs[2] = cs[2], cs[1]
			return cs
		}(), rpcerr.ErrInvalidArgument},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := sendChunks(t.Context(), cli, tc.chunks)
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("ReportFinal = %v, want %v", err, tc.want)
			}
			select {
			case got := <-g.reports:
				if tc.want != nil || got.GetRank() != 0 || got.GetWorker() != "w0" || !proto.Equal(got.GetFinal(), good) {
					t.Errorf("queued rank %d %q, model equal: %v", got.GetRank(), got.GetWorker(), proto.Equal(got.GetFinal(), good))
				}
			default:
				if tc.want == nil {
					t.Error("accepted but not queued")
				}
			}
		})
	}
	t.Run("one message over 4 MiB", func(t *testing.T) {
		_, err := cli.Report(t.Context(), &cohortv1.ReportRequest{JobId: "j", Generation: 1, Worker: "w0",
			Report: &cohortv1.ReportRequest_Final{Final: good}})
		if status.Code(err) != codes.ResourceExhausted {
			t.Errorf("Report of a %d-byte model = %v, want RESOURCE_EXHAUSTED", want, err)
		}
	})
}
