package coordinator

import (
	"context"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/cohort-clv/cohort/job"
	"github.com/cohort-clv/cohort/membership"
	"github.com/cohort-clv/cohort/model"
	cohortv1 "github.com/cohort-clv/cohort/proto/cohort/v1"
	"github.com/cohort-clv/cohort/rpcerr"
)

// checkpointed records rank 0's report of a complete checkpoint: the
// pointer under membership.CheckpointKey and the job's checkpoint step, in
// one transaction, so a coordinator that takes over (or a full restart)
// finds the newest checkpoint whose file is whole. Report has validated
// req (ReportRequest.Validate: the path's length, a step an int holds),
// checked its step and epoch against the job (generation.checkCheckpoint)
// and refused ranks but 0; the path must be the job's file of that step
// (checkpointPath).
func (j *Job) checkpointed(ctx context.Context, req *cohortv1.ReportRequest, c *cohortv1.CheckpointPointer) error {
	if c.GetError() != "" {
		return j.checkpointFailed(ctx, req, c)
	}
	if b, err := hex.DecodeString(c.GetSha256()); err != nil || len(b) != 32 {
		return fmt.Errorf("checkpoint sha256 %.80q, want 64 hex digits: %w", c.GetSha256(), rpcerr.ErrInvalidArgument)
	}
	if err := j.checkpointPath(c); err != nil {
		return err
	}
	c = proto.Clone(c).(*cohortv1.CheckpointPointer)
	c.Worker, c.Generation = req.GetWorker(), req.GetGeneration()
	c.Path = filepath.Clean(c.GetPath()) // checkpointPath's: the job's file
	j.mu.Lock()
	last := j.ckpt
	j.mu.Unlock()
	if last != nil && c.GetStep() <= last.GetStep() {
		// An older one, reported late (its report timed out on the
		// worker's side and arrived after the next): the newer pointer
		// stays, so the recorded step never goes down.
		if j.cfg.Logger != nil {
			j.cfg.Logger.Info("coordinator: checkpoint older than the recorded one; kept the newer", "job", j.cfg.JobID,
				"generation", req.GetGeneration(), "step", c.GetStep(), "recorded", last.GetStep())
		}
		return nil
	}
	raw, err := protojson.Marshal(c)
	if err != nil {
		return fmt.Errorf("encode checkpoint pointer: %w", err)
	}
	// The checkpoint holds the state after its step, so that many steps
	// are done: the record's step, else updated only at epoch ends, moves
	// up to it, and a row never shows "step 99, checkpoint at step 100".
	err = j.put(ctx, func(r *cohortv1.Job) {
		r.CheckpointStep, r.Step = c.GetStep(), max(r.Step, c.GetStep())
		if strings.HasPrefix(r.Message, checkpointFailedPrefix) {
			r.Message = "" // checkpoints work again
		}
	}, clientv3.OpPut(membership.CheckpointKey(j.cfg.JobID), string(raw)))
	if err != nil {
		return err
	}
	j.mu.Lock()
	j.ckpt = c
	j.mu.Unlock()
	return nil
}

// checkpointFailedPrefix starts the record's message while rank 0's last
// checkpoint could not be written.
const checkpointFailedPrefix = "checkpoint failed"

// checkpointFailed records rank 0's report that it could not write a
// checkpoint (CheckpointPointer.error): the job goes on, its last good
// checkpoint stays the one to resume from, and the record's message says
// what failed, so status and watch show it long before the job ends
// rather than "none yet".
func (j *Job) checkpointFailed(ctx context.Context, req *cohortv1.ReportRequest, c *cohortv1.CheckpointPointer) error {
	msg := cohortv1.Clip(fmt.Sprintf("%s at step %d (worker %s): %s; training goes on, resuming from the last good checkpoint if a worker fails",
		checkpointFailedPrefix, c.GetStep(), req.GetWorker(), c.GetError()), cohortv1.MaxReasonLen)
	j.cfg.Logger.Warn("coordinator: checkpoint failed", "job", j.cfg.JobID, "generation", req.GetGeneration(),
		"worker", req.GetWorker(), "step", c.GetStep(), "path", c.GetPath(), "err", c.GetError())
	return j.put(ctx, func(r *cohortv1.Job) { r.Message = msg })
}

// lastCheckpoint is the newest checkpoint recorded: this coordinator's, or
// the one Config.ResumeFrom names.
func (j *Job) lastCheckpoint() *cohortv1.CheckpointPointer {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.ckpt != nil {
		return j.ckpt
	}
	return j.cfg.ResumeFrom
}

// ReadCheckpoint returns job id's checkpoint pointer, or nil when it has
// none.
func ReadCheckpoint(ctx context.Context, cli *clientv3.Client, id string) (*cohortv1.CheckpointPointer, error) {
	resp, err := cli.Get(ctx, membership.CheckpointKey(id))
	if err != nil {
		return nil, fmt.Errorf("coordinator: read checkpoint of job %s: %w", id, err)
	}
	if len(resp.Kvs) == 0 {
		return nil, nil
	}
	c := &cohortv1.CheckpointPointer{}
	if err := cohortv1.UnmarshalRecord(resp.Kvs[0].Value, c); err != nil {
		return nil, fmt.Errorf("coordinator: read checkpoint of job %s: decode: %w", id, err)
	}
	return c, nil
}

// PointerOf describes the checkpoint file at path (a run's own, for
// cohort train --resume): its step and epoch, size and SHA-256.
func PointerOf(path string) (*cohortv1.CheckpointPointer, error) {
	st, err := model.LoadCheckpoint(path)
	if err != nil {
		return nil, fmt.Errorf("coordinator: %w", err)
	}
	sum, n, err := job.FileSHA256(path)
	if err != nil {
		return nil, fmt.Errorf("coordinator: %w", err)
	}
	return &cohortv1.CheckpointPointer{Step: uint64(st.Adam.Step), Epoch: uint32(st.Epoch), Path: path,
		Sha256: sum, Bytes: uint64(n)}, nil
}
