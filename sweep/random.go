package sweep

import (
	"context"
	"fmt"
	"slices"
)

// maxGrid bounds the grid's size: a bigger grid is a spec mistake.
const maxGrid = 1_000_000

// randomSampler draws scrambled-Sobol points: better spread than
// independent uniforms at the same cost. Dimensions beyond the Sobol table
// are filled with uniform draws.
type randomSampler struct {
	*base
	seq   *seqGen
	index uint64
}

// seqGen yields the scrambled Sobol sequence of a space, shared by the
// random sampler and the initial designs of the model-based ones.
type seqGen struct {
	sob *sobol
	dim int
}

func newSeqGen(b *base) (*seqGen, error) {
	sob, err := newSobol(min(b.space.Dim(), maxSobolDim), true, b.opts.Seed)
	if err != nil {
		return nil, err
	}
	return &seqGen{sob: sob, dim: b.space.Dim()}, nil
}

// next returns the point at *index and advances it; extra dimensions use
// b's RNG, whose state is part of the sampler's State.
func (g *seqGen) next(b *base, index *uint64) []float64 {
	u := make([]float64, g.dim)
	k := len(g.sob.v)
	g.sob.at(*index, u[:k])
	*index++
	for i := k; i < g.dim; i++ {
		u[i] = b.rng.Float64()
	}
	return u
}

// fresh draws until a point not yet taken shows up; false after many
// collisions, which only happens in a small, nearly used-up discrete space.
func (g *seqGen) fresh(b *base, index *uint64) ([]float64, bool) {
	for range 256 {
		u := g.next(b, index)
		cfg := b.space.FromUnit(u)
		snapped, err := b.space.ToUnit(cfg)
		if err == nil && !b.taken(snapped) {
			return u, true
		}
	}
	return nil, false
}

func newRandom(b *base) (*randomSampler, error) {
	seq, err := newSeqGen(b)
	if err != nil {
		return nil, fmt.Errorf("sweep: random sampler: %w", err)
	}
	return &randomSampler{base: b, seq: seq}, nil
}

func (r *randomSampler) Propose(ctx context.Context, n int) ([]Trial, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.propose(ctx, n, r.seq, &r.index, nil)
}

func (r *randomSampler) Observe(t Trial) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.observe(t)
}

func (r *randomSampler) State() ([]byte, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	st, err := r.state()
	if err != nil {
		return nil, err
	}
	st.Sobol = r.index
	return marshalState(st)
}

func (r *randomSampler) restore(st *samplerState) error {
	r.index = st.Sobol
	return r.base.restore(st)
}

// gridSampler walks the Cartesian product of every parameter's grid values,
// branching into conditional parameters only where they are active.
type gridSampler struct {
	*base
	points [][]float64
	next   int
}

func newGrid(b *base) (*gridSampler, error) {
	g := &gridSampler{base: b}
	params := b.space.Params()
	levels := make([][]float64, len(params))
	for i, p := range params {
		levels[i] = gridLevels(p)
	}
	u := make([]float64, len(params))
	cfg := Config{}
	var walk func(i int) error
	walk = func(i int) error {
		if i == len(params) {
			if len(g.points) == maxGrid {
				return fmt.Errorf("sweep: grid sampler: more than %d points; lower the grid sizes", maxGrid)
			}
			g.points = append(g.points, slices.Clone(u))
			return nil
		}
		p := params[i]
		if !b.space.active(i, cfg) {
			u[i] = 0.5
			return walk(i + 1)
		}
		for _, x := range levels[i] {
			u[i] = x
			cfg[p.Name] = p.decode(x)
			if err := walk(i + 1); err != nil {
				return err
			}
		}
		delete(cfg, p.Name)
		return nil
	}
	if err := walk(0); err != nil {
		return nil, err
	}
	return g, nil
}

// GridSize is the number of configurations a grid sampler over space
// walks: after that many trials it returns ErrExhausted.
func GridSize(space *Space) (int, error) {
	b, err := newBase(space, Options{Algorithm: AlgorithmGrid})
	if err != nil {
		return 0, err
	}
	g, err := newGrid(b)
	if err != nil {
		return 0, err
	}
	return len(g.points), nil
}

// gridLevels are the unit coordinates of a parameter's grid values: every
// category, every integer of a small range, else evenly spaced points (in
// log space for log parameters), deduplicated after rounding.
func gridLevels(p Param) []float64 {
	lo, hi := bounds(p)
	switch {
	case p.Type == Categorical:
		return levelsOf(p, len(p.Values), func(k int) float64 {
			return (float64(k) + 0.5) / float64(len(p.Values))
		})
	case p.Type == Int && p.Grid == 0 && hi-lo < 10:
		n := int(hi-lo) + 1
		return levelsOf(p, n, func(k int) float64 { x, _ := p.unit(lo + float64(k)); return x })
	}
	n := p.Grid
	if n == 0 {
		n = 5
	}
	if p.Type == Float {
		return levelsOf(p, n, func(k int) float64 { return float64(k) / float64(n-1) })
	}
	// Integers: spread over the cells of min and max, then snap to cell
	// centres so the grid holds exactly the values that run.
	a, _ := p.unit(lo)
	b, _ := p.unit(hi)
	return levelsOf(p, n, func(k int) float64 {
		x, _ := p.unit(p.decode(a + (b-a)*float64(k)/float64(n-1)))
		return x
	})
}

func levelsOf(p Param, n int, at func(k int) float64) []float64 {
	var out []float64
	for k := range n {
		x := at(k)
		if !slices.ContainsFunc(out, func(y float64) bool { return p.decode(y) == p.decode(x) }) {
			out = append(out, x)
		}
	}
	return out
}

func (g *gridSampler) Propose(ctx context.Context, n int) ([]Trial, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if err := checkN(ctx, n); err != nil {
		return nil, err
	}
	var out []Trial
	for len(out) < n && g.next < len(g.points) {
		u := g.points[g.next]
		g.next++
		if snapped, err := g.space.ToUnit(g.space.FromUnit(u)); err == nil && g.taken(snapped) {
			continue // observed already, as a warm start
		}
		out = append(out, g.add(u))
	}
	if n > 0 && len(out) == 0 {
		return nil, ErrExhausted
	}
	return out, nil
}

func (g *gridSampler) Observe(t Trial) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.observe(t)
}

func (g *gridSampler) State() ([]byte, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	st, err := g.state()
	if err != nil {
		return nil, err
	}
	st.Grid = g.next
	return marshalState(st)
}

func (g *gridSampler) restore(st *samplerState) error {
	if st.Grid < 0 || st.Grid > len(g.points) {
		return fmt.Errorf("grid index %d outside 0..%d", st.Grid, len(g.points))
	}
	g.next = st.Grid
	return g.base.restore(st)
}
