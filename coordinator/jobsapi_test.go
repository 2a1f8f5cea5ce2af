package coordinator

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/cohort-clv/cohort/internal/etcdtest"
	"github.com/cohort-clv/cohort/membership"
	cohortv1 "github.com/cohort-clv/cohort/proto/cohort/v1"
	"github.com/cohort-clv/cohort/rpcerr"
)

// jobsEtcd starts an embedded etcd for one test and returns a client of it;
// both close when the test ends.
func jobsEtcd(t *testing.T) *clientv3.Client {
	_, cli := etcdtest.Start(t)
	return cli
}

// fakeLeadership leads while its fence holds. Its fence compares fenceKey's
// value with "me" when fenceKey is set (a test deposes it by changing the
// key), and is always true otherwise.
type fakeLeadership struct {
	standby  bool
	fenceKey string
	leader   string // what Leader returns
}

func (f fakeLeadership) Fence() (clientv3.Cmp, bool) {
	if f.fenceKey != "" {
		return clientv3.Compare(clientv3.Value(f.fenceKey), "=", "me"), !f.standby
	}
	return clientv3.Compare(clientv3.Version("/cohort/none"), "=", 0), !f.standby
}

func (f fakeLeadership) Leader(context.Context) (string, error) {
	if f.leader == "" {
		return "", membership.ErrNoLeader
	}
	return f.leader, nil
}

// stepClock is a clock that moves one second per reading, so jobs
// submitted in order have increasing created_at.
type stepClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *stepClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(time.Second)
	return c.t
}

// submitted records OnSubmit's calls.
type submitted struct {
	mu  sync.Mutex
	ids []string
}

func (s *submitted) add(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ids = append(s.ids, id)
}

func (s *submitted) list() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.ids)
}

// newTestJobs returns a leading JobsService over cli with a step clock
// that does not look at this machine's files (validSpecProto's paths exist
// nowhere); TestSubmitChecksPaths tests those checks.
func newTestJobs(cli *clientv3.Client, lead Leadership, opts JobsOptions) *JobsService {
	opts.NoFileChecks = true
	if opts.Now == nil {
		opts.Now = (&stepClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}).Now
	}
	if opts.Name == "" {
		opts.Name = "coord-a"
	}
	return NewJobsService(cli, lead, opts)
}

// putJobRecord writes a job record as the scheduler would.
func putJobRecord(t *testing.T, cli *clientv3.Client, j *cohortv1.Job) {
	t.Helper()
	raw, err := protojson.Marshal(j)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Put(t.Context(), membership.JobKey(j.GetId()), string(raw)); err != nil {
		t.Fatal(err)
	}
}

