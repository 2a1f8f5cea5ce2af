package coordinator

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/cohort-clv/cohort/membership"
	cohortv1 "github.com/cohort-clv/cohort/proto/cohort/v1"
	"github.com/cohort-clv/cohort/rpcerr"
)

// RequestsPrefix holds one key per Submit request_id, naming the job that
// request created; it is what makes a retried Submit return the first job.
const RequestsPrefix = membership.Root + "requests/"

// RequestKey returns the key that records which job request_id created.
func RequestKey(requestID string) string { return RequestsPrefix + requestID }

// CancelKey returns the key Cancel writes, with the reason as its value, to
// stop a RUNNING job: the job's owner watches it and ends the job CANCELLED
// at the next step boundary.
func CancelKey(id string) string { return membership.JobKey(id) + "/cancel" }

// maxWriteRetries bounds the read-check-write loops of Submit (an id that
// is taken) and Cancel (a record that changed under it).
const maxWriteRetries = 5

// listBatch is how many keys one etcd range of List reads.
const listBatch = 256

// Leadership is what the service needs of the coordinator's election.
type Leadership interface {
	// Fence returns the comparison that holds only while this coordinator leads, and
	// ok=false while it is a standby (then every RPC fails with rpcerr.ErrNotLeader,
	// and the error text names the leader's address from Leader() when known).
	Fence() (cmp clientv3.Cmp, ok bool)
	// Leader returns the address clients should dial to reach the leader.
	Leader(ctx context.Context) (addr string, err error)
}

// JobsOptions configures a JobsService; every field is optional.
type JobsOptions struct {
	// Logger gets a line per submitted and cancelled job (default slog.Default()).
	Logger *slog.Logger
	// Name is this coordinator's name, recorded in Job.coordinator.
	Name string
	// Now is the clock of created_at and updated_at (default time.Now).
	Now func() time.Time
	// NewID returns a fresh job id of 1..64 bytes of [a-z0-9-] (default
	// "job-" and 12 random lowercase hex digits).
	NewID func() string
	// OnSubmit, when set, is called with the id of every job Submit created,
	// after it is committed (not for a retry that returns an existing job).
	OnSubmit func(id string)
	// RequestTTL is how long Submit remembers a request_id (default
	// DefaultRequestTTL): a retry within it returns the first job. The
	// request keys expire with an etcd lease, so they do not pile up.
	RequestTTL time.Duration
	// Host names this coordinator's machine in Submit's errors about its
	// files (default os.Hostname()).
	Host string
	// NoFileChecks stops Submit from looking at this machine's files (that
	// data_path can be read, that out_dir and checkpoint_dir can be
	// written and hold no finished run): for tests of the API over specs
	// whose paths exist nowhere. Paths must still be absolute, and an
	// out_dir held by another live job is still refused.
	NoFileChecks bool
	// MaxPending caps the PENDING jobs: a Submit that would queue one more
	// is refused with RESOURCE_EXHAUSTED (default DefaultMaxPending;
	// negative: no cap). A retried Submit that finds its job is not.
	MaxPending int
	// MaxWatches caps the Watch streams this service serves at once; one
	// more is refused with RESOURCE_EXHAUSTED (default DefaultMaxWatches).
	MaxWatches int
	// Retention is what the leader keeps of finished jobs; Get names it
	// when it finds no job, as the job may have been removed (zero: not
	// named).
	Retention Retention
}

// DefaultMaxPending is how many jobs may wait PENDING by default. A job
// waiting for workers holds no data (run.go reads it once workers could
// take the job), but each still costs the leader a goroutine, a discovery
// watch and a record that every List reads.
const DefaultMaxPending = 64

// DefaultMaxWatches is how many Watch streams a coordinator serves at once
// by default. Workers do not use Watch (they follow etcd); each `cohort
// watch` and `cohort submit --watch` holds one, and each costs the leader
// about 100 KB and an etcd watch.
const DefaultMaxWatches = 1024

// DefaultRequestTTL is how long a request_id is remembered by default: a
// day, longer than any client retries a lost reply.
const DefaultRequestTTL = 24 * time.Hour

