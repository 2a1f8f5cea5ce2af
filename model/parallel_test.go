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
			red := newLocalReducer(n)
			models := make([]*Model, n)
			hists := make([]History, n)
			errs := make([]error, n)
			var wg sync.WaitGroup
			for rank := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					tr, idx := shard(train, rank, n)
					va, _ := shard(val, rank, n)
					sh := Shard{Train: tr, Val: va, TrainIndex: idx, TrainRows: train.Rows}
					models[rank], hists[rank], errs[rank] = TrainShard(context.Background(), testBackendThreads(t, 1), sh, red.replica(rank), cfg, opts)
				}()
			}
			wg.Wait()
			for rank, err := range errs {
				if err != nil {
					t.Fatalf("replica %d: %v", rank, err)
				}
			}
			got := models[0].Params()
			for rank := 1; rank < n; rank++ {
				other := models[rank].Params()
				for i := range got {
					if math.Float32bits(got[i]) != math.Float32bits(other[i]) {
						t.Fatalf("replica %d parameter %d = %v, replica 0 has %v: replicas diverged", rank, i, other[i], got[i])
					}
				}
			}
			var diff, norm float64
			for i := range want {
				d := float64(got[i] - want[i])
				diff += d * d
				norm += float64(want[i]) * float64(want[i])
			}
			if rel := math.Sqrt(diff / norm); rel > 1e-5 {
				t.Errorf("parameters differ from the single process by %.3g relative (L2), want <= 1e-5", rel)
			}
			if hists[0].BestEpoch != refHist.BestEpoch {
				t.Errorf("best epoch %d, single process %d", hists[0].BestEpoch, refHist.BestEpoch)
			}
			if d := math.Abs(hists[0].BestValLoss - refHist.BestValLoss); d > 1e-5*math.Abs(refHist.BestValLoss) {
				t.Errorf("best validation loss %v, single process %v", hists[0].BestValLoss, refHist.BestValLoss)
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
