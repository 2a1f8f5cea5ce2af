package coordinator

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/cohort-clv/cohort/job"
	"github.com/cohort-clv/cohort/membership"
	cohortv1 "github.com/cohort-clv/cohort/proto/cohort/v1"
	"github.com/cohort-clv/cohort/rpcerr"
)

// Defaults filled in by Start.
const (
	// DefaultStartTimeout bounds the wait for a generation's workers.
	DefaultStartTimeout = time.Minute
	// DefaultListen serves the coordinator's gRPC services on loopback.
	DefaultListen = "127.0.0.1:0"
)

// Config configures the coordinator of one job.
type Config struct {
	// Client talks to etcd; required. The coordinator writes the job under
	// membership.JobKey and its generations under membership.GenerationKey.
	Client *clientv3.Client
	// JobID names the job: 1..64 bytes of [a-z0-9-]; "" generates one.
	JobID string
	// Workers is the size of the first generation, and the most any
	// generation takes: training starts once that many workers are
	// registered. A worker that loses its lease, a failed allreduce, or a
	// worker that registers while a generation has fewer, starts the next
	// generation.
	Workers int
	// MinWorkers is the fewest workers a generation may have (default 1):
	// with fewer survivors the job fails, or waits (WaitForWorkers).
	MinWorkers int
	// WaitForWorkers makes a job with fewer than MinWorkers survivors wait,
	// recorded PENDING, for workers to come, and then go on from the
	// furthest state a survivor holds or its last checkpoint, rather than
	// fail: a cluster's job outlives its workers, as it outlives its
	// coordinator.
	WaitForWorkers bool
	// WorkerNames, when set, are the generation's workers (Workers is
	// then their number): other registered workers are left alone, so a
	// job's own local workers never mix with another job's.
	WorkerNames []string
	// Listen is the address of the Data and Coordinator services
	// (default DefaultListen). Workers reach it through the plan.
	Listen string
	// Timeout bounds every allreduce wait for a peer; it should be the
	// workers' lease TTL (default membership.DefaultTTL).
	Timeout time.Duration
	// StartTimeout bounds the wait for Workers workers (default
	// DefaultStartTimeout).
	StartTimeout time.Duration
	// Threads bounds each worker's CPU threads (0: every core).
	Threads int
	// Logger gets the coordinator's logs (default slog.Default()).
	Logger *slog.Logger
	// OnProgress, when set, is called after every epoch of rank 0 from
	// Train's goroutine.
	OnProgress func(Progress)

	// Name is the coordinator's name, recorded in Job.coordinator.
	Name string
	// Record, when set, is the job's record as submitted (Jobs.Submit) or
	// as a previous coordinator left it (a takeover); its id is JobID.
	// Start then keeps it rather than writing a fresh PENDING record.
	Record *cohortv1.Job
	// RecordRevision, when set, is the etcd ModRevision Record was read
	// at. The job's first write then fails if the record changed since
	// (Jobs.Cancel ended it), as every later write does after a change
	// this job did not make (see Job.put).
	RecordRevision int64
	// Fence, when set, guards every etcd write (the leading coordinator's
	// election fence), so a deposed leader that has not noticed yet writes
	// nothing: its writes fail with rpcerr.ErrNotLeader.
	Fence *clientv3.Cmp
	// FirstGeneration is the number of the first generation this
	// coordinator starts: 1 for a new job, the one after the last for a
	// job taken over from a dead leader (default 1).
	FirstGeneration uint64
	// StartWorkers is how many eligible workers the first generation waits
	// for (default Workers; a job submitted to a cluster starts with its
	// min_workers and takes in more as they come).
	StartWorkers int
	// Prefer names workers the first generation takes before any other:
	// the workers of the last generation of a job taken over, which hold
	// its training state.
	Prefer []string
	// Claim, when set, takes up to n of the candidates, in order, that a
	// generation may use (a Server's pool: workers no other job holds),
	// but only if it can take at least atLeast of them: a job waiting for
	// more never holds some meanwhile, so other jobs do not see them
	// busy. It returns those it got and how many were free. Release gives
	// back claimed workers the job does not use; PoolChanged fires when
	// another job freed workers. Nil Claim: every candidate is the job's.
	Claim       func(names []string, n, atLeast int) (got []string, free int)
	Release     func(names []string)
	PoolChanged func() <-chan struct{}
	// CheckpointEvery, CheckpointDir and ChecksumEvery go into every plan
	// (see GenerationPlan); ResumeFrom is the checkpoint the first
	// generation resumes from when no worker holds a state further on.
	CheckpointEvery int
	CheckpointDir   string
	ChecksumEvery   int
	ResumeFrom      *cohortv1.CheckpointPointer
}