// JobsService serves the Jobs API over the job records in etcd. It holds no
// state of its own, so a standby that becomes leader serves at once; every
// write is fenced on the leader's election key, so a deposed leader that
// has not noticed yet changes nothing.
type JobsService struct {
	cohortv1.UnimplementedJobsServer
	cli  *clientv3.Client
	lead Leadership
	opts JobsOptions
	// submitMu orders Submits from their out_dir check to their write, so
	// two jobs submitted at once cannot both take the same out_dir (nor
	// both take the last PENDING place). It covers etcd calls only: the
	// file checks, which can block on a slow filesystem, run before it.
	submitMu sync.Mutex
	// watches holds a token per Watch stream being served (MaxWatches).
	watches chan struct{}
}

// NewJobsService returns the Jobs service of a coordinator, filling opts'
// defaults. Register it with cohortv1.RegisterJobsServer on a server that
// has rpcerr's interceptors, which turn its errors into the API's codes.
func NewJobsService(cli *clientv3.Client, lead Leadership, opts JobsOptions) *JobsService {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.NewID == nil {
		opts.NewID = newJobID
	}
	if opts.RequestTTL <= 0 {
		opts.RequestTTL = DefaultRequestTTL
	}
	if opts.Host == "" {
		opts.Host, _ = os.Hostname() // "" on error: errors then name the coordinator only
	}
	if opts.MaxPending == 0 {
		opts.MaxPending = DefaultMaxPending
	}
	if opts.MaxWatches <= 0 {
		opts.MaxWatches = DefaultMaxWatches
	}
	return &JobsService{cli: cli, lead: lead, opts: opts, watches: make(chan struct{}, opts.MaxWatches)}
}

// newJobID returns "job-" and 12 random lowercase hex digits.
func newJobID() string {
	var b [6]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return "job-" + hex.EncodeToString(b[:])
}

// fence returns the leader's fence, or ErrNotLeader naming the leader.
func (s *JobsService) fence(ctx context.Context, op string) (clientv3.Cmp, error) {
	f, ok := s.lead.Fence()
	if ok {
		return f, nil
	}
	return clientv3.Cmp{}, s.notLeader(ctx, op)
}

func (s *JobsService) notLeader(ctx context.Context, op string) error {
	addr, err := s.lead.Leader(ctx)
	switch {
	case err == nil && addr != "":
		return &notLeaderError{leader: addr, err: fmt.Errorf("coordinator: %s: %w; the leader is %s", op, rpcerr.ErrNotLeader, addr)}
	case err != nil:
		return fmt.Errorf("coordinator: %s: %w; leader unknown: %v", op, rpcerr.ErrNotLeader, err)
	}
	return fmt.Errorf("coordinator: %s: %w; leader unknown", op, rpcerr.ErrNotLeader)
}

// stillLeads reports whether f holds now; after a failed transaction it
// tells a lost leadership from a lost compare-and-swap.
func (s *JobsService) stillLeads(ctx context.Context, f clientv3.Cmp) (bool, error) {
	resp, err := s.cli.Txn(ctx).If(f).Commit()
	if err != nil {
		return false, err
	}
	return resp.Succeeded, nil
}

