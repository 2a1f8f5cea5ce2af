package model

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
)

// ErrWeightsDiverged is wrapped by the error TrainShard returns when the
// replicas of a data-parallel run no longer hold the same weights (see
// TrainOptions.ChecksumEvery). Unlike *Interrupted it is not an
// interruption: resuming would carry the divergence on, so the run must
// restart from a state every replica agreed on (a checkpoint) or fail.
var ErrWeightsDiverged = errors.New("model: weights diverged")

// checksumLimbs is how many 16-bit limbs carry one replica's 64-bit
// checksum: each limb is an integer below 2^16, exact in a float32, and
// the other replicas add zeros to it, so the sum returns it unchanged.
const checksumLimbs = 4

// FNV-1a (64 bits) offset basis and prime.
const (
	fnvOffset64 = 14695981039346656037
	fnvPrime64  = 1099511628211
)

// weightsChecksum is FNV-1a over the little-endian float32 bits of params,
// then the little-endian 64-bit Adam step count: two replicas that took
// the same steps from the same state agree on it bit for bit.
func weightsChecksum(params []float32, step int) uint64 {
	h := uint64(fnvOffset64)
	for _, p := range params {
		b := math.Float32bits(p)
		for range 4 {
			h ^= uint64(b & 0xff)
			h *= fnvPrime64
			b >>= 8
		}
	}
	s := uint64(step)
	for range 8 {
		h ^= s & 0xff
		h *= fnvPrime64
		s >>= 8
	}
	return h
}

// checksummer exchanges the replicas' weight checksums every few steps, so
// a replica whose weights drifted (a reducer that returned different sums
// to different replicas, a faulty device) is caught within `every` steps
// instead of silently spoiling the model.
type checksummer struct {
	rank, replicas, every int
	host                  []float32 // parameters downloaded for hashing
	buf                   []float32 // checksumLimbs slots per replica
}

// newChecksummer returns nil when the exchange is off: no reducer, one
// replica, or ChecksumEvery = 0.
func newChecksummer(r Reducer, opts TrainOptions, size int) *checksummer {
	if r == nil || opts.Replicas <= 1 || opts.ChecksumEvery <= 0 {
		return nil
	}
	return &checksummer{
		rank: opts.Rank, replicas: opts.Replicas, every: opts.ChecksumEvery,
		host: make([]float32, size), buf: make([]float32, checksumLimbs*opts.Replicas),
	}
}

// due says whether the exchange follows optimizer step step.
func (c *checksummer) due(step int) bool { return c != nil && step%c.every == 0 }

// checkWeights sums every replica's checksum of the parameters after the
// step just taken and compares them. A reducer failure ends the run as an
// *Interrupted carrying the state after that step, as the gradient sum
// does; a mismatch with an error wrapping ErrWeightsDiverged.
func (t *trainer) checkWeights(ctx context.Context) error {
	c, step := t.ck, t.opt.StepCount()
	t.be.Download(c.host, t.net.params)
	clear(c.buf)
	putChecksum(c.buf[checksumLimbs*c.rank:], weightsChecksum(c.host, step))
	if err := t.r.Sum(ctx, c.buf); err != nil {
		return &Interrupted{State: t.state(), Err: fmt.Errorf("allreduce weight checksums of step %d: %w", step, err)}
	}
	sums := make([]uint64, c.replicas)
	for i := range sums {
		v, ok := getChecksum(c.buf[checksumLimbs*i:])
		if !ok {
			// Two replicas wrote the same slots: a limb grew past 16 bits.
			return fmt.Errorf("model: train: step %d: weight checksum slots of rank %d hold %v, want 16-bit limbs (do two replicas have Rank %d?)",
				step, i, c.buf[checksumLimbs*i:checksumLimbs*(i+1)], i)
		}
		sums[i] = v
	}
	for _, v := range sums {
		if v != sums[0] {
			return &divergedError{step: step, sums: sums}
		}
	}
	return nil
}

// putChecksum writes v as checksumLimbs 16-bit limbs, most significant
// first.
func putChecksum(dst []float32, v uint64) {
	for i := range checksumLimbs {
		dst[i] = float32(v >> (16 * (checksumLimbs - 1 - i)) & 0xffff)
	}
}

// getChecksum reads what putChecksum wrote; ok is false when a slot is
// not a 16-bit integer.
func getChecksum(src []float32) (v uint64, ok bool) {
	for i := range checksumLimbs {
		x := src[i]
		if !(x >= 0 && x <= 0xffff) || x != float32(math.Trunc(float64(x))) {
			return 0, false
		}
		v = v<<16 | uint64(x)
	}
	return v, true
}

// divergedError reports the replicas' checksums at the step where they
// disagreed, grouped by value, so the log shows which ranks drifted.
type divergedError struct {
	step int
	sums []uint64 // by rank
}

func (e *divergedError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "model: train: step %d: weights diverged:", e.step)
	done := make([]bool, len(e.sums))
	sep := " "
	for i, v := range e.sums {
		if done[i] {
			continue
		}
		var ranks []string
		for j := i; j < len(e.sums); j++ {
			if e.sums[j] == v {
				done[j] = true
				ranks = append(ranks, fmt.Sprint(j))
			}
		}
		word := "rank"
		if len(ranks) > 1 {
			word = "ranks"
		}
		fmt.Fprintf(&b, "%s%s %s checksum %016x", sep, word, strings.Join(ranks, ","), v)
		sep = "; "
	}
	return b.String()
}

func (e *divergedError) Unwrap() error { return ErrWeightsDiverged }

// checkReplicas validates the options that place a replica in its run.
func (o TrainOptions) checkReplicas() error {
	switch {
	case o.Replicas < 0:
		return fmt.Errorf("options: Replicas is %d, want >= 0", o.Replicas)
	case o.ChecksumEvery < 0:
		return fmt.Errorf("options: ChecksumEvery is %d, want >= 0", o.ChecksumEvery)
	case o.Rank < 0:
		return fmt.Errorf("options: Rank is %d, want >= 0", o.Rank)
	case o.Replicas > 0 && o.Rank >= o.Replicas:
		return fmt.Errorf("options: Rank is %d, want it in [0, Replicas = %d)", o.Rank, o.Replicas)
	}
	return nil
}