func (c *Config) fill() error {
	if c.Client == nil {
		return errors.New("no etcd client")
	}
	if c.JobID == "" {
		c.JobID = fmt.Sprintf("train-%x", time.Now().UnixNano())
	}
	if err := cohortv1.ValidateJobID(c.JobID); err != nil {
		return err
	}
	if len(c.WorkerNames) > 0 {
		c.Workers = len(c.WorkerNames)
	}
	if c.Workers < 1 || c.Workers > cohortv1.MaxWorkers {
		return fmt.Errorf("workers %d, want 1..%d", c.Workers, cohortv1.MaxWorkers)
	}
	if c.MinWorkers == 0 {
		c.MinWorkers = 1
	}
	if c.MinWorkers < 1 || c.MinWorkers > c.Workers {
		return fmt.Errorf("min workers %d, want 1..%d (the workers)", c.MinWorkers, c.Workers)
	}
	if c.Listen == "" {
		c.Listen = DefaultListen
	}
	if c.Timeout == 0 {
		c.Timeout = membership.DefaultTTL
	}
	if c.StartTimeout == 0 {
		c.StartTimeout = DefaultStartTimeout
	}
	if c.StartWorkers == 0 {
		c.StartWorkers = c.Workers
	}
	if c.StartWorkers < c.MinWorkers || c.StartWorkers > c.Workers {
		return fmt.Errorf("start workers %d, want %d..%d", c.StartWorkers, c.MinWorkers, c.Workers)
	}
	if c.FirstGeneration == 0 {
		c.FirstGeneration = 1
	}
	if c.CheckpointEvery < 0 || c.ChecksumEvery < 0 {
		return fmt.Errorf("checkpoint every %d, checksum every %d: want >= 0", c.CheckpointEvery, c.ChecksumEvery)
	}
	if c.Record != nil && c.Record.GetId() != c.JobID {
		return fmt.Errorf("record of job %q for job %q", c.Record.GetId(), c.JobID)
	}
	if c.Timeout < 0 || c.StartTimeout < 0 || c.Threads < 0 {
		return fmt.Errorf("timeout %v, start timeout %v, threads %d: want >= 0", c.Timeout, c.StartTimeout, c.Threads)
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}

// Job is the coordinator of one training job: it serves the workers' Data
// and Coordinator RPCs, records the job in etcd and, through Train, runs
// its training on a generation of workers.
type Job struct {
	cfg  Config
	addr string // where workers reach the Data and Coordinator services
	// lis, gs and serve are the job's own server (Start); nil when the job
	// runs inside a Server, which routes the RPCs to it.
	lis   net.Listener
	gs    *grpc.Server
	serve chan error // Serve's result

	// writeMu orders the record's writes: put holds it from the change to
	// the commit, so etcd gets the records in the order they were made.
	// Without it a progress write formed before End but committed after
	// it put a pruned sweep trial back to RUNNING.
	writeMu sync.Mutex
	// rev is the record's ModRevision as this job last wrote (or was
	// given) it, 0 while unknown; under writeMu.
	rev int64

	mu   sync.Mutex
	rec  *cohortv1.Job               // the record in etcd
	gen  *generation                 // current generation, nil before the first
	ckpt *cohortv1.CheckpointPointer // the last checkpoint recorded, nil before
}

// newGRPCServer is the server of the workers' Data and Coordinator RPCs
// (and, in a Server, the Jobs API). It keeps gRPC's default 4 MiB receive
// limit: every request fits it, the final model included, which comes in
// chunks (Coordinator.ReportFinal); the Jobs API is unauthenticated, and
// gRPC allocates a message whole before any handler can refuse it.
//
// It bounds what one peer can hold: streams per connection (gRPC's default
// is unlimited), and connections that idle or whose peer died are closed.
// The Jobs service caps its Watch streams on top (JobsOptions.MaxWatches).
func newGRPCServer() *grpc.Server {
	const (
		// maxStreams is per connection: a worker holds a few (its shard
		// stream, a Report, a ReportFinal), a CLI one or two; every
		// process has its own connection. Past it a client's new streams
		// wait for a free one rather than fail.
		maxStreams = 1024
		// An idle connection (no stream) is closed after maxIdle; clients
		// redial on their next call. A connection silent for pingAfter is
		// pinged and closed when no answer comes within pingTimeout.
		maxIdle     = 5 * time.Minute
		pingAfter   = 30 * time.Second
		pingTimeout = 10 * time.Second
		// minPing is the shortest ping interval a client may use before it
		// is sent GOAWAY (too_many_pings). No cohort client sets gRPC
		// keepalive today; one that does must use Time >= minPing.
		minPing = 10 * time.Second
	)
	return grpc.NewServer(
		grpc.MaxConcurrentStreams(maxStreams),
		grpc.KeepaliveParams(keepalive.ServerParameters{MaxConnectionIdle: maxIdle, Time: pingAfter, Timeout: pingTimeout}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: minPing, PermitWithoutStream: true}),
		grpc.ChainUnaryInterceptor(rpcerr.UnaryServerInterceptor(), leaderUnary),
		grpc.ChainStreamInterceptor(rpcerr.StreamServerInterceptor(), leaderStream))
}

