package main

import (
	"bufio"
	"context"
	"fmt"
	"math"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/cohort-clv/cohort/coordinator"
	"github.com/cohort-clv/cohort/internal/etcdtest"
	"github.com/cohort-clv/cohort/internal/freeport"
	"github.com/cohort-clv/cohort/membership"
	cohortv1 "github.com/cohort-clv/cohort/proto/cohort/v1"
	"github.com/cohort-clv/cohort/rpcerr"
)

// fakeJobs is an in-memory Jobs service. A standby answers every call with
// rpcerr.ErrNotLeader, as a coordinator that does not lead does, naming
// leader when set.
type fakeJobs struct {
	cohortv1.UnimplementedJobsServer
	standby bool
	leader  string // set under mu once the fakes are served
	// leaderInDetail names the leader only in the status detail, as a
	// coordinator does beside its text (leaderInDetail).
	leaderInDetail bool
	hold           bool // Watch keeps the stream open after its events, as for a running job

	mu      sync.Mutex
	calls   int
	jobs    []*cohortv1.Job // newest first
	pages   int             // List's page size; 0: all at once
	submits []*cohortv1.SubmitRequest
	lists   []*cohortv1.ListRequest
	cancels []*cohortv1.CancelRequest
	// streams[i] is what the i-th Watch sends, then it ends with ends[i]
	// (the last entry serves every later Watch).
	streams [][]*cohortv1.JobEvent
	ends    []error
	watches int
}

// enter counts a call and refuses it on a standby.
func (f *fakeJobs) enter() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	switch {
	case f.standby && f.leader != "" && f.leaderInDetail:
		return leaderInDetail(f.leader)
	case f.standby && f.leader != "":
		// As coordinator.JobsService.notLeader words it.
		return fmt.Errorf("coordinator: call: %w; the leader is %s", rpcerr.ErrNotLeader, f.leader)
	case f.standby:
		return fmt.Errorf("coordinator: call: %w; leader unknown", rpcerr.ErrNotLeader)
	}
	return nil
}

// leaderInDetail is a NOT_LEADER status that names the leader only in its
// ErrorInfo metadata (coordinator.LeaderMetadataKey), as the coordinator
// adds it, and not in its text: a client that finds the leader must have
// read the detail.
func leaderInDetail(leader string) error {
	st := status.Convert(rpcerr.ToStatus(fmt.Errorf("coordinator: call: %w", rpcerr.ErrNotLeader)))
	p := st.Proto()
	for i, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok && info.GetDomain() == rpcerr.Domain {
			info = proto.CloneOf(info)
			info.Metadata = map[string]string{coordinator.LeaderMetadataKey: leader}
			if a, err := anypb.New(info); err == nil {
				p.Details[i] = a
			}
		}
	}
	return status.FromProto(p).Err()
}

// count reads a counter under the lock the handlers write it under.
func (f *fakeJobs) count(get func() int) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return get()
}

func (f *fakeJobs) find(id string) (*cohortv1.Job, error) {
	for _, j := range f.jobs {
		if j.GetId() == id {
			return j, nil
		}
	}
	return nil, rpcerr.ErrNotFound
}

func (f *fakeJobs) Submit(_ context.Context, req *cohortv1.SubmitRequest) (*cohortv1.SubmitResponse, error) {
	if err := f.enter(); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.submits = append(f.submits, req)
	j := &cohortv1.Job{Id: "cdnow-1", Spec: req.GetSpec(), State: cohortv1.JobState_JOB_STATE_PENDING}
	f.jobs = append([]*cohortv1.Job{j}, f.jobs...)
	return &cohortv1.SubmitResponse{Job: j}, nil
}

func (f *fakeJobs) Get(_ context.Context, req *cohortv1.GetRequest) (*cohortv1.GetResponse, error) {
	if err := f.enter(); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	j, err := f.find(req.GetJobId())
	return &cohortv1.GetResponse{Job: j}, err
}