// Submit validates the spec and records a new PENDING job. With a
// request_id, the job and the request key are created in one transaction,
// so a retry (after a lost reply or a failover) finds the request key and
// returns the job the first call created. Before it records anything, the
// leader checks the spec's paths on its own machine (checkPaths), that no
// PENDING or RUNNING job writes to the same out_dir and that fewer than
// MaxPending jobs are PENDING.
func (s *JobsService) Submit(ctx context.Context, req *cohortv1.SubmitRequest) (*cohortv1.SubmitResponse, error) {
	const op = "submit"
	// ValidateJobSpec reports the spec's bounds and what they mean; the
	// request's own Validate then checks the rest (request_id).
	if err := ValidateJobSpec(req.GetSpec()); err != nil {
		return nil, fmt.Errorf("coordinator: %s: %w", op, err)
	}
	if err := req.Validate(); err != nil {
		return nil, fmt.Errorf("coordinator: %s: %w", op, err)
	}
	if err := absolutePaths(req.GetSpec()); err != nil {
		return nil, fmt.Errorf("coordinator: %s: %w", op, err)
	}
	rid := req.GetRequestId()
	f, err := s.fence(ctx, op)
	if err != nil {
		return nil, err
	}
	if rid != "" {
		// A retry of a Submit that created its job must find that job,
		// not refuse the out_dir the job itself now holds (or its finished
		// run there).
		if j, found, err := s.requested(ctx, rid); err != nil || found {
			return jobOrErr(j, err, op)
		}
	}
	if !s.opts.NoFileChecks {
		// Outside submitMu: a filesystem that answers slowly holds up this
		// Submit only, not every other one.
		if err := s.checkPaths(req.GetSpec()); err != nil {
			return nil, fmt.Errorf("coordinator: %s: %w", op, err)
		}
	}
	s.submitMu.Lock()
	defer s.submitMu.Unlock()
	if rid != "" {
		// Looked up again under submitMu: a concurrent retry of the same
		// request may have made the job since.
		if j, found, err := s.requested(ctx, rid); err != nil || found {
			return jobOrErr(j, err, op)
		}
	}
	if err := s.admit(ctx, req.GetSpec()); err != nil {
		return nil, fmt.Errorf("coordinator: %s: %w", op, err)
	}
	for try := range maxWriteRetries {
		if rid != "" && try > 0 {
			// The request was looked up above, under submitMu; after a
			// failed transaction another leader's Submit may have made it.
			if j, found, err := s.requested(ctx, rid); err != nil || found {
				return jobOrErr(j, err, op)
			}
		}
		id := s.opts.NewID()
		if id == "" {
			return nil, fmt.Errorf("coordinator: %s: NewID returned an empty id", op)
		}
		if err := cohortv1.ValidateJobID(id); err != nil {
			return nil, fmt.Errorf("coordinator: %s: NewID: %w", op, err)
		}
		now := timestamppb.New(s.opts.Now())
		rec := &cohortv1.Job{Id: id, Spec: proto.CloneOf(req.GetSpec()), State: cohortv1.JobState_JOB_STATE_PENDING,
			CreatedAt: now, UpdatedAt: now, Coordinator: s.opts.Name}
		raw, err := protojson.Marshal(rec)
		if err != nil {
			return nil, fmt.Errorf("coordinator: %s: encode job %s: %w", op, id, err)
		}
		key := membership.JobKey(id)
		conds := []clientv3.Cmp{f, clientv3.Compare(clientv3.Version(key), "=", 0)}
		ops := []clientv3.Op{clientv3.OpPut(key, string(raw))}
		var lease clientv3.LeaseID
		if rid != "" {
			l, err := s.cli.Grant(ctx, int64(max(s.opts.RequestTTL/time.Second, 1)))
			if err != nil {
				return nil, fmt.Errorf("coordinator: %s: lease for request %q: %w", op, rid, err)
			}
			lease = l.ID
			conds = append(conds, clientv3.Compare(clientv3.Version(RequestKey(rid)), "=", 0))
			ops = append(ops, clientv3.OpPut(RequestKey(rid), id, clientv3.WithLease(lease)))
		}
		resp, err := s.cli.Txn(ctx).If(conds...).Then(ops...).Commit()
		if lease != 0 && (err != nil || !resp.Succeeded) {
			s.cli.Revoke(ctx, lease) // best effort: an unused lease expires anyway
		}
		if err != nil {
			return nil, fmt.Errorf("coordinator: %s: write job %s: %w", op, id, err)
		}
		if resp.Succeeded {
			s.opts.Logger.Info("job submitted", "job", id, "name", rec.GetSpec().GetName(), "request_id", rid)
			if s.opts.OnSubmit != nil {
				s.opts.OnSubmit(id)
			}
			return &cohortv1.SubmitResponse{Job: rec}, nil
		}
		// The fence, the id or the request id failed; find out which.
		if leads, err := s.stillLeads(ctx, f); err != nil {
			return nil, fmt.Errorf("coordinator: %s: %w", op, err)
		} else if !leads {
			return nil, s.notLeader(ctx, op)
		}
		// A concurrent retry of the same request won, or the id was taken:
		// the next round returns the former and draws a new id for the latter.
	}
	return nil, fmt.Errorf("coordinator: %s: %w: no free job id after %d tries (is NewID random?)",
		op, rpcerr.ErrAlreadyExists, maxWriteRetries)
}

// requested returns the job a request id created, if it created one.
func (s *JobsService) requested(ctx context.Context, rid string) (*cohortv1.Job, bool, error) {
	resp, err := s.cli.Get(ctx, RequestKey(rid))
	if err != nil {
		return nil, false, fmt.Errorf("read request %q: %w", rid, err)
	}
	if len(resp.Kvs) == 0 {
		return nil, false, nil
	}
	j, _, err := s.read(ctx, string(resp.Kvs[0].Value))
	if err != nil {
		return nil, true, fmt.Errorf("request %q: %w", rid, err)
	}
	return j, true, nil
}

