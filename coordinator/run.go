package coordinator

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/cohort-clv/cohort/job"
	"github.com/cohort-clv/cohort/kernels/cpu"
	"github.com/cohort-clv/cohort/membership"
	cohortv1 "github.com/cohort-clv/cohort/proto/cohort/v1"
	"github.com/cohort-clv/cohort/rpcerr"
)

// preparingMessage is a job's message between its wait for workers and its
// first generation.
const preparingMessage = "preparing the data: reading the log, splitting the customers, fitting the baseline"

// serverRun is one job a Server runs: its spec and its coordinator Job.
type serverRun struct {
	s    *Server
	spec job.Spec
	j    *Job
}

// prepareRun builds the Job of rec. A rec with a generation is a job whose
// leader died (RUNNING, or PENDING while it waited for workers): it
// continues after its last generation (takeOver). A spec that cannot run
// returns a serverRun whose Job can record the failure.
func (s *Server) prepareRun(ctx context.Context, fence *clientv3.Cmp, rec *cohortv1.Job, rev int64) (*serverRun, error) {
	ps := rec.GetSpec()
	threads := int(ps.GetThreads())
	if threads == 0 {
		threads = s.cfg.Threads
	}
	maxW := int(ps.GetMaxWorkers())
	if maxW == 0 {
		maxW = cohortv1.MaxWorkers
	}
	minW := max(1, int(ps.GetMinWorkers()))
	every := int(ps.GetCheckpointEvery())
	if every == 0 {
		every = s.cfg.CheckpointEvery
	}
	cfg := Config{Client: s.cfg.Client, JobID: rec.GetId(), Name: s.cfg.Name, Record: rec, RecordRevision: rev, Fence: fence,
		Workers: maxW, MinWorkers: min(minW, maxW), StartWorkers: min(minW, maxW), Timeout: s.cfg.TTL,
		StartTimeout: pendingForever, WaitForWorkers: true, Threads: threads, Logger: s.cfg.Logger,
		CheckpointEvery: every, CheckpointDir: checkpointDir(ps), ChecksumEvery: s.cfg.ChecksumEvery}
	if err := s.takeOver(ctx, &cfg, rec); err != nil {
		return nil, err
	}
	spec, serr := SpecFromProto(ps)
	s.pool(&cfg, rec.GetId())
	if err := cfg.fill(); err != nil {
		return nil, fmt.Errorf("coordinator: job %s: %w", rec.GetId(), err)
	}
	r := &serverRun{s: s, spec: spec, j: newJob(cfg, s.addr)}
	if serr != nil {
		return r, fmt.Errorf("coordinator: job %s: %w", rec.GetId(), serr)
	}
	return r, nil
}

// errCancelRequested is the cause of a job's context when Jobs.Cancel
// asked it to stop; it wraps context.Canceled so End records CANCELLED.
type errCancelRequested struct{ reason string }

func (e errCancelRequested) Error() string {
	switch {
	case e.reason == "":
		return "cancelled"
	case strings.HasPrefix(strings.ToLower(e.reason), "cancel"):
		// "cancelled by root on vm (cohort cancel)" says it already.
		return e.reason
	}
	return "cancelled: " + e.reason
}

func (e errCancelRequested) Unwrap() error { return context.Canceled }

// specTermsError is a job's error with the cmd/cohort flags it names
// rewritten as job spec keys (SpecTerms).
type specTermsError struct{ err error }

func (e *specTermsError) Error() string { return SpecTerms(e.err.Error()) }

func (e *specTermsError) Unwrap() error { return e.err }

// run trains the job and records how it ended, unless ctx ended first:
// then this coordinator stopped leading (or is shutting down) and the job
// stays RUNNING in etcd for the next leader.
func (r *serverRun) run(ctx context.Context, log *slog.Logger) {
	jctx, cancel := context.WithCancelCause(ctx)
	defer r.watchCancels(jctx, cancel)()
	be := cpu.New(cpu.Options{Threads: r.j.cfg.Threads})
	defer be.Close()
	log.Info("coordinator: job starts", "generation", r.j.cfg.FirstGeneration, "data", r.spec.Data, "out", r.spec.Out)
	// The data is read and prepared once workers could take the job, not
	// while it waits in the queue: a PENDING job costs the leader nothing.
	var res *job.Result
	err := r.j.AwaitStartable(jctx)
	if err == nil {
		err = r.j.put(jctx, func(rec *cohortv1.Job) { rec.Message = preparingMessage })
		if err != nil && !errors.Is(err, context.Canceled) {
			// Only a cancellation stops the job; the message is a courtesy.
			log.Warn("coordinator: record that the job prepares its data", "err", err)
			err = nil
		}
	}
	if err == nil {
		res, err = job.TrainWith(jctx, be, r.spec, job.Events{}, r.j.Train)
	}
	if ctx.Err() != nil {
		log.Info("coordinator: job left to the next leader", "err", err)
		return
	}
	var cr errCancelRequested
	switch {
	case err == nil:
	case errors.As(context.Cause(jctx), &cr), errors.As(err, &cr):
		err = cr
	default:
		// clv and job word their advice for cohort train's flags; the
		// user of a submitted job sets spec keys.
		err = &specTermsError{err: err}
	}
	if eerr := r.j.End(ctx, res, err); eerr != nil {
		log.Warn("coordinator: record the job's end", "err", eerr)
	}
	if err != nil {
		log.Warn("coordinator: job ended", "err", err)
		return
	}
	log.Info("coordinator: job succeeded", "gini", res.Model.NormalizedGini, "out", r.spec.Out)
}