func (f *fakeJobs) List(_ context.Context, req *cohortv1.ListRequest) (*cohortv1.ListResponse, error) {
	if err := f.enter(); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lists = append(f.lists, req)
	var keep []*cohortv1.Job
	for _, j := range f.jobs {
		if len(req.GetStates()) == 0 || slices.Contains(req.GetStates(), j.GetState()) {
			keep = append(keep, j)
		}
	}
	start := 0
	if t := req.GetPageToken(); t != "" {
		start = int(t[0] - '0')
	}
	end := len(keep)
	if f.pages > 0 && start+f.pages < end {
		end = start + f.pages
	}
	resp := &cohortv1.ListResponse{Jobs: keep[start:end]}
	if end < len(keep) {
		resp.NextPageToken = string(rune('0' + end))
	}
	return resp, nil
}

func (f *fakeJobs) Watch(req *cohortv1.WatchRequest, ss grpc.ServerStreamingServer[cohortv1.JobEvent]) error {
	if err := f.enter(); err != nil {
		return err
	}
	f.mu.Lock()
	if _, err := f.find(req.GetJobId()); err != nil {
		f.mu.Unlock()
		return err
	}
	i := min(f.watches, len(f.streams)-1)
	f.watches++
	events, end := f.streams[i], f.ends[i]
	f.mu.Unlock()
	for _, ev := range events {
		if err := ss.Send(ev); err != nil {
			return err
		}
	}
	if f.hold {
		<-ss.Context().Done()
		return ss.Context().Err()
	}
	return end
}

func (f *fakeJobs) Cancel(_ context.Context, req *cohortv1.CancelRequest) (*cohortv1.CancelResponse, error) {
	if err := f.enter(); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cancels = append(f.cancels, req)
	j, err := f.find(req.GetJobId())
	if err != nil {
		return nil, err
	}
	// As coordinator.JobsService.Cancel: a RUNNING job comes back as it
	// was (its workers stop at their next step), a PENDING one CANCELLED
	// with "cancelled: REASON" as its error.
	switch j.GetState() {
	case cohortv1.JobState_JOB_STATE_SUCCEEDED, cohortv1.JobState_JOB_STATE_FAILED:
		return nil, rpcerr.ErrFinished
	case cohortv1.JobState_JOB_STATE_RUNNING:
		return &cohortv1.CancelResponse{Job: proto.CloneOf(j)}, nil
	case cohortv1.JobState_JOB_STATE_PENDING:
		j.State, j.Error = cohortv1.JobState_JOB_STATE_CANCELLED, "cancelled"
		if r := req.GetReason(); r != "" {
			j.Error += ": " + r
		}
	}
	return &cohortv1.CancelResponse{Job: j}, nil
}

// serveJobs serves f on a loopback port with rpcerr's interceptors, as the
// coordinator does, and returns its address.
func serveJobs(t *testing.T, f *fakeJobs) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer(grpc.ChainUnaryInterceptor(rpcerr.UnaryServerInterceptor()),
		grpc.ChainStreamInterceptor(rpcerr.StreamServerInterceptor()))
	cohortv1.RegisterJobsServer(gs, f)
	go func() { _ = gs.Serve(lis) }()
	t.Cleanup(gs.Stop)
	return lis.Addr().String()
}

// event is a JobEvent of job cdnow-1 at revision rev.
func event(kind cohortv1.JobEvent_Kind, state cohortv1.JobState, rev, step uint64) *cohortv1.JobEvent {
	return &cohortv1.JobEvent{Kind: kind, Revision: rev, Time: timestamppb.New(time.Unix(1700000000, 0)),
		Job: &cohortv1.Job{Id: "cdnow-1", State: state, Generation: 1, Workers: 2, Step: step, Loss: 1.5, ValLoss: math.NaN(),
			Spec: &cohortv1.JobSpec{Name: "cdnow", OutDir: "/runs/cdnow"}}}
}

const (
	kSnap     = cohortv1.JobEvent_KIND_SNAPSHOT
	kState    = cohortv1.JobEvent_KIND_STATE
	kProgress = cohortv1.JobEvent_KIND_PROGRESS
	sPending  = cohortv1.JobState_JOB_STATE_PENDING
	sRunning  = cohortv1.JobState_JOB_STATE_RUNNING
	sDone     = cohortv1.JobState_JOB_STATE_SUCCEEDED
	sFailed   = cohortv1.JobState_JOB_STATE_FAILED
)

