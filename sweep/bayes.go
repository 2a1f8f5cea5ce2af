package sweep

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"

	"gonum.org/v1/gonum/optimize"
)

// bayesSampler is Bayesian optimisation: a Gaussian process (Matérn 5/2,
// ARD, hyperparameters by maximum a posteriori) on the unit hypercube and
// expected improvement, maximised over random and local candidates and then
// refined with Nelder–Mead. Parallel proposals use the constant liar
// (Ginsbourger et al. 2010): each pending trial is added to the model with
// the mean observed value, which collapses the posterior variance there, so
// the next proposal goes elsewhere.
// restartsUpTo is the number of observations beyond which the
// hyperparameter fit only warm-starts.
const restartsUpTo = 100

type bayesSampler struct {
	*base
	seq   *seqGen
	index uint64
	hyper []float64 // log hyperparameters of the last fit: the next fit's warm start
}

func newBayes(b *base) (*bayesSampler, error) {
	seq, err := newSeqGen(b)
	if err != nil {
		return nil, fmt.Errorf("sweep: bayes sampler: %w", err)
	}
	if b.opts.InitialPoints == 0 {
		b.opts.InitialPoints = max(5, b.space.Dim()+2)
	}
	if b.opts.Candidates == 0 {
		b.opts.Candidates = 1000
	}
	if b.opts.Restarts == 0 {
		b.opts.Restarts = 2
	}
	return &bayesSampler{base: b, seq: seq}, nil
}

func (s *bayesSampler) Propose(ctx context.Context, n int) ([]Trial, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fitted := false
	return s.propose(ctx, n, s.seq, &s.index, func() []float64 {
		if len(s.observed)+len(s.pending) < s.opts.InitialPoints || len(s.observed) < 2 {
			return nil
		}
		if !fitted {
			s.fit(ctx)
			fitted = true
		}
		return s.maximiseEI(ctx)
	})
}

// standardised returns the observed inputs and standardised outputs, with
// every pending trial appended at the lie (0, the observed mean).
func (s *bayesSampler) standardised() (x [][]float64, y []float64, best float64) {
	var mean, sq float64
	for _, p := range s.observed {
		mean += p.Value
	}
	mean /= float64(len(s.observed))
	for _, p := range s.observed {
		sq += (p.Value - mean) * (p.Value - mean)
	}
	sd := math.Sqrt(sq / float64(len(s.observed)))
	if sd == 0 {
		sd = 1
	}
	best = math.Inf(1)
	for _, p := range s.observed {
		x = append(x, p.U)
		y = append(y, (p.Value-mean)/sd)
		best = min(best, y[len(y)-1])
	}
	for _, p := range s.pending {
		x = append(x, p.U)
		y = append(y, 0)
	}
	return x, y, best
}

// fit refreshes the hyperparameters on the real observations only; lies
// would pull the noise estimate towards them.
func (s *bayesSampler) fit(ctx context.Context) {
	x, y, _ := s.standardised()
	x, y = x[:len(s.observed)], y[:len(s.observed)]
	warm := s.hyper
	if len(warm) != s.space.Dim()+2 {
		warm = defaultHyper(s.space.Dim())
	}
	// Random restarts guard against a poor local optimum while data is
	// scarce; past that the warm start tracks the optimum and restarts
	// would cost O(n³) per step for nothing.
	restarts := s.opts.Restarts
	if len(x) > restartsUpTo {
		restarts = 0
	}
	s.hyper = fitHyper(ctx, x, y, warm, restarts, s.rng)
}

type scored struct {
	u  []float64
	ei float64
}

// maximiseEI returns the untaken point of highest expected improvement
// found, or nil when the model cannot be built.
func (s *bayesSampler) maximiseEI(ctx context.Context) []float64 {
	x, y, best := s.standardised()
	g, ok := newGP(x, y, s.hyper)
	if !ok {
		return nil
	}
	d := s.space.Dim()
	work := make([]float64, len(x))
	ei := func(u []float64) float64 {
		mu, sd := g.predict(u, work)
		return expectedImprovement(mu, sd, best)
	}
	// Candidates: uniform points for exploration, and Gaussian steps around
	// the best observations, where improvement usually is.
	top := slices.SortedFunc(slices.Values(s.observed), func(a, b point) int { return cmp.Compare(a.Value, b.Value) })
	top = top[:min(5, len(top))]
	cands := make([]scored, 0, s.opts.Candidates)
	for i := range s.opts.Candidates {
		u := make([]float64, d)
		if i%2 == 0 {
			for k := range u {
				u[k] = s.rng.Float64()
			}
		} else {
			c := top[(i/2)%len(top)].U
			for k := range u {
				u[k] = min(max(c[k]+0.1*s.rng.NormFloat64()*min(g.lengths[k], 1), 0), 1)
			}
		}
		cands = append(cands, scored{u, ei(u)})
	}
	slices.SortStableFunc(cands, func(a, b scored) int { return cmp.Compare(b.ei, a.ei) })
	// Refine the three best with Nelder–Mead on the clamped box.
	for i := range min(3, len(cands)) {
		if ctx.Err() != nil {
			break
		}
		clamp := func(u []float64) []float64 {
			c := make([]float64, len(u))
			for k := range u {
				c[k] = min(max(u[k], 0), 1)
			}
			return c
		}
		prob := optimize.Problem{Func: func(u []float64) float64 { return -ei(clamp(u)) }}
		settings := &optimize.Settings{FuncEvaluations: 40 * d}
		// An error only means the budget ran out; the best point still counts.
		res, _ := optimize.Minimize(prob, cands[i].u, settings, &optimize.NelderMead{SimplexSize: 0.05})
		if res != nil && -res.F > cands[i].ei {
			cands[i] = scored{clamp(res.X), -res.F}
		}
	}
	slices.SortStableFunc(cands, func(a, b scored) int { return cmp.Compare(b.ei, a.ei) })
	for _, c := range cands {
		snapped, err := s.space.ToUnit(s.space.FromUnit(c.u))
		if err == nil && !s.taken(snapped) {
			return c.u
		}
	}
	return nil
}

func (s *bayesSampler) Observe(t Trial) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.observe(t)
}

func (s *bayesSampler) State() ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, err := s.state()
	if err != nil {
		return nil, err
	}
	st.Sobol, st.Hyper = s.index, s.hyper
	return marshalState(st)
}

func (s *bayesSampler) restore(st *samplerState) error {
	if st.Hyper != nil && len(st.Hyper) != s.space.Dim()+2 {
		return fmt.Errorf("gp hyperparameters: %d values, want %d", len(st.Hyper), s.space.Dim()+2)
	}
	s.index, s.hyper = st.Sobol, st.Hyper
	return s.base.restore(st)
}
