package coordinator

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"math"
	"path/filepath"

	"github.com/cohort-clv/cohort/job"
	cohortv1 "github.com/cohort-clv/cohort/proto/cohort/v1"
	"github.com/cohort-clv/cohort/rpcerr"
)

// This file holds the coordinator's checks of what the workers report,
// against the job rather than the message's own bounds (those are
// ReportRequest.Validate's): the generation's token, epochs within the job's
// max_epochs, steps within what the job can take, checkpoint files where
// the job writes them, and a final model of finite numbers.

// newToken draws a generation's secret (GenerationPlan.token): 128 bits
// from crypto/rand.
func newToken() ([]byte, error) {
	t := make([]byte, cohortv1.TokenLen)
	if _, err := rand.Read(t); err != nil {
		return nil, fmt.Errorf("draw the generation's token: %w", err)
	}
	return t, nil
}

// maxEpochs is the job's max_epochs, the most epochs a report may name.
func (g *generation) maxEpochs() uint64 {
	return uint64(max(g.prep.Spec.Model.WithDefaults().MaxEpochs, 0))
}

// maxSteps is the most optimizer steps the job can take: max_epochs times
// the steps of an epoch, ceil(training rows / batch) (model.TrainShard:
// every replica draws the same global minibatches), capped at MaxInt64.
func (g *generation) maxSteps() uint64 {
	cfg := g.prep.Spec.Model.WithDefaults()
	rows := uint64(max(g.prep.TrainData.Rows, 1))
	batch := uint64(max(min(cfg.Batch, int(rows)), 1))
	per := (rows + batch - 1) / batch
	epochs := g.maxEpochs()
	if epochs != 0 && per > math.MaxInt64/epochs {
		return math.MaxInt64
	}
	return epochs * per
}

// checkEpoch checks an epoch report against the job: its epoch within the
// job's max_epochs and its step count within what those epochs take.
func (g *generation) checkEpoch(e *cohortv1.EpochStats) error {
	if ep := uint64(e.GetEpoch()); ep > g.maxEpochs() {
		return fmt.Errorf("epoch %d, the job runs at most %d: %w", ep, g.maxEpochs(), rpcerr.ErrInvalidArgument)
	}
	if s := e.GetSteps(); s > g.maxSteps() {
		return fmt.Errorf("epoch %d at step %d, the job takes at most %d: %w", e.GetEpoch(), s, g.maxSteps(), rpcerr.ErrInvalidArgument)
	}
	return nil
}

// checkCheckpoint checks a checkpoint report against the job: its step
// within the job's steps, its epoch within max_epochs. The path is checked
// where the pointer is recorded (Job.checkpointPath).
func (g *generation) checkCheckpoint(c *cohortv1.CheckpointPointer) error {
	if s := c.GetStep(); s > g.maxSteps() {
		return fmt.Errorf("checkpoint of step %d, the job takes at most %d steps: %w", s, g.maxSteps(), rpcerr.ErrInvalidArgument)
	}
	if ep := uint64(c.GetEpoch()); ep > g.maxEpochs() {
		return fmt.Errorf("checkpoint in epoch %d, the job runs at most %d: %w", ep, g.maxEpochs(), rpcerr.ErrInvalidArgument)
	}
	return nil
}

// checkpointPath checks that a reported checkpoint is the file rank 0
// writes for its step: job.CheckpointName(job, step) inside the job's
// checkpoint directory, so a pointer can never name another file (a
// worker loads and the coordinator keeps what it names).
func (j *Job) checkpointPath(c *cohortv1.CheckpointPointer) error {
	dir := j.cfg.CheckpointDir
	if dir == "" {
		return fmt.Errorf("checkpoint %.200q: job %s writes no checkpoints: %w", c.GetPath(), j.cfg.JobID, rpcerr.ErrInvalidArgument)
	}
	if c.GetStep() > math.MaxInt64 {
		return fmt.Errorf("checkpoint step %d out of range: %w", c.GetStep(), rpcerr.ErrInvalidArgument)
	}
	want := filepath.Join(dir, job.CheckpointName(j.cfg.JobID, int(c.GetStep())))
	if filepath.Clean(c.GetPath()) != want {
		return fmt.Errorf("checkpoint %.200q of step %d, want %s: %w", c.GetPath(), c.GetStep(), want, rpcerr.ErrInvalidArgument)
	}
	return nil
}

// checkFinal checks a final model against the job before it is taken:
// finite parameters (a NaN model would fail evaluation, an all-finite
// forged one is what the token keeps out), epochs within max_epochs and
// a best epoch among them.
func (g *generation) checkFinal(f *cohortv1.FinalModel) error {
	if len(f.GetEpochs()) == 0 {
		return fmt.Errorf("no epochs: a trained model has at least one: %w", rpcerr.ErrInvalidArgument)
	}
	for i, e := range f.GetEpochs() {
		if err := g.checkEpoch(e); err != nil {
			return fmt.Errorf("epochs[%d]: %w", i, err)
		}
	}
	if b := uint64(f.GetBestEpoch()); b > g.maxEpochs() {
		return fmt.Errorf("best epoch %d, the job runs at most %d: %w", b, g.maxEpochs(), rpcerr.ErrInvalidArgument)
	}
	p := f.GetParams()
	for i := 0; i+4 <= len(p); i += 4 {
		v := float64(math.Float32frombits(binary.LittleEndian.Uint32(p[i:])))
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("param %d is %v: %w", i/4, v, rpcerr.ErrInvalidArgument)
		}
	}
	return nil
}