// runJob is the job the watch tests follow: pending, running, two steps,
// then the last event in state final.
func runJob(final cohortv1.JobState) []*cohortv1.JobEvent {
	last := event(kState, final, 14, 200)
	if final == sFailed {
		last.Job.Error = "worker w1: out of memory"
	}
	return []*cohortv1.JobEvent{event(kSnap, sPending, 10, 0), event(kState, sRunning, 11, 0),
		event(kProgress, sRunning, 12, 100), event(kProgress, sRunning, 13, 200), last}
}

const jobYAML = `name: cdnow
data_path: /data/CDNOW_master.txt
read: {calibration_end: "1997-09-30", horizon: 39w}
model: {seed: 1, max_epochs: 40}
out_dir: /runs/cdnow
min_workers: 2
max_workers: 4
checkpoint_every: 50
`

func writeJobYAML(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "job.yaml")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestSubmit ensures submit sends the spec parsed from the file with a
// request id, prints the job id, and with --wait follows the job to its end.
func TestSubmit(t *testing.T) {
	for _, tc := range []struct {
		name    string
		args    []string
		final   cohortv1.JobState
		wantErr string
		wantOut []string
	}{
		{name: "plain", wantOut: []string{"cdnow-1\n"}},
		{name: "wait succeeded", args: []string{"--wait"}, final: sDone, wantOut: []string{"cdnow-1\n", "PROGRESS", "job cdnow-1 SUCCEEDED"}},
		{name: "wait failed", args: []string{"--wait"}, final: sFailed, wantOut: []string{"cdnow-1\n"},
			wantErr: "job cdnow-1 FAILED: worker w1: out of memory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeJobs{}
			if tc.final != 0 {
				f.streams, f.ends = [][]*cohortv1.JobEvent{runJob(tc.final)}, []error{nil}
			}
			addr := serveJobs(t, f)
			out, stderr, err := runCohort(t, append([]string{"submit", writeJobYAML(t, jobYAML), "--coordinator", addr}, tc.args...)...)
			if tc.wantErr == "" && err != nil {
				t.Fatalf("submit: %v (stderr %s)", err, stderr)
			}
			if tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("submit error %v, want one containing %q", err, tc.wantErr)
			}
			for _, w := range tc.wantOut {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			if n := f.count(func() int { return len(f.submits) }); n != 1 {
				t.Fatalf("%d Submit calls, want 1", n)
			}
			req := f.submits[0]
			if req.GetRequestId() == "" {
				t.Error("Submit without a request id: a retry after a failover would queue the job twice")
			}
			want := &cohortv1.JobSpec{Name: "cdnow", Source: &cohortv1.JobSpec_DataPath{DataPath: "/data/CDNOW_master.txt"},
				Read:  &cohortv1.ReadOptions{CalibrationEnd: "1997-09-30", Horizon: "39w"},
				Model: &cohortv1.ModelConfig{Seed: 1, MaxEpochs: 40}, OutDir: "/runs/cdnow",
				MinWorkers: 2, MaxWorkers: 4, CheckpointEvery: 50}
			if !proto.Equal(req.GetSpec(), want) {
				t.Errorf("sent spec %v, want %v", req.GetSpec(), want)
			}
		})
	}
}

