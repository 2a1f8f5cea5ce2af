package cohortv1

import (
	"crypto/subtle"
	"fmt"
	"math"
	"net"
	"strconv"

	"google.golang.org/protobuf/proto"

	"github.com/cohort-clv/cohort/rpcerr"
)

// Bounds of the generation token and of the records read back from etcd.
const (
	// TokenLen is the length of the token a coordinator draws for each
	// generation (GenerationPlan.token): 128 random bits.
	TokenLen = 16
	// MaxTokenLen bounds a token a peer sends.
	MaxTokenLen = 64
	// MaxRecordBytes bounds a record read back from etcd: etcd's own
	// request limit (1.5 MiB).
	MaxRecordBytes = 3 << 19
)

// CheckToken compares the token a request carries with its generation's,
// in constant time (crypto/subtle), so the time a refusal takes says
// nothing about how much of a guess was right. A mismatch, or a missing
// token, wraps rpcerr.ErrPermissionDenied; what names the request (job,
// generation) is the caller's to add.
func CheckToken(got, want []byte) error {
	if len(got) > MaxTokenLen {
		return fmt.Errorf("token of %d bytes, want at most %d: %w", len(got), MaxTokenLen, rpcerr.ErrPermissionDenied)
	}
	if len(want) == 0 || subtle.ConstantTimeCompare(got, want) != 1 {
		if len(got) == 0 {
			return fmt.Errorf("no token: only the generation's workers may call this: %w", rpcerr.ErrPermissionDenied)
		}
		return fmt.Errorf("wrong token for this generation: %w", rpcerr.ErrPermissionDenied)
	}
	return nil
}

// check bounds one epoch's statistics as rank 0 reports them: the epoch
// within MaxEpochs (the job's own max_epochs is the coordinator's check),
// finite losses (val_loss NaN, "no validation rows", is allowed; an
// infinity is not), a finite learning rate >= 0 and a wall time >= 0.
// Losses may be negative: the lognormal part of the ZILN loss is a
// negative log density.
func (e *EpochStats) check(p *problems, at string) {
	if e == nil {
		p.add("%s: required", at)
		return
	}
	if ep := e.GetEpoch(); ep < 1 || ep > MaxEpochs {
		p.add("%s.epoch: %d, want 1..%d", at, ep, MaxEpochs)
	}
	if v := e.GetTrainLoss(); math.IsNaN(v) || math.IsInf(v, 0) {
		p.add("%s.train_loss: %v, want a finite value", at, v)
	}
	if v := e.GetValLoss(); math.IsInf(v, 0) {
		p.add("%s.val_loss: %v, want a finite value (or NaN without validation rows)", at, v)
	}
	if v := float64(e.GetLr()); math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
		p.add("%s.lr: %v, want a finite value >= 0", at, v)
	}
	if v := e.GetWallNs(); v < 0 {
		p.add("%s.wall_ns: %d, want >= 0", at, v)
	}
	if v := e.GetSteps(); v > math.MaxInt64 {
		p.add("%s.steps: %d, want at most %d", at, v, int64(math.MaxInt64))
	}
}

// nonNegative checks a rate a report carries: finite and >= 0.
func (p *problems) nonNegative(field string, v float64) {
	if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
		p.add("%s: %v, want a finite value >= 0", field, v)
	}
}

// checkEpochReport is ReportRequest.Validate's check of an epoch report.
func (r *ReportRequest) checkEpochReport(p *problems) {
	r.GetEpoch().check(p, "epoch")
	p.nonNegative("samples_per_second", r.GetSamplesPerSecond())
	p.nonNegative("allreduce_gbps", r.GetAllreduceGbps())
}

// checkCheckpoint is ReportRequest.Validate's check of a checkpoint
// report's numbers: a step an int holds (the worker compares it with its
// own), an epoch within MaxEpochs and, for a written file, its size.
func (c *CheckpointPointer) checkReport(p *problems) {
	if s := c.GetStep(); s > math.MaxInt64 {
		p.add("checkpoint.step: %d, want at most %d", s, int64(math.MaxInt64))
	}
	if e := c.GetEpoch(); e > MaxEpochs {
		p.add("checkpoint.epoch: %d, want at most %d", e, MaxEpochs)
	}
	if c.GetError() == "" && c.GetBytes() == 0 {
		p.add("checkpoint.bytes: required (> 0) for a written checkpoint")
	}
}

