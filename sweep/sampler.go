package sweep

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
)

// Status is where a trial stands.
type Status string

// Trial statuses.
const (
	Pending   Status = "pending"   // proposed, not yet reported
	Completed Status = "completed" // ran to the end; Value is its final objective
	Pruned    Status = "pruned"    // stopped early; Value is its last reported objective
	Failed    Status = "failed"    // gave no usable value
)

// Trial is one configuration to evaluate and, once reported, its outcome.
type Trial struct {
	ID     int     `json:"id"`
	Config Config  `json:"config"`
	Status Status  `json:"status"`
	Value  float64 `json:"value"` // objective to minimise, for Completed and Pruned trials
}

// Sampler proposes configurations and learns from their outcomes.
//
// A Sampler is safe for concurrent use, but its proposals depend on the
// order of calls: a coordinator that wants a reproducible sweep serialises
// them and stores State after each.
type Sampler interface {
	// Propose returns up to n new Pending trials with fresh IDs, distinct
	// from one another and from trials still pending, so n free workers get
	// n different points. Grid returns fewer when its grid runs out, and
	// ErrExhausted when nothing is left. It returns ctx's error when
	// cancelled.
	Propose(ctx context.Context, n int) ([]Trial, error)
	// Observe reports a trial's outcome. Completed and Pruned trials become
	// observations; a Failed trial only stops being pending. A trial the
	// sampler did not propose is accepted as an extra observation (a warm
	// start); observing the same ID twice is an error.
	Observe(t Trial) error
	// State serialises everything the sampler knows (options, observations,
	// pending trials, RNG state) as JSON; Restore continues from it exactly.
	State() ([]byte, error)
}

// ErrExhausted is returned by Propose when a grid has no points left.
var ErrExhausted = errors.New("sweep: search space exhausted")

// Algorithm names a sampler.
type Algorithm string

// The samplers.
const (
	AlgorithmGrid   Algorithm = "grid"
	AlgorithmRandom Algorithm = "random" // scrambled Sobol
	AlgorithmBayes  Algorithm = "bayes"  // Gaussian process + expected improvement
	AlgorithmTPE    Algorithm = "tpe"    // tree-structured Parzen estimator
)

// Options configure a sampler; zero fields take the defaults documented on
// each. They are stored in the sampler's State.
type Options struct {
	Algorithm Algorithm `json:"algorithm"`
	Seed      uint64    `json:"seed"`
	// InitialPoints are scrambled-Sobol trials before the model takes over
	// (bayes: max(5, dim+2); tpe: 10, as Optuna).
	InitialPoints int `json:"initial_points,omitempty"`
	// Candidates is the number of points scored per proposal (bayes: 1000
	// random points refined locally; tpe: 24 draws from l(x), as Optuna).
	Candidates int `json:"candidates,omitempty"`
	// Restarts is the number of random restarts of the Gaussian process's
	// hyperparameter fit, besides the warm start from the last fit (bayes:
	// 2, while there are at most 100 observations; none after).
	Restarts int `json:"restarts,omitempty"`
}

// New builds a sampler over space.
func New(space *Space, opts Options) (Sampler, error) {
	b, err := newBase(space, opts)
	if err != nil {
		return nil, err
	}
	switch opts.Algorithm {
	case AlgorithmGrid:
		return newGrid(b)
	case AlgorithmRandom:
		return newRandom(b)
	case AlgorithmBayes:
		return newBayes(b)
	case AlgorithmTPE:
		return newTPE(b)
	}
	return nil, fmt.Errorf("sweep: new sampler: algorithm %q: want grid, random, bayes or tpe", opts.Algorithm)
}

// Restore rebuilds a sampler from State's output over the same space; the
// restored sampler proposes exactly what the original would have.
func Restore(space *Space, state []byte) (Sampler, error) {
	var st samplerState
	if err := json.Unmarshal(state, &st); err != nil {
		return nil, fmt.Errorf("sweep: restore sampler: %w", err)
	}
	s, err := New(space, st.Options)
	if err != nil {
		return nil, fmt.Errorf("sweep: restore sampler: %w", err)
	}
	names := make([]string, space.Dim())
	for i, p := range space.Params() {
		names[i] = p.Name
	}
	if !slices.Equal(names, st.Params) {
		return nil, fmt.Errorf("sweep: restore sampler: state has parameters %v, space has %v", st.Params, names)
	}
	if err := s.(restorer).restore(&st); err != nil {
		return nil, fmt.Errorf("sweep: restore sampler: %w", err)
	}
	return s, nil
}

type restorer interface{ restore(*samplerState) error }

// samplerState is the JSON form of every sampler; fields a sampler does
// not use stay zero.
type samplerState struct {
	Options  Options   `json:"options"`
	Params   []string  `json:"params"`
	RNG      []byte    `json:"rng"`
	NextID   int       `json:"next_id"`
	Pending  []point   `json:"pending"`
	Observed []point   `json:"observed"`
	Sobol    uint64    `json:"sobol_index,omitempty"`
	Grid     int       `json:"grid_index,omitempty"`
	Hyper    []float64 `json:"gp_log_hyper,omitempty"`
}

// point is a trial in unit-hypercube coordinates; JSON keeps float64s
// exactly, so a restored sampler sees bit-identical inputs.
type point struct {
	ID    int       `json:"id"`
	U     []float64 `json:"u"`
	Value float64   `json:"value,omitempty"`
}

