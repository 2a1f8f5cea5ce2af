package model

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"
)

// localReducer sums the buffers of n in-process replicas. The last replica
// to arrive adds the contributions in rank order, so every replica gets
// bit-identical sums, as a ring allreduce guarantees.
type localReducer struct {
	mu      sync.Mutex
	cond    *sync.Cond
	n       int
	parts   [][]float32
	arrived int
	round   int
	result  []float32
	err     error
}

func newLocalReducer(n int) *localReducer {
	r := &localReducer{n: n, parts: make([][]float32, n)}
	r.cond = sync.NewCond(&r.mu)
	return r
}

// replica returns the Reducer of one rank.
func (r *localReducer) replica(rank int) Reducer { return rankReducer{r, rank} }

type rankReducer struct {
	r    *localReducer
	rank int
}

func (rr rankReducer) Sum(ctx context.Context, buf []float32) error {
	r := rr.r
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return r.err
	}
	round := r.round
	r.parts[rr.rank] = append([]float32(nil), buf...)
	r.arrived++
	if r.arrived == r.n {
		sum := make([]float32, len(buf))
		for _, p := range r.parts {
			if len(p) != len(buf) {
				r.err = errors.New("replicas reduced buffers of different lengths")
				break
			}
			for i, v := range p {
				sum[i] += v
			}
		}
		r.result, r.arrived = sum, 0
		r.round++
		r.cond.Broadcast()
	} else {
		for r.round == round && r.err == nil {
			r.cond.Wait()
		}
	}
	if r.err != nil {
		return r.err
	}
	copy(buf, r.result)
	return nil
}

// shard gives replica rank of n the rows i with i%n == rank.
func shard(d Data, rank, n int) (Data, []int) {
	out := Data{Cols: d.Cols}
	var index []int
	for i := rank; i < d.Rows; i += n {
		out.X = append(out.X, d.X[i*d.Cols:(i+1)*d.Cols]...)
		out.Y = append(out.Y, d.Y[i])
		index = append(index, i)
		out.Rows++
	}
	return out, index
}

// TestTrainShardMatchesSingleProcess ensures that 1, 2 and 4 data-parallel
// replicas with the same seed and global batch reach the weights of a
// single process (within 1e-5 relative) and identical weights on every
// replica.
func TestTrainShardMatchesSingleProcess(t *testing.T) {
	train, _, log1p := synthetic(1500, 21)
	val, _, _ := synthetic(400, 22)
	cfg := smallConfig()
	cfg.MaxEpochs = 4
	cfg.Batch = 128
	opts := TrainOptions{Log1p: log1p}
	ref, refHist, err := Train(t.Context(), testBackendThreads(t, 1), train, val, cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	want := ref.Params()
	for _, n := range []int{1, 2, 4} {
		t.Run(fmt.Sprintf("%d replicas", n), func(t *testing.T) {
			res := runShards(t, n, train, val, cfg, func(int) TrainOptions { return opts }, newLocalReducer(n).replica)
			for rank, r := range res {
				if r.err != nil {
					t.Fatalf("replica %d: %v", rank, r.err)
				}
			}
			got := res[0].model.Params()
			for rank := 1; rank < n; rank++ {
				other := res[rank].model.Params()
				for i := range got {
					if math.Float32bits(got[i]) != math.Float32bits(other[i]) {
						t.Fatalf("replica %d parameter %d = %v, replica 0 has %v: replicas diverged", rank, i, other[i], got[i])
					}
				}
			}
			if rel := relDiff(got, want); rel > 1e-5 {
				t.Errorf("parameters differ from the single process by %.3g relative (L2), want <= 1e-5", rel)
			}
			if res[0].hist.BestEpoch != refHist.BestEpoch {
				t.Errorf("best epoch %d, single process %d", res[0].hist.BestEpoch, refHist.BestEpoch)
			}
			if d := math.Abs(res[0].hist.BestValLoss - refHist.BestValLoss); d > 1e-5*math.Abs(refHist.BestValLoss) {
				t.Errorf("best validation loss %v, single process %v", res[0].hist.BestValLoss, refHist.BestValLoss)
			}
		})
	}
}

// TestTrainShardRejectsBadShards ensures inconsistent shards fail with an
// error naming the problem instead of training on the wrong rows.
func TestTrainShardRejectsBadShards(t *testing.T) {
	train, _, _ := synthetic(10, 1)
	cfg := smallConfig()
	cfg.MaxEpochs = 1
	for _, tc := range []struct {
		name  string
		index []int
		rows  int
		want  string
	}{
		{"short index", []int{0, 1}, 10, "2 global row numbers for 10"},
		{"out of range", []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 10}, 10, "global number 10"},
		{"duplicate", []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 8}, 10, "appears twice"},
		{"missing rows", []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, 12, "want TrainRows = 12"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := TrainShard(t.Context(), testBackend(t), Shard{Train: train, TrainIndex: tc.index, TrainRows: tc.rows}, nil, cfg, TrainOptions{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to mention %q", err, tc.want)
			}
		})
	}
}

