package model

import (
	"slices"
	"testing"
)

// TestEpochPermReusesSlice ensures an epoch's permutation depends only on
// the seed and the epoch, not on what the slice it is written into held,
// so the training loop can reuse one slice for every epoch; the expected
// permutations are those of the version that allocated one per epoch, so
// checkpoints written by it resume onto the same minibatches.
func TestEpochPermReusesSlice(t *testing.T) {
	tests := []struct {
		seed  uint64
		epoch int
		want  []int
	}{
		{seed: 1, epoch: 1, want: []int{7, 8, 4, 6, 0, 2, 3, 1, 5, 9}},
		{seed: 1, epoch: 2, want: []int{3, 2, 0, 1, 4, 9, 7, 6, 5, 8}},
		{seed: 7, epoch: 1, want: []int{3, 7, 8, 4, 9, 6, 0, 5, 1, 2}},
	}
	// One slice for all cases, in order, as the training loop uses it:
	// each case starts from the previous case's permutation.
	perm := make([]int, 10)
	for _, tt := range tests {
		epochPerm(perm, tt.seed, tt.epoch)
		if !slices.Equal(perm, tt.want) {
			t.Errorf("seed %d epoch %d into a reused slice: %v, want %v", tt.seed, tt.epoch, perm, tt.want)
		}
		fresh := make([]int, len(tt.want))
		epochPerm(fresh, tt.seed, tt.epoch)
		if !slices.Equal(fresh, tt.want) {
			t.Errorf("seed %d epoch %d into a new slice: %v, want %v", tt.seed, tt.epoch, fresh, tt.want)
		}
	}
}
