package worker

import (
	"bytes"
	"context"
	"encoding/gob"
	"errors"
	"fmt"
	"slices"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/cohort-clv/cohort/membership"
	"github.com/cohort-clv/cohort/model"
	cohortv1 "github.com/cohort-clv/cohort/proto/cohort/v1"
	"github.com/cohort-clv/cohort/rpcerr"
)

// errAllreduce marks a generation's error as an interruption: a sum over
// the ring failed (a peer died, a new generation began), so the worker
// waits for the next generation rather than fail the job.
var errAllreduce = errors.New("allreduce failed")

// errUnreported marks rank 0's final model that did not reach the
// coordinator (it died): the worker keeps the finished state and waits for
// the next coordinator's generation, so this too is an interruption.
var errUnreported = errors.New("final model not delivered")

// errJobEnded is the cause that stops a generation whose job the
// coordinator recorded as ended (cancelled, failed): nothing to report.
var errJobEnded = errors.New("job ended")

// fencedRing marks the ring's errors with errAllreduce and fails every
// Sum once newer is closed (a newer generation of the job began).
type fencedRing struct {
	r     summer
	newer <-chan struct{}
}

func (f fencedRing) Sum(ctx context.Context, buf []float32) error {
	select {
	case <-f.newer:
		return fmt.Errorf("%w: a newer generation began", errAllreduce)
	default:
	}
	if err := f.r.Sum(ctx, buf); err != nil {
		return fmt.Errorf("%w: %w", errAllreduce, err)
	}
	return nil
}

// awaitNewer closes newer when a plan of plan's job with a higher
// generation appears after revision rev, and returns then or when ctx ends.
// It calls ended with the reason when the coordinator records the job as
// finished (cancelled, failed) while this generation trains.
func (w *worker) awaitNewer(ctx context.Context, plan *cohortv1.GenerationPlan, rev int64, newer chan<- struct{}, ended func(error)) {
	id := plan.GetJobId()
	// The job's prefix holds its record and its plans; "/cohort/jobs/a"
	// is also a prefix of "/cohort/jobs/ab", whose events are skipped.
	err := membership.Follow(ctx, w.cfg.Client, membership.JobKey(id), rev+1, func(ev *clientv3.Event) error {
		if ev.Type != clientv3.EventTypePut {
			return nil
		}
		switch key := string(ev.Kv.Key); {
		case key == membership.JobKey(id):
			rec := &cohortv1.Job{}
			if cohortv1.UnmarshalRecord(ev.Kv.Value, rec) == nil && rec.GetState().Terminal() {
				ended(fmt.Errorf("%w: job %s is %v", errJobEnded, id, rec.GetState()))
				return membership.ErrStopWatch
			}
		case strings.HasPrefix(key, membership.GenerationsPrefix(id)):
			next := &cohortv1.GenerationPlan{}
			if cohortv1.UnmarshalRecord(ev.Kv.Value, next) == nil && next.GetGeneration() > plan.GetGeneration() {
				close(newer)
				return membership.ErrStopWatch
			}
		}
		return nil
	}, clientv3.WithPrefix())
	if err != nil && ctx.Err() == nil {
		// Compacted history: the generation's ring still fails without
		// its peers, so nothing waits forever on this watch.
		w.log.Warn("worker: watch newer generations", "job", id, "err", err)
	}
}

// interruption says whether a generation's error leaves the job able to
// go on in a next generation.
func interruption(err error) bool {
	var in *model.Interrupted
	return errors.As(err, &in) || errors.Is(err, errAllreduce) || errors.Is(err, errUnreported) ||
		errors.Is(err, rpcerr.ErrStaleGeneration)
}

// maxResumeStates bounds the jobs a worker keeps states of. A worker may
// train another job (a sweep's next trial) between two generations of a
// job whose coordinator died, so it keeps more than one; the oldest go.
const maxResumeStates = 8

// resumeStates are what a worker keeps between two generations of its
// jobs: the state after the last completed step (or the finished state),
// by job id. Only the watch loop's goroutine touches them.
type resumeStates map[string]*resumeState

type resumeState struct {
	gen   uint64
	seq   int               // when it was kept: the smallest goes first
	state *model.TrainState // nil: interrupted before the first step
}

// keep records job's state after generation gen.
func (r *resumeStates) keep(job string, gen uint64, st *model.TrainState) {
	if *r == nil {
		*r = resumeStates{}
	}
	seq := 0
	for _, s := range *r {
		seq = max(seq, s.seq+1)
	}
	(*r)[job] = &resumeState{gen: gen, seq: seq, state: st}
	for len(*r) > maxResumeStates {
		oldest := ""
		for id, s := range *r {
			if oldest == "" || s.seq < (*r)[oldest].seq {
				oldest = id
			}
		}
		delete(*r, oldest)
	}
}

