package model

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"strings"
	"sync"
	"testing"
)

// recordingReducer sums like localReducer and records the length of every
// buffer each rank sums. It can also damage one rank's copy of one
// gradient sum, as a faulty link or device would, or fail the first sum of
// a given length.
type recordingReducer struct {
	*localReducer
	gradLen int // length of a gradient sum

	// victim's perturbAt-th gradient sum (1-based; 0: none) comes back
	// altered on that rank only.
	victim, perturbAt int
	// failLen, when > 0, fails every rank's first sum of that length.
	failLen int

	mu    sync.Mutex
	lens  [][]int // by rank
	grads []int   // gradient sums so far, by rank
}

func newRecordingReducer(n, gradLen int) *recordingReducer {
	return &recordingReducer{localReducer: newLocalReducer(n), gradLen: gradLen, lens: make([][]int, n), grads: make([]int, n)}
}

func (f *recordingReducer) replica(rank int) Reducer { return &recordingRank{f, rank} }

// count is how many sums of length n rank made.
func (f *recordingReducer) count(rank, n int) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := 0
	for _, l := range f.lens[rank] {
		if l == n {
			c++
		}
	}
	return c
}

func (f *recordingReducer) calls(rank int) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.lens[rank])
}

type recordingRank struct {
	f    *recordingReducer
	rank int
}

func (rr *recordingRank) Sum(ctx context.Context, buf []float32) error {
	f := rr.f
	f.mu.Lock()
	f.lens[rr.rank] = append(f.lens[rr.rank], len(buf))
	fail := f.failLen > 0 && len(buf) == f.failLen
	f.mu.Unlock()
	if fail {
		return errors.New("peer vanished")
	}
	if err := (rankReducer{f.localReducer, rr.rank}).Sum(ctx, buf); err != nil {
		return err
	}
	if len(buf) != f.gradLen || rr.rank != f.victim {
		return nil
	}
	f.mu.Lock()
	f.grads[rr.rank]++
	hit := f.grads[rr.rank] == f.perturbAt
	f.mu.Unlock()
	if hit {
		for i := range buf[:len(buf)-1] {
			buf[i] = buf[i]*1.5 + 0.01
		}
	}
	return nil
}

func gradLen(t *testing.T, cols int, cfg Config) int {
	t.Helper()
	l, err := NewLayout(cols, cfg.WithDefaults().Hidden)
	if err != nil {
		t.Fatal(err)
	}
	return l.Size + 1
}

func sameBits(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return false
		}
	}
	return true
}

// TestWeightsChecksum ensures the checksum is FNV-1a over the float32
// bits and the step, and that its limbs survive the exchange buffer.
func TestWeightsChecksum(t *testing.T) {
	base := []float32{1, -2.5, 3e-8, 0}
	sum := weightsChecksum(base, 7)
	ref := fnv.New64a()
	binary.Write(ref, binary.LittleEndian, base)
	binary.Write(ref, binary.LittleEndian, uint64(7))
	if want := ref.Sum64(); sum != want {
		t.Fatalf("checksum %016x, hash/fnv says %016x", sum, want)
	}
	for _, tc := range []struct {
		name   string
		params []float32
		step   int
	}{
		{"other step", base, 8},
		{"last bit of one weight", []float32{1, math.Float32frombits(math.Float32bits(-2.5) ^ 1), 3e-8, 0}, 7},
		{"negative zero", []float32{1, -2.5, 3e-8, float32(math.Copysign(0, -1))}, 7},
		{"swapped", []float32{-2.5, 1, 3e-8, 0}, 7},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if weightsChecksum(tc.params, tc.step) == sum {
				t.Fatalf("checksum %016x unchanged", sum)
			}
		})
	}
	for _, v := range []uint64{0, 1, sum, math.MaxUint64, 0x8000_0000_0000_ffff} {
		buf := make([]float32, checksumLimbs)
		putChecksum(buf, v)
		if got, ok := getChecksum(buf); !ok || got != v {
			t.Errorf("limbs of %016x read back as %016x (ok %v)", v, got, ok)
		}
	}
	if _, ok := getChecksum([]float32{0, 0x10000, 0, 0}); ok {
		t.Errorf("a limb of 2^16 (two ranks in one slot) read as valid")
	}
}

