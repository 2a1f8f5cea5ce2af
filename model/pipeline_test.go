package model

import (
	"math"
	"strings"
	"testing"
)

// TestPipelineStandardisesTrainingRows ensures the fitted pipeline maps the
// training features to mean 0 and standard deviation 1 after log1p, leaves
// constant features centred and unscaled, and keeps negative values finite.
func TestPipelineStandardisesTrainingRows(t *testing.T) {
	d := Data{Rows: 4, Cols: 3, X: []float32{
		0, 1, 7,
		9, 2, 7,
		99, 3, 7,
		-1, 4, 7,
	}, Y: make([]float32, 4)}
	p, err := FitPipeline(d, []string{"spend", "count", "const"}, []bool{true, false, false})
	if err != nil {
		t.Fatal(err)
	}
	if p.Std[2] != 1 || p.Mean[2] != 7 {
		t.Errorf("constant feature: mean %v std %v, want 7 and 1", p.Mean[2], p.Std[2])
	}
	out := make([]float32, len(d.X))
	p.Apply(out, d.X, d.Rows)
	for j := range 2 {
		var s, ss float64
		for i := range d.Rows {
			v := float64(out[i*3+j])
			if math.IsNaN(v) || math.IsInf(v, 0) {
				t.Fatalf("row %d feature %d transformed to %v", i, j, v)
			}
			s += v
			ss += v * v
		}
		if mean, sd := s/4, math.Sqrt(ss/4-s*s/16); math.Abs(mean) > 1e-6 || math.Abs(sd-1) > 1e-5 {
			t.Errorf("feature %d: mean %v sd %v after Apply, want 0 and 1", j, mean, sd)
		}
	}
	// log1p: 99 -> log(100) is as far above 9 -> log(10) as 9 is above 0.
	if a, b := out[2*3]-out[1*3], out[1*3]-out[0]; math.Abs(float64(a)/float64(b)-math.Log(100/10.0)/math.Log(10)) > 1e-4 {
		t.Errorf("log1p spacing %v/%v, want equal steps per decade", a, b)
	}
	if out[3*3] >= out[0] {
		t.Errorf("negative value %v not below zero's %v after signed log1p", out[9], out[0])
	}
}

// TestFitPipelineRejectsMismatchedColumns ensures names and flags must
// cover every column.
func TestFitPipelineRejectsMismatchedColumns(t *testing.T) {
	d := Data{Rows: 1, Cols: 2, X: []float32{1, 2}, Y: []float32{0}}
	if _, err := FitPipeline(d, []string{"a"}, nil); err == nil || !strings.Contains(err.Error(), "names") {
		t.Errorf("1 name for 2 columns: err = %v", err)
	}
	if _, err := FitPipeline(d, nil, []bool{true, true, false}); err == nil || !strings.Contains(err.Error(), "log1p") {
		t.Errorf("3 flags for 2 columns: err = %v", err)
	}
}

// TestMomentsOfShardsAddUp ensures pipelines fit from summed shard moments
// match the pipeline fit on all rows at once.
func TestMomentsOfShardsAddUp(t *testing.T) {
	all, _, log1p := synthetic(300, 30)
	whole, err := FitPipeline(all, nil, log1p)
	if err != nil {
		t.Fatal(err)
	}
	shard := func(lo, hi int) Data {
		return Data{X: all.X[lo*all.Cols : hi*all.Cols], Y: all.Y[lo:hi], Rows: hi - lo, Cols: all.Cols}
	}
	sum, err := NewMoments(shard(0, 100), log1p)
	if err != nil {
		t.Fatal(err)
	}
	rest, _ := NewMoments(shard(100, 300), log1p)
	if err := sum.Add(rest); err != nil {
		t.Fatal(err)
	}
	got, err := sum.Pipeline(nil)
	if err != nil {
		t.Fatal(err)
	}
	for j := range whole.Mean {
		if math.Abs(float64(got.Mean[j]-whole.Mean[j])) > 1e-5*math.Abs(float64(whole.Mean[j]))+1e-6 ||
			math.Abs(float64(got.Std[j]-whole.Std[j])) > 1e-5*float64(whole.Std[j]) {
			t.Errorf("feature %d: sharded mean/std %v/%v, whole %v/%v", j, got.Mean[j], got.Std[j], whole.Mean[j], whole.Std[j])
		}
	}
	if err := sum.Add(Moments{Sum: make([]float64, 2), SumSq: make([]float64, 2)}); err == nil {
		t.Error("Add accepted moments of another width")
	}
}
