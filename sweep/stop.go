package sweep

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
)

// Decision is an early-stopping verdict on a running trial.
type Decision string

// The verdicts.
const (
	Continue Decision = "continue"
	Stop     Decision = "stop"
)

// Stopper decides, as trials report their validation loss, which to stop.
// Implementations are safe for concurrent use; their decisions depend on
// the order of reports, which the coordinator fixes by storing State after
// each.
type Stopper interface {
	// Report records trial id's validation loss after step units of
	// resource (epochs); a trial's steps must increase. A loss that is not
	// finite means the trial diverged: it is stopped and not recorded.
	Report(id, step int, loss float64) (Decision, error)
	// State serialises every recorded loss as JSON.
	State() ([]byte, error)
}

// ASHAOptions configure asynchronous successive halving.
type ASHAOptions struct {
	MinResource int `json:"min_resource"` // first rung, in steps (default 1)
	MaxResource int `json:"max_resource"` // the full budget; required
	Eta         int `json:"eta"`          // reduction factor (default 3)
}

// ASHA is asynchronous successive halving (Li et al. 2020) used as an
// early-stopping rule, as in Optuna and Ray Tune: rungs sit at MinResource ·
// Eta^k steps below MaxResource; a trial reaching a rung continues only if
// its loss there is among the best 1/Eta of the losses recorded at that
// rung so far (while fewer than Eta trials are recorded, only if it is the
// best). Nothing ever waits for a rung to fill, so workers stay busy.
type ASHA struct {
	mu    sync.Mutex
	opts  ASHAOptions
	rungs []int
	state ashaState
}

type ashaState struct {
	Options ASHAOptions    `json:"options"`
	Rungs   [][]rungRecord `json:"rungs"` // per rung, in order of arrival
	Last    []stepRecord   `json:"last"`  // every trial's last reported step
}

type rungRecord struct {
	ID   int     `json:"id"`
	Loss float64 `json:"loss"`
}

type stepRecord struct {
	ID   int `json:"id"`
	Step int `json:"step"`
}

// NewASHA validates opts, fills defaults and builds the rule.
func NewASHA(opts ASHAOptions) (*ASHA, error) {
	if opts.MinResource == 0 {
		opts.MinResource = 1
	}
	if opts.Eta == 0 {
		opts.Eta = 3
	}
	switch {
	case opts.MinResource < 1:
		return nil, fmt.Errorf("sweep: asha: min_resource %d: want >= 1", opts.MinResource)
	case opts.Eta < 2:
		return nil, fmt.Errorf("sweep: asha: eta %d: want >= 2", opts.Eta)
	case opts.MaxResource <= opts.MinResource:
		return nil, fmt.Errorf("sweep: asha: max_resource %d: want > min_resource %d", opts.MaxResource, opts.MinResource)
	}
	a := &ASHA{opts: opts}
	for r := opts.MinResource; r < opts.MaxResource; r *= opts.Eta {
		a.rungs = append(a.rungs, r)
	}
	a.state = ashaState{Options: opts, Rungs: make([][]rungRecord, len(a.rungs))}
	return a, nil
}

// RestoreASHA rebuilds an ASHA from its State.
func RestoreASHA(data []byte) (*ASHA, error) {
	var st ashaState
	if err := json.Unmarshal(data, &st); err != nil {
		return nil, fmt.Errorf("sweep: restore asha: %w", err)
	}
	a, err := NewASHA(st.Options)
	if err != nil {
		return nil, fmt.Errorf("sweep: restore asha: %w", err)
	}
	if len(st.Rungs) != len(a.rungs) {
		return nil, fmt.Errorf("sweep: restore asha: %d rungs in state, options give %d", len(st.Rungs), len(a.rungs))
	}
	a.state = st
	return a, nil
}

// Rungs returns the steps at which decisions are made.
func (a *ASHA) Rungs() []int { return slices.Clone(a.rungs) }

// Report implements Stopper.
func (a *ASHA) Report(id, step int, loss float64) (Decision, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	last := -1
	i := slices.IndexFunc(a.state.Last, func(r stepRecord) bool { return r.ID == id })
	if i >= 0 {
		last = a.state.Last[i].Step
	}
	if step <= last {
		return "", fmt.Errorf("sweep: asha: trial %d reported step %d after step %d", id, step, last)
	}
	if i >= 0 {
		a.state.Last[i].Step = step
	} else {
		a.state.Last = append(a.state.Last, stepRecord{id, step})
	}
	if math.IsNaN(loss) || math.IsInf(loss, 0) {
		return Stop, nil
	}
	// Every rung crossed since the last report is judged with this loss:
	// trials may report less often than every rung.
	for r, at := range a.rungs {
		if at <= last || at > step {
			continue
		}
		a.state.Rungs[r] = append(a.state.Rungs[r], rungRecord{id, loss})
		if !promotable(a.state.Rungs[r], loss, a.opts.Eta) {
			return Stop, nil
		}
	}
	return Continue, nil
}

