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
					got[rank], errs[rank] = agree(context.Background(), r, rank, n, tc.own[rank], 1<<20)
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

// lyingSummer is a summer whose peers' contributions are faked: sums add
// extra to the slots of the call numbered call (the state size's), as a
// peer that puts garbage there would.
type lyingSummer struct {
	calls int
	call  int
	extra []float32
	bufs  [][]float32 // sizes of every buffer summed
}

func (l *lyingSummer) Sum(_ context.Context, buf []float32) error {
	if l.calls == l.call {
		for i := range buf {
			buf[i] += l.extra[i]
		}
	}
	l.calls++
	l.bufs = append(l.bufs, buf)
	return nil
}

// TestAgreeBoundsStateSize ensures a state size out of bounds, which a
// peer's garbage in the size slots would give, is refused before agree
// allocates anything of that size (audit 7 net #9).
func TestAgreeBoundsStateSize(t *testing.T) {
	for _, tc := range []struct {
		name  string
		limit int
		extra []float32 // added to the size limbs (hi, lo)
		ok    bool
	}{
		{"2^32-1 bytes", 1 << 20, []float32{0xffff, 0xffff}, false},
		{"just over the limit", 1 << 20, []float32{16, 1}, false},
		{"within the limit", 1 << 20, []float32{0, 100}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Rank 1 of 2 holds nothing; rank 0 (faked) is ahead, so
			// rank 1 expects its state. The first sum (the keys) says rank 0
			// holds epoch 3; the second (the size) carries the garbage.
			s := &lyingSummer{call: 1, extra: tc.extra}
			keys := &keySummer{inner: s}
			_, err := agree(context.Background(), keys, 1, 2, nil, tc.limit)
			if tc.ok {
				// The "state" is zeros, which gob cannot decode: an error,
				// but only after the allocation the limit allows.
				if len(s.bufs) != 3 {
					t.Fatalf("agree summed %d buffers, want 3 (keys, size, state): %v", len(s.bufs), err)
				}
				return
			}
			if err == nil {
				t.Fatal("agree took a state size over the limit")
			}
			if len(s.bufs) != 2 {
				t.Errorf("agree summed %d buffers, want 2: it must refuse before the state's sum", len(s.bufs))
			}
		})
	}
}

// keySummer makes the first sum say that rank 0 holds a state at epoch 3.
type keySummer struct {
	inner *lyingSummer
}

func (k *keySummer) Sum(ctx context.Context, buf []float32) error {
	if k.inner.calls == 0 {
		buf[0] = 1
		putLimbs(buf[1:3], 3)
	}
	return k.inner.Sum(ctx, buf)
}
