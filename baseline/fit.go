package baseline

import (
	"context"
	"fmt"
	"math"
	"runtime"
	"sync"
	"sync/atomic"

	"gonum.org/v1/gonum/diff/fd"
	"gonum.org/v1/gonum/floats"
	"gonum.org/v1/gonum/optimize"
)

// term binds a model's natural parameters p, computing once what does not
// depend on the customer, and returns a function that adds one row's weighted
// log-likelihood to acc[0] and, when grad is true, its weighted gradient with
// respect to p to acc[1:]. The row function must not keep acc, and must be
// safe to call from several goroutines.
type term[R any] func(p []float64, grad bool) func(row R, acc []float64)

// chunkRows is the unit of parallel work. It is fixed, not derived from the
// number of CPUs, so that partial sums, and hence fitted digits, do not depend
// on the machine.
const chunkRows = 1024

// sumTerms evaluates f on every row and returns the sums (length len(p)+1),
// spreading chunks over the CPUs and adding the partial sums in chunk order.
func sumTerms[R any](rows []R, p []float64, f term[R], grad bool) []float64 {
	width := len(p) + 1
	chunks := (len(rows) + chunkRows - 1) / chunkRows
	partial := make([]float64, chunks*width)
	row := f(p, grad)
	run := func(k int) {
		acc := partial[k*width : (k+1)*width]
		hi := min((k+1)*chunkRows, len(rows))
		for _, r := range rows[k*chunkRows : hi] {
			row(r, acc)
		}
	}
	workers := min(runtime.GOMAXPROCS(0), chunks)
	if workers <= 1 {
		for k := range chunks {
			run(k)
		}
	} else {
		var next atomic.Int64
		var wg sync.WaitGroup
		for range workers {
			wg.Go(func() {
				for k := int(next.Add(1)) - 1; k < chunks; k = int(next.Add(1)) - 1 {
					run(k)
				}
			})
		}
		wg.Wait()
	}
	out := make([]float64, width)
	for k := range chunks {
		for j := range width {
			out[j] += partial[k*width+j]
		}
	}
	return out
}

// logLikelihood sums f over rows at the natural parameters p.
func logLikelihood[R any](rows []R, p []float64, f term[R]) float64 {
	return sumTerms(rows, p, f, false)[0]
}

