package allreduce

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/cohort-clv/cohort/rpcerr"
)

// inputs returns n buffers of length l with values of mixed sign and
// magnitude, so a wrong summation order or a lost chunk shows.
func inputs(n, l int, seed uint64) [][]float32 {
	bufs := make([][]float32, n)
	for r := range bufs {
		rng := rand.New(rand.NewPCG(seed, uint64(r)))
		bufs[r] = make([]float32, l)
		for i := range bufs[r] {
			bufs[r][i] = float32(rng.NormFloat64() * math.Exp(rng.Float64()*4))
		}
	}
	return bufs
}

// reference sums the buffers in float64 and returns the sums and the sums of
// absolute values, which bound float32 rounding error.
func reference(bufs [][]float32) (sum, abs []float64) {
	sum = make([]float64, len(bufs[0]))
	abs = make([]float64, len(bufs[0]))
	for _, b := range bufs {
		for i, v := range b {
			sum[i] += float64(v)
			abs[i] += math.Abs(float64(v))
		}
	}
	return sum, abs
}

// runAll runs fn for every rank at once and returns each rank's error.
func runAll(n int, fn func(rank int) error) []error {
	errs := make([]error, n)
	var wg sync.WaitGroup
	for r := range n {
		wg.Go(func() { errs[r] = fn(r) })
	}
	wg.Wait()
	return errs
}

// newRings builds one Ring per transport with the given chunk size.
func newRings(t testing.TB, ts []Transport, chunkBytes int, timeout time.Duration) []*Ring {
	t.Helper()
	rings := make([]*Ring, len(ts))
	for r := range ts {
		ring, err := New(Config{Rank: r, Size: len(ts), Job: "job-1", Generation: 7, Transport: ts[r],
			ChunkBytes: chunkBytes, Timeout: timeout})
		if err != nil {
			t.Fatal(err)
		}
		rings[r] = ring
	}
	return rings
}

func localTransports(n int) []Transport {
	hub := NewLocal(n)
	ts := make([]Transport, n)
	for r := range ts {
		ts[r] = hub.Endpoint(r)
	}
	return ts
}

// checkSums asserts every rank holds the reference sum within float32
// rounding, and that all ranks hold the very same bits.
func checkSums(t *testing.T, got [][]float32, sum, abs []float64) {
	t.Helper()
	n := float64(len(got))
	for i := range sum {
		tol := 4 * n * float64(math.SmallestNonzeroFloat32+abs[i]*0x1p-23)
		if d := math.Abs(float64(got[0][i]) - sum[i]); d > tol {
			t.Fatalf("element %d: got %v, want %v (|diff| %g > %g)", i, got[0][i], sum[i], d, tol)
		}
		for r := 1; r < len(got); r++ {
			if math.Float32bits(got[r][i]) != math.Float32bits(got[0][i]) {
				t.Fatalf("element %d: rank %d has %v, rank 0 has %v: not bit-identical", i, r, got[r][i], got[0][i])
			}
		}
	}
}

// TestRingSum ensures Sum gives every rank the element-wise sum, bit-identical
// across ranks, for 1..8 ranks and lengths that do not divide evenly.
func TestRingSum(t *testing.T) {
	for n := 1; n <= 8; n++ {
		lengths := []int{0, 1, n - 1, n, n + 1, 2*n + 3, 1031}
		if n == 1 || n == 3 || n == 8 {
			lengths = append(lengths, 1000003)
		}
		for _, l := range lengths {
			// Small chunks on small buffers make many chunks per segment, so
			// the pipelining and the chunk bounds are exercised too.
			chunk := 64
			if l > 100000 {
				chunk = DefaultChunkBytes
			}
			t.Run(fmt.Sprintf("n=%d/len=%d", n, l), func(t *testing.T) {
				bufs := inputs(n, l, uint64(n*l))
				sum, abs := reference(bufs)
				rings := newRings(t, localTransports(n), chunk, 10*time.Second)
				errs := runAll(n, func(r int) error { return rings[r].Sum(t.Context(), bufs[r]) })
				for r, err := range errs {
					if err != nil {
						t.Fatalf("rank %d: %v", r, err)
					}
				}
				if l > 0 {
					checkSums(t, bufs, sum, abs)
				}
			})
		}
	}
}

// TestRingSteps ensures a Ring can run many allreduces in a row, and that
// Average divides the sum by the number of ranks.
func TestRingSteps(t *testing.T) {
	const n, l = 5, 333
	rings := newRings(t, localTransports(n), 32, 10*time.Second)
	for step := range 3 {
		bufs := inputs(n, l, uint64(step))
		sum, abs := reference(bufs)
		errs := runAll(n, func(r int) error { return rings[r].Average(t.Context(), bufs[r]) })
		for r, err := range errs {
			if err != nil {
				t.Fatalf("step %d rank %d: %v", step, r, err)
			}
		}
		for i := range sum {
			sum[i] /= n
			abs[i] /= n
		}
		checkSums(t, bufs, sum, abs)
	}
}