// TestSubmitSpecErrors ensures a missing file or a bad field is refused
// before any RPC, with an error naming the file (and the field).
func TestSubmitSpecErrors(t *testing.T) {
	f := &fakeJobs{}
	addr := serveJobs(t, f)
	bad := writeJobYAML(t, strings.Replace(jobYAML, "seed: 1", "sede: 1", 1))
	missing := filepath.Join(t.TempDir(), "nope.yaml")
	for _, tc := range []struct {
		name string
		path string
		want []string
	}{
		{"missing file", missing, []string{missing, "no such file", "--help"}},
		{"unknown field", bad, []string{bad, "model", `"sede"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := runCohort(t, "submit", tc.path, "--coordinator", addr)
			if err == nil {
				t.Fatal("submit accepted it")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
	if n := f.count(func() int { return f.calls }); n != 0 {
		t.Errorf("%d RPCs for specs that never parsed, want 0", n)
	}
}

// TestStatus ensures status lists every page of jobs (passing --state on),
// prints a job's detail view, and that --json is protojson.
func TestStatus(t *testing.T) {
	now := timestamppb.Now()
	jobs := []*cohortv1.Job{
		{Id: "j3", State: sRunning, Workers: 4, Generation: 2, Epoch: 3, Step: 300, Loss: 1.25, ValLoss: 1.5, CreatedAt: now,
			Spec: &cohortv1.JobSpec{Name: "three"}},
		{Id: "j2", State: sDone, Workers: 2, Generation: 1, Step: 900, Loss: 1, ValLoss: 1.1, CreatedAt: now,
			Spec:    &cohortv1.JobSpec{Name: "two", Source: &cohortv1.JobSpec_DataPath{DataPath: "/data/x.csv"}, OutDir: "/runs/two"},
			Metrics: &cohortv1.MetricsSummary{Customers: 350, NormalizedGini: 0.7123, BaselineNormalizedGini: 0.6512}},
		{Id: "j1", State: sPending, ValLoss: math.NaN(), CreatedAt: now, Spec: &cohortv1.JobSpec{Name: "one"}},
	}
	for _, tc := range []struct {
		name      string
		args      []string
		want      []string
		dont      []string
		jsonJobs  int // with --json: how many jobs the output holds
		wantState []cohortv1.JobState
	}{
		{name: "table", args: []string{"status"}, want: []string{"ID", "GINI", "j3", "three", "RUNNING", "1.2500", "j2", "0.7123", "j1", "PENDING"}},
		{name: "filter", args: []string{"status", "--state", "running,Pending"}, want: []string{"j3", "j1"}, dont: []string{"j2"},
			wantState: []cohortv1.JobState{sRunning, sPending}},
		{name: "table json", args: []string{"status", "--json"}, jsonJobs: 3},
		{name: "detail", args: []string{"status", "j2"}, want: []string{"j2 (two)", "SUCCEEDED", "/data/x.csv", "/runs/two",
			"350 customers", "0.7123", "baseline 0.6512", "model ahead by 0.0611"}},
		{name: "detail json", args: []string{"status", "j2", "--json"}, jsonJobs: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeJobs{jobs: jobs, pages: 2}
			out, _, err := runCohort(t, append(tc.args, "--coordinator", serveJobs(t, f))...)
			if err != nil {
				t.Fatalf("%v: %v", tc.args, err)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			for _, d := range tc.dont {
				if strings.Contains(out, d) {
					t.Errorf("output has %q, which --state filters out:\n%s", d, out)
				}
			}
			if tc.wantState != nil && (f.count(func() int { return len(f.lists) }) == 0 || !slices.Equal(f.lists[0].GetStates(), tc.wantState)) {
				t.Errorf("List requests %v, want states %v", f.lists, tc.wantState)
			}
			switch {
			case tc.jsonJobs == 1:
				var j cohortv1.Job
				if err := protojson.Unmarshal([]byte(out), &j); err != nil || j.GetId() != "j2" || j.GetMetrics().GetCustomers() != 350 {
					t.Errorf("--json: %v, job %v, from:\n%s", err, &j, out)
				}
			case tc.jsonJobs > 1:
				var l cohortv1.ListResponse
				if err := protojson.Unmarshal([]byte(out), &l); err != nil || len(l.GetJobs()) != tc.jsonJobs {
					t.Errorf("--json: %v, %d jobs, want %d, from:\n%s", err, len(l.GetJobs()), tc.jsonJobs, out)
				}
			}
		})
	}
}

// TestStatusErrors ensures an unknown job and a bad --state say what to do.
func TestStatusErrors(t *testing.T) {
	addr := serveJobs(t, &fakeJobs{})
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"status", "nope"}, `job "nope" not found; cohort status (no id) lists`},
		{[]string{"status", "--state", "runing"}, `--state "runing": want pending, running`},
		{[]string{"status", "j1", "--state", "running"}, "--state filters the list"},
	} {
		_, _, err := runCohort(t, append(tc.args, "--coordinator", addr)...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want one containing %q", tc.args, err, tc.want)
		}
	}
}

// TestWatch ensures watch prints each event once, reconnects when a stream
// breaks mid-way (a failover), and exits by how the job ended.
func TestWatch(t *testing.T) {
	broken := rpcerr.ErrUnavailable
	for _, tc := range []struct {
		name    string
		streams [][]*cohortv1.JobEvent
		ends    []error
		json    bool
		wantErr string
	}{
		{name: "succeeded", streams: [][]*cohortv1.JobEvent{runJob(sDone)}, ends: []error{nil}},
		{name: "failed", streams: [][]*cohortv1.JobEvent{runJob(sFailed)}, ends: []error{nil},
			wantErr: "job cdnow-1 FAILED: worker w1: out of memory"},
		{name: "reconnect", ends: []error{broken, nil}, streams: [][]*cohortv1.JobEvent{runJob(sDone)[:3],
			// The new leader's snapshot repeats revision 12; an older event replays too.
			append([]*cohortv1.JobEvent{event(kSnap, sRunning, 12, 100), event(kState, sRunning, 11, 0)}, runJob(sDone)[3:]...)}},
		{name: "reconnect json", json: true, ends: []error{broken, broken, nil}, streams: [][]*cohortv1.JobEvent{
			runJob(sDone)[:2], runJob(sDone)[:4], {event(kSnap, sRunning, 13, 200), runJob(sDone)[4]}}},
		{name: "stream ends early", ends: []error{nil, nil}, streams: [][]*cohortv1.JobEvent{runJob(sDone)[:3], runJob(sDone)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeJobs{jobs: []*cohortv1.Job{{Id: "cdnow-1"}}, streams: tc.streams, ends: tc.ends}
			args := []string{"watch", "cdnow-1", "--coordinator", serveJobs(t, f)}
			if tc.json {
				args = append(args, "--json")
			}
			out, _, err := runCohort(t, args...)
			if tc.wantErr == "" && err != nil {
				t.Fatalf("watch: %v\n%s", err, out)
			}
			if tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("watch error %v, want one containing %q", err, tc.wantErr)
			}
			if n := f.count(func() int { return f.watches }); n != len(tc.streams) {
				t.Errorf("%d Watch calls, want %d", n, len(tc.streams))
			}
			var revs []uint64
			progress := 0
			sc := bufio.NewScanner(strings.NewReader(out))
			for sc.Scan() {
				line := sc.Text()
				switch {
				case tc.json:
					var ev cohortv1.JobEvent
					if err := protojson.Unmarshal([]byte(line), &ev); err != nil {
						t.Fatalf("line %q is not a JobEvent: %v", line, err)
					}
					revs = append(revs, ev.GetRevision())
				case strings.HasPrefix(line, "job cdnow-1 SUCCEEDED"):
				default:
					revs = append(revs, 0)
					if strings.Contains(line, "PROGRESS") {
						progress++
					}
					if !strings.Contains(line, "gen 1") {
						t.Errorf("event line %q lacks the generation", line)
					}
				}
			}
			if len(revs) != 5 || (tc.json && !slices.Equal(revs, []uint64{10, 11, 12, 13, 14})) || (!tc.json && progress != 2) {
				t.Errorf("printed %d events (revisions %v, %d PROGRESS), want the 5 of the job once each:\n%s", len(revs), revs, progress, out)
			}
			if !tc.json && tc.wantErr == "" && !strings.Contains(out, "job cdnow-1 SUCCEEDED") {
				t.Errorf("output lacks the closing line:\n%s", out)
			}
		})
	}
}

// TestJobsCLIStandbySkipped ensures a standby listed first is skipped for
// the leader, and that with no leader at all the error says where it looked.
func TestJobsCLIStandbySkipped(t *testing.T) {
	standby := &fakeJobs{standby: true}
	leader := &fakeJobs{jobs: []*cohortv1.Job{{Id: "j1", State: sRunning, Spec: &cohortv1.JobSpec{Name: "one"}}}}
	sa, la := serveJobs(t, standby), serveJobs(t, leader)
	out, _, err := runCohort(t, "status", "--coordinator", sa+","+la)
	if err != nil {
		t.Fatalf("status: %v", err)
	}
	sc, lc := standby.count(func() int { return standby.calls }), leader.count(func() int { return leader.calls })
	if !strings.Contains(out, "j1") || sc == 0 || lc == 0 {
		t.Errorf("standby %d calls, leader %d calls, output:\n%s", sc, lc, out)
	}
	_, _, err = runCohort(t, "status", "--coordinator", sa, "--timeout", "300ms")
	for _, w := range []string{"no leading coordinator answered at --coordinator " + sa, "not the leading coordinator",
		sa + " is a standby and knows no leader"} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("with only a standby: error %v, want one containing %q", err, w)
		}
	}
	if err != nil && strings.Contains(err.Error(), "cohort up") {
		t.Errorf("with a standby answering: error %v asks whether cohort up runs", err)
	}
}

// TestJobsCLIFollowsNamedLeader ensures the job commands dial the leader a
// standby names ("not the leading coordinator; the leader is X") at once,
// follow at most maxRedirects such answers per round, and, when the named
// leader does not answer, say so instead of asking whether cohort up runs.
func TestJobsCLIFollowsNamedLeader(t *testing.T) {
	dead := freeport.Addr(t)
	for _, tc := range []struct {
		name string
		// setup serves the fakes and returns --coordinator and the fakes
		// whose calls to count.
		setup    func(t *testing.T) (string, []*fakeJobs)
		timeout  string
		wantOut  string
		wantErr  []string
		maxCalls int // over all the fakes; 0: no bound
	}{
		{name: "standby names the leader", timeout: "20s", wantOut: "j1",
			setup: func(t *testing.T) (string, []*fakeJobs) {
				leader := &fakeJobs{jobs: []*cohortv1.Job{{Id: "j1", State: sRunning, Spec: &cohortv1.JobSpec{Name: "one"}}}}
				standby := &fakeJobs{standby: true, leader: serveJobs(t, leader)}
				return serveJobs(t, standby), []*fakeJobs{standby, leader}
			}, maxCalls: 2},
		{name: "standby names the leader in its status detail", timeout: "20s", wantOut: "j1",
			setup: func(t *testing.T) (string, []*fakeJobs) {
				leader := &fakeJobs{jobs: []*cohortv1.Job{{Id: "j1", State: sRunning, Spec: &cohortv1.JobSpec{Name: "one"}}}}
				standby := &fakeJobs{standby: true, leaderInDetail: true, leader: serveJobs(t, leader)}
				return serveJobs(t, standby), []*fakeJobs{standby, leader}
			}, maxCalls: 2},
		{name: "standby names a dead leader", timeout: "1s",
			setup: func(t *testing.T) (string, []*fakeJobs) {
				standby := &fakeJobs{standby: true, leader: dead}
				return serveJobs(t, standby), []*fakeJobs{standby}
			},
			wantErr: []string{"is a standby; the leader is " + dead + ", which did not answer", "check that " + dead + " (the address the leader advertises) is reachable"}},
		{name: "standbys name each other", timeout: "1s",
			setup: func(t *testing.T) (string, []*fakeJobs) {
				a, b := &fakeJobs{standby: true}, &fakeJobs{standby: true}
				aa, ba := serveJobs(t, a), serveJobs(t, b)
				a.mu.Lock()
				a.leader = ba
				a.mu.Unlock()
				b.mu.Lock()
				b.leader = aa
				b.mu.Unlock()
				return aa, []*fakeJobs{a, b}
			},
			// Each round dials a, then b, then a's named leader is b:
			// tried already. Backoff from 100ms: under 10 rounds in 1s.
			wantErr: []string{"is a standby; the leader is "}, maxCalls: 30},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr, fakes := tc.setup(t)
			began := time.Now()
			out, _, err := runCohort(t, "status", "--coordinator", addr, "--timeout", tc.timeout)
			took := time.Since(began)
			calls := 0
			for _, f := range fakes {
				calls += f.count(func() int { return f.calls })
			}
			if tc.maxCalls > 0 && calls > tc.maxCalls {
				t.Errorf("%d calls, want at most %d", calls, tc.maxCalls)
			}
			if tc.wantErr == nil {
				if err != nil || !strings.Contains(out, tc.wantOut) {
					t.Fatalf("status: %v, output:\n%s", err, out)
				}
				if took > 3*time.Second {
					t.Errorf("took %v: the named leader was not dialled at once", took)
				}
				return
			}
			if err == nil {
				t.Fatalf("status succeeded:\n%s", out)
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "cohort up") {
				t.Errorf("error %q asks whether cohort up runs, though a coordinator answered", err)
			}
			if _, code := exitMessage(err, nil); code != exitUnreachable {
				t.Errorf("exit status %d, want %d", code, exitUnreachable)
			}
		})
	}
}

// TestJobsCLIEtcdLeader ensures --etcd finds the coordinator that leads the
// election, and that an empty election gives up saying so.
func TestJobsCLIEtcdLeader(t *testing.T) {
	ctx := t.Context()
	eps, cli := etcdtest.Start(t)
	ep := strings.Join(eps, ",")
	_, _, err := runCohort(t, "status", "--etcd", ep, "--timeout", "300ms")
	if err == nil || !strings.Contains(err.Error(), "no coordinator leads the election") {
		t.Errorf("with no coordinator: error %v, want one saying no coordinator leads", err)
	}

	sess, err := membership.NewSession(ctx, cli)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sess.Close() })
	leader := &fakeJobs{jobs: []*cohortv1.Job{{Id: "j1", State: sRunning}}}
	if err := membership.NewElection(sess).Campaign(ctx, membership.CoordinatorValue("c1", serveJobs(t, leader))); err != nil {
		t.Fatal(err)
	}
	out, _, err := runCohort(t, "status", "j1", "--etcd", ep)
	if err != nil || !strings.Contains(out, "RUNNING") {
		t.Errorf("status --etcd: %v, output:\n%s", err, out)
	}
}

// TestCancel ensures cancel sends the reason and prints the cancelled job,
// and that a finished job's refusal says so.
func TestCancel(t *testing.T) {
	for _, tc := range []struct {
		name    string
		state   cohortv1.JobState
		args    []string
		want    string
		wantErr string
	}{
		// The coordinator returns a RUNNING job as it was: the stop is
		// requested, not done.
		{name: "running", state: sRunning, args: []string{"--reason", "wrong horizon"},
			want: "cancel requested: j1 stops at its next step (cohort watch j1 --coordinator "},
		{name: "pending", state: sPending, args: []string{"--reason", "wrong horizon"}, want: "job j1 CANCELLED: cancelled: wrong horizon\n"},
		{name: "default reason", state: sPending, want: "job j1 CANCELLED: cancelled: by "},
		{name: "finished", state: sDone, wantErr: `cancel j1: the job already finished (SUCCEEDED)`},
		{name: "unknown", state: sRunning, args: []string{"--reason", "x"}, wantErr: `job "j9" not found`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeJobs{jobs: []*cohortv1.Job{{Id: "j1", State: tc.state}}}
			id := "j1"
			if tc.name == "unknown" {
				id = "j9"
			}
			out, _, err := runCohort(t, append([]string{"cancel", id, "--coordinator", serveJobs(t, f)}, tc.args...)...)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("cancel error %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("cancel: %v", err)
			}
			if n := f.count(func() int { return len(f.cancels) }); !strings.Contains(out, tc.want) || n != 1 {
				t.Errorf("%d Cancel calls, output %q, want one call and %q", n, out, tc.want)
			}
			for _, bad := range []string{"RUNNING", "cancelled: cancelled"} {
				if strings.Contains(out, bad) {
					t.Errorf("output %q has %q", out, bad)
				}
			}
		})
	}
}
