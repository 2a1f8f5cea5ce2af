package sweep

import (
	"math"
	"math/rand/v2"
	"reflect"
	"testing"
)

type report struct {
	id, step int
	loss     float64
	want     Decision // "" means an error is expected
}

func replay(t *testing.T, s Stopper, reports []report) {
	t.Helper()
	for i, r := range reports {
		got, err := s.Report(r.id, r.step, r.loss)
		if r.want == "" {
			if err == nil {
				t.Errorf("report %d (trial %d step %d): no error, want one", i, r.id, r.step)
			}
			continue
		}
		if err != nil || got != r.want {
			t.Errorf("report %d (trial %d step %d loss %v) = %v, %v; want %v", i, r.id, r.step, r.loss, got, err, r.want)
		}
	}
}

// ashaTable is a hand-worked sequence for rungs at 1 and 3 steps, eta 3:
// a trial continues when its loss is within the best len/3 at the rung, or
// the best while fewer than 3 are there.
var ashaTable = []report{
	{0, 1, 1.0, Continue}, // rung 1: [1.0]
	{1, 1, 0.8, Continue}, // [1.0 0.8]: best
	{2, 1, 1.2, Stop},     // [.. 1.2]: 3 values, top 1 is 0.8
	{0, 2, 0.9, Continue}, // between rungs
	{0, 3, 0.7, Continue}, // rung 3: [0.7]
	{3, 1, 0.5, Continue}, // rung 1 best
	{4, 1, 0.9, Stop},     // 5 values, top 1 is 0.5
	{5, 1, 0.85, Stop},    // 6 values, top 2 are 0.5 0.8
	{6, 1, 0.6, Continue}, // 7 values, top 2 are 0.5 0.6
	{1, 3, 0.75, Stop},    // skipped step 2; rung 3: [0.7 0.75]
	{3, 2, 0.45, Continue},
	{3, 3, 0.4, Continue},    // rung 3 best
	{0, 9, 0.6, Continue},    // past the last rung: runs to the end
	{7, 1, math.NaN(), Stop}, // diverged, not recorded
	{0, 9, 0.6, ""},          // steps must increase
	{8, 5, 0.3, Continue},    // first report crosses rungs 1 and 3, best at both
	{9, 4, 0.72, Stop},       // rung 1 holds 9 values, top 3 are 0.3 0.5 0.6
}

// TestASHADecisions ensures ASHA's stop and continue decisions follow the
// hand-worked table of trial curves, and its rungs are geometric.
func TestASHADecisions(t *testing.T) {
	a, err := NewASHA(ASHAOptions{MinResource: 1, MaxResource: 9, Eta: 3})
	if err != nil {
		t.Fatal(err)
	}
	if got := a.Rungs(); !reflect.DeepEqual(got, []int{1, 3}) {
		t.Fatalf("rungs %v, want [1 3]", got)
	}
	replay(t, a, ashaTable)
	b, _ := NewASHA(ASHAOptions{MinResource: 2, MaxResource: 100, Eta: 4})
	if got := b.Rungs(); !reflect.DeepEqual(got, []int{2, 8, 32}) {
		t.Errorf("rungs %v, want [2 8 32]", got)
	}
	for _, bad := range []ASHAOptions{{MaxResource: 1}, {MaxResource: 9, Eta: 1}, {MaxResource: 9, MinResource: -1}} {
		if _, err := NewASHA(bad); err == nil {
			t.Errorf("NewASHA(%+v) accepted", bad)
		}
	}
}

// TestASHASavesBudget ensures that on curves whose ranking holds at every
// step ASHA never stops the best trial, and spends well under half of the
// full budget.
func TestASHASavesBudget(t *testing.T) {
	const trials, maxR = 40, 27
	rng := rand.New(rand.NewPCG(5, 5))
	a, err := NewASHA(ASHAOptions{MaxResource: maxR})
	if err != nil {
		t.Fatal(err)
	}
	final := make([]float64, trials)
	bestID, used := 0, 0
	for i := range trials {
		final[i] = rng.Float64()
		if final[i] < final[bestID] {
			bestID = i
		}
	}
	// Trials run one after another: the asynchronous worst case, with no
	// rung full when the first trials arrive.
	stopped := make([]bool, trials)
	for i := range trials {
		for step := 1; step <= maxR; step++ {
			used++
			d, err := a.Report(i, step, final[i]+1/float64(step))
			if err != nil {
				t.Fatal(err)
			}
			if d == Stop {
				stopped[i] = true
				break
			}
		}
	}
	if stopped[bestID] {
		t.Errorf("best trial %d was stopped", bestID)
	}
	if frac := float64(used) / (trials * maxR); frac > 0.5 {
		t.Errorf("ASHA used %.0f%% of the full budget, want under 50%%", 100*frac)
	}
}

// TestASHAStateRoundTrip ensures an ASHA restored mid-table makes the same
// remaining decisions.
func TestASHAStateRoundTrip(t *testing.T) {
	a, _ := NewASHA(ASHAOptions{MinResource: 1, MaxResource: 9, Eta: 3})
	replay(t, a, ashaTable[:8])
	state, err := a.State()
	if err != nil {
		t.Fatal(err)
	}
	b, err := RestoreASHA(state)
	if err != nil {
		t.Fatal(err)
	}
	replay(t, b, ashaTable[8:])
	if _, err := RestoreASHA([]byte(`{"options":{"max_resource":9},"rungs":[]}`)); err == nil {
		t.Error("state with the wrong number of rungs accepted")
	}
}

// medianTable is hand-worked for MinTrials 2 and Warmup 1: a trial stops
// when its best loss so far is above the median of the other trials'
// losses at the same step.
var medianTable = []report{
	{0, 0, 1.0, Continue},  // warm-up
	{0, 1, 0.8, Continue},  // no other trial at step 1
	{1, 1, 0.6, Continue},  // one other: too few
	{2, 1, 0.9, Stop},      // median(0.8 0.6) = 0.7
	{3, 1, 0.7, Continue},  // median(0.8 0.6 0.9) = 0.8
	{3, 2, 0.65, Continue}, // nobody else at step 2
	{4, 0, 0.5, Continue},
	{4, 1, 0.75, Continue}, // best so far 0.5 <= median 0.75
	{5, 1, 0.76, Stop},     // median(0.8 0.6 0.9 0.7 0.75) = 0.75
	{5, 1, 0.7, ""},        // steps must increase
}

// TestMedianStopping ensures median stopping follows the hand-worked table
// and survives a state round trip.
func TestMedianStopping(t *testing.T) {
	m, err := NewMedian(MedianOptions{MinTrials: 2, Warmup: 1})
	if err != nil {
		t.Fatal(err)
	}
	replay(t, m, medianTable[:5])
	state, err := m.State()
	if err != nil {
		t.Fatal(err)
	}
	r, err := RestoreMedian(state)
	if err != nil {
		t.Fatal(err)
	}
	replay(t, r, medianTable[5:])
}