// failingReducer sums like localReducer until call number failAt, where it
// fails every replica, as a ring does when a peer dies.
type failingReducer struct {
	*localReducer
	failAt int
	calls  []int
}

func (f *failingReducer) replica(rank int) Reducer { return &failingRank{f, rank} }

type failingRank struct {
	f    *failingReducer
	rank int
}

func (fr *failingRank) Sum(ctx context.Context, buf []float32) error {
	fr.f.calls[fr.rank]++
	if fr.f.calls[fr.rank] == fr.f.failAt {
		return errors.New("peer vanished")
	}
	return rankReducer{fr.f.localReducer, fr.rank}.Sum(ctx, buf)
}

// TestTrainShardResumes ensures a run interrupted mid-epoch on 2 replicas
// resumes from the Interrupted state on a different number of replicas
// (1, as after losing a peer, and 3, as after two joins) and ends where an
// uninterrupted run ends.
func TestTrainShardResumes(t *testing.T) {
	train, _, log1p := synthetic(1200, 31)
	val, _, _ := synthetic(300, 32)
	cfg := smallConfig()
	cfg.MaxEpochs, cfg.Batch = 3, 100
	opts := TrainOptions{Log1p: log1p}
	ref, _, err := Train(t.Context(), testBackendThreads(t, 1), train, val, cfg, opts)
	if err != nil {
		t.Fatal(err)
	}

	// 2 replicas, 12 steps per epoch. Reduce calls: 1 statistics, 2-13 the
	// steps of epoch 1, 14 its validation loss, 15- the steps of epoch 2; so
	// call 20 is epoch 2's step 6, after 5 completed steps (500 rows).
	f := &failingReducer{localReducer: newLocalReducer(2), failAt: 20, calls: make([]int, 2)}
	states := runReplicas(t, 2, train, val, cfg, opts, func(rank int) Reducer { return f.replica(rank) })
	for rank, st := range states {
		if st == nil {
			t.Fatalf("replica %d was not interrupted", rank)
		}
	}
	st := states[0]
	if st.Epoch != 2 || st.Offset != 500 {
		t.Fatalf("interrupted at epoch %d row %d, want epoch 2 row 500", st.Epoch, st.Offset)
	}
	for i := range st.Params {
		if math.Float32bits(st.Params[i]) != math.Float32bits(states[1].Params[i]) {
			t.Fatalf("replicas' interrupted states differ at parameter %d", i)
		}
	}

	for _, n := range []int{1, 3} {
		t.Run(fmt.Sprintf("on %d replicas", n), func(t *testing.T) {
			resumed := opts
			resumed.Resume = st
			red := newLocalReducer(n)
			models := trainReplicas(t, n, train, val, cfg, resumed, func(rank int) Reducer {
				if n == 1 {
					return nil
				}
				return red.replica(rank)
			})
			if rel := relDiff(models[0].Params(), ref.Params()); rel > 1e-5 {
				t.Errorf("resumed run ends %.3g (relative L2) from the uninterrupted one, want <= 1e-5", rel)
			}
		})
	}
}

// runReplicas trains n replicas and returns each one's Interrupted state
// (nil for a replica that finished).
func runReplicas(t *testing.T, n int, train, val Data, cfg Config, opts TrainOptions, red func(int) Reducer) []*TrainState {
	t.Helper()
	states := make([]*TrainState, n)
	var wg sync.WaitGroup
	for rank := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tr, idx := shard(train, rank, n)
			va, _ := shard(val, rank, n)
			_, _, err := TrainShard(context.Background(), testBackendThreads(t, 1), Shard{Train: tr, Val: va, TrainIndex: idx, TrainRows: train.Rows}, red(rank), cfg, opts)
			var ie *Interrupted
			if errors.As(err, &ie) {
				states[rank] = ie.State
			} else if err != nil {
				t.Errorf("replica %d: %v", rank, err)
			}
		}()
	}
	wg.Wait()
	return states
}

// trainReplicas trains n replicas to the end and returns their models.
func trainReplicas(t *testing.T, n int, train, val Data, cfg Config, opts TrainOptions, red func(int) Reducer) []*Model {
	t.Helper()
	models := make([]*Model, n)
	for rank, r := range runShards(t, n, train, val, cfg, func(int) TrainOptions { return opts }, red) {
		if r.err != nil {
			t.Fatalf("replica %d: %v", rank, r.err)
		}
		models[rank] = r.model
	}
	return models
}

