package sweep

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"
)

// tpeSampler is the tree-structured Parzen estimator of Bergstra et al.
// (2011), in the univariate form of Optuna's default TPESampler: the best
// γ(n) = min(⌈0.1 n⌉, 25) observations form l(x), the rest g(x); each
// parameter is drawn independently from l as the best of Candidates draws
// by l(x)/g(x), using only the observations where it was active. Parzen
// estimators are truncated-Gaussian mixtures on the unit interval with a
// uniform-ish prior component and neighbour-distance bandwidths clipped to
// [1/min(100, n+1), 1] (Optuna's "magic clip"). Pending trials count as bad
// observations (Optuna's constant_liar), which pushes parallel proposals
// apart.
//
// The mixture components are properly normalised truncated Gaussians.
// Optuna before the fix of optuna/optuna#5109 (Debian ships 3.1.0) left
// out the 1/σ of each component, which favours wide kernels; on Branin and
// Hartmann-6 that happens to explore better at 30-100 trials (see
// scripts/bench-sweep.sh), but it is not the estimator of the paper.
type tpeSampler struct {
	*base
	seq   *seqGen
	index uint64
}

const (
	tpePriorWeight = 1.0
	tpeFlatWeights = 25 // newest bad observations at full weight; older ones ramp down
)

func newTPE(b *base) (*tpeSampler, error) {
	seq, err := newSeqGen(b)
	if err != nil {
		return nil, fmt.Errorf("sweep: tpe sampler: %w", err)
	}
	if b.opts.InitialPoints == 0 {
		b.opts.InitialPoints = 10
	}
	if b.opts.Candidates == 0 {
		b.opts.Candidates = 24
	}
	return &tpeSampler{base: b, seq: seq}, nil
}

func (s *tpeSampler) Propose(ctx context.Context, n int) ([]Trial, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.propose(ctx, n, s.seq, &s.index, func() []float64 {
		if len(s.observed) < s.opts.InitialPoints {
			return nil
		}
		for range 10 {
			c := s.sample()
			if snapped, err := s.space.ToUnit(s.space.FromUnit(c)); err == nil && !s.taken(snapped) {
				return c
			}
		}
		return nil
	})
}

// weighted is one observation's coordinate in a Parzen estimator.
type weighted struct {
	x, w float64
}

// sample draws one point: parameters in order, so a conditional one sees
// its parents' values.
func (s *tpeSampler) sample() []float64 {
	sorted := slices.Clone(s.observed)
	slices.SortStableFunc(sorted, func(a, b point) int { return cmp.Compare(a.Value, b.Value) })
	nBelow := min(int(math.Ceil(0.1*float64(len(sorted)))), 25)
	below := sorted[:nBelow]
	above := append(slices.Clone(sorted[nBelow:]), s.pending...)
	// Optuna ramps the weights of old bad observations by trial order.
	slices.SortStableFunc(above, func(a, b point) int { return cmp.Compare(a.ID, b.ID) })
	aboveW := make([]float64, len(above))
	ramp := len(above) - tpeFlatWeights
	for i := range above {
		aboveW[i] = 1
		if i < ramp {
			aboveW[i] = 1/float64(len(above)) + (1-1/float64(len(above)))*float64(i)/float64(max(ramp-1, 1))
		}
	}
	activeOf := func(ps []point) [][]bool {
		out := make([][]bool, len(ps))
		for j, p := range ps {
			cfg := s.space.FromUnit(p.U)
			out[j] = make([]bool, s.space.Dim())
			for i, q := range s.space.Params() {
				_, out[j][i] = cfg[q.Name]
			}
		}
		return out
	}
	actB, actA := activeOf(below), activeOf(above)
	u := make([]float64, s.space.Dim())
	cfg := Config{}
	for i, p := range s.space.Params() {
		u[i] = 0.5
		if !s.space.active(i, cfg) {
			continue
		}
		var l, g []weighted
		for j, q := range below {
			if actB[j][i] {
				l = append(l, weighted{q.U[i], 1})
			}
		}
		for j, q := range above {
			if actA[j][i] {
				g = append(g, weighted{q.U[i], aboveW[j]})
			}
		}
		if p.Type == Categorical {
			u[i] = s.sampleCategorical(len(p.Values), l, g)
		} else {
			u[i] = s.sampleNumeric(l, g)
		}
		cfg[p.Name] = p.decode(u[i])
	}
	return u
}