func jobOrErr(j *cohortv1.Job, err error, op string) (*cohortv1.SubmitResponse, error) {
	if err != nil {
		return nil, fmt.Errorf("coordinator: %s: %w", op, err)
	}
	return &cohortv1.SubmitResponse{Job: j}, nil
}

// read returns job id's record and the etcd revision it was last written
// at; ErrNotFound when there is none.
func (s *JobsService) read(ctx context.Context, id string) (*cohortv1.Job, *clientv3.GetResponse, error) {
	resp, err := s.cli.Get(ctx, membership.JobKey(id))
	if err != nil {
		return nil, nil, fmt.Errorf("read job %s: %w", id, err)
	}
	if len(resp.Kvs) == 0 {
		return nil, nil, fmt.Errorf("job %s: %w", id, rpcerr.ErrNotFound)
	}
	j, err := decodeJobRecord(resp.Kvs[0].Value)
	if err != nil {
		return nil, nil, fmt.Errorf("job %s: %w", id, err)
	}
	return j, resp, nil
}

func decodeJobRecord(raw []byte) (*cohortv1.Job, error) {
	j := &cohortv1.Job{}
	if err := cohortv1.UnmarshalRecord(raw, j); err != nil {
		return nil, fmt.Errorf("decode job record: %w", err)
	}
	return j, nil
}

// Get returns a job's record.
func (s *JobsService) Get(ctx context.Context, req *cohortv1.GetRequest) (*cohortv1.GetResponse, error) {
	const op = "get"
	if err := req.Validate(); err != nil {
		return nil, fmt.Errorf("coordinator: %s: %w", op, err)
	}
	if _, err := s.fence(ctx, op); err != nil {
		return nil, err
	}
	j, _, err := s.read(ctx, req.GetJobId())
	if errors.Is(err, rpcerr.ErrNotFound) && s.opts.Retention != (Retention{}) && !s.opts.Retention.off() {
		return nil, fmt.Errorf("coordinator: %s: %w (%s)", op, err, s.opts.Retention)
	}
	if err != nil {
		return nil, fmt.Errorf("coordinator: %s: %w", op, err)
	}
	return &cohortv1.GetResponse{Job: j}, nil
}

// List returns jobs newest first (by created_at, then id). etcd keeps no
// index by time, so every call reads the job records, at one revision, in
// batches; the page token is the position (created_at, id) of the last job
// returned, so a listing stays in order while jobs are added.
func (s *JobsService) List(ctx context.Context, req *cohortv1.ListRequest) (*cohortv1.ListResponse, error) {
	const op = "list"
	if err := req.Validate(); err != nil {
		return nil, fmt.Errorf("coordinator: %s: %w", op, err)
	}
	var after *listPos
	if tok := req.GetPageToken(); tok != "" {
		p, err := parsePageToken(tok)
		if err != nil {
			return nil, fmt.Errorf("coordinator: %s: %w: page_token: %v", op, rpcerr.ErrInvalidArgument, err)
		}
		after = &p
	}
	if _, err := s.fence(ctx, op); err != nil {
		return nil, err
	}
	jobs, err := s.readJobs(ctx)
	if err != nil {
		return nil, fmt.Errorf("coordinator: %s: %w", op, err)
	}
	if states := req.GetStates(); len(states) > 0 {
		jobs = slices.DeleteFunc(jobs, func(j *cohortv1.Job) bool { return !slices.Contains(states, j.GetState()) })
	}
	slices.SortFunc(jobs, func(a, b *cohortv1.Job) int { return posOf(b).compare(posOf(a)) })
	if after != nil {
		// Jobs sort newest first: skip every job at or before the token.
		i, _ := slices.BinarySearchFunc(jobs, *after, func(j *cohortv1.Job, p listPos) int { return p.compare(posOf(j)) })
		for i < len(jobs) && posOf(jobs[i]).compare(*after) == 0 {
			i++
		}
		jobs = jobs[i:]
	}
	size := int(req.GetPageSize())
	if size == 0 {
		size = cohortv1.DefaultPageSize
	}
	resp := &cohortv1.ListResponse{}
	if len(jobs) > size {
		jobs = jobs[:size]
		resp.NextPageToken = posOf(jobs[size-1]).token()
	}
	resp.Jobs = jobs
	return resp, nil
}