// watchCancels starts watchCancel and watchCancelled on ctx, which cancel
// ends, and returns a function that cancels ctx and waits for both: the
// watches end before the job's run returns, so none calls etcd after the
// Server believes its jobs have stopped.
func (r *serverRun) watchCancels(ctx context.Context, cancel context.CancelCauseFunc) (stop func()) {
	var wg sync.WaitGroup
	wg.Go(func() { r.watchCancel(ctx, cancel) })
	wg.Go(func() { r.watchCancelled(ctx, cancel) })
	return func() { cancel(nil); wg.Wait() }
}

// watchCancel cancels a RUNNING job when its cancel key appears
// (Jobs.Cancel).
func (r *serverRun) watchCancel(ctx context.Context, cancel context.CancelCauseFunc) {
	r.watchKey(ctx, cancel, CancelKey(r.j.cfg.JobID), "a cancel request", func(v []byte) error {
		return errCancelRequested{reason: string(v)}
	})
}

// watchCancelled cancels a job that waits PENDING when Jobs.Cancel ends
// its record CANCELLED: nothing else would wake a job waiting for workers
// that may never come, and its goroutine would live until the coordinator
// stops. Only Jobs.Cancel ends a record this job still runs; the job's own
// End comes after it stopped using ctx.
func (r *serverRun) watchCancelled(ctx context.Context, cancel context.CancelCauseFunc) {
	r.watchKey(ctx, cancel, membership.JobKey(r.j.cfg.JobID), "the job's cancellation", func(v []byte) error {
		rec, err := decodeJobRecord(v)
		if err != nil {
			return nil
		}
		return cancelOf(rec)
	})
}

// watchKey cancels ctx with the cause stop returns for the key's value,
// as it is now or as it is put later, once that cause is not nil. The
// watch outlives an etcd member's failure (membership.Follow); after a
// compaction it reads the key again.
func (r *serverRun) watchKey(ctx context.Context, cancel context.CancelCauseFunc, key, what string, stop func(v []byte) error) {
	cli := r.s.cfg.Client
	for ctx.Err() == nil {
		from := int64(0) // Follow reads the current revision itself
		if resp, err := cli.Get(ctx, key); err == nil {
			if len(resp.Kvs) > 0 {
				if cause := stop(resp.Kvs[0].Value); cause != nil {
					cancel(cause)
					return
				}
			}
			from = resp.Header.Revision + 1
		}
		err := membership.Follow(ctx, cli, key, from, func(ev *clientv3.Event) error {
			if ev.Type != clientv3.EventTypePut {
				return nil
			}
			if cause := stop(ev.Kv.Value); cause != nil {
				cancel(cause)
				return membership.ErrStopWatch
			}
			return nil
		})
		if err == nil || ctx.Err() != nil {
			return
		}
		if !errors.Is(err, rpctypes.ErrCompacted) {
			r.s.cfg.Logger.Warn("coordinator: watch for "+what+" ended", "job", r.j.cfg.JobID, "err", err)
			return
		}
	}
}

// takeOver sets cfg up to continue rec, a job that an earlier coordinator
// ran (or that waited for workers) up to generation g > 0: the next
// generation is g+1, g's workers come first (they hold its training
// state), and its last checkpoint is there for when none of them is left.
// A job that never had a generation starts at generation 1.
func (s *Server) takeOver(ctx context.Context, cfg *Config, rec *cohortv1.Job) error {
	g := rec.GetGeneration()
	if g == 0 {
		return nil
	}
	cfg.FirstGeneration = g + 1
	plan, err := readPlan(ctx, s.cfg.Client, rec.GetId(), g)
	if errors.Is(err, rpcerr.ErrCorruptRecord) {
		// The plan only says whose workers hold the state: without it the
		// job goes on from the furthest state of whichever workers come,
		// or its checkpoint.
		s.cfg.Logger.Warn("coordinator: the last plan of a job taken over is unreadable; preferring no workers",
			"job", rec.GetId(), "generation", g, "err", err)
		plan, err = &cohortv1.GenerationPlan{}, nil
	}
	if err != nil {
		return err
	}
	for _, w := range plan.GetWorkers() {
		cfg.Prefer = append(cfg.Prefer, w.GetName())
	}
	cfg.ResumeFrom, err = ReadCheckpoint(ctx, s.cfg.Client, rec.GetId())
	return err
}

// readPlan reads generation g's plan of job id.
func readPlan(ctx context.Context, cli *clientv3.Client, id string, g uint64) (*cohortv1.GenerationPlan, error) {
	resp, err := cli.Get(ctx, membership.GenerationKey(id, g))
	if err != nil {
		return nil, fmt.Errorf("coordinator: read plan %d of job %s: %w", g, id, err)
	}
	plan := &cohortv1.GenerationPlan{}
	if len(resp.Kvs) == 0 {
		return plan, nil // recorded RUNNING without a plan: nobody holds state
	}
	if err := cohortv1.UnmarshalRecord(resp.Kvs[0].Value, plan); err != nil {
		return nil, fmt.Errorf("coordinator: read plan %d of job %s: %w", g, id, err)
	}
	if err := plan.Validate(); err != nil {
		// Not INVALID_ARGUMENT: the caller sent nothing wrong.
		return nil, fmt.Errorf("coordinator: read plan %d of job %s: %w: %s", g, id, rpcerr.ErrCorruptRecord, err)
	}
	return plan, nil
}