// serveJobs serves svc over an in-memory gRPC connection with rpcerr's
// interceptors on both sides, as the coordinator and the CLI install them.
func serveJobs(t *testing.T, svc cohortv1.JobsServer) cohortv1.JobsClient {
	t.Helper()
	lis := bufconn.Listen(1 << 20)
	srv := newGRPCServer()
	cohortv1.RegisterJobsServer(srv, svc)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(lis)
	}()
	t.Cleanup(func() {
		srv.Stop()
		<-done
	})
	conn, err := grpc.NewClient("passthrough:///bufnet",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithChainUnaryInterceptor(rpcerr.UnaryClientInterceptor()),
		grpc.WithChainStreamInterceptor(rpcerr.StreamClientInterceptor()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return cohortv1.NewJobsClient(conn)
}

// countEtcdKeys counts the keys under prefix.
func countEtcdKeys(t *testing.T, cli *clientv3.Client, prefix string) int64 {
	t.Helper()
	resp, err := cli.Get(t.Context(), prefix, clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		t.Fatal(err)
	}
	return resp.Count
}

// TestJobsSubmitGet ensures Submit records a PENDING job that Get returns
// as stored, calls OnSubmit after the commit, and refuses bad requests
// before it writes anything.
func TestJobsSubmitGet(t *testing.T) {
	cli := jobsEtcd(t)
	var subs submitted
	svc := newTestJobs(cli, fakeLeadership{}, JobsOptions{OnSubmit: subs.add})
	ctx := t.Context()

	spec := validSpecProto()
	spec.Name = "first"
	resp, err := svc.Submit(ctx, &cohortv1.SubmitRequest{Spec: spec})
	if err != nil {
		t.Fatal(err)
	}
	j := resp.GetJob()
	if err := cohortv1.ValidateJobID(j.GetId()); err != nil || !strings.HasPrefix(j.GetId(), "job-") || len(j.GetId()) != len("job-")+12 {
		t.Errorf("id %q, want job- and 12 hex digits (%v)", j.GetId(), err)
	}
	if j.GetState() != cohortv1.JobState_JOB_STATE_PENDING || j.GetCoordinator() != "coord-a" ||
		j.GetCreatedAt() == nil || !proto.Equal(j.GetCreatedAt(), j.GetUpdatedAt()) || !proto.Equal(j.GetSpec(), spec) {
		t.Errorf("submitted job %v: want PENDING by coord-a with the spec and equal created/updated times", j)
	}
	if got := subs.list(); !slices.Equal(got, []string{j.GetId()}) {
		t.Errorf("OnSubmit got %v, want [%s]", got, j.GetId())
	}
	stored, err := ReadJob(ctx, cli, j.GetId())
	if err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(stored, j) {
		t.Errorf("etcd holds %v, Submit returned %v", stored, j)
	}
	got, err := svc.Get(ctx, &cohortv1.GetRequest{JobId: j.GetId()})
	if err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(got.GetJob(), j) {
		t.Errorf("Get = %v, want %v", got.GetJob(), j)
	}

	t.Run("refused", func(t *testing.T) {
		before := countEtcdKeys(t, cli, membership.Root)
		bad := validSpecProto()
		bad.Read.Horizon = ""
		cases := []struct {
			name string
			call func() error
			want error
			text string
		}{
			{"invalid spec", func() error { _, err := svc.Submit(ctx, &cohortv1.SubmitRequest{Spec: bad}); return err },
				rpcerr.ErrInvalidArgument, "coordinator: submit: cohort: invalid argument: job spec: spec.read.horizon: required"},
			{"no spec", func() error { _, err := svc.Submit(ctx, &cohortv1.SubmitRequest{}); return err },
				rpcerr.ErrInvalidArgument, "spec: required"},
			{"long request id", func() error {
				_, err := svc.Submit(ctx, &cohortv1.SubmitRequest{Spec: validSpecProto(), RequestId: strings.Repeat("r", 65)})
				return err
			}, rpcerr.ErrInvalidArgument, "request_id: 65 bytes"},
			{"get unknown", func() error { _, err := svc.Get(ctx, &cohortv1.GetRequest{JobId: "job-none"}); return err },
				rpcerr.ErrNotFound, "coordinator: get: job job-none: cohort: job not found"},
			{"get bad id", func() error { _, err := svc.Get(ctx, &cohortv1.GetRequest{JobId: "Job/1"}); return err },
				rpcerr.ErrInvalidArgument, "job_id"},
			{"get empty id", func() error { _, err := svc.Get(ctx, &cohortv1.GetRequest{}); return err },
				rpcerr.ErrInvalidArgument, "job_id: required"},
		}
		for _, c := range cases {
			err := c.call()
			if !errors.Is(err, c.want) || !strings.Contains(fmt.Sprint(err), c.text) {
				t.Errorf("%s: %v, want %v containing %q", c.name, err, c.want, c.text)
			}
		}
		if after := countEtcdKeys(t, cli, membership.Root); after != before {
			t.Errorf("refused requests changed etcd: %d keys, had %d", after, before)
		}
		if got := subs.list(); len(got) != 1 {
			t.Errorf("OnSubmit called for refused requests: %v", got)
		}
	})
}

// TestJobsSubmitIdempotent ensures a retried Submit with the same
// request_id returns the first job without creating another, and that an
// id already taken is drawn again.
func TestJobsSubmitIdempotent(t *testing.T) {
	cli := jobsEtcd(t)
	ctx := t.Context()
	var subs submitted
	ids := []string{"job-a", "job-a", "job-b", "job-c"}
	var mu sync.Mutex
	next := func() string {
		mu.Lock()
		defer mu.Unlock()
		id := ids[0]
		if len(ids) > 1 {
			ids = ids[1:]
		}
		return id
	}
	svc := newTestJobs(cli, fakeLeadership{}, JobsOptions{OnSubmit: subs.add, NewID: next})

	first, err := svc.Submit(ctx, &cohortv1.SubmitRequest{Spec: validSpecProto(), RequestId: "req-1"})
	if err != nil {
		t.Fatal(err)
	}
	if first.GetJob().GetId() != "job-a" {
		t.Fatalf("first job %q, want job-a", first.GetJob().GetId())
	}
	retry, err := svc.Submit(ctx, &cohortv1.SubmitRequest{Spec: validSpecProto(), RequestId: "req-1"})
	if err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(retry.GetJob(), first.GetJob()) {
		t.Errorf("retry returned %v, want the first job %v", retry.GetJob(), first.GetJob())
	}
	// NewID now returns job-a again, which is taken: Submit draws job-b.
	// (Another out_dir: job-a, PENDING, holds /runs/cdnow.)
	spec2 := validSpecProto()
	spec2.OutDir = "/runs/cdnow-2"
	other, err := svc.Submit(ctx, &cohortv1.SubmitRequest{Spec: spec2, RequestId: "req-2"})
	if err != nil {
		t.Fatal(err)
	}
	if other.GetJob().GetId() != "job-b" {
		t.Errorf("second request got %q, want job-b (job-a is taken)", other.GetJob().GetId())
	}
	if n := countEtcdKeys(t, cli, membership.JobsPrefix); n != 2 {
		t.Errorf("%d job keys, want 2", n)
	}
	if got := subs.list(); !slices.Equal(got, []string{"job-a", "job-b"}) {
		t.Errorf("OnSubmit got %v, want [job-a job-b]", got)
	}
	resp, err := cli.Get(ctx, RequestKey("req-2"))
	if err != nil || len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != "job-b" {
		t.Fatalf("request key req-2: %v %v, want job-b", resp, err)
	}
	// The request key expires with a lease of RequestTTL; the job does not.
	ttl, err := cli.TimeToLive(ctx, clientv3.LeaseID(resp.Kvs[0].Lease))
	if err != nil || ttl.GrantedTTL != int64(DefaultRequestTTL/time.Second) || ttl.TTL <= 0 {
		t.Errorf("request key's lease: %+v, %v; want a live lease granted for %v", ttl, err, DefaultRequestTTL)
	}
	if job, err := cli.Get(ctx, membership.JobKey("job-b")); err != nil || len(job.Kvs) != 1 || job.Kvs[0].Lease != 0 {
		t.Errorf("job record: %v, %v; want it without a lease", job, err)
	}

	t.Run("no free id", func(t *testing.T) {
		stuck := newTestJobs(cli, fakeLeadership{}, JobsOptions{NewID: func() string { return "job-a" }})
		spec := validSpecProto()
		spec.OutDir = "/runs/no-free-id"
		_, err := stuck.Submit(ctx, &cohortv1.SubmitRequest{Spec: spec})
		if !errors.Is(err, rpcerr.ErrAlreadyExists) {
			t.Errorf("Submit with a taken id = %v, want ErrAlreadyExists", err)
		}
	})
	t.Run("bad NewID", func(t *testing.T) {
		bad := newTestJobs(cli, fakeLeadership{}, JobsOptions{NewID: func() string { return "Job/1" }})
		spec := validSpecProto()
		spec.OutDir = "/runs/bad-id"
		if _, err := bad.Submit(ctx, &cohortv1.SubmitRequest{Spec: spec}); err == nil {
			t.Error("Submit accepted an id with / from NewID")
		}
	})
}

// TestJobsList ensures List returns jobs newest first in pages that add up
// to the whole listing, filters by state, and reads only job records, not
// the keys other code keeps below them.
func TestJobsList(t *testing.T) {
	cli := jobsEtcd(t)
	ctx := t.Context()
	svc := newTestJobs(cli, fakeLeadership{}, JobsOptions{})
	base := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	states := []cohortv1.JobState{
		cohortv1.JobState_JOB_STATE_PENDING, cohortv1.JobState_JOB_STATE_RUNNING, cohortv1.JobState_JOB_STATE_SUCCEEDED,
		cohortv1.JobState_JOB_STATE_FAILED, cohortv1.JobState_JOB_STATE_RUNNING, cohortv1.JobState_JOB_STATE_CANCELLED,
		cohortv1.JobState_JOB_STATE_PENDING,
	}
	// job-0 is the oldest; job-5 and job-6 share a creation time, so the id
	// breaks the tie (job-6 first).
	var want []string
	for i, st := range states {
		at := base.Add(time.Duration(min(i, 5)) * time.Minute)
		id := fmt.Sprintf("job-%d", i)
		putJobRecord(t, cli, &cohortv1.Job{Id: id, State: st, CreatedAt: timestamppb.New(at)})
		want = append([]string{id}, want...)
		// What other code keeps below a job must not show up as jobs.
		for _, k := range []string{membership.GenerationKey(id, 1), membership.CheckpointKey(id), CancelKey(id)} {
			if _, err := cli.Put(ctx, k, "not a job record"); err != nil {
				t.Fatal(err)
			}
		}
	}
	// A record that does not decode is skipped, not fatal.
	if _, err := cli.Put(ctx, membership.JobKey("job-corrupt"), "{"); err != nil {
		t.Fatal(err)
	}

	ids := func(jobs []*cohortv1.Job) []string {
		var out []string
		for _, j := range jobs {
			out = append(out, j.GetId())
		}
		return out
	}
	t.Run("all", func(t *testing.T) {
		resp, err := svc.List(ctx, &cohortv1.ListRequest{})
		if err != nil {
			t.Fatal(err)
		}
		if got := ids(resp.GetJobs()); !slices.Equal(got, want) || resp.GetNextPageToken() != "" {
			t.Errorf("List = %v next %q, want %v and no next page", got, resp.GetNextPageToken(), want)
		}
	})
	for _, size := range []uint32{1, 2, 3, 7} {
		t.Run(fmt.Sprintf("pages of %d", size), func(t *testing.T) {
			var got []string
			tok := ""
			for pages := 0; ; pages++ {
				if pages > len(want) {
					t.Fatalf("more than %d pages", len(want))
				}
				resp, err := svc.List(ctx, &cohortv1.ListRequest{PageSize: size, PageToken: tok})
				if err != nil {
					t.Fatal(err)
				}
				if len(resp.GetJobs()) > int(size) {
					t.Fatalf("page of %d jobs, want at most %d", len(resp.GetJobs()), size)
				}
				got = append(got, ids(resp.GetJobs())...)
				if tok = resp.GetNextPageToken(); tok == "" {
					break
				}
			}
			if !slices.Equal(got, want) {
				t.Errorf("pages add up to %v, want %v", got, want)
			}
		})
	}
	t.Run("states", func(t *testing.T) {
		resp, err := svc.List(ctx, &cohortv1.ListRequest{States: []cohortv1.JobState{
			cohortv1.JobState_JOB_STATE_RUNNING, cohortv1.JobState_JOB_STATE_PENDING}})
		if err != nil {
			t.Fatal(err)
		}
		if got := ids(resp.GetJobs()); !slices.Equal(got, []string{"job-6", "job-4", "job-1", "job-0"}) {
			t.Errorf("running or pending: %v, want [job-6 job-4 job-1 job-0]", got)
		}
		page, err := svc.List(ctx, &cohortv1.ListRequest{PageSize: 1, States: []cohortv1.JobState{cohortv1.JobState_JOB_STATE_RUNNING}})
		if err != nil {
			t.Fatal(err)
		}
		rest, err := svc.List(ctx, &cohortv1.ListRequest{PageToken: page.GetNextPageToken(),
			States: []cohortv1.JobState{cohortv1.JobState_JOB_STATE_RUNNING}})
		if err != nil {
			t.Fatal(err)
		}
		if got := append(ids(page.GetJobs()), ids(rest.GetJobs())...); !slices.Equal(got, []string{"job-4", "job-1"}) {
			t.Errorf("running, paged: %v, want [job-4 job-1]", got)
		}
	})
	t.Run("refused", func(t *testing.T) {
		for _, req := range []*cohortv1.ListRequest{
			{PageSize: 1001},
			{PageToken: "not-a-token"},
			{PageToken: strings.Repeat("a", 257)},
			{States: make([]cohortv1.JobState, 9)},
			{States: []cohortv1.JobState{cohortv1.JobState_JOB_STATE_UNSPECIFIED}},
		} {
			if _, err := svc.List(ctx, req); !errors.Is(err, rpcerr.ErrInvalidArgument) {
				t.Errorf("List(%v) = %v, want ErrInvalidArgument", req, err)
			}
		}
	})
}

// TestJobsCancel ensures Cancel ends a PENDING job at once, asks a RUNNING
// job's owner through CancelKey, leaves a CANCELLED job alone and refuses a
// finished one.
func TestJobsCancel(t *testing.T) {
	cli := jobsEtcd(t)
	ctx := t.Context()
	svc := newTestJobs(cli, fakeLeadership{}, JobsOptions{})
	created := timestamppb.New(time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC))
	for id, st := range map[string]cohortv1.JobState{
		"pending": cohortv1.JobState_JOB_STATE_PENDING, "running": cohortv1.JobState_JOB_STATE_RUNNING,
		"cancelled": cohortv1.JobState_JOB_STATE_CANCELLED, "succeeded": cohortv1.JobState_JOB_STATE_SUCCEEDED,
		"failed": cohortv1.JobState_JOB_STATE_FAILED,
	} {
		putJobRecord(t, cli, &cohortv1.Job{Id: id, State: st, CreatedAt: created, Error: map[bool]string{true: "cancelled: earlier"}[id == "cancelled"]})
	}

	t.Run("pending", func(t *testing.T) {
		resp, err := svc.Cancel(ctx, &cohortv1.CancelRequest{JobId: "pending", Reason: "wrong data"})
		if err != nil {
			t.Fatal(err)
		}
		j := resp.GetJob()
		if j.GetState() != cohortv1.JobState_JOB_STATE_CANCELLED || j.GetError() != "cancelled: wrong data" || j.GetFinishedAt() == nil {
			t.Errorf("cancelled pending job: %v", j)
		}
		stored, err := ReadJob(ctx, cli, "pending")
		if err != nil {
			t.Fatal(err)
		}
		if !proto.Equal(stored, j) {
			t.Errorf("etcd holds %v, Cancel returned %v", stored, j)
		}
		if n := countEtcdKeys(t, cli, CancelKey("pending")); n != 0 {
			t.Errorf("a pending job got a cancel key")
		}
	})
	t.Run("running", func(t *testing.T) {
		before, err := ReadJob(ctx, cli, "running")
		if err != nil {
			t.Fatal(err)
		}
		resp, err := svc.Cancel(ctx, &cohortv1.CancelRequest{JobId: "running", Reason: "over budget"})
		if err != nil {
			t.Fatal(err)
		}
		if !proto.Equal(resp.GetJob(), before) {
			t.Errorf("Cancel of a running job returned %v, want it as it was %v", resp.GetJob(), before)
		}
		kv, err := cli.Get(ctx, CancelKey("running"))
		if err != nil || len(kv.Kvs) != 1 || string(kv.Kvs[0].Value) != "over budget" {
			t.Errorf("cancel key: %v %v, want the reason", kv, err)
		}
		after, err := ReadJob(ctx, cli, "running")
		if err != nil || after.GetState() != cohortv1.JobState_JOB_STATE_RUNNING {
			t.Errorf("running job after Cancel: %v %v, want still RUNNING (its owner ends it)", after, err)
		}
	})
	t.Run("cancelled", func(t *testing.T) {
		resp, err := svc.Cancel(ctx, &cohortv1.CancelRequest{JobId: "cancelled", Reason: "again"})
		if err != nil {
			t.Fatal(err)
		}
		if resp.GetJob().GetError() != "cancelled: earlier" {
			t.Errorf("second cancel changed the job: %v", resp.GetJob())
		}
	})
	for _, id := range []string{"succeeded", "failed"} {
		t.Run(id, func(t *testing.T) {
			_, err := svc.Cancel(ctx, &cohortv1.CancelRequest{JobId: id})
			if !errors.Is(err, rpcerr.ErrFinished) {
				t.Errorf("Cancel(%s) = %v, want ErrFinished", id, err)
			}
			if n := countEtcdKeys(t, cli, CancelKey(id)); n != 0 {
				t.Errorf("a finished job got a cancel key")
			}
		})
	}
	t.Run("refused", func(t *testing.T) {
		for _, c := range []struct {
			req  *cohortv1.CancelRequest
			want error
		}{
			{&cohortv1.CancelRequest{JobId: "missing"}, rpcerr.ErrNotFound},
			{&cohortv1.CancelRequest{JobId: "UPPER"}, rpcerr.ErrInvalidArgument},
			{&cohortv1.CancelRequest{JobId: strings.Repeat("a", 65)}, rpcerr.ErrInvalidArgument},
			{&cohortv1.CancelRequest{JobId: "pending", Reason: strings.Repeat("r", 1025)}, rpcerr.ErrInvalidArgument},
		} {
			if _, err := svc.Cancel(ctx, c.req); !errors.Is(err, c.want) {
				t.Errorf("Cancel(%.40v) = %v, want %v", c.req, err, c.want)
			}
		}
	})
}