// promotable reports whether loss is within the best 1/eta of the rung,
// or the best while fewer than eta trials are there.
func promotable(rung []rungRecord, loss float64, eta int) bool {
	losses := make([]float64, len(rung))
	for i, r := range rung {
		losses[i] = r.Loss
	}
	slices.Sort(losses)
	k := max(len(losses)/eta-1, 0)
	return loss <= losses[k]
}

// State implements Stopper.
func (a *ASHA) State() ([]byte, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	data, err := json.Marshal(a.state)
	if err != nil {
		return nil, fmt.Errorf("sweep: asha state: %w", err)
	}
	return data, nil
}

// MedianOptions configure median stopping.
type MedianOptions struct {
	// MinTrials is how many other trials must have reported a step before
	// any trial is stopped there (default 5).
	MinTrials int `json:"min_trials"`
	// Warmup is the number of steps during which no trial is stopped.
	Warmup int `json:"warmup"`
}

// Median is median stopping (Golovin et al. 2017, as Optuna's
// MedianPruner): a trial is stopped at a step when its best loss so far is
// worse than the median of the losses other trials reported at that step.
type Median struct {
	mu    sync.Mutex
	state medianState
}

type medianState struct {
	Options MedianOptions `json:"options"`
	Curves  []curve       `json:"curves"` // in order of first report
}

type curve struct {
	ID     int       `json:"id"`
	Steps  []int     `json:"steps"`
	Losses []float64 `json:"losses"`
}

// NewMedian validates opts, fills defaults and builds the rule.
func NewMedian(opts MedianOptions) (*Median, error) {
	if opts.MinTrials == 0 {
		opts.MinTrials = 5
	}
	if opts.MinTrials < 1 || opts.Warmup < 0 {
		return nil, errors.New("sweep: median: min_trials must be >= 1 and warmup >= 0")
	}
	return &Median{state: medianState{Options: opts}}, nil
}

// RestoreMedian rebuilds a Median from its State.
func RestoreMedian(data []byte) (*Median, error) {
	var st medianState
	if err := json.Unmarshal(data, &st); err != nil {
		return nil, fmt.Errorf("sweep: restore median: %w", err)
	}
	m, err := NewMedian(st.Options)
	if err != nil {
		return nil, fmt.Errorf("sweep: restore median: %w", err)
	}
	m.state = st
	return m, nil
}

// Report implements Stopper.
func (m *Median) Report(id, step int, loss float64) (Decision, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	i := slices.IndexFunc(m.state.Curves, func(c curve) bool { return c.ID == id })
	if i < 0 {
		m.state.Curves = append(m.state.Curves, curve{ID: id})
		i = len(m.state.Curves) - 1
	}
	c := &m.state.Curves[i]
	if n := len(c.Steps); n > 0 && step <= c.Steps[n-1] {
		return "", fmt.Errorf("sweep: median: trial %d reported step %d after step %d", id, step, c.Steps[n-1])
	}
	if math.IsNaN(loss) || math.IsInf(loss, 0) {
		return Stop, nil
	}
	c.Steps, c.Losses = append(c.Steps, step), append(c.Losses, loss)
	if step < m.state.Options.Warmup {
		return Continue, nil
	}
	var others []float64
	for _, o := range m.state.Curves {
		if o.ID == id {
			continue
		}
		if k, ok := slices.BinarySearch(o.Steps, step); ok {
			others = append(others, o.Losses[k])
		}
	}
	if len(others) < m.state.Options.MinTrials {
		return Continue, nil
	}
	slices.Sort(others)
	median := others[len(others)/2]
	if len(others)%2 == 0 {
		median = (others[len(others)/2-1] + others[len(others)/2]) / 2
	}
	if slices.Min(c.Losses) > median {
		return Stop, nil
	}
	return Continue, nil
}

// State implements Stopper.
func (m *Median) State() ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	data, err := json.Marshal(m.state)
	if err != nil {
		return nil, fmt.Errorf("sweep: median state: %w", err)
	}
	return data, nil
}