// Start records a PENDING job in etcd and starts serving the workers' RPCs
// on a server of its own. Close stops serving; End records how the job
// ended.
func Start(ctx context.Context, cfg Config) (*Job, error) {
	if err := cfg.fill(); err != nil {
		return nil, fmt.Errorf("coordinator: start: %w", err)
	}
	lis, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("coordinator: start: listen: %w", err)
	}
	j := newJob(cfg, lis.Addr().String())
	j.lis, j.serve, j.gs = lis, make(chan error, 1), newGRPCServer()
	one := func(id string) (*Job, bool) { return j, id == j.cfg.JobID }
	cohortv1.RegisterDataServer(j.gs, dataService{jobs: one})
	cohortv1.RegisterCoordinatorServer(j.gs, reportService{jobs: one})
	go func() { j.serve <- j.gs.Serve(lis) }()
	if err := j.put(ctx, nil); err != nil {
		j.Close()
		return nil, fmt.Errorf("coordinator: start: %w", err)
	}
	return j, nil
}

// newJob is a job whose workers reach it at addr; cfg is filled.
func newJob(cfg Config, addr string) *Job {
	rec := cfg.Record
	if rec == nil {
		now := timestamppb.Now()
		rec = &cohortv1.Job{Id: cfg.JobID, State: cohortv1.JobState_JOB_STATE_PENDING, CreatedAt: now, UpdatedAt: now,
			Spec: &cohortv1.JobSpec{MinWorkers: uint32(cfg.MinWorkers), MaxWorkers: uint32(cfg.Workers), Threads: uint32(cfg.Threads)}}
	}
	rec = proto.Clone(rec).(*cohortv1.Job)
	if rec.Spec == nil {
		rec.Spec = &cohortv1.JobSpec{}
	}
	rec.Coordinator = cfg.Name
	return &Job{cfg: cfg, addr: addr, rec: rec, rev: cfg.RecordRevision}
}

// ID returns the job's id.
func (j *Job) ID() string { return j.cfg.JobID }

// Addr returns the address of the coordinator's gRPC services.
func (j *Job) Addr() string { return j.addr }

// Close stops serving the workers; in-flight RPCs are cut off. It does
// nothing for a job that runs inside a Server.
func (j *Job) Close() {
	if j.gs == nil {
		return
	}
	j.gs.Stop()
	<-j.serve
}

