package rpcerr_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"

	cohortv1 "github.com/cohort-clv/cohort/proto/cohort/v1"
	"github.com/cohort-clv/cohort/rpcerr"
)

// sentinels are every error the table maps, for checking that a received
// error matches its own sentinel and no other.
var sentinels = []error{
	rpcerr.ErrNotFound, rpcerr.ErrAlreadyExists, rpcerr.ErrStaleGeneration, rpcerr.ErrNotLeader,
	rpcerr.ErrCancelled, rpcerr.ErrFinished, rpcerr.ErrChecksumMismatch, rpcerr.ErrInvalidArgument,
	rpcerr.ErrTooLarge, rpcerr.ErrUnavailable, rpcerr.ErrPermissionDenied, rpcerr.ErrCorruptRecord,
	rpcerr.ErrLimitReached, context.Canceled, context.DeadlineExceeded,
}

// fakeServer answers Jobs.Get and Data.Shard with the error registered under
// the request's job id, after convert; Shard first sends one chunk, so the
// error arrives mid-stream.
type fakeServer struct {
	cohortv1.UnimplementedJobsServer
	cohortv1.UnimplementedDataServer
	errs    map[string]error
	convert func(error) error
}

func (f *fakeServer) Get(_ context.Context, req *cohortv1.GetRequest) (*cohortv1.GetResponse, error) {
	return nil, f.convert(f.errs[req.GetJobId()])
}

func (f *fakeServer) Submit(_ context.Context, req *cohortv1.SubmitRequest) (*cohortv1.SubmitResponse, error) {
	return &cohortv1.SubmitResponse{Job: &cohortv1.Job{Id: "j1", Spec: req.GetSpec()}}, nil
}

func (f *fakeServer) Shard(req *cohortv1.ShardRequest, stream grpc.ServerStreamingServer[cohortv1.ShardChunk]) error {
	if err := stream.Send(&cohortv1.ShardChunk{Seq: 0, FeatureNames: []string{"recency"}}); err != nil {
		return err
	}
	return f.convert(f.errs[req.GetJobId()])
}

func identity(err error) error { return err }