// readJobs reads every job record (readJobRecords).
func (s *JobsService) readJobs(ctx context.Context) ([]*cohortv1.Job, error) {
	return readJobRecords(ctx, s.cli, s.opts.Logger)
}

// readJobRecords reads every job record, at one revision (readStoredJobs).
func readJobRecords(ctx context.Context, cli *clientv3.Client, log *slog.Logger) ([]*cohortv1.Job, error) {
	stored, err := readStoredJobs(ctx, cli, log)
	if err != nil {
		return nil, err
	}
	jobs := make([]*cohortv1.Job, len(stored))
	for i, sj := range stored {
		jobs[i] = sj.rec
	}
	return jobs, nil
}

// storedJob is a job record as read from etcd, with the revision it was
// last written at: a change made on the strength of it (pruning) is made
// only if the record is still that one.
type storedJob struct {
	rec *cohortv1.Job
	rev int64
}

// readStoredJobs reads every job record, at one revision: the keys exactly
// one level below JobsPrefix, skipping what other code keeps below a job
// (generations, checkpoint pointer, cancel request). A record that does not
// decode is logged and left out, so one bad record cannot hide every job.
func readStoredJobs(ctx context.Context, cli *clientv3.Client, log *slog.Logger) ([]storedJob, error) {
	var jobs []storedJob
	var rev int64
	from, end := membership.JobsPrefix, clientv3.GetPrefixRangeEnd(membership.JobsPrefix)
	for {
		opts := []clientv3.OpOption{clientv3.WithRange(end), clientv3.WithLimit(listBatch)}
		if rev != 0 {
			opts = append(opts, clientv3.WithRev(rev))
		}
		resp, err := cli.Get(ctx, from, opts...)
		if err != nil {
			return nil, fmt.Errorf("read jobs: %w", err)
		}
		if rev == 0 {
			rev = resp.Header.Revision
		}
		for _, kv := range resp.Kvs {
			id := strings.TrimPrefix(string(kv.Key), membership.JobsPrefix)
			if id == "" || strings.Contains(id, "/") {
				continue
			}
			j, err := decodeJobRecord(kv.Value)
			if err != nil {
				log.Warn("skipping a job record that does not decode", "key", string(kv.Key), "err", err)
				continue
			}
			jobs = append(jobs, storedJob{rec: j, rev: kv.ModRevision})
		}
		if !resp.More || len(resp.Kvs) == 0 {
			return jobs, nil
		}
		from = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
	}
}

// listPos is a job's place in a listing.
type listPos struct {
	nanos int64
	id    string
}

func posOf(j *cohortv1.Job) listPos {
	var n int64
	if t := j.GetCreatedAt(); t != nil {
		n = t.AsTime().UnixNano()
	}
	return listPos{nanos: n, id: j.GetId()}
}

// compare orders positions oldest first.
func (p listPos) compare(q listPos) int {
	return cmp.Or(cmp.Compare(p.nanos, q.nanos), strings.Compare(p.id, q.id))
}

// pageTokenVersion starts every page token, so a format change can be told.
const pageTokenVersion = "v1"

func (p listPos) token() string {
	return base64.RawURLEncoding.EncodeToString([]byte(pageTokenVersion + ":" + strconv.FormatInt(p.nanos, 10) + ":" + p.id))
}

func parsePageToken(tok string) (listPos, error) {
	raw, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		return listPos{}, errors.New("not a token this service issued")
	}
	parts := strings.SplitN(string(raw), ":", 3)
	if len(parts) != 3 || parts[0] != pageTokenVersion {
		return listPos{}, errors.New("not a token this service issued")
	}
	n, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil || cohortv1.ValidateJobID(parts[2]) != nil {
		return listPos{}, errors.New("not a token this service issued")
	}
	return listPos{nanos: n, id: parts[2]}, nil
}