// mle maximises the likelihood of rows over the logarithms of the parameters
// with BFGS, on the analytic gradient when the term provides one (gradient
// set) and on central differences otherwise; where a line search fails it
// goes on with Nelder–Mead from the best point, restarted from its own
// optimum until that stops improving, which guards against a simplex that
// collapsed early. Every start is tried and the best optimum is kept.
func mle[R any](ctx context.Context, rows []R, weight float64, f term[R], gradient bool, starts [][]float64, s fitSettings) ([]float64, FitInfo, error) {
	dim := len(starts[0])
	p := make([]float64, dim)
	toParams := func(theta []float64) bool {
		for i, t := range theta {
			if math.Abs(t) > 50 || math.IsNaN(t) {
				return false
			}
			p[i] = math.Exp(t)
		}
		return true
	}
	penalty := func() float64 {
		sum := 0.0
		for _, v := range p {
			sum += v * v
		}
		return s.penalizer * sum
	}
	evals := 0
	prob := optimize.Problem{
		Func: func(theta []float64) float64 {
			evals++
			if !toParams(theta) {
				return math.Inf(1)
			}
			v := -logLikelihood(rows, p, f)/weight + penalty()
			if math.IsNaN(v) {
				return math.Inf(1)
			}
			return v
		},
		Status: func() (optimize.Status, error) {
			if err := ctx.Err(); err != nil {
				return optimize.Failure, err
			}
			return optimize.NotTerminated, nil
		},
	}
	gradTol := 1e-9
	if !gradient {
		// Central differences are good to about 1e-10 here (mean
		// log-likelihood of order 1, step 1e-5); 1e-7 leaves a margin and
		// still pins the log-parameters to about 1e-5 at these sample sizes.
		gradTol = 1e-7
		fn := prob.Func
		prob.Grad = func(g, theta []float64) {
			fd.Gradient(g, fn, theta, &fd.Settings{Formula: fd.Central, Step: 1e-5})
		}
	} else {
		prob.Grad = func(g, theta []float64) {
			evals++
			if !toParams(theta) {
				for i := range g {
					g[i] = math.NaN()
				}
				return
			}
			sums := sumTerms(rows, p, f, true)
			for i := range g {
				// Chain rule through p = exp(θ), penalty included.
				g[i] = -sums[i+1]*p[i]/weight + 2*s.penalizer*p[i]*p[i]
			}
		}
	}

	var (
		best     *run
		firstErr error
	)
	for _, start := range starts {
		theta := make([]float64, dim)
		for i, v := range start {
			theta[i] = math.Log(v)
		}
		r, err := minimizeFrom(prob, theta, gradTol, s.maxIterations)
		if ctxErr := ctx.Err(); ctxErr != nil {
			return nil, FitInfo{Evaluations: evals}, ctxErr
		}
		if r == nil {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		if best == nil || r.res.F < best.res.F {
			best = r
		}
	}
	if best == nil || math.IsInf(best.res.F, 1) {
		if firstErr == nil {
			firstErr = fmt.Errorf("likelihood is not finite at any start")
		}
		return nil, FitInfo{Evaluations: evals}, fmt.Errorf("optimize: %w", firstErr)
	}
	out := make([]float64, dim)
	for i, t := range best.res.X {
		out[i] = math.Exp(t)
	}
	info := FitInfo{
		Iterations:  best.iterations,
		Evaluations: evals,
		Converged:   best.converged,
		Status:      best.status,
	}
	for _, t := range best.res.X {
		if math.Abs(t) > maxLogParam {
			info.Converged = false
			info.Status += "; a parameter ran off toward 0 or infinity: the data do not identify the model"
			break
		}
	}
	return out, info, nil
}

// maxLogParam bounds |log θ| for a fit to count as converged: beyond 1e8 (or
// below 1e-8), in the rescaled units, a parameter is heading for the edge of
// its domain, where the likelihood is flat.
const maxLogParam = 18.420680743952367 // ln(1e8)

// acceptGradient is the largest gradient (of the mean log-likelihood, in
// log-parameters) at which a failed BFGS line search still counts as
// convergence: with per-customer curvatures of 1e-2 or more it leaves the
// log-parameters within about 1e-5 of the optimum.
const acceptGradient = 1e-7

// run is the outcome of one start.
type run struct {
	res        *optimize.Result
	iterations int
	converged  bool
	status     string
}

// minimizeFrom runs one start: BFGS, then Nelder–Mead when BFGS did not
// converge. It returns nil only when no finite point was found.
func minimizeFrom(prob optimize.Problem, theta []float64, gradTol float64, maxIter int) (*run, error) {
	settings := func() *optimize.Settings {
		return &optimize.Settings{
			MajorIterations:   maxIter,
			GradientThreshold: gradTol,
			Converger:         &optimize.FunctionConverge{Absolute: 1e-13, Relative: 1e-15, Iterations: 20},
		}
	}
	res, err := optimize.Minimize(prob, theta, settings(), &optimize.BFGS{})
	if res != nil && !math.IsInf(res.F, 1) {
		r := &run{res: res, iterations: res.MajorIterations, status: "BFGS: " + res.Status.String()}
		if err == nil && converged(res.Status) {
			r.converged = true
			return r, nil
		}
		// At the optimum the line search can fail on rounding noise in the
		// last digits; a gradient that small is as converged as it gets.
		if g := res.Gradient; len(g) > 0 && floats.Norm(g, math.Inf(1)) <= acceptGradient {
			r.converged = true
			r.status = fmt.Sprintf("BFGS: line search stopped at |gradient| %.1e", floats.Norm(g, math.Inf(1)))
			return r, nil
		}
		// Otherwise the region is rough; Nelder–Mead from the best point so
		// far does not need the gradient to be sane.
		theta = res.X
	}
	prob.Grad = nil
	var best *optimize.Result
	for round := range 8 {
		nm := &optimize.NelderMead{SimplexSize: 0.5}
		if round > 0 {
			nm.SimplexSize = 0.05
		}
		res, nmErr := optimize.Minimize(prob, theta, settings(), nm)
		if res == nil {
			err = nmErr
			break
		}
		improved := best == nil || best.F-res.F > 1e-11*math.Max(1, math.Abs(res.F))
		if best == nil || res.F < best.F {
			best = res
		}
		if !improved || nmErr != nil {
			err = nmErr
			break
		}
		theta = res.X
	}
	if best == nil || math.IsInf(best.F, 1) {
		if err == nil {
			err = fmt.Errorf("no finite likelihood from this start")
		}
		return nil, err
	}
	return &run{
		res:        best,
		iterations: best.MajorIterations,
		converged:  err == nil && converged(best.Status),
		status:     "Nelder-Mead: " + best.Status.String(),
	}, nil
}

func converged(s optimize.Status) bool {
	switch s {
	case optimize.Success, optimize.FunctionConvergence, optimize.GradientThreshold,
		optimize.StepConvergence, optimize.MethodConverge:
		return true
	}
	return false
}
