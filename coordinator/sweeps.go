package coordinator

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"path/filepath"
	"strings"
	"sync"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/cohort-clv/cohort/job"
	"github.com/cohort-clv/cohort/model"
	cohortv1 "github.com/cohort-clv/cohort/proto/cohort/v1"
	"github.com/cohort-clv/cohort/rpcerr"
	"github.com/cohort-clv/cohort/sweeprun"
)

// trialPrefix starts the job id of every sweep trial. Such jobs belong to
// their sweep: a coordinator that takes over resumes the sweep, which
// takes each running trial's job over, rather than adopting them alone.
const trialPrefix = "sw-"

// trialJobBase is the stem of sweep id's trial job ids: job ids allow only
// [a-z0-9-], so the sweep id is folded into that and a hash keeps two
// sweeps that fold alike apart.
func trialJobBase(sweepID string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(sweepID) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		} else {
			b.WriteByte('-')
		}
	}
	stem := b.String()
	if len(stem) > 32 {
		stem = stem[:32]
	}
	h := fnv.New32a()
	h.Write([]byte(sweepID))
	return fmt.Sprintf("%s%s-%06x", trialPrefix, stem, h.Sum32()&0xffffff)
}

// startSweep runs cluster sweep id (sweeprun.Submit) until it ends or this
// coordinator stops leading; it resumes from etcd whatever an earlier
// leader left.
func (s *Server) startSweep(ctx context.Context, wg *sync.WaitGroup, fence *clientv3.Cmp, id string, c sweeprun.ClusterSweep) {
	s.mu.Lock()
	if s.sweeps[id] {
		s.mu.Unlock()
		return
	}
	s.sweeps[id] = true
	s.mu.Unlock()
	log := s.cfg.Logger.With("sweep", id)
	wg.Go(func() {
		defer func() {
			s.mu.Lock()
			delete(s.sweeps, id)
			s.mu.Unlock()
		}()
		log.Info("coordinator: sweep starts", "out", c.Out)
		res, err := sweeprun.Resume(ctx, s.cfg.Client, id, sweeprun.Options{Out: c.Out, Logger: s.cfg.Logger,
			Step: s.trialStep(ctx, fence, id, c.Out)})
		switch {
		case ctx.Err() != nil:
			log.Info("coordinator: sweep left to the next leader")
		case err != nil:
			log.Error("coordinator: sweep failed", "err", err)
			if ferr := sweeprun.Fail(ctx, s.cfg.Client, id, err); ferr != nil {
				log.Warn("coordinator: record sweep failure", "err", ferr)
			}
		default:
			log.Info("coordinator: sweep done", "best_trial", res.Best.ID, "best_value", res.Best.Value)
		}
	})
}

// trialStep trains a sweep's trials as jobs on the cluster's workers. A
// trial whose job a dead leader left RUNNING is taken over like any job:
// its workers go on from their state, or from its last checkpoint.
func (s *Server) trialStep(lctx context.Context, fence *clientv3.Cmp, sweepID, out string) sweeprun.TrialStep {
	return func(ctx context.Context, t sweeprun.Trial, p *job.Prepared, ev job.Events) (*model.Model, model.History, error) {
		spec, _, err := sweeprun.Load(ctx, s.cfg.Client, sweepID)
		if err != nil {
			return nil, model.History{}, err
		}
		base := fmt.Sprintf("%s-t%d", trialJobBase(sweepID), t.ID)
		id, rec, rev, err := s.trialJob(ctx, base)
		if err != nil {
			return nil, model.History{}, err
		}
		k := spec.WorkersPerTrial
		cfg := Config{Client: s.cfg.Client, JobID: id, Name: s.cfg.Name, Fence: fence, Workers: k, MinWorkers: 1, StartWorkers: k,
			Timeout: s.cfg.TTL, StartTimeout: pendingForever, WaitForWorkers: true, Threads: s.cfg.Threads, Logger: s.cfg.Logger,
			CheckpointEvery: s.cfg.CheckpointEvery, ChecksumEvery: s.cfg.ChecksumEvery,
			CheckpointDir: filepath.Join(out, "checkpoints")}
		if rec != nil {
			cfg.Record, cfg.RecordRevision = rec, rev
			if err := s.takeOver(ctx, &cfg, rec); err != nil {
				return nil, model.History{}, err
			}
		} else {
			now := timestamppb.Now()
			cfg.Record = &cohortv1.Job{Id: id, State: cohortv1.JobState_JOB_STATE_PENDING, CreatedAt: now, UpdatedAt: now,
				Spec: &cohortv1.JobSpec{Name: fmt.Sprintf("sweep %s trial %d", sweepID, t.ID),
					Source: &cohortv1.JobSpec_DataPath{DataPath: p.Spec.Data}, OutDir: out,
					MinWorkers: 1, MaxWorkers: uint32(k), CheckpointEvery: uint32(s.cfg.CheckpointEvery)}}
		}
		s.pool(&cfg, id)
		if err := cfg.fill(); err != nil {
			return nil, model.History{}, fmt.Errorf("coordinator: sweep %s trial %d: %w", sweepID, t.ID, err)
		}
		j := newJob(cfg, s.addr)
		s.mu.Lock()
		s.jobs[id] = j
		s.mu.Unlock()
		defer s.finish(id)
		net, hist, err := j.Train(ctx, nil, p, ev)
		if lctx.Err() != nil {
			// No longer leading: the job stays RUNNING for the next leader.
			return net, hist, err
		}
		if eerr := j.End(ctx, nil, err); eerr != nil {
			s.cfg.Logger.Warn("coordinator: record the trial's end", "job", id, "err", eerr)
		}
		return net, hist, err
	}
}

// trialJob picks the job id of a trial's run: base itself while it is new
// or running (taken over), else base-r1, base-r2, ... (the best trial
// trained again at the end of a sweep that an earlier leader finished it
// in). It returns the running record to take over, if any, and its
// revision.
func (s *Server) trialJob(ctx context.Context, base string) (string, *cohortv1.Job, int64, error) {
	for n := 0; ; n++ {
		id := base
		if n > 0 {
			id = fmt.Sprintf("%s-r%d", base, n)
		}
		rec, rev, err := readJobRevision(ctx, s.cfg.Client, id)
		switch {
		case errors.Is(err, rpcerr.ErrNotFound):
			return id, nil, 0, nil
		case err != nil:
			return "", nil, 0, err
		case !rec.GetState().Terminal():
			return id, rec, rev, nil
		}
	}
}
