package worker

import (
	"context"
	"math"
	"reflect"
	"sync"
	"testing"

	"github.com/cohort-clv/cohort/allreduce"
	"github.com/cohort-clv/cohort/model"
)

// state is a small TrainState at a given epoch and row offset.
func state(epoch, offset int, fill float32) *model.TrainState {
	return &model.TrainState{
		Pipeline: model.Pipeline{FeatureNames: []string{"a", "b"}, Log1p: []bool{true, false}, Mean: []float32{1, 2}, Std: []float32{3, 4}},
		Params:   []float32{fill, -0.5, float32(math.SmallestNonzeroFloat32)},
		Adam:     model.AdamState{Step: epoch*10 + offset, M: []float32{fill}, V: []float32{fill * fill}},
		Epoch:    epoch, Offset: offset, LossSum: 1.25,
		History: model.History{BestEpoch: 0, BestValLoss: math.Inf(1),
			Epochs: []model.EpochStats{{Epoch: 1, TrainLoss: 0.5, ValLoss: math.NaN()}}},
	}
}

// TestAgree ensures the survivors of a generation all resume from the
// furthest state any of them holds, bit for bit, and keep their own when
// they already agree.
func TestAgree(t *testing.T) {
	for _, tc := range []struct {
		name string
		own  []*model.TrainState
		want int // rank whose state everyone ends with; -1: nil everywhere
	}{
		{"same", []*model.TrainState{state(3, 512, 7), state(3, 512, 7), state(3, 512, 7)}, 0},
		{"one step ahead", []*model.TrainState{state(3, 256, 1), state(3, 512, 2), state(3, 256, 1)}, 1},
		{"past the epoch end", []*model.TrainState{state(2, 1400, 1), state(2, 1400, 1), state(3, 0, 3)}, 2},
		{"before the first step", []*model.TrainState{nil, state(1, 256, 5), nil}, 1},
		{"none", []*model.TrainState{nil, nil}, -1},
		{"large offsets", []*model.TrainState{state(70000, 1<<30, 1), state(70000, 1<<30+256, 9)}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := len(tc.own)
			local := allreduce.NewLocal(n)
			got := make([]*model.TrainState, n)
			errs := make([]error, n)
			var wg sync.WaitGroup
			for rank := range n {
				wg.Go(func() {
					r, err := allreduce.New(allreduce.Config{Rank: rank, Size: n, Job: "agree", Generation: 2, Transport: local.Endpoint(rank)})
					if err != nil {
						errs[rank] = err
						return
					}
					got[rank], errs[rank] = agree(context.Background(), r, rank, n, tc.own[rank])
				})
			}
			wg.Wait()
			for rank := range n {
				if errs[rank] != nil {
					t.Fatalf("rank %d: %v", rank, errs[rank])
				}
				if tc.want < 0 {
					if got[rank] != nil {
						t.Errorf("rank %d resumes from epoch %d, want no state", rank, got[rank].Epoch)
					}
					continue
				}
				want := tc.own[tc.want]
				if got[rank] == nil || !sameState(got[rank], want) {
					t.Errorf("rank %d resumes from %+v, want rank %d's %+v", rank, got[rank], tc.want, want)
				}
			}
		})
	}
}

// sameState compares states bit for bit (NaN equal to NaN).
func sameState(a, b *model.TrainState) bool {
	ha, hb := a.History, b.History
	if len(ha.Epochs) != len(hb.Epochs) {
		return false
	}
	for i := range ha.Epochs {
		ea, eb := ha.Epochs[i], hb.Epochs[i]
		if math.Float64bits(ea.ValLoss) != math.Float64bits(eb.ValLoss) {
			return false
		}
		ea.ValLoss, eb.ValLoss = 0, 0
		if ea != eb {
			return false
		}
	}
	ha.Epochs, hb.Epochs = nil, nil
	ca, cb := *a, *b
	ca.History, cb.History = ha, hb
	return reflect.DeepEqual(ca, cb)
}