// Watch streams a job: a SNAPSHOT at the revision of its read, then an
// event per write of its record from the next revision on, so no change
// falls between the two. It returns nil after sending an event of a
// terminal job. A watch that etcd cuts (compaction, no etcd leader) ends
// with UNAVAILABLE: the client reconnects and gets a fresh SNAPSHOT.
func (s *JobsService) Watch(req *cohortv1.WatchRequest, stream grpc.ServerStreamingServer[cohortv1.JobEvent]) error {
	const op = "watch"
	ctx := stream.Context()
	if err := req.Validate(); err != nil {
		return fmt.Errorf("coordinator: %s: %w", op, err)
	}
	if _, err := s.fence(ctx, op); err != nil {
		return err
	}
	select {
	case s.watches <- struct{}{}:
		defer func() { <-s.watches }()
	default:
		return fmt.Errorf("coordinator: %s: %d Watch streams are open, the most this coordinator "+
			"serves at once; close some (each cohort watch holds one) or poll with cohort status: %w", op, cap(s.watches), rpcerr.ErrLimitReached)
	}
	id := req.GetJobId()
	prev, resp, err := s.read(ctx, id)
	if err != nil {
		return fmt.Errorf("coordinator: %s: %w", op, err)
	}
	rev := resp.Header.Revision
	snap := "state " + jobStateName(prev.GetState())
	if m := prev.GetMessage(); m != "" {
		snap = cohortv1.Clip(snap+": "+m, cohortv1.MaxReasonLen)
	}
	if err := stream.Send(&cohortv1.JobEvent{Kind: cohortv1.JobEvent_KIND_SNAPSHOT, Job: prev, Revision: uint64(rev),
		Time: eventTime(prev, s.opts.Now), Message: snap}); err != nil {
		return fmt.Errorf("coordinator: %s %s: send: %w", op, id, err)
	}
	if prev.GetState().Terminal() {
		return nil
	}
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	for wr := range s.cli.Watch(wctx, membership.JobKey(id), clientv3.WithRev(rev+1)) {
		if err := wr.Err(); err != nil {
			return fmt.Errorf("coordinator: %s %s: %w: etcd watch ended (%v); watch again", op, id, rpcerr.ErrUnavailable, err)
		}
		for _, ev := range wr.Events {
			if ev.Type == clientv3.EventTypeDelete {
				return fmt.Errorf("coordinator: %s: job %s was deleted: %w", op, id, rpcerr.ErrNotFound)
			}
			cur, err := decodeJobRecord(ev.Kv.Value)
			if err != nil {
				return fmt.Errorf("coordinator: %s %s: %w", op, id, err)
			}
			kind, msg := describeChange(prev, cur)
			if err := stream.Send(&cohortv1.JobEvent{Kind: kind, Job: cur, Revision: uint64(ev.Kv.ModRevision),
				Time: eventTime(cur, s.opts.Now), Message: msg}); err != nil {
				return fmt.Errorf("coordinator: %s %s: send: %w", op, id, err)
			}
			if cur.GetState().Terminal() {
				return nil
			}
			prev = cur
		}
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("coordinator: %s %s: %w", op, id, err)
	}
	return fmt.Errorf("coordinator: %s %s: %w: etcd watch closed; watch again", op, id, rpcerr.ErrUnavailable)
}

// eventTime is when the job's record says it changed, or now.
func eventTime(j *cohortv1.Job, now func() time.Time) *timestamppb.Timestamp {
	if t := j.GetUpdatedAt(); t != nil {
		return t
	}
	return timestamppb.New(now())
}

// jobStateName is a state without its enum prefix: RUNNING.
func jobStateName(st cohortv1.JobState) string {
	return strings.TrimPrefix(st.String(), "JOB_STATE_")
}

// describeChange names what changed from prev to cur, most important first,
// with a line for logs.
func describeChange(prev, cur *cohortv1.Job) (cohortv1.JobEvent_Kind, string) {
	switch {
	case prev.GetState() != cur.GetState():
		msg := "state " + jobStateName(prev.GetState()) + " -> " + jobStateName(cur.GetState())
		if e := cur.GetError(); e != "" && cur.GetState().Terminal() {
			msg += ": " + e
		} else if m := cur.GetMessage(); m != "" {
			msg += ": " + m
		}
		return cohortv1.JobEvent_KIND_STATE, cohortv1.Clip(msg, cohortv1.MaxReasonLen)
	case prev.GetGeneration() != cur.GetGeneration():
		msg := fmt.Sprintf("generation %d: %s", cur.GetGeneration(), workersText(int(cur.GetWorkers())))
		// Job.startGeneration records why it started as "generation N: why".
		if why, ok := strings.CutPrefix(cur.GetMessage(), fmt.Sprintf("generation %d: ", cur.GetGeneration())); ok && why != "" {
			msg += " (" + why + ")"
		}
		return cohortv1.JobEvent_KIND_GENERATION, cohortv1.Clip(msg, cohortv1.MaxReasonLen)
	case prev.GetCheckpointStep() != cur.GetCheckpointStep():
		return cohortv1.JobEvent_KIND_CHECKPOINT, fmt.Sprintf("checkpoint at step %d", cur.GetCheckpointStep())
	case prev.GetMessage() != cur.GetMessage() && cur.GetMessage() != "":
		// What a waiting job waits for changed: a worker came or went.
		return cohortv1.JobEvent_KIND_PROGRESS, cohortv1.Clip(cur.GetMessage(), cohortv1.MaxReasonLen)
	}
	return cohortv1.JobEvent_KIND_PROGRESS, fmt.Sprintf("step %d, epoch %d, loss %.4g", cur.GetStep(), cur.GetEpoch(), cur.GetLoss())
}