// TestChecksumIdenticalReplicasPass ensures replicas with identical
// weights pass every exchange, exchange exactly once per K steps, and end
// with the weights of a run without checksums.
func TestChecksumIdenticalReplicasPass(t *testing.T) {
	train, _, log1p := synthetic(600, 61)
	val, _, _ := synthetic(200, 62)
	cfg := smallConfig()
	cfg.MaxEpochs, cfg.Batch, cfg.Patience = 2, 100, -1 // 12 steps
	gl := gradLen(t, train.Cols, cfg)

	const n = 2
	ref := newLocalReducer(n)
	want := runShards(t, n, train, val, cfg, func(int) TrainOptions { return TrainOptions{Log1p: log1p} }, ref.replica)
	if want[0].err != nil {
		t.Fatal(want[0].err)
	}
	for _, tc := range []struct {
		replicas, every, exchanges int
	}{
		{2, 1, 12},
		{2, 3, 4},
		{2, 5, 2},
		{3, 3, 4},
	} {
		t.Run(fmt.Sprintf("%d replicas every %d", tc.replicas, tc.every), func(t *testing.T) {
			f := newRecordingReducer(tc.replicas, gl)
			res := runShards(t, tc.replicas, train, val, cfg, func(rank int) TrainOptions {
				return TrainOptions{Log1p: log1p, Rank: rank, Replicas: tc.replicas, ChecksumEvery: tc.every}
			}, f.replica)
			for rank, r := range res {
				if r.err != nil {
					t.Fatalf("replica %d: %v", rank, r.err)
				}
				if got := f.count(rank, checksumLimbs*tc.replicas); got != tc.exchanges {
					t.Errorf("replica %d made %d checksum exchanges, want %d (12 steps / %d)", rank, got, tc.exchanges, tc.every)
				}
				if got := f.count(rank, gl); got != 12 {
					t.Errorf("replica %d made %d gradient sums, want 12", rank, got)
				}
			}
			if tc.replicas == n && !sameBits(res[0].model.Params(), want[0].model.Params()) {
				t.Errorf("weights differ from the run without checksums")
			}
		})
	}
}

// TestChecksumCatchesDivergence ensures that when one replica's gradient
// sum comes back altered once, every replica fails at the next checksum
// step with ErrWeightsDiverged (not an interruption), naming the step and
// the odd rank, and that no replica fails before it.
func TestChecksumCatchesDivergence(t *testing.T) {
	train, _, log1p := synthetic(600, 63)
	val, _, _ := synthetic(200, 64)
	cfg := smallConfig()
	cfg.MaxEpochs, cfg.Batch, cfg.Patience = 2, 100, -1 // 12 steps
	gl := gradLen(t, train.Cols, cfg)
	for _, tc := range []struct {
		replicas, victim, every, perturbAt int
		wantStep                           int
		wantText                           string
	}{
		{2, 1, 1, 2, 2, "rank 1 checksum"},
		{2, 0, 3, 2, 3, "rank 0 checksum"},
		{3, 1, 3, 4, 6, "rank 1 checksum"},
		{3, 2, 5, 5, 5, "ranks 0,1 checksum"},
	} {
		t.Run(fmt.Sprintf("%d replicas every %d rank %d drifts at step %d", tc.replicas, tc.every, tc.victim, tc.perturbAt), func(t *testing.T) {
			f := newRecordingReducer(tc.replicas, gl)
			f.victim, f.perturbAt = tc.victim, tc.perturbAt
			res := runShards(t, tc.replicas, train, val, cfg, func(rank int) TrainOptions {
				return TrainOptions{Log1p: log1p, Rank: rank, Replicas: tc.replicas, ChecksumEvery: tc.every}
			}, f.replica)
			for rank, r := range res {
				var in *Interrupted
				switch {
				case r.err == nil:
					t.Fatalf("replica %d finished with drifted weights", rank)
				case !errors.Is(r.err, ErrWeightsDiverged) || errors.As(r.err, &in):
					t.Fatalf("replica %d: %v, want ErrWeightsDiverged and no interruption", rank, r.err)
				}
				msg := r.err.Error()
				if !strings.Contains(msg, fmt.Sprintf("step %d:", tc.wantStep)) || !strings.Contains(msg, tc.wantText) {
					t.Errorf("replica %d: %q, want it to name step %d and %q", rank, msg, tc.wantStep, tc.wantText)
				}
				if got := f.count(rank, gl); got != tc.wantStep {
					t.Errorf("replica %d made %d gradient sums, want to stop after step %d", rank, got, tc.wantStep)
				}
			}
		})
	}
}