// TestJobsDeposed ensures a coordinator whose fence no longer holds writes
// nothing and says it is not the leader, though it still believes it leads.
func TestJobsDeposed(t *testing.T) {
	cli := jobsEtcd(t)
	ctx := t.Context()
	const fenceKey = "/test/leader"
	if _, err := cli.Put(ctx, fenceKey, "me"); err != nil {
		t.Fatal(err)
	}
	svc := newTestJobs(cli, fakeLeadership{fenceKey: fenceKey, leader: "10.0.0.2:7070"}, JobsOptions{})
	putJobRecord(t, cli, &cohortv1.Job{Id: "pending", State: cohortv1.JobState_JOB_STATE_PENDING})
	if _, err := cli.Put(ctx, fenceKey, "someone else"); err != nil {
		t.Fatal(err)
	}
	before := countEtcdKeys(t, cli, membership.Root)
	if _, err := svc.Submit(ctx, &cohortv1.SubmitRequest{Spec: validSpecProto(), RequestId: "r"}); !errors.Is(err, rpcerr.ErrNotLeader) ||
		!strings.Contains(err.Error(), "10.0.0.2:7070") {
		t.Errorf("deposed Submit = %v, want ErrNotLeader naming the leader", err)
	}
	if _, err := svc.Cancel(ctx, &cohortv1.CancelRequest{JobId: "pending"}); !errors.Is(err, rpcerr.ErrNotLeader) {
		t.Errorf("deposed Cancel = %v, want ErrNotLeader", err)
	}
	if after := countEtcdKeys(t, cli, membership.Root); after != before {
		t.Errorf("a deposed coordinator wrote: %d keys, had %d", after, before)
	}
	if j, err := ReadJob(ctx, cli, "pending"); err != nil || j.GetState() != cohortv1.JobState_JOB_STATE_PENDING {
		t.Errorf("job after deposed Cancel: %v %v, want PENDING", j, err)
	}
}