// End records the job's terminal state: SUCCEEDED when err is nil,
// CANCELLED when err is a cancellation, FAILED with err's text otherwise.
// It writes even when ctx is already cancelled (with its own deadline), so
// an interrupted job never stays RUNNING in etcd.
func (j *Job) End(ctx context.Context, res *job.Result, err error) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	// A finished job keeps its record, its checkpoint pointer and its last
	// plan; the plans before it and a cancel request go, so etcd does not
	// grow with every generation of every job a cluster ever ran. One that
	// succeeded also removes its checkpoint files, below.
	var tidy []clientv3.Op
	j.mu.Lock()
	if j.gen != nil && j.gen.plan.Generation > 1 {
		tidy = append(tidy, clientv3.OpDelete(membership.GenerationKey(j.cfg.JobID, 0),
			clientv3.WithRange(membership.GenerationKey(j.cfg.JobID, j.gen.plan.Generation))))
	}
	j.mu.Unlock()
	tidy = append(tidy, clientv3.OpDelete(CancelKey(j.cfg.JobID)))
	perr := j.put(ctx, func(r *cohortv1.Job) {
		r.FinishedAt, r.Message = timestamppb.Now(), ""
		switch {
		case err == nil:
			r.State = cohortv1.JobState_JOB_STATE_SUCCEEDED
			if res != nil {
				r.Metrics = metricsSummary(res)
			}
		case errors.Is(err, context.Canceled):
			r.State, r.Error = cohortv1.JobState_JOB_STATE_CANCELLED, cohortv1.Clip(err.Error(), cohortv1.MaxErrorLen)
		default:
			r.State, r.Error = cohortv1.JobState_JOB_STATE_FAILED, cohortv1.Clip(err.Error(), cohortv1.MaxErrorLen)
		}
	}, tidy...)
	if ended := (*endedError)(nil); errors.As(perr, &ended) {
		// Jobs.Cancel ended the record while the job waited: that record
		// stands; only the leftovers go.
		perr = j.commit(ctx, tidy)
	}
	if perr != nil {
		return fmt.Errorf("coordinator: end job %s: %w", j.cfg.JobID, perr)
	}
	if err == nil && j.cfg.CheckpointDir != "" {
		// The run directory holds the model now; a failed or cancelled
		// job keeps its checkpoints for a look or a new start from them.
		if _, rerr := job.RemoveRunCheckpoints(j.cfg.CheckpointDir, j.cfg.JobID); rerr != nil {
			log := cmp.Or(j.cfg.Logger, slog.Default())
			log.WarnContext(ctx, "coordinator: a finished job's checkpoints stay", "job", j.cfg.JobID, "err", rerr)
		}
	}
	return nil
}

// endedError is a write refused because the job's record was ended by
// someone else since this job last wrote it: Jobs.Cancel of a job that
// waited PENDING. It unwraps to errCancelRequested, so the job ends as
// cancelled.
type endedError struct {
	id  string
	rec *cohortv1.Job // as etcd holds it
}

func (e *endedError) Error() string {
	return fmt.Sprintf("job %s is %s: %s", e.id, jobStateName(e.rec.GetState()), e.rec.GetError())
}

func (e *endedError) Unwrap() error { return cancelOf(e.rec) }

// cancelOf is the cancellation a CANCELLED record says happened (nil for
// any other record): Jobs.Cancel writes errCancelRequested's text,
// "cancelled", "cancelled: REASON" or a REASON that says cancelled itself.
func cancelOf(rec *cohortv1.Job) error {
	if rec.GetState() != cohortv1.JobState_JOB_STATE_CANCELLED {
		return nil
	}
	reason := rec.GetError()
	if reason == "cancelled" {
		reason = ""
	}
	return errCancelRequested{reason: strings.TrimPrefix(reason, "cancelled: ")}
}