// serve starts a gRPC server over bufconn with the fake registered and
// returns the listener and a client connection; both end with the test.
func serve(t *testing.T, fake *fakeServer, srvOpts []grpc.ServerOption, dialOpts ...grpc.DialOption) (*bufconn.Listener, *grpc.ClientConn) {
	t.Helper()
	lis := bufconn.Listen(1 << 20)
	srv := grpc.NewServer(srvOpts...)
	cohortv1.RegisterJobsServer(srv, fake)
	cohortv1.RegisterDataServer(srv, fake)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(lis)
	}()
	t.Cleanup(func() {
		srv.Stop()
		<-done
	})
	opts := append([]grpc.DialOption{
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
	}, dialOpts...)
	conn, err := grpc.NewClient("passthrough:///bufnet", opts...)
	if err != nil {
		t.Fatalf("new client: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return lis, conn
}

// checkReceived asserts that a client-side error matches want and no other
// sentinel, has the code and contains the message.
func checkReceived(t *testing.T, got, want error, code codes.Code, msg string) {
	t.Helper()
	if got == nil {
		t.Fatal("got nil error")
	}
	for _, s := range sentinels {
		if is := errors.Is(got, s); is != (s == want) {
			t.Errorf("errors.Is(%q, %q) = %v, want %v", got, s, is, !is)
		}
	}
	if c := status.Code(got); c != code {
		t.Errorf("status.Code = %v, want %v", c, code)
	}
	if !strings.Contains(got.Error(), msg) {
		t.Errorf("message %q does not contain %q", got.Error(), msg)
	}
}

// TestRoundTrip ensures that every kind of server error reaches a client over
// a real gRPC connection as an error that errors.Is matches to the same
// sentinel, with the table's code and the server's message, for unary and
// streaming calls and whether the conversions are called by hand or by the
// interceptors.
func TestRoundTrip(t *testing.T) {
	cases := []struct {
		name string
		err  error // returned by the server's handler
		want error // the only sentinel the client's error matches; nil: none
		code codes.Code
		msg  string // part of the client's message
	}{
		{"not-found", rpcerr.ErrNotFound, rpcerr.ErrNotFound, codes.NotFound, "cohort: job not found"},
		{"already-exists", rpcerr.ErrAlreadyExists, rpcerr.ErrAlreadyExists, codes.AlreadyExists, "already exists"},
		{"stale-generation", fmt.Errorf("coordinator: shard job j1 generation 3: %w", rpcerr.ErrStaleGeneration),
			rpcerr.ErrStaleGeneration, codes.Aborted, "coordinator: shard job j1 generation 3: cohort: stale generation"},
		{"not-leader", rpcerr.ErrNotLeader, rpcerr.ErrNotLeader, codes.Unavailable, "not the leading coordinator"},
		{"cancelled", rpcerr.ErrCancelled, rpcerr.ErrCancelled, codes.FailedPrecondition, "job cancelled"},
		{"finished", rpcerr.ErrFinished, rpcerr.ErrFinished, codes.FailedPrecondition, "already finished"},
		{"checksum", fmt.Errorf("worker: step 40: %w", rpcerr.ErrChecksumMismatch), rpcerr.ErrChecksumMismatch, codes.DataLoss, "step 40"},
		{"invalid-joined", errors.Join(errors.New("spec.name: 300 bytes, want <= 128"), rpcerr.ErrInvalidArgument),
			rpcerr.ErrInvalidArgument, codes.InvalidArgument, "spec.name: 300 bytes"},
		{"too-large", rpcerr.ErrTooLarge, rpcerr.ErrTooLarge, codes.ResourceExhausted, "too large"},
		{"limit-reached", fmt.Errorf("job queue full: %w", rpcerr.ErrLimitReached), rpcerr.ErrLimitReached, codes.ResourceExhausted, "job queue full"},
		{"unavailable", rpcerr.ErrUnavailable, rpcerr.ErrUnavailable, codes.Unavailable, "cohort: unavailable"},
		{"permission-denied", rpcerr.ErrPermissionDenied, rpcerr.ErrPermissionDenied, codes.PermissionDenied, "cohort: permission denied"},
		{"corrupt-record", rpcerr.ErrCorruptRecord, rpcerr.ErrCorruptRecord, codes.DataLoss, "cohort: corrupt record in etcd"},
		{"first-sentinel-wins", errors.Join(rpcerr.ErrStaleGeneration, rpcerr.ErrUnavailable),
			rpcerr.ErrStaleGeneration, codes.Aborted, "stale generation"},
		{"context-canceled", fmt.Errorf("train: %w", context.Canceled), context.Canceled, codes.Canceled, "train: context canceled"},
		{"deadline", context.DeadlineExceeded, context.DeadlineExceeded, codes.DeadlineExceeded, "deadline exceeded"},
		{"plain", errors.New("disk full"), nil, codes.Unknown, "disk full"},
		{"raw-unavailable", status.Error(codes.Unavailable, "draining"), rpcerr.ErrUnavailable, codes.Unavailable, "draining"},
		{"raw-not-found", status.Error(codes.NotFound, "no such file"), nil, codes.NotFound, "no such file"},
		{"raw-permission", status.Error(codes.PermissionDenied, "no"), nil, codes.PermissionDenied, "no"},
	}
	errs := make(map[string]error, len(cases))
	for _, c := range cases {
		errs[c.name] = c.err
	}
	modes := []struct {
		name     string
		convert  func(error) error // applied by the handler
		srvOpts  []grpc.ServerOption
		dialOpts []grpc.DialOption
		receive  func(error) error // applied by the test to the call's error
	}{
		{"by-hand", rpcerr.ToStatus, nil, nil, rpcerr.FromStatus},
		{"interceptors", identity,
			[]grpc.ServerOption{
				grpc.UnaryInterceptor(rpcerr.UnaryServerInterceptor()),
				grpc.StreamInterceptor(rpcerr.StreamServerInterceptor()),
			},
			[]grpc.DialOption{
				grpc.WithUnaryInterceptor(rpcerr.UnaryClientInterceptor()),
				grpc.WithStreamInterceptor(rpcerr.StreamClientInterceptor()),
			},
			identity},
	}
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			_, conn := serve(t, &fakeServer{errs: errs, convert: m.convert}, m.srvOpts, m.dialOpts...)
			jobs := cohortv1.NewJobsClient(conn)
			data := cohortv1.NewDataClient(conn)
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
					defer cancel()

					_, err := jobs.Get(ctx, &cohortv1.GetRequest{JobId: c.name})
					checkReceived(t, m.receive(err), c.want, c.code, c.msg)

					stream, err := data.Shard(ctx, &cohortv1.ShardRequest{JobId: c.name})
					if err != nil {
						t.Fatalf("open shard stream: %v", err)
					}
					first, err := stream.Recv()
					if err != nil {
						t.Fatalf("first chunk: %v", err)
					}
					if got := first.GetFeatureNames(); len(got) != 1 || got[0] != "recency" {
						t.Fatalf("first chunk feature names = %v", got)
					}
					_, err = stream.Recv()
					checkReceived(t, m.receive(err), c.want, c.code, c.msg)
				})
			}
		})
	}
}

