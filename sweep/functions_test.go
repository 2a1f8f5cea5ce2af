package sweep

import (
	"context"
	"fmt"
	"math"
	"testing"
)

// testFunction is a standard optimisation benchmark with a known minimum.
type testFunction struct {
	name  string
	space *Space
	f     func(Config) float64
	min   float64
}

func bounded(lo, hi float64) (*float64, *float64) { return &lo, &hi }

// branin is Branin-Hoo on [-5, 10] x [0, 15]; three global minima of
// 0.397887 at (-π, 12.275), (π, 2.275), (9.42478, 2.475).
func branin() testFunction {
	lo1, hi1 := bounded(-5, 10)
	lo2, hi2 := bounded(0, 15)
	space, err := NewSpace([]Param{
		{Name: "x1", Type: Float, Min: lo1, Max: hi1},
		{Name: "x2", Type: Float, Min: lo2, Max: hi2},
	})
	if err != nil {
		panic(err)
	}
	return testFunction{"branin", space, func(c Config) float64 {
		return braninAt(c["x1"].(float64), c["x2"].(float64))
	}, 0.397887357729738}
}

func braninAt(x1, x2 float64) float64 {
	b, cc := 5.1/(4*math.Pi*math.Pi), 5/math.Pi
	t := 1 / (8 * math.Pi)
	return math.Pow(x2-b*x1*x1+cc*x1-6, 2) + 10*(1-t)*math.Cos(x1) + 10
}

var hartmannA = [4][6]float64{
	{10, 3, 17, 3.5, 1.7, 8},
	{0.05, 10, 17, 0.1, 8, 14},
	{3, 3.5, 1.7, 10, 17, 8},
	{17, 8, 0.05, 10, 0.1, 14},
}

var hartmannP = [4][6]float64{
	{1312, 1696, 5569, 124, 8283, 5886},
	{2329, 4135, 8307, 3736, 1004, 9991},
	{2348, 1451, 3522, 2883, 3047, 6650},
	{4047, 8828, 8732, 5743, 1091, 381},
}

var hartmannAlpha = [4]float64{1.0, 1.2, 3.0, 3.2}

// hartmann6 is the six-dimensional Hartmann function on [0, 1]^6; global
// minimum -3.32237 at (0.20169, 0.150011, 0.476874, 0.275332, 0.311652, 0.6573).
func hartmann6() testFunction {
	params := make([]Param, 6)
	for i := range params {
		lo, hi := bounded(0, 1)
		params[i] = Param{Name: fmt.Sprintf("x%d", i+1), Type: Float, Min: lo, Max: hi}
	}
	space, err := NewSpace(params)
	if err != nil {
		panic(err)
	}
	return testFunction{"hartmann6", space, func(c Config) float64 {
		var x [6]float64
		for i := range x {
			x[i] = c[fmt.Sprintf("x%d", i+1)].(float64)
		}
		return hartmann6At(x)
	}, -3.32236801141551}
}

func hartmann6At(x [6]float64) float64 {
	var f float64
	for i := range 4 {
		var s float64
		for j := range 6 {
			d := x[j] - hartmannP[i][j]*1e-4
			s += hartmannA[i][j] * d * d
		}
		f -= hartmannAlpha[i] * math.Exp(-s)
	}
	return f
}

// TestTestFunctionMinima ensures the benchmark functions are written
// correctly: they reach their published minima at the published minimisers.
func TestTestFunctionMinima(t *testing.T) {
	for _, x := range [][2]float64{{-math.Pi, 12.275}, {math.Pi, 2.275}, {9.42478, 2.475}} {
		if got := braninAt(x[0], x[1]); math.Abs(got-0.397887) > 1e-5 {
			t.Errorf("branin%v = %v, want 0.397887", x, got)
		}
	}
	if got := hartmann6At([6]float64{0.20169, 0.150011, 0.476874, 0.275332, 0.311652, 0.6573}); math.Abs(got+3.32237) > 1e-5 {
		t.Errorf("hartmann6 at minimiser = %v, want -3.32237", got)
	}
	if got := hartmann6At([6]float64{0.5, 0.5, 0.5, 0.5, 0.5, 0.5}); got < -3.32237 {
		t.Errorf("hartmann6 at centre = %v, below the global minimum", got)
	}
}

// minimise runs a sequential sweep of budget trials and returns the best
// value after each trial.
func minimise(t testing.TB, fn testFunction, opts Options, budget int) []float64 {
	t.Helper()
	s, err := New(fn.space, opts)
	if err != nil {
		t.Fatal(err)
	}
	best := make([]float64, 0, budget)
	cur := math.Inf(1)
	for len(best) < budget {
		trials, err := s.Propose(context.Background(), 1)
		if err != nil {
			t.Fatal(err)
		}
		tr := trials[0]
		tr.Value, tr.Status = fn.f(tr.Config), Completed
		if err := s.Observe(tr); err != nil {
			t.Fatal(err)
		}
		cur = min(cur, tr.Value)
		best = append(best, cur)
	}
	return best
}
