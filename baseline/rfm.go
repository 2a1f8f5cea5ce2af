package baseline

import (
	"errors"
	"fmt"
	"math"
	"slices"
)

// RFM is one customer's calibration summary, every time in weeks (any unit
// works if it is used consistently, forecast horizons included).
type RFM struct {
	// X is the number of repeat purchases: purchase occasions after the
	// first one. It is a whole number.
	X float64
	// Tx is the recency: time from the first to the last purchase; 0 when
	// X is 0.
	Tx float64
	// T is the age: time from the first purchase to the end of calibration.
	T float64
}

// ErrNoData is returned (wrapped, with the fit's name) by the fits when no
// customer is given.
var ErrNoData = errors.New("no customers to fit")

// ErrNoRepeats is returned by the purchase-model fits when no customer has a
// repeat purchase: the purchase rate's maximum likelihood is then at zero and
// the other parameters are not identified.
var ErrNoRepeats = errors.New("no customer has a repeat purchase (all X = 0)")

// Validate reports whether c is a possible calibration summary: finite,
// X a whole number >= 0, 0 <= Tx <= T, and Tx = 0 when X = 0.
func (c RFM) Validate() error {
	switch {
	case math.IsNaN(c.X) || math.IsInf(c.X, 0) || c.X < 0 || c.X != math.Trunc(c.X):
		return fmt.Errorf("frequency X = %v, want a whole number >= 0", c.X)
	case math.IsNaN(c.T) || math.IsInf(c.T, 0) || c.T < 0:
		return fmt.Errorf("age T = %v, want finite and >= 0", c.T)
	case math.IsNaN(c.Tx) || c.Tx < 0 || c.Tx > c.T:
		return fmt.Errorf("recency Tx = %v, want 0 <= Tx <= T = %v", c.Tx, c.T)
	case c.X == 0 && c.Tx != 0:
		return fmt.Errorf("recency Tx = %v with X = 0, want Tx = 0 (no repeat purchase)", c.Tx)
	}
	return nil
}

// FitInfo describes how a maximum-likelihood fit ended.
type FitInfo struct {
	// LogLikelihood is the total log-likelihood of the data at the returned
	// parameters, in the data's own time (or money) unit, without the penalty.
	LogLikelihood float64
	// Customers is the number of customers that entered the likelihood.
	Customers int
	// Iterations counts the optimizer's major iterations of the best start.
	Iterations int
	// Evaluations counts likelihood evaluations over all starts.
	Evaluations int
	// Converged is true when the best start stopped on a convergence test
	// rather than on an iteration limit or a failure.
	Converged bool
	// Status is the optimizer's final status for the best start, for logs.
	Status string
}

// FitOption changes how a model is fitted.
type FitOption func(*fitSettings)

type fitSettings struct {
	penalizer     float64
	maxIterations int
}

func newFitSettings(opts []FitOption) (fitSettings, error) {
	s := fitSettings{maxIterations: 2000}
	for _, o := range opts {
		o(&s)
	}
	if math.IsNaN(s.penalizer) || s.penalizer < 0 {
		return s, fmt.Errorf("penalizer %v, want >= 0", s.penalizer)
	}
	if s.maxIterations < 1 {
		return s, fmt.Errorf("max iterations %d, want >= 1", s.maxIterations)
	}
	return s, nil
}

// WithPenalizer adds coef·Σθ² to the mean negative log-likelihood, θ being the
// model's parameters with time (or money) rescaled internally, as lifetimes'
// penalizer_coef does. It shrinks the parameters toward zero and helps small
// data sets; 0 (the default) is plain maximum likelihood.
func WithPenalizer(coef float64) FitOption {
	return func(s *fitSettings) { s.penalizer = coef }
}

// WithMaxIterations bounds the optimizer's major iterations per start
// (default 2000).
func WithMaxIterations(n int) FitOption {
	return func(s *fitSettings) { s.maxIterations = n }
}

// wrfm is a customer summary in the fit's internal time unit, with the number
// of customers that share it.
type wrfm struct {
	x, tx, t, w float64
}

// prepareRFM validates data and returns it rescaled so that the largest age
// is 10, with duplicates merged into weights. scale multiplies weeks into
// internal units.
func prepareRFM(data []RFM) (rows []wrfm, scale float64, err error) {
	if len(data) == 0 {
		return nil, 0, ErrNoData
	}
	maxT, repeats := 0.0, 0.0
	for i, c := range data {
		if err := c.Validate(); err != nil {
			return nil, 0, fmt.Errorf("customer %d: %w", i, err)
		}
		maxT = math.Max(maxT, c.T)
		repeats += c.X
	}
	if repeats == 0 {
		return nil, 0, ErrNoRepeats
	}
	scale = 1.0
	if maxT > 0 {
		scale = 10 / maxT
	}
	return compress(data, scale), scale, nil
}

// compress merges customers with identical summaries; the sort makes the
// summation order, and so the fitted digits, independent of input order.
func compress(data []RFM, scale float64) []wrfm {
	sorted := slices.Clone(data)
	slices.SortFunc(sorted, func(p, q RFM) int {
		if c := cmpFloat(p.X, q.X); c != 0 {
			return c
		}
		if c := cmpFloat(p.Tx, q.Tx); c != 0 {
			return c
		}
		return cmpFloat(p.T, q.T)
	})
	rows := make([]wrfm, 0, len(sorted))
	for i, c := range sorted {
		if i > 0 && c == sorted[i-1] {
			rows[len(rows)-1].w++
			continue
		}
		rows = append(rows, wrfm{x: c.X, tx: c.Tx * scale, t: c.T * scale, w: 1})
	}
	return rows
}

// meanRate is the pooled repeat-purchase rate Σx/ΣT, which starting points
// match through r/α: the population's mean rate.
func meanRate(rows []wrfm) float64 {
	var sx, st float64
	for _, c := range rows {
		sx += c.w * c.x
		st += c.w * c.t
	}
	return math.Max(sx, 1) / math.Max(st, 1e-9)
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// logAddExp returns log(exp(a) + exp(b)) without overflow.
func logAddExp(a, b float64) float64 {
	if a < b {
		a, b = b, a
	}
	if math.IsInf(b, -1) {
		return a
	}
	return a + math.Log1p(math.Exp(b-a))
}

// sigmoid returns 1/(1+exp(-d)), the weight of the second term of a
// log-sum-exp of two terms whose difference is d.
func sigmoid(d float64) float64 {
	if d >= 0 {
		return 1 / (1 + math.Exp(-d))
	}
	e := math.Exp(d)
	return e / (1 + e)
}
