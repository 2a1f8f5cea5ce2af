// Package allreduce sums a float32 buffer across the ranks of a data-parallel
// job with a ring allreduce: reduce-scatter, then all-gather, chunked and
// pipelined, over a small Transport (in memory for tests, gRPC for real).
//
// Every rank ends with bit-identical values: each segment is summed in one
// fixed order around the ring, and the all-gather hands every rank the same
// reduced bytes. Every message names its job and generation, so a message of
// an older generation (a worker that has not yet noticed it was fenced off)
// is refused, never summed. A peer that goes silent makes Sum fail after
// Config.Timeout (the lease TTL) without progress; it never hangs.
//
// Transports: Local connects ranks of one process (tests, single-process
// runs). The gRPC transport (Server, GRPCTransport) carries chunks on
// cohort.v1.Ring streams with a raw codec (codec.go) instead of protobuf:
// payloads are written from the caller's buffer and summed from gRPC's
// frame buffers, without the copies a protobuf bytes field costs, with
// large flow-control windows and I/O buffers (see DefaultLanes).
// scripts/bench-allreduce.sh compares it with raw TCP and PyTorch's gloo.
package allreduce

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/cohort-clv/cohort/rpcerr"
)

// Defaults filled in by New.
const (
	// DefaultChunkBytes is small enough that sending chunk c+1 overlaps
	// summing chunk c, large enough that per-message costs stay small.
	DefaultChunkBytes = 512 << 10
	// DefaultTimeout matches the membership lease TTL: a peer silent for
	// that long has lost its lease anyway.
	DefaultTimeout = 5 * time.Second
	// MaxChunkBytes bounds a chunk on the wire; receivers refuse larger ones.
	MaxChunkBytes = 4 << 20
)

// flusher is a Transport whose Send may return while the transport still
// reads the payload; flush waits until it no longer does. The Ring calls it
// after its last Send to a peer. That is safe because a rank rewrites a
// chunk it sent only in the all-gather, with a value that exists only once
// every rank's contribution, its own included, has been received.
type flusher interface {
	flush(ctx context.Context, to int) error
}

// ErrNewerGeneration reports a message from a generation the receiving Ring
// has not reached: the ring is out of date and must be rebuilt.
var ErrNewerGeneration = errors.New("allreduce: message from a newer generation")

// Config describes one rank of one generation of a ring.
type Config struct {
	Rank, Size int
	Job        string
	Generation uint64
	Transport  Transport
	// ChunkBytes is the size of one message's payload; 0 means
	// DefaultChunkBytes. Must be a multiple of 4 and at most MaxChunkBytes.
	ChunkBytes int
	// Timeout bounds every wait for a peer: a peer that neither sends nor
	// accepts data for this long makes Sum fail. 0 means DefaultTimeout.
	Timeout time.Duration
}

// Ring is one rank's end of a ring allreduce. Its methods are not safe for
// concurrent use: a rank runs one allreduce at a time, in the same order as
// every other rank.
type Ring struct {
	cfg  Config
	step uint64
	err  error // sticky: after a failure the ranks disagree on the step
	// stalled is the cause of a progress timeout, built once: withTimeout
	// runs for every message.
	stalled error
}