// TestRingRefuses ensures a rank refuses, without summing it, any message
// that is not exactly the one expected: another generation (fencing), job,
// step, chunk or length.
func TestRingRefuses(t *testing.T) {
	good := Message{Job: "job-1", Generation: 7, Step: 0, Phase: ReduceScatter, Round: 0, Chunk: 0,
		Payload: make([]byte, 4)}
	tests := []struct {
		name   string
		edit   func(*Message)
		target error
	}{
		{"stale generation", func(m *Message) { m.Generation = 6 }, rpcerr.ErrStaleGeneration},
		{"newer generation", func(m *Message) { m.Generation = 8 }, ErrNewerGeneration},
		{"other job", func(m *Message) { m.Job = "job-2" }, nil},
		{"other step", func(m *Message) { m.Step = 1 }, nil},
		{"chunk out of range", func(m *Message) { m.Chunk = 5 }, nil},
		{"all-gather too early", func(m *Message) { m.Phase = AllGather }, nil},
		{"short payload", func(m *Message) { m.Payload = m.Payload[:2] }, nil},
		{"long payload", func(m *Message) { m.Payload = make([]byte, 8) }, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// Two ranks, two elements: rank 0 first receives rank 1's one
			// element of segment 1. Only rank 0 runs; the message is forged.
			ts := localTransports(2)
			m := good
			m.Payload = append([]byte(nil), good.Payload...)
			tc.edit(&m)
			if err := ts[1].Send(t.Context(), 0, m); err != nil {
				t.Fatal(err)
			}
			ring := newRings(t, ts, 4, 5*time.Second)[0]
			buf := []float32{1, 2}
			err := ring.Sum(t.Context(), buf)
			if err == nil {
				t.Fatal("Sum accepted a forged message")
			}
			if tc.target != nil && !errors.Is(err, tc.target) {
				t.Fatalf("error %v, want one wrapping %v", err, tc.target)
			}
			if buf[0] != 1 || buf[1] != 2 {
				t.Fatalf("buffer changed to %v: the refused message was summed", buf)
			}
			if again := ring.Sum(t.Context(), buf); again == nil {
				t.Fatal("Sum after a failure succeeded; want the sticky error")
			}
		})
	}
}

// stopAfter is a Transport whose rank vanishes, silently, after a number of
// sends: its messages stop, it reads nothing more, it never says goodbye.
type stopAfter struct {
	Transport
	mu     sync.Mutex
	left   int
	goneAt time.Time
}

func (s *stopAfter) Send(ctx context.Context, to int, msg Message) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.left--; s.left < 0 {
		if s.goneAt.IsZero() {
			s.goneAt = time.Now()
		}
		return errors.New("rank vanished")
	}
	return s.Transport.Send(ctx, to, msg)
}

// TestRingPeerDies ensures that when a rank vanishes mid-reduce, its
// neighbours' Sum fails within the timeout of its last message and every
// other rank's within two (each rank gives up a timeout after its last
// progress), never hanging.
func TestRingPeerDies(t *testing.T) {
	const n, timeout, slack = 4, 500 * time.Millisecond, 2 * time.Second
	ts := localTransports(n)
	dying := &stopAfter{Transport: ts[2], left: 5}
	ts[2] = dying
	rings := newRings(t, ts, 64, timeout)
	bufs := inputs(n, 4096, 1)
	done := make([]time.Time, n)
	errs := runAll(n, func(r int) error {
		err := rings[r].Sum(t.Context(), bufs[r])
		done[r] = time.Now()
		return err
	})
	if dying.goneAt.IsZero() {
		t.Fatal("rank 2 never vanished: the buffer is too small for the test")
	}
	for r, err := range errs {
		if err == nil {
			t.Fatalf("rank %d: Sum succeeded without rank 2", r)
		}
		if r == 2 {
			continue
		}
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("rank %d: error %v, want a timeout", r, err)
		}
		limit := 2*timeout + slack
		if r == 1 || r == 3 {
			limit = timeout + slack
		}
		if took := done[r].Sub(dying.goneAt); took > limit {
			t.Errorf("rank %d failed %v after rank 2 vanished, want within %v", r, took, limit)
		}
	}
}

// TestRingCancel ensures Sum returns the caller's cancellation promptly
// when a peer never shows up, long before the progress timeout.
func TestRingCancel(t *testing.T) {
	const n = 3
	rings := newRings(t, localTransports(n), 64, time.Minute)
	bufs := inputs(n, 1000, 2)
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	// Rank 2 never calls Sum.
	errs := runAll(n-1, func(r int) error { return rings[r].Sum(ctx, bufs[r]) })
	for r, err := range errs {
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("rank %d: error %v, want the caller's deadline", r, err)
		}
	}
	if el := time.Since(start); el > 10*time.Second {
		t.Errorf("Sum took %v after cancel", el)
	}
}

// TestNewValidates ensures New rejects configurations it cannot run.
func TestNewValidates(t *testing.T) {
	tr := NewLocal(2).Endpoint(0)
	tests := []struct {
		name string
		cfg  Config
	}{
		{"zero size", Config{Size: 0, Transport: tr}},
		{"rank too large", Config{Rank: 2, Size: 2, Transport: tr}},
		{"negative rank", Config{Rank: -1, Size: 2, Transport: tr}},
		{"nil transport", Config{Rank: 0, Size: 2}},
		{"odd chunk", Config{Size: 2, Transport: tr, ChunkBytes: 6}},
		{"huge chunk", Config{Size: 2, Transport: tr, ChunkBytes: 2 * MaxChunkBytes}},
		{"negative timeout", Config{Size: 2, Transport: tr, Timeout: -time.Second}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := New(tc.cfg); err == nil {
				t.Fatalf("New(%+v) succeeded", tc.cfg)
			}
		})
	}
}