// TestTransportErrors ensures that errors raised by gRPC itself, not by a
// handler, map by code: a message over the server's limit to ErrTooLarge and
// a server that is gone to ErrUnavailable.
func TestTransportErrors(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()

	t.Run("too-large", func(t *testing.T) {
		fake := &fakeServer{errs: map[string]error{}, convert: rpcerr.ToStatus}
		_, conn := serve(t, fake, []grpc.ServerOption{grpc.MaxRecvMsgSize(1024)},
			grpc.WithUnaryInterceptor(rpcerr.UnaryClientInterceptor()))
		jobs := cohortv1.NewJobsClient(conn)
		small := &cohortv1.SubmitRequest{Spec: &cohortv1.JobSpec{Name: "small"}}
		if _, err := jobs.Submit(ctx, small); err != nil {
			t.Fatalf("small submit: %v", err)
		}
		big := &cohortv1.SubmitRequest{Spec: &cohortv1.JobSpec{Name: strings.Repeat("x", 2048)}}
		_, err := jobs.Submit(ctx, big)
		if !errors.Is(err, rpcerr.ErrTooLarge) || status.Code(err) != codes.ResourceExhausted {
			t.Errorf("oversized submit: got %v (code %v), want ErrTooLarge / ResourceExhausted", err, status.Code(err))
		}
	})

	t.Run("server-gone", func(t *testing.T) {
		lis := bufconn.Listen(1 << 16)
		if err := lis.Close(); err != nil {
			t.Fatalf("close listener: %v", err)
		}
		conn, err := grpc.NewClient("passthrough:///bufnet",
			grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
			grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithUnaryInterceptor(rpcerr.UnaryClientInterceptor()))
		if err != nil {
			t.Fatalf("new client: %v", err)
		}
		defer conn.Close()
		_, err = cohortv1.NewJobsClient(conn).Get(ctx, &cohortv1.GetRequest{JobId: "j1"})
		if !errors.Is(err, rpcerr.ErrUnavailable) || errors.Is(err, rpcerr.ErrNotLeader) {
			t.Errorf("call to a closed listener: got %v (code %v), want ErrUnavailable only", err, status.Code(err))
		}
	})
}

// TestFromStatusPassThrough ensures FromStatus leaves alone what is not a
// gRPC status (nil, io.EOF, local errors) and what it cannot name: a cohort
// reason it does not know maps by code only.
func TestFromStatusPassThrough(t *testing.T) {
	local := errors.New("local")
	for _, err := range []error{nil, io.EOF, local} {
		if got := rpcerr.FromStatus(err); got != err {
			t.Errorf("FromStatus(%v) = %v, want it unchanged", err, got)
		}
	}
	if rpcerr.ToStatus(nil) != nil {
		t.Error("ToStatus(nil) != nil")
	}

	future := func(code codes.Code) error {
		s, err := status.New(code, "from a newer server").WithDetails(
			&errdetails.ErrorInfo{Domain: rpcerr.Domain, Reason: "SOMETHING_NEW"})
		if err != nil {
			t.Fatalf("with details: %v", err)
		}
		return s.Err()
	}
	if got := rpcerr.FromStatus(future(codes.Aborted)); errors.Is(got, rpcerr.ErrStaleGeneration) {
		t.Errorf("unknown reason with code Aborted matched ErrStaleGeneration: %v", got)
	}
	if got := rpcerr.FromStatus(future(codes.Unavailable)); !errors.Is(got, rpcerr.ErrUnavailable) {
		t.Errorf("unknown reason with code Unavailable: got %v, want ErrUnavailable by code", got)
	}
	// A foreign domain's reason must not be read as ours.
	s, err := status.New(codes.Aborted, "elsewhere").WithDetails(
		&errdetails.ErrorInfo{Domain: "example.com", Reason: "STALE_GENERATION"})
	if err != nil {
		t.Fatalf("with details: %v", err)
	}
	if got := rpcerr.FromStatus(s.Err()); errors.Is(got, rpcerr.ErrStaleGeneration) {
		t.Errorf("foreign domain matched ErrStaleGeneration: %v", got)
	}
}

// TestRelay ensures an error received from one peer and returned to another
// (a coordinator relaying a worker's error) keeps its sentinel, code and text.
func TestRelay(t *testing.T) {
	orig := fmt.Errorf("ring: step 7: %w", rpcerr.ErrStaleGeneration)
	hop1 := rpcerr.FromStatus(rpcerr.ToStatus(orig))
	relayed := fmt.Errorf("coordinator: %w", hop1)
	hop2 := rpcerr.FromStatus(rpcerr.ToStatus(relayed))
	if !errors.Is(hop2, rpcerr.ErrStaleGeneration) {
		t.Errorf("relayed error %v lost ErrStaleGeneration", hop2)
	}
	if status.Code(hop2) != codes.Aborted {
		t.Errorf("relayed code = %v, want Aborted", status.Code(hop2))
	}
	if want := "coordinator: ring: step 7: cohort: stale generation"; hop2.Error() != want {
		t.Errorf("relayed message = %q, want %q", hop2.Error(), want)
	}
}