// New validates cfg, fills its defaults and returns the rank's Ring.
func New(cfg Config) (*Ring, error) {
	if cfg.ChunkBytes == 0 {
		cfg.ChunkBytes = DefaultChunkBytes
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	switch {
	case cfg.Size < 1:
		return nil, fmt.Errorf("allreduce: new ring: size %d, want >= 1", cfg.Size)
	case cfg.Rank < 0 || cfg.Rank >= cfg.Size:
		return nil, fmt.Errorf("allreduce: new ring: rank %d, want in [0, %d)", cfg.Rank, cfg.Size)
	case cfg.Size > 1 && cfg.Transport == nil:
		return nil, errors.New("allreduce: new ring: nil Transport")
	case cfg.ChunkBytes < 4 || cfg.ChunkBytes%4 != 0 || cfg.ChunkBytes > MaxChunkBytes:
		return nil, fmt.Errorf("allreduce: new ring: chunk bytes %d, want a multiple of 4 in [4, %d]", cfg.ChunkBytes, MaxChunkBytes)
	case cfg.Timeout < 0:
		return nil, fmt.Errorf("allreduce: new ring: timeout %v, want > 0", cfg.Timeout)
	}
	return &Ring{cfg: cfg, stalled: fmt.Errorf("no progress within %v: %w", cfg.Timeout, context.DeadlineExceeded)}, nil
}

// Rank returns the ring position of this rank.
func (r *Ring) Rank() int { return r.cfg.Rank }

// Size returns the number of ranks.
func (r *Ring) Size() int { return r.cfg.Size }

// Sum replaces buf, in place, by the element-wise sum of every rank's buf.
// Every rank must call it with a buffer of the same length. On error buf
// holds partial sums, and the Ring refuses further calls.
func (r *Ring) Sum(ctx context.Context, buf []float32) error {
	if r.err != nil {
		return r.err
	}
	step := r.step
	r.step++
	if r.cfg.Size == 1 || len(buf) == 0 {
		return nil
	}
	if err := r.run(ctx, buf, step); err != nil {
		r.err = fmt.Errorf("allreduce: rank %d step %d: %w", r.cfg.Rank, step, err)
		return r.err
	}
	return nil
}

// Average replaces buf by the element-wise mean over the ranks. The division
// happens after the sum, on identical bytes, so results stay bit-identical.
func (r *Ring) Average(ctx context.Context, buf []float32) error {
	if err := r.Sum(ctx, buf); err != nil {
		return err
	}
	n := float32(r.cfg.Size)
	for i := range buf {
		buf[i] /= n
	}
	return nil
}

// direction is one way around the ring over one part of the buffer.
type direction struct {
	buf      []float32
	pos      int // this rank's position in this direction's ring order
	to, from int // real ranks
}

// run splits buf into directions and runs them. With three or more ranks
// the buffer is halved and the halves travel the ring in opposite
// directions, so each link carries data both ways at once; with two ranks
// one direction already uses both ways of the one link.
func (r *Ring) run(ctx context.Context, buf []float32, step uint64) error {
	n, rank := r.cfg.Size, r.cfg.Rank
	next, prev := (rank+1)%n, (rank+n-1)%n
	dirs := []direction{{buf: buf, pos: rank, to: next, from: prev}}
	if n > 2 {
		h := len(buf) / 2
		dirs = []direction{
			{buf: buf[:h], pos: rank, to: next, from: prev},
			{buf: buf[h:], pos: (n - rank) % n, to: prev, from: next},
		}
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var (
		wg    sync.WaitGroup
		once  sync.Once
		first error
	)
	fail := func(err error) {
		once.Do(func() { first = err; cancel(err) })
	}
	for _, d := range dirs {
		p := r.plan(d, step)
		wg.Go(func() {
			if err := p.send(ctx); err != nil {
				fail(err)
			}
		})
		wg.Go(func() {
			if err := p.recv(ctx); err != nil {
				fail(err)
			}
		})
	}
	wg.Wait()
	return first
}

// plan is the schedule of one direction: 2(n-1) rounds of n segments, each cut
// into the same number of chunks so sender and receiver agree on every
// message without talking.
type plan struct {
	r      *Ring
	d      direction
	step   uint64
	chunks int
	// ready carries one token per chunk the receiver has finished; the
	// sender forwards chunk c of round t+1 only after chunk c of round t.
	ready chan struct{}
}

func (r *Ring) plan(d direction, step uint64) *plan {
	n := r.cfg.Size
	maxSeg := (len(d.buf) + n - 1) / n
	chunkElems := r.cfg.ChunkBytes / 4
	chunks := max(1, (maxSeg+chunkElems-1)/chunkElems)
	return &plan{r: r, d: d, step: step, chunks: chunks, ready: make(chan struct{}, 2*(n-1)*chunks)}
}

func mod(a, n int) int { return ((a % n) + n) % n }

// rounds returns the number of ring steps of the two phases together.
func (p *plan) rounds() int { return 2 * (p.r.cfg.Size - 1) }

// phase maps a global round t to its phase and the round within it.
func (p *plan) phase(t int) (Phase, int) {
	if rs := p.r.cfg.Size - 1; t >= rs {
		return AllGather, t - rs
	}
	return ReduceScatter, t
}

// sendSeg is the segment sent in round t: in reduce-scatter the segment
// summed in the round before, in all-gather the one reduced or received
// in the round before. recvSeg(t) == sendSeg(t+1) is what makes it a ring.
func (p *plan) sendSeg(t int) int {
	n := p.r.cfg.Size
	if ph, k := p.phase(t); ph == AllGather {
		return mod(p.d.pos+1-k, n)
	}
	return mod(p.d.pos-t, n)
}

func (p *plan) recvSeg(t int) int { return p.sendSeg(t + 1) }

// chunk returns the elements of chunk c of segment s. Integer splitting
// makes segments and chunks differ by at most one element, possibly zero.
func (p *plan) chunk(s, c int) []float32 {
	n, total := int64(p.r.cfg.Size), int64(len(p.d.buf))
	lo, hi := int64(s)*total/n, int64(s+1)*total/n
	k, l := int64(p.chunks), hi-lo
	return p.d.buf[lo+int64(c)*l/k : lo+int64(c+1)*l/k]
}

func (p *plan) header(t, c int) Message {
	ph, k := p.phase(t)
	return Message{Job: p.r.cfg.Job, Generation: p.r.cfg.Generation, Step: p.step, Phase: ph, Round: k, Chunk: c}
}

func (p *plan) send(ctx context.Context) error {
	for t := range p.rounds() {
		s := p.sendSeg(t)
		for c := range p.chunks {
			if t > 0 {
				select {
				case <-p.ready:
				case <-ctx.Done():
					return context.Cause(ctx)
				}
			}
			m := p.header(t, c)
			m.Payload = bytesOf(p.chunk(s, c))
			if err := p.withTimeout(ctx, func(ctx context.Context) error {
				return p.r.cfg.Transport.Send(ctx, p.d.to, m)
			}); err != nil {
				return fmt.Errorf("send %s round %d chunk %d to rank %d: %w", m.Phase, m.Round, c, p.d.to, err)
			}
		}
	}
	if f, ok := p.r.cfg.Transport.(flusher); ok {
		if err := p.withTimeout(ctx, func(ctx context.Context) error { return f.flush(ctx, p.d.to) }); err != nil {
			return fmt.Errorf("flush to rank %d: %w", p.d.to, err)
		}
	}
	return nil
}

func (p *plan) recv(ctx context.Context) error {
	var scratch []float32
	last := p.rounds() - 1
	for t := range p.rounds() {
		s := p.recvSeg(t)
		for c := range p.chunks {
			var m Message
			if err := p.withTimeout(ctx, func(ctx context.Context) (err error) {
				m, err = p.r.cfg.Transport.Recv(ctx, p.d.from)
				return err
			}); err != nil {
				ph, k := p.phase(t)
				return fmt.Errorf("receive %s round %d chunk %d from rank %d: %w", ph, k, c, p.d.from, err)
			}
			dst := p.chunk(s, c)
			if err := p.check(m, t, c, len(dst)); err != nil {
				if m.done != nil {
					m.done()
				}
				return err
			}
			if m.frags != nil {
				applyFrags(dst, m.frags, m.Phase == ReduceScatter)
			} else {
				var src []float32
				src, scratch = floatsOf(m.Payload, scratch)
				if m.Phase == ReduceScatter {
					add(dst, src)
				} else {
					copy(dst, src)
				}
			}
			if m.done != nil {
				m.done()
			}
			if t < last {
				p.ready <- struct{}{} // never blocks: capacity is every token
			}
		}
	}
	return nil
}

// check refuses any message but the exact one expected next: fencing of old
// generations, and protection against a confused or malicious peer.
func (p *plan) check(m Message, t, c, elems int) error {
	want := p.header(t, c)
	from := p.d.from
	switch {
	case m.Job != want.Job:
		return fmt.Errorf("message from rank %d for job %q, want %q", from, m.Job, want.Job)
	case m.Generation < want.Generation:
		return fmt.Errorf("message from rank %d of generation %d, running %d: %w", from, m.Generation, want.Generation, rpcerr.ErrStaleGeneration)
	case m.Generation > want.Generation:
		return fmt.Errorf("message from rank %d of generation %d, running %d: %w", from, m.Generation, want.Generation, ErrNewerGeneration)
	case m.Step != want.Step || m.Phase != want.Phase || m.Round != want.Round || m.Chunk != want.Chunk:
		return fmt.Errorf("message from rank %d is step %d %s round %d chunk %d, want step %d %s round %d chunk %d",
			from, m.Step, m.Phase, m.Round, m.Chunk, want.Step, want.Phase, want.Round, want.Chunk)
	case m.size() != 4*elems:
		return fmt.Errorf("message from rank %d (%s round %d chunk %d) has %d payload bytes, want %d",
			from, m.Phase, m.Round, m.Chunk, m.size(), 4*elems)
	}
	return nil
}

// withTimeout runs op under the progress timeout, so a silent peer fails the
// call instead of hanging it; the caller's own cancellation keeps its error.
func (p *plan) withTimeout(ctx context.Context, op func(context.Context) error) error {
	tctx, cancel := context.WithTimeoutCause(ctx, p.r.cfg.Timeout, p.r.stalled)
	defer cancel()
	err := op(tctx)
	if err != nil && ctx.Err() == nil && tctx.Err() != nil {
		return fmt.Errorf("%w (%w)", context.Cause(tctx), err)
	}
	return err
}
