package worker

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/cohort-clv/cohort/job"
	"github.com/cohort-clv/cohort/model"
	cohortv1 "github.com/cohort-clv/cohort/proto/cohort/v1"
)

// checkpointer writes rank 0's checkpoints (named as job.CheckpointName)
// and reports each to the coordinator, which records the pointer in etcd.
type checkpointer struct {
	dir, job string
	gen      uint64
	// fingerprint is the plan's (GenerationPlan.fingerprint), saved in
	// every checkpoint; nil: none.
	fingerprint []byte
	report      func(context.Context, *cohortv1.CheckpointPointer) error
	log         interface {
		Warn(string, ...any)
		Debug(string, ...any)
	}
	// written is called after each checkpoint (the metrics' checkpoint age).
	written func(time.Time)
}

// save is TrainOptions.Checkpoint. A checkpoint that cannot be written or
// reported is not fatal: training goes on and the previous checkpoint stays
// the one to resume from. A failed write is logged with the job's id and
// reported to the coordinator (CheckpointPointer.error), which shows it in
// the job's status and watch, so a job whose checkpoints all fail is not
// taken for a fault-tolerant one until it ends.
func (c *checkpointer) save(ctx context.Context, st *model.TrainState) error {
	step := st.Adam.Step
	path := filepath.Join(c.dir, job.CheckpointName(c.job, step))
	if err := os.MkdirAll(c.dir, 0o755); err != nil {
		c.failed(ctx, st, path, err)
		return nil
	}
	var fp json.RawMessage
	if len(c.fingerprint) > 0 {
		fp = c.fingerprint
	}
	if err := model.SaveCheckpointWith(path, st, fp); err != nil {
		c.failed(ctx, st, path, err)
		return nil
	}
	sum, n, err := job.FileSHA256(path)
	if err != nil {
		c.failed(ctx, st, path, err)
		return nil
	}
	ptr := &cohortv1.CheckpointPointer{Step: uint64(step), Epoch: uint32(st.Epoch), Path: path, Sha256: sum, Bytes: uint64(n),
		Generation: c.gen, Time: timestamppb.Now()}
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := c.report(rctx, ptr); err != nil {
		c.log.Warn("worker: report checkpoint", "job", c.job, "generation", c.gen, "step", step, "err", err)
		return nil
	}
	if c.written != nil {
		c.written(time.Now())
	}
	c.prune(path)
	return nil
}

// failed logs a checkpoint rank 0 could not write and reports it to the
// coordinator; a report that fails too is only logged.
func (c *checkpointer) failed(ctx context.Context, st *model.TrainState, path string, err error) {
	step := st.Adam.Step
	c.log.Warn("worker: checkpoint failed", "job", c.job, "generation", c.gen, "step", step, "dir", c.dir, "err", err)
	msg := cohortv1.Clip(err.Error(), cohortv1.MaxReasonLen)
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	ptr := &cohortv1.CheckpointPointer{Step: uint64(step), Epoch: uint32(st.Epoch), Path: path, Generation: c.gen,
		Time: timestamppb.Now(), Error: msg}
	if rerr := c.report(rctx, ptr); rerr != nil {
		c.log.Warn("worker: report failed checkpoint", "job", c.job, "generation", c.gen, "step", step, "err", rerr)
	}
}

// prune removes the job's checkpoints older than the one at path, whose
// pointer is now in etcd. Until a report succeeds nothing is removed: the
// pointer in etcd may still name any earlier file.
func (c *checkpointer) prune(path string) {
	files, err := filepath.Glob(filepath.Join(c.dir, c.job+"-step-*.ckpt"))
	if err != nil {
		return
	}
	for _, f := range files {
		if f < path { // zero-padded steps: names sort by step
			if err := os.Remove(f); err != nil {
				c.log.Debug("worker: prune checkpoint", "file", f, "err", err)
			}
		}
	}
}

// loadCheckpoint reads the checkpoint p points to, checking the file's
// SHA-256 against the pointer before the file's own checksum.
func loadCheckpoint(p *cohortv1.CheckpointPointer) (*model.TrainState, error) {
	sum, _, err := job.FileSHA256(p.GetPath())
	if err != nil {
		return nil, fmt.Errorf("worker: load checkpoint of step %d: %w", p.GetStep(), err)
	}
	if !strings.EqualFold(sum, p.GetSha256()) {
		return nil, fmt.Errorf("worker: load checkpoint %s: sha256 %s, the pointer in etcd says %s", p.GetPath(), sum, p.GetSha256())
	}
	st, err := model.LoadCheckpoint(p.GetPath())
	if err != nil {
		return nil, fmt.Errorf("worker: load checkpoint of step %d: %w", p.GetStep(), err)
	}
	return st, nil
}