// put applies change to a copy of the job record and writes it to etcd,
// with ops (a generation plan) in the same transaction. The job keeps the
// changed record only once it encodes: a change that cannot be written
// (invalid UTF-8) must not stick and fail every later write. Once the record's revision
// is known, the write also requires the record to be as this job last
// wrote it: the job is its only writer but for Jobs.Cancel of a PENDING
// job, whose CANCELLED must not be overwritten by the job waking up
// (a generation, a waiting message). Such a write fails with an
// *endedError.
func (j *Job) put(ctx context.Context, change func(*cohortv1.Job), ops ...clientv3.Op) error {
	j.writeMu.Lock()
	defer j.writeMu.Unlock()
	j.mu.Lock()
	rec := proto.CloneOf(j.rec)
	if change != nil {
		change(rec)
	}
	rec.UpdatedAt = timestamppb.Now()
	raw, err := protojson.Marshal(rec)
	if err == nil {
		j.rec = rec
	}
	j.mu.Unlock()
	if err != nil {
		return fmt.Errorf("encode job %s record: %w", j.cfg.JobID, err)
	}
	key := membership.JobKey(j.cfg.JobID)
	ops = append(ops, clientv3.OpPut(key, string(raw)))
	for {
		var conds []clientv3.Cmp
		if j.cfg.Fence != nil {
			conds = append(conds, *j.cfg.Fence)
		}
		if j.rev > 0 {
			conds = append(conds, clientv3.Compare(clientv3.ModRevision(key), "=", j.rev))
		}
		resp, err := j.cfg.Client.Txn(ctx).If(conds...).Then(ops...).Else(clientv3.OpGet(key)).Commit()
		if err != nil {
			return fmt.Errorf("write job %s to etcd: %w", j.cfg.JobID, err)
		}
		if resp.Succeeded {
			j.rev = resp.Header.Revision
			return nil
		}
		kvs := resp.Responses[0].GetResponseRange().GetKvs()
		if j.rev == 0 || len(kvs) > 0 && kvs[0].ModRevision == j.rev {
			return fmt.Errorf("write job %s to etcd: %w", j.cfg.JobID, rpcerr.ErrNotLeader)
		}
		if len(kvs) == 0 {
			return fmt.Errorf("write job %s to etcd: its record was deleted: %w", j.cfg.JobID, rpcerr.ErrNotFound)
		}
		cur, err := decodeJobRecord(kvs[0].Value)
		if err != nil {
			return fmt.Errorf("write job %s to etcd: %w", j.cfg.JobID, err)
		}
		if cur.GetState().Terminal() {
			return fmt.Errorf("write job %s to etcd: %w", j.cfg.JobID, &endedError{id: j.cfg.JobID, rec: cur})
		}
		// Someone else rewrote a live record (by hand?): this job's view
		// wins, as it did before writes were guarded, rather than the
		// job failing over it.
		j.rev = kvs[0].ModRevision
	}
}

// commit runs ops fenced as the job's writes are, without the record.
func (j *Job) commit(ctx context.Context, ops []clientv3.Op) error {
	txn := j.cfg.Client.Txn(ctx)
	if j.cfg.Fence != nil {
		txn = txn.If(*j.cfg.Fence)
	}
	resp, err := txn.Then(ops...).Commit()
	if err != nil {
		return fmt.Errorf("job %s: %w", j.cfg.JobID, err)
	}
	if !resp.Succeeded {
		return fmt.Errorf("job %s: %w", j.cfg.JobID, rpcerr.ErrNotLeader)
	}
	return nil
}

// metricsSummary is a finished job's test metrics as the record keeps them.
func metricsSummary(res *job.Result) *cohortv1.MetricsSummary {
	m := res.Model
	return &cohortv1.MetricsSummary{Customers: uint64(m.Customers), NormalizedGini: m.NormalizedGini, Spearman: m.Spearman,
		DecileMape: m.DecileMAPE, Auc: m.AUC, Rmse: m.RMSE, Mae: m.MAE, SpendRatio: m.SpendRatio,
		BaselineNormalizedGini: res.BaselineMetrics.NormalizedGini}
}

// ReadJob reads a job's record from etcd.
func ReadJob(ctx context.Context, cli *clientv3.Client, id string) (*cohortv1.Job, error) {
	rec, _, err := readJobRevision(ctx, cli, id)
	return rec, err
}

// readJobRevision reads a job's record and the etcd revision it was last
// written at.
func readJobRevision(ctx context.Context, cli *clientv3.Client, id string) (*cohortv1.Job, int64, error) {
	resp, err := cli.Get(ctx, membership.JobKey(id))
	if err != nil {
		return nil, 0, fmt.Errorf("coordinator: read job %s: %w", id, err)
	}
	if len(resp.Kvs) == 0 {
		return nil, 0, fmt.Errorf("coordinator: read job %s: %w", id, rpcerr.ErrNotFound)
	}
	rec := &cohortv1.Job{}
	if err := cohortv1.UnmarshalRecord(resp.Kvs[0].Value, rec); err != nil {
		return nil, 0, fmt.Errorf("coordinator: read job %s: decode: %w", id, err)
	}
	return rec, resp.Kvs[0].ModRevision, nil
}