// shardResult is what one replica's TrainShard returned.
type shardResult struct {
	model *Model
	hist  History
	err   error
}

// runShards trains n replicas (replica rank holds the rows i with
// i%n == rank) with per-rank options and reducers, and returns what each
// returned.
func runShards(t *testing.T, n int, train, val Data, cfg Config, opts func(rank int) TrainOptions, red func(rank int) Reducer) []shardResult {
	t.Helper()
	out := make([]shardResult, n)
	var wg sync.WaitGroup
	for rank := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tr, idx := shard(train, rank, n)
			va, _ := shard(val, rank, n)
			sh := Shard{Train: tr, Val: va, TrainIndex: idx, TrainRows: train.Rows}
			r := &out[rank]
			r.model, r.hist, r.err = TrainShard(context.Background(), testBackendThreads(t, 1), sh, red(rank), cfg, opts(rank))
		}()
	}
	wg.Wait()
	return out
}

// relDiff is ||a-b|| / ||b|| in L2.
func relDiff(a, b []float32) float64 {
	var diff, norm float64
	for i := range b {
		d := float64(a[i] - b[i])
		diff += d * d
		norm += float64(b[i]) * float64(b[i])
	}
	return math.Sqrt(diff / norm)
}

// TestCheckpointResumeIsExact ensures a single process resumed from a state
// written through Checkpoint ends bit-identical to the uninterrupted run.
func TestCheckpointResumeIsExact(t *testing.T) {
	train, _, log1p := synthetic(800, 41)
	val, _, _ := synthetic(200, 42)
	cfg := smallConfig()
	cfg.MaxEpochs, cfg.Batch = 3, 100
	var saved []*TrainState
	opts := TrainOptions{Log1p: log1p, CheckpointEvery: 5, Checkpoint: func(s *TrainState) error {
		saved = append(saved, s)
		return nil
	}}
	ref, refHist, err := Train(t.Context(), testBackendThreads(t, 1), train, val, cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(saved) != 4 { // 24 steps
		t.Fatalf("%d checkpoints, want 4 (every 5 of 24 steps)", len(saved))
	}
	resume := TrainOptions{Log1p: log1p, Resume: saved[2]}
	got, hist, err := Train(t.Context(), testBackendThreads(t, 1), train, val, cfg, resume)
	if err != nil {
		t.Fatal(err)
	}
	a, b := got.Params(), ref.Params()
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			t.Fatalf("parameter %d = %v after resuming, %v without interruption", i, a[i], b[i])
		}
	}
	if len(hist.Epochs) != len(refHist.Epochs) || hist.BestEpoch != refHist.BestEpoch {
		t.Fatalf("history %d epochs best %d, want %d best %d", len(hist.Epochs), hist.BestEpoch, len(refHist.Epochs), refHist.BestEpoch)
	}
}

// poisonRank adds NaN to its replica's gradient at Sum call number at, as
// a faulty peer would, then sums like localReducer.
type poisonRank struct {
	red   *localReducer
	rank  int
	at    int
	calls int
}

func (p *poisonRank) Sum(ctx context.Context, buf []float32) error {
	p.calls++
	if p.calls == p.at {
		buf[0] = float32(math.NaN())
	}
	return rankReducer{p.red, p.rank}.Sum(ctx, buf)
}

// TestTrainShardRefusesNonFiniteSum ensures a NaN that one replica puts
// into the allreduce stops every replica at that step, naming the sum, and
// is never stepped into the weights.
func TestTrainShardRefusesNonFiniteSum(t *testing.T) {
	train, _, log1p := synthetic(400, 41)
	cfg := smallConfig()
	cfg.MaxEpochs, cfg.Batch = 2, 100
	red := newLocalReducer(2)
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for rank := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			at := 0
			if rank == 1 {
				at = 3 // call 1 is the statistics, so 3 is the second step
			}
			tr, idx := shard(train, rank, 2)
			_, _, errs[rank] = TrainShard(context.Background(), testBackendThreads(t, 1),
				Shard{Train: tr, TrainIndex: idx, TrainRows: train.Rows}, &poisonRank{red: red, rank: rank, at: at}, cfg, TrainOptions{Log1p: log1p})
		}()
	}
	wg.Wait()
	for rank, err := range errs {
		if err == nil || !strings.Contains(err.Error(), "step 2: the allreduced gradient is not finite") {
			t.Errorf("replica %d: error %v, want the step-2 sum named as not finite", rank, err)
		}
	}
}