// base holds what every sampler shares: the space, the RNG and the trials.
type base struct {
	mu       sync.Mutex
	space    *Space
	opts     Options
	pcg      *rand.PCG
	rng      *rand.Rand
	nextID   int
	pending  []point
	observed []point
}

func newBase(space *Space, opts Options) (*base, error) {
	if space == nil {
		return nil, errors.New("sweep: new sampler: nil space")
	}
	if opts.InitialPoints < 0 || opts.Candidates < 0 || opts.Restarts < 0 {
		return nil, errors.New("sweep: new sampler: negative option")
	}
	pcg := rand.NewPCG(opts.Seed, 0x5eed)
	return &base{space: space, opts: opts, pcg: pcg, rng: rand.New(pcg)}, nil
}

// add records u as a new pending trial, snapped to the config it stands
// for so that models see the point that really runs.
func (b *base) add(u []float64) Trial {
	cfg := b.space.FromUnit(u)
	snapped, err := b.space.ToUnit(cfg)
	if err != nil {
		panic(fmt.Sprintf("sweep: FromUnit produced an invalid config: %v", err)) // a bug in Space
	}
	t := Trial{ID: b.nextID, Config: cfg, Status: Pending}
	b.nextID++
	b.pending = append(b.pending, point{ID: t.ID, U: snapped})
	return t
}

func (b *base) observe(t Trial) error {
	if slices.ContainsFunc(b.observed, func(p point) bool { return p.ID == t.ID }) {
		return fmt.Errorf("sweep: observe trial %d: already observed", t.ID)
	}
	var u []float64
	if t.Status == Completed || t.Status == Pruned {
		if math.IsNaN(t.Value) || math.IsInf(t.Value, 0) {
			return fmt.Errorf("sweep: observe trial %d: value %v is not finite (report it as failed)", t.ID, t.Value)
		}
		var err error
		if u, err = b.space.ToUnit(t.Config); err != nil {
			return fmt.Errorf("sweep: observe trial %d: %w", t.ID, err)
		}
		// A config that is not the one proposed under this ID means the
		// caller mixed up trials; the model would learn the wrong point.
		if i := slices.IndexFunc(b.pending, func(p point) bool { return p.ID == t.ID }); i >= 0 && !slices.Equal(b.pending[i].U, u) {
			return fmt.Errorf("sweep: observe trial %d: config %v is not the one proposed", t.ID, t.Config)
		}
	} else if t.Status != Failed {
		return fmt.Errorf("sweep: observe trial %d: status %q: want completed, pruned or failed", t.ID, t.Status)
	}
	b.pending = slices.DeleteFunc(b.pending, func(p point) bool { return p.ID == t.ID })
	b.nextID = max(b.nextID, t.ID+1)
	if u != nil {
		b.observed = append(b.observed, point{ID: t.ID, U: u, Value: t.Value})
	}
	return nil
}

func (b *base) state() (*samplerState, error) {
	rng, err := b.pcg.MarshalBinary()
	if err != nil {
		return nil, fmt.Errorf("sweep: sampler state: %w", err)
	}
	names := make([]string, b.space.Dim())
	for i, p := range b.space.Params() {
		names[i] = p.Name
	}
	return &samplerState{
		Options: b.opts, Params: names, RNG: rng, NextID: b.nextID,
		Pending: slices.Clone(b.pending), Observed: slices.Clone(b.observed),
	}, nil
}

func (b *base) restore(st *samplerState) error {
	if err := b.pcg.UnmarshalBinary(st.RNG); err != nil {
		return fmt.Errorf("rng: %w", err)
	}
	for _, p := range append(slices.Clone(st.Pending), st.Observed...) {
		if len(p.U) != b.space.Dim() {
			return fmt.Errorf("trial %d has %d coordinates, want %d", p.ID, len(p.U), b.space.Dim())
		}
	}
	b.nextID, b.pending, b.observed = st.NextID, st.Pending, st.Observed
	return nil
}

// taken reports whether u is already pending or observed: discrete
// parameters can make two model proposals snap to one config.
func (b *base) taken(u []float64) bool {
	same := func(p point) bool { return slices.Equal(p.U, u) }
	return slices.ContainsFunc(b.pending, same) || slices.ContainsFunc(b.observed, same)
}

// propose is the loop every Sobol-backed sampler runs: up to n trials, each
// the point model returns or, when model is nil or returns nil, the next
// fresh point of seq; ErrExhausted when n > 0 and none is left. The caller
// holds b.mu.
func (b *base) propose(ctx context.Context, n int, seq *seqGen, index *uint64, model func() []float64) ([]Trial, error) {
	if err := checkN(ctx, n); err != nil {
		return nil, err
	}
	var out []Trial
	for range n {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		var u []float64
		if model != nil {
			u = model()
		}
		if u == nil {
			var ok bool
			if u, ok = seq.fresh(b, index); !ok {
				break
			}
		}
		out = append(out, b.add(u))
	}
	if n > 0 && len(out) == 0 {
		return nil, ErrExhausted
	}
	return out, nil
}

func checkN(ctx context.Context, n int) error {
	if n < 0 {
		return fmt.Errorf("sweep: propose %d trials: want n >= 0", n)
	}
	return ctx.Err()
}

func marshalState(st *samplerState) ([]byte, error) {
	data, err := json.Marshal(st)
	if err != nil {
		return nil, fmt.Errorf("sweep: sampler state: %w", err)
	}
	return data, nil
}