// state returns job's kept state, or nil.
func (r resumeStates) state(job string) *model.TrainState {
	if s := r[job]; s != nil {
		return s.state
	}
	return nil
}

// forget drops job's state (its generation failed for good).
func (r resumeStates) forget(job string) { delete(r, job) }

// summer is the allreduce agree needs (an *allreduce.Ring).
type summer interface {
	Sum(ctx context.Context, buf []float32) error
}

// keySlots is one rank's slots in agree's first sum: present, then the
// epoch and the row offset as two 16-bit limbs each.
const keySlots = 5

// agree makes the survivors of a generation start the next one from the
// same state. A failed allreduce leaves them at most one step apart: a
// rank whose sum completed just before a peer died took one more step (or
// ended one more epoch) than a rank whose sum failed. The rule: every rank
// publishes how far its state got (epoch, row offset); the furthest state
// (lowest rank among equals) is a state the whole old generation agreed to,
// so when the ranks differ its holder broadcasts it and every rank resumes
// from it. Each value travels in slots only one rank fills, the others
// adding zero, so the sums are exact.
//
// limit bounds the broadcast state's size in bytes (stateLimit): the size
// is itself a sum, so a peer's garbage in its slots could otherwise make
// every rank allocate up to 2^32 floats.
func agree(ctx context.Context, r summer, rank, size int, own *model.TrainState, limit int) (*model.TrainState, error) {
	keys := make([]float32, keySlots*size)
	if own != nil {
		k := keys[rank*keySlots:]
		k[0] = 1
		putLimbs(k[1:3], uint32(own.Epoch))
		putLimbs(k[3:5], uint32(own.Offset))
	}
	if err := r.Sum(ctx, keys); err != nil {
		return nil, fmt.Errorf("worker: agree on the resume step: %w", err)
	}
	src, same := 0, true
	for i := range size {
		if keyLess(keys[src*keySlots:], keys[i*keySlots:]) {
			src = i
		}
		if i > 0 && !slices.Equal(keys[i*keySlots:(i+1)*keySlots], keys[:keySlots]) {
			same = false
		}
	}
	if same {
		return own, nil
	}
	var raw []byte
	if rank == src {
		var b bytes.Buffer
		if err := gob.NewEncoder(&b).Encode(own); err != nil {
			return nil, fmt.Errorf("worker: agree: encode state: %w", err)
		}
		raw = b.Bytes()
	}
	n := make([]float32, 2)
	if rank == src {
		putLimbs(n, uint32(len(raw)))
	}
	if err := r.Sum(ctx, n); err != nil {
		return nil, fmt.Errorf("worker: agree: broadcast state size: %w", err)
	}
	if got := limbs(n); uint64(got) > uint64(max(limit, 0)) || rank == src && int(got) != len(raw) {
		return nil, fmt.Errorf("worker: agree: rank %d's state is %d bytes, want at most %d (its own: %d): %w",
			src, got, limit, len(raw), rpcerr.ErrInvalidArgument)
	}
	buf := make([]float32, limbs(n))
	for i, c := range raw {
		buf[i] = float32(c)
	}
	if err := r.Sum(ctx, buf); err != nil {
		return nil, fmt.Errorf("worker: agree: broadcast state: %w", err)
	}
	if rank == src {
		return own, nil
	}
	raw = make([]byte, len(buf))
	for i, v := range buf {
		raw[i] = byte(v)
	}
	st := &model.TrainState{}
	if err := gob.NewDecoder(bytes.NewReader(raw)).Decode(st); err != nil {
		return nil, fmt.Errorf("worker: agree: decode rank %d's state: %w", src, err)
	}
	return st, nil
}

// putLimbs writes v as two 16-bit limbs, each exact in a float32.
func putLimbs(dst []float32, v uint32) {
	dst[0], dst[1] = float32(v>>16), float32(v&0xffff)
}

func limbs(src []float32) uint32 { return uint32(src[0])<<16 | uint32(src[1]) }

// keyLess orders two ranks' keys: absent first, then by epoch, then offset.
func keyLess(a, b []float32) bool {
	if a[0] != b[0] {
		return a[0] < b[0]
	}
	if ea, eb := limbs(a[1:3]), limbs(b[1:3]); ea != eb {
		return ea < eb
	}
	return limbs(a[3:5]) < limbs(b[3:5])
}