// workersText is "1 worker" or "N workers".
func workersText(n int) string {
	if n == 1 {
		return "1 worker"
	}
	return fmt.Sprintf("%d workers", n)
}

// Cancel stops a job. A PENDING job becomes CANCELLED at once, by a write
// that fails if the record changed since it was read (the scheduler may be
// starting it); its owner, waiting for workers, sees the record end and
// stops (serverRun.watchCancelled). A RUNNING job is stopped by its owner,
// which watches CancelKey; Cancel writes that key and returns the job
// still RUNNING.
func (s *JobsService) Cancel(ctx context.Context, req *cohortv1.CancelRequest) (*cohortv1.CancelResponse, error) {
	const op = "cancel"
	if err := req.Validate(); err != nil {
		return nil, fmt.Errorf("coordinator: %s: %w", op, err)
	}
	f, err := s.fence(ctx, op)
	if err != nil {
		return nil, err
	}
	id := req.GetJobId()
	key := membership.JobKey(id)
	for range maxWriteRetries {
		j, resp, err := s.read(ctx, id)
		if err != nil {
			return nil, fmt.Errorf("coordinator: %s: %w", op, err)
		}
		unchanged := clientv3.Compare(clientv3.ModRevision(key), "=", resp.Kvs[0].ModRevision)
		var write clientv3.Op
		switch st := j.GetState(); st {
		case cohortv1.JobState_JOB_STATE_CANCELLED:
			return &cohortv1.CancelResponse{Job: j}, nil
		case cohortv1.JobState_JOB_STATE_SUCCEEDED, cohortv1.JobState_JOB_STATE_FAILED:
			return nil, fmt.Errorf("coordinator: %s: job %s is %s: %w", op, id, jobStateName(st), rpcerr.ErrFinished)
		case cohortv1.JobState_JOB_STATE_PENDING:
			now := timestamppb.New(s.opts.Now())
			j.State, j.UpdatedAt, j.FinishedAt = cohortv1.JobState_JOB_STATE_CANCELLED, now, now
			j.Message = "" // it waits for nothing any more
			j.Error = errCancelRequested{reason: req.GetReason()}.Error()
			raw, err := protojson.Marshal(j)
			if err != nil {
				return nil, fmt.Errorf("coordinator: %s: encode job %s: %w", op, id, err)
			}
			write = clientv3.OpPut(key, string(raw))
		case cohortv1.JobState_JOB_STATE_RUNNING:
			write = clientv3.OpPut(CancelKey(id), req.GetReason())
		default:
			return nil, fmt.Errorf("coordinator: %s: job %s has state %v, which cancel does not know", op, id, st)
		}
		tr, err := s.cli.Txn(ctx).If(f, unchanged).Then(write).Commit()
		if err != nil {
			return nil, fmt.Errorf("coordinator: %s: job %s: %w", op, id, err)
		}
		if tr.Succeeded {
			s.opts.Logger.Info("job cancelled", "job", id, "state", jobStateName(j.GetState()), "reason", req.GetReason())
			return &cohortv1.CancelResponse{Job: j}, nil
		}
		if leads, err := s.stillLeads(ctx, f); err != nil {
			return nil, fmt.Errorf("coordinator: %s: %w", op, err)
		} else if !leads {
			return nil, s.notLeader(ctx, op)
		}
		// The record changed under us: read it again.
	}
	return nil, fmt.Errorf("coordinator: %s: job %s: %w: its record kept changing; retry", op, id, rpcerr.ErrUnavailable)
}