// TestJobsStandby ensures a standby refuses every RPC with UNAVAILABLE
// through a real gRPC server and client, with an error that errors.Is
// matches to ErrNotLeader and that names the leader.
func TestJobsStandby(t *testing.T) {
	cli := jobsEtcd(t)
	putJobRecord(t, cli, &cohortv1.Job{Id: "job-1", State: cohortv1.JobState_JOB_STATE_PENDING})
	client := serveJobs(t, newTestJobs(cli, fakeLeadership{standby: true, leader: "10.0.0.1:7070"}, JobsOptions{}))
	ctx := t.Context()
	calls := map[string]func() error{
		"submit": func() error {
			_, err := client.Submit(ctx, &cohortv1.SubmitRequest{Spec: validSpecProto()})
			return err
		},
		"get":    func() error { _, err := client.Get(ctx, &cohortv1.GetRequest{JobId: "job-1"}); return err },
		"list":   func() error { _, err := client.List(ctx, &cohortv1.ListRequest{}); return err },
		"cancel": func() error { _, err := client.Cancel(ctx, &cohortv1.CancelRequest{JobId: "job-1"}); return err },
		"watch": func() error {
			st, err := client.Watch(ctx, &cohortv1.WatchRequest{JobId: "job-1"})
			if err != nil {
				return err
			}
			_, err = st.Recv()
			return err
		},
	}
	for name, call := range calls {
		t.Run(name, func(t *testing.T) {
			err := call()
			if status.Code(err) != codes.Unavailable || !errors.Is(err, rpcerr.ErrNotLeader) {
				t.Errorf("%s on a standby: %v (code %v), want UNAVAILABLE matching ErrNotLeader", name, err, status.Code(err))
			}
			if !strings.Contains(fmt.Sprint(err), "10.0.0.1:7070") {
				t.Errorf("%s: %v does not name the leader", name, err)
			}
		})
	}
	if j, err := ReadJob(ctx, cli, "job-1"); err != nil || j.GetState() != cohortv1.JobState_JOB_STATE_PENDING {
		t.Errorf("job after a standby's Cancel: %v %v", j, err)
	}
}