// TestChecksumInterrupted ensures a reducer failure during the checksum
// exchange ends the run as an *Interrupted carrying the state after the
// step, from which the run resumes to the weights of an uninterrupted run.
func TestChecksumInterrupted(t *testing.T) {
	train, _, log1p := synthetic(600, 65)
	val, _, _ := synthetic(200, 66)
	cfg := smallConfig()
	cfg.MaxEpochs, cfg.Batch, cfg.Patience = 2, 100, -1
	gl := gradLen(t, train.Cols, cfg)
	const n = 2
	opts := func(rank int) TrainOptions {
		return TrainOptions{Log1p: log1p, Rank: rank, Replicas: n, ChecksumEvery: 4}
	}
	full := newLocalReducer(n)
	want := runShards(t, n, train, val, cfg, opts, full.replica)
	if want[0].err != nil {
		t.Fatal(want[0].err)
	}

	f := newRecordingReducer(n, gl)
	f.failLen = checksumLimbs * n
	res := runShards(t, n, train, val, cfg, opts, f.replica)
	var states [n]*TrainState
	for rank, r := range res {
		var in *Interrupted
		if !errors.As(r.err, &in) {
			t.Fatalf("replica %d: %v, want *Interrupted", rank, r.err)
		}
		if s := in.State; s.Epoch != 1 || s.Offset != 400 || s.Adam.Step != 4 || s.Done {
			t.Fatalf("replica %d interrupted at epoch %d row %d step %d (done %v), want epoch 1 row 400 step 4",
				rank, s.Epoch, s.Offset, s.Adam.Step, s.Done)
		}
		states[rank] = in.State
	}
	again := newLocalReducer(n)
	resumed := runShards(t, n, train, val, cfg, func(rank int) TrainOptions {
		o := opts(rank)
		o.Resume = states[rank]
		return o
	}, again.replica)
	for rank, r := range resumed {
		if r.err != nil {
			t.Fatalf("replica %d resumed: %v", rank, r.err)
		}
		if !sameBits(r.model.Params(), want[rank].model.Params()) {
			t.Errorf("replica %d resumed to other weights than the uninterrupted run", rank)
		}
	}
}

// TestChecksumRejectsBadPlacement ensures a Rank outside [0, Replicas),
// negative counts and a Replicas that does not match the replicas sharing
// the reducer fail before training with an error naming the option.
func TestChecksumRejectsBadPlacement(t *testing.T) {
	train, _, _ := synthetic(200, 67)
	cfg := smallConfig()
	cfg.MaxEpochs, cfg.Batch = 1, 100
	for _, tc := range []struct {
		name     string
		replicas int // sharing the reducer
		opts     func(rank int) TrainOptions
		want     string
	}{
		{"rank past replicas", 1, func(int) TrainOptions { return TrainOptions{Rank: 2, Replicas: 2, ChecksumEvery: 1} }, "Rank is 2, want it in [0, Replicas = 2)"},
		{"rank equals replicas", 1, func(int) TrainOptions { return TrainOptions{Rank: 1, Replicas: 1} }, "Rank is 1"},
		{"negative rank", 1, func(int) TrainOptions { return TrainOptions{Rank: -1, Replicas: 2} }, "Rank is -1"},
		{"negative replicas", 1, func(int) TrainOptions { return TrainOptions{Replicas: -2} }, "Replicas is -2"},
		{"negative every", 1, func(int) TrainOptions { return TrainOptions{ChecksumEvery: -3} }, "ChecksumEvery is -3"},
		{"alone but told two", 1, func(int) TrainOptions { return TrainOptions{Replicas: 2, ChecksumEvery: 1} }, "1 replicas reduce together, want TrainOptions.Replicas = 2"},
		{"two told three", 2, func(rank int) TrainOptions { return TrainOptions{Rank: rank, Replicas: 3, ChecksumEvery: 1} }, "2 replicas reduce together, want TrainOptions.Replicas = 3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			red := newLocalReducer(tc.replicas)
			res := runShards(t, tc.replicas, train, Data{Cols: train.Cols}, cfg, tc.opts, func(rank int) Reducer {
				if tc.replicas == 1 {
					return nil
				}
				return red.replica(rank)
			})
			for rank, r := range res {
				if r.err == nil || !strings.Contains(r.err.Error(), tc.want) {
					t.Errorf("replica %d: error %v, want it to say %q", rank, r.err, tc.want)
				}
			}
		})
	}
}