func (s *tpeSampler) sampleCategorical(k int, l, g []weighted) float64 {
	probs := func(obs []weighted) []float64 {
		p := make([]float64, k)
		total := tpePriorWeight
		for c := range p {
			p[c] = tpePriorWeight / float64(k)
		}
		for _, o := range obs {
			p[min(int(o.x*float64(k)), k-1)] += o.w
			total += o.w
		}
		for c := range p {
			p[c] /= total
		}
		return p
	}
	pl, pg := probs(l), probs(g)
	best, bestScore := 0, math.Inf(-1)
	for range s.opts.Candidates {
		r, c := s.rng.Float64(), 0
		for c < k-1 && r >= pl[c] {
			r -= pl[c]
			c++
		}
		if score := math.Log(pl[c]) - math.Log(pg[c]); score > bestScore {
			best, bestScore = c, score
		}
	}
	return (float64(best) + 0.5) / float64(k)
}

// parzen is a truncated-Gaussian mixture on [0, 1].
type parzen struct {
	mu, sigma, w []float64
}

func newParzen(obs []weighted) parzen {
	all := append(slices.Clone(obs), weighted{0.5, tpePriorWeight})
	prior := len(all) - 1
	order := make([]int, len(all))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(all[a].x, all[b].x) })
	n := len(all)
	pz := parzen{mu: make([]float64, n), sigma: make([]float64, n), w: make([]float64, n)}
	var total float64
	for _, o := range all {
		total += o.w
	}
	minSigma := 1 / min(100, 1+float64(n))
	for r, i := range order {
		left, right := 0.0, 1.0
		if r > 0 {
			left = all[order[r-1]].x
		}
		if r < n-1 {
			right = all[order[r+1]].x
		}
		sigma := max(all[i].x-left, right-all[i].x)
		if n >= 2 && r == 0 {
			sigma = all[order[1]].x - all[i].x // endpoints not considered, as Optuna
		} else if n >= 2 && r == n-1 {
			sigma = all[i].x - all[order[n-2]].x
		}
		if i == prior {
			sigma = 1
		}
		pz.mu[r], pz.sigma[r], pz.w[r] = all[i].x, min(max(sigma, minSigma), 1), all[i].w/total
	}
	return pz
}

func (pz parzen) logPDF(x float64) float64 {
	m := math.Inf(-1)
	terms := make([]float64, len(pz.mu))
	for i := range pz.mu {
		z := (x - pz.mu[i]) / pz.sigma[i]
		mass := normCDF((1-pz.mu[i])/pz.sigma[i]) - normCDF(-pz.mu[i]/pz.sigma[i])
		terms[i] = math.Log(pz.w[i]) - 0.5*z*z - math.Log(pz.sigma[i]*math.Sqrt(2*math.Pi)*mass)
		m = max(m, terms[i])
	}
	var sum float64
	for _, t := range terms {
		sum += math.Exp(t - m)
	}
	return m + math.Log(sum)
}

func (s *tpeSampler) drawParzen(pz parzen) float64 {
	r, c := s.rng.Float64(), 0
	for c < len(pz.w)-1 && r >= pz.w[c] {
		r -= pz.w[c]
		c++
	}
	mu, sd := pz.mu[c], pz.sigma[c]
	a, b := normCDF(-mu/sd), normCDF((1-mu)/sd)
	p := a + s.rng.Float64()*(b-a)
	x := mu + sd*math.Sqrt2*math.Erfinv(2*p-1)
	if math.IsNaN(x) {
		x = mu
	}
	return min(max(x, 0), 1)
}

func (s *tpeSampler) sampleNumeric(l, g []weighted) float64 {
	pl, pg := newParzen(l), newParzen(g)
	best, bestScore := 0.5, math.Inf(-1)
	for range s.opts.Candidates {
		x := s.drawParzen(pl)
		if score := pl.logPDF(x) - pg.logPDF(x); score > bestScore {
			best, bestScore = x, score
		}
	}
	return best
}

func (s *tpeSampler) Observe(t Trial) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.observe(t)
}

func (s *tpeSampler) State() ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, err := s.state()
	if err != nil {
		return nil, err
	}
	st.Sobol = s.index
	return marshalState(st)
}

func (s *tpeSampler) restore(st *samplerState) error {
	s.index = st.Sobol
	return s.base.restore(st)
}