// TestJobsWatch ensures Watch sends a SNAPSHOT, then one event per write of
// the record with the kind of what changed, and ends the stream after the
// event of a terminal state; a missing or deleted job is NOT_FOUND.
func TestJobsWatch(t *testing.T) {
	cli := jobsEtcd(t)
	client := serveJobs(t, newTestJobs(cli, fakeLeadership{}, JobsOptions{}))
	ctx := t.Context()
	kind := cohortv1.JobEvent_Kind_name

	t.Run("to the end", func(t *testing.T) {
		j := &cohortv1.Job{Id: "job-w", State: cohortv1.JobState_JOB_STATE_PENDING}
		putJobRecord(t, cli, j)
		st, err := client.Watch(ctx, &cohortv1.WatchRequest{JobId: "job-w"})
		if err != nil {
			t.Fatal(err)
		}
		snap, err := st.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if snap.GetKind() != cohortv1.JobEvent_KIND_SNAPSHOT || !proto.Equal(snap.GetJob(), j) {
			t.Fatalf("first event %v, want a SNAPSHOT of %v", snap, j)
		}
		// The job's life as its owner writes it, after the snapshot.
		steps := []struct {
			change func(j *cohortv1.Job)
			kind   cohortv1.JobEvent_Kind
			msg    string
		}{
			{func(j *cohortv1.Job) { j.State, j.Generation, j.Workers = cohortv1.JobState_JOB_STATE_RUNNING, 1, 3 },
				cohortv1.JobEvent_KIND_STATE, "state PENDING -> RUNNING"},
			{func(j *cohortv1.Job) { j.Step, j.Epoch, j.Loss = 100, 1, 0.5 }, cohortv1.JobEvent_KIND_PROGRESS, "step 100, epoch 1, loss 0.5"},
			{func(j *cohortv1.Job) { j.Generation, j.Workers = 2, 2 }, cohortv1.JobEvent_KIND_GENERATION, "generation 2: 2 workers"},
			{func(j *cohortv1.Job) { j.CheckpointStep, j.Step = 200, 200 }, cohortv1.JobEvent_KIND_CHECKPOINT, "checkpoint at step 200"},
			{func(j *cohortv1.Job) { j.State = cohortv1.JobState_JOB_STATE_SUCCEEDED }, cohortv1.JobEvent_KIND_STATE, "state RUNNING -> SUCCEEDED"},
		}
		for _, s := range steps {
			s.change(j)
			putJobRecord(t, cli, j)
		}
		last := snap.GetRevision()
		for i, s := range steps {
			ev, err := st.Recv()
			if err != nil {
				t.Fatalf("event %d: %v", i+1, err)
			}
			if ev.GetKind() != s.kind || ev.GetMessage() != s.msg {
				t.Errorf("event %d: %s %q, want %s %q", i+1, kind[int32(ev.GetKind())], ev.GetMessage(), kind[int32(s.kind)], s.msg)
			}
			if ev.GetRevision() <= last {
				t.Errorf("event %d: revision %d after %d, want it to grow", i+1, ev.GetRevision(), last)
			}
			last = ev.GetRevision()
		}
		if ev, err := st.Recv(); err != io.EOF {
			t.Errorf("after the terminal event: %v, %v; want the stream to end with io.EOF", ev, err)
		}
	})
	t.Run("already finished", func(t *testing.T) {
		putJobRecord(t, cli, &cohortv1.Job{Id: "job-done", State: cohortv1.JobState_JOB_STATE_FAILED, Error: "boom"})
		st, err := client.Watch(ctx, &cohortv1.WatchRequest{JobId: "job-done"})
		if err != nil {
			t.Fatal(err)
		}
		if ev, err := st.Recv(); err != nil || ev.GetKind() != cohortv1.JobEvent_KIND_SNAPSHOT {
			t.Fatalf("first event %v, %v; want a SNAPSHOT", ev, err)
		}
		if ev, err := st.Recv(); err != io.EOF {
			t.Errorf("after the snapshot of a finished job: %v, %v; want io.EOF", ev, err)
		}
	})
	t.Run("cancelled while watched", func(t *testing.T) {
		svc := newTestJobs(cli, fakeLeadership{}, JobsOptions{})
		putJobRecord(t, cli, &cohortv1.Job{Id: "job-c", State: cohortv1.JobState_JOB_STATE_PENDING})
		st, err := client.Watch(ctx, &cohortv1.WatchRequest{JobId: "job-c"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.Recv(); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.Cancel(ctx, &cohortv1.CancelRequest{JobId: "job-c", Reason: "test"}); err != nil {
			t.Fatal(err)
		}
		ev, err := st.Recv()
		if err != nil || ev.GetKind() != cohortv1.JobEvent_KIND_STATE || ev.GetMessage() != "state PENDING -> CANCELLED: cancelled: test" {
			t.Errorf("event %v, %v; want STATE PENDING -> CANCELLED", ev, err)
		}
		if _, err := st.Recv(); err != io.EOF {
			t.Errorf("after CANCELLED: %v, want io.EOF", err)
		}
	})
	t.Run("missing", func(t *testing.T) {
		st, err := client.Watch(ctx, &cohortv1.WatchRequest{JobId: "job-none"})
		if err == nil {
			_, err = st.Recv()
		}
		if status.Code(err) != codes.NotFound || !errors.Is(err, rpcerr.ErrNotFound) {
			t.Errorf("Watch of a missing job: %v, want NOT_FOUND", err)
		}
	})
	t.Run("deleted", func(t *testing.T) {
		putJobRecord(t, cli, &cohortv1.Job{Id: "job-del", State: cohortv1.JobState_JOB_STATE_RUNNING})
		st, err := client.Watch(ctx, &cohortv1.WatchRequest{JobId: "job-del"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.Recv(); err != nil {
			t.Fatal(err)
		}
		if _, err := cli.Delete(ctx, membership.JobKey("job-del")); err != nil {
			t.Fatal(err)
		}
		if _, err := st.Recv(); status.Code(err) != codes.NotFound || !errors.Is(err, rpcerr.ErrNotFound) {
			t.Errorf("after the job was deleted: %v, want NOT_FOUND", err)
		}
	})
	t.Run("bad id", func(t *testing.T) {
		st, err := client.Watch(ctx, &cohortv1.WatchRequest{JobId: "a b"})
		if err == nil {
			_, err = st.Recv()
		}
		if status.Code(err) != codes.InvalidArgument {
			t.Errorf("Watch with a bad id: %v, want INVALID_ARGUMENT", err)
		}
	})
}