// checkNet bounds the fields of a plan the worker uses to reach its peers
// and the coordinator, and the checkpoint it may load: GenerationPlan.Validate
// calls it, as the plan comes from etcd.
func (g *GenerationPlan) checkNet(p *problems) {
	p.jobID("job_id", g.GetJobId())
	if g.GetGeneration() < 1 {
		p.add("generation: required (>= 1)")
	}
	ws := g.GetWorkers()
	if len(ws) < 1 || len(ws) > MaxWorkers {
		p.add("workers: %d, want 1..%d", len(ws), MaxWorkers)
	}
	for i, w := range ws {
		if i >= MaxWorkers {
			break
		}
		p.str(fmt.Sprintf("workers[%d].name", i), w.GetName(), 1, MaxNameLen)
		p.hostPort(fmt.Sprintf("workers[%d].ring_addr", i), w.GetRingAddr())
	}
	p.hostPort("coordinator_addr", g.GetCoordinatorAddr())
	if g.GetTimeoutMs() == 0 {
		p.add("timeout_ms: required (> 0)")
	}
	p.atMost("threads", uint64(g.GetThreads()), MaxThreads)
	p.atMost("checkpoint_every", uint64(g.GetCheckpointEvery()), MaxCheckpointGap)
	p.str("checkpoint_dir", g.GetCheckpointDir(), 0, MaxPathLen)
	if n := len(g.GetToken()); n > MaxTokenLen {
		p.add("token: %d bytes, want at most %d", n, MaxTokenLen)
	}
	if r := g.GetResumeFrom(); r != nil {
		if s := r.GetStep(); s > math.MaxInt64 {
			p.add("resume_from.step: %d, want at most %d", s, int64(math.MaxInt64))
		}
		p.str("resume_from.path", r.GetPath(), 1, MaxPathLen)
	}
}

// hostPort checks a host:port address (1..MaxPathLen bytes, port 0..65535).
func (p *problems) hostPort(field, addr string) {
	if addr == "" || len(addr) > MaxPathLen {
		p.add("%s: %d bytes, want a host:port of 1..%d", field, len(addr), MaxPathLen)
		return
	}
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		p.add("%s: %.80q: %v", field, addr, err)
		return
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		p.add("%s: %.80q: port %q, want 0..65535", field, addr, port)
	}
}

// recordChecker is a record type that UnmarshalRecord checks after
// decoding it.
type recordChecker interface {
	proto.Message
	checkRecord() problems
}

// checkRecord bounds a job record read back from etcd: a valid id, a state
// this binary knows, and error and message texts within their bounds
// (longer ones are clipped, not served whole).
func (j *Job) checkRecord() problems {
	var p problems
	p.jobID("id", j.GetId())
	if _, ok := JobState_name[int32(j.GetState())]; !ok {
		p.add("state: %d, not a state this binary knows", int32(j.GetState()))
	}
	if len(p) > 0 {
		return p
	}
	j.Error = Clip(j.GetError(), MaxErrorLen)
	j.Message = Clip(j.GetMessage(), MaxReasonLen)
	j.Coordinator = Clip(j.GetCoordinator(), MaxNameLen)
	return nil
}

// checkRecord bounds a checkpoint pointer read back from etcd: a step an
// int holds, a path, and a SHA-256 of 64 hex digits.
func (c *CheckpointPointer) checkRecord() problems {
	var p problems
	if s := c.GetStep(); s > math.MaxInt64 {
		p.add("step: %d, want at most %d", s, int64(math.MaxInt64))
	}
	p.str("path", c.GetPath(), 1, MaxPathLen)
	p.str("sha256", c.GetSha256(), 64, 64)
	return p
}
