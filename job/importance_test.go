package job

import (
	"context"
	"math"
	"path/filepath"
	"slices"
	"testing"

	"github.com/cohort-clv/cohort/clv"
	"github.com/cohort-clv/cohort/eval"
	"github.com/cohort-clv/cohort/kernels/cpu"
)

// importanceFixture loads the v1 model and every customer of its shop.
func importanceFixture(t *testing.T) (*Trained, *clv.Dataset, []*clv.Customer) {
	t.Helper()
	tr, err := LoadTrained(filepath.Join(v1Model, "model"))
	if err != nil {
		t.Fatal(err)
	}
	ds, err := clv.Load(context.Background(), filepath.Join(v1Model, "shop.csv"), tr.Meta.Read)
	if err != nil {
		t.Fatal(err)
	}
	cs := make([]*clv.Customer, len(ds.Customers))
	for i := range cs {
		cs[i] = &ds.Customers[i]
	}
	return tr, ds, cs
}

// TestImportanceOnTransformedColumns ensures the permutation importance,
// which now applies the model's pipeline once and shuffles the transformed
// columns, equals the importance computed the old way: shuffling the raw
// columns and predicting each shuffle through the whole model. It also
// checks the bare model's predictions of transformed rows bit for bit.
func TestImportanceOnTransformedColumns(t *testing.T) {
	tr, ds, cs := importanceFixture(t)
	be := cpu.New(cpu.Options{Threads: 1})
	defer be.Close()
	X := matrix(cs, len(ds.FeatureNames))
	actual := make([]float64, len(cs))
	for i, c := range cs {
		actual[i] = c.HoldoutSpend
	}

	xt := make([]float32, len(X.X))
	tr.Net.Pipeline.Apply(xt, X.X, X.Rows)
	_, want := tr.predict(be, X.X, X.Rows)
	_, got := tr.withoutPipeline().predict(be, xt, X.Rows)
	if !slices.Equal(got, want) {
		t.Fatal("the bare model's predictions of the transformed rows differ from the model's of the raw rows")
	}

	const seed, repeats = 17, 2
	e := evaluation{ds: ds, test: cs, importance: repeats, seed: seed, trained: tr, be: be}
	imp, err := e.permutationImportance(context.Background(), &X, actual)
	if err != nil {
		t.Fatal(err)
	}
	predict := func(X []float32, rows int) []float64 {
		_, s := tr.predict(be, X, rows)
		return s
	}
	old, err := eval.PermutationImportance(context.Background(), X.X, X.Rows, X.Cols, ds.FeatureNames,
		actual, predict, eval.MetricNormalizedGini, seed, repeats)
	if err != nil {
		t.Fatal(err)
	}
	if imp.Reference != old.Reference || !slices.Equal(imp.Features, old.Features) {
		t.Errorf("importance on transformed columns %+v\nwant (raw columns) %+v", imp, old)
	}
	if imp.Customers != len(cs) || imp.SampledFrom != 0 {
		t.Errorf("customers %d sampled from %d, want all %d and no sample", imp.Customers, imp.SampledFrom, len(cs))
	}
}

// TestImportanceSample ensures that past the cap the importance scores a
// stable hash-chosen sample: the same customers in any order of the data,
// the result of the old way on those rows, and metrics that say so.
func TestImportanceSample(t *testing.T) {
	tr, ds, cs := importanceFixture(t)
	be := cpu.New(cpu.Options{Threads: 1})
	defer be.Close()
	const limit = 150
	if len(cs) <= limit {
		t.Fatalf("fixture has %d customers, want more than %d", len(cs), limit)
	}
	ids := func(cs []*clv.Customer, idx []int) []string {
		var out []string
		for _, i := range idx {
			out = append(out, cs[i].ID)
		}
		slices.Sort(out)
		return out
	}
	sample := importanceSample(cs, limit)
	rev := slices.Clone(cs)
	slices.Reverse(rev)
	if len(sample) != limit || !slices.Equal(ids(cs, sample), ids(rev, importanceSample(rev, limit))) {
		t.Fatalf("sample of %d, or a different sample of the reversed customers", len(sample))
	}
	if importanceSample(cs, len(cs)) != nil {
		t.Error("a cap of every customer sampled")
	}
	// Spenders are neither all in nor all out.
	var spenders int
	for _, i := range sample {
		if cs[i].HoldoutSpend > 0 {
			spenders++
		}
	}
	if spenders == 0 || spenders == limit {
		t.Errorf("%d spenders of %d sampled", spenders, limit)
	}

	X := matrix(cs, len(ds.FeatureNames))
	actual := make([]float64, len(cs))
	for i, c := range cs {
		actual[i] = c.HoldoutSpend
	}
	var steps []EvalStep
	e := evaluation{ds: ds, test: cs, importance: 1, seed: 3, trained: tr, be: be, impCap: limit,
		ev: Events{Step: func(s EvalStep) { steps = append(steps, s) }}}
	imp, err := e.permutationImportance(context.Background(), &X, actual)
	if err != nil {
		t.Fatal(err)
	}
	sub := make([]*clv.Customer, limit)
	for k, i := range sample {
		sub[k] = cs[i]
	}
	sx := matrix(sub, len(ds.FeatureNames))
	sy := make([]float64, limit)
	for k, c := range sub {
		sy[k] = c.HoldoutSpend
	}
	predict := func(X []float32, rows int) []float64 {
		_, s := tr.predict(be, X, rows)
		return s
	}
	old, err := eval.PermutationImportance(context.Background(), sx.X, sx.Rows, sx.Cols, ds.FeatureNames,
		sy, predict, eval.MetricNormalizedGini, 3, 1)
	if err != nil {
		t.Fatal(err)
	}
	if imp.Reference != old.Reference || !slices.Equal(imp.Features, old.Features) || math.IsNaN(float64(imp.Reference)) {
		t.Errorf("importance on the sample %+v\nwant %+v", imp, old)
	}
	if imp.Customers != limit || imp.SampledFrom != len(cs) {
		t.Errorf("customers %d sampled from %d, want %d of %d", imp.Customers, imp.SampledFrom, limit, len(cs))
	}
	cols := len(ds.FeatureNames)
	if len(steps) != cols+1 || steps[0].Done != 0 || steps[cols].Done != cols || steps[0].Of != len(cs) || steps[0].Customers != limit {
		t.Errorf("steps %+v, want 0..%d of %d features on %d of %d customers", steps, cols, cols, limit, len(cs))
	}
	t.Log(steps[3])
}

// TestEvaluateSteps ensures EvaluateWith tells Events.Step each sub-step
// of the evaluation, in order.
func TestEvaluateSteps(t *testing.T) {
	tr, _, _ := importanceFixture(t)
	be := cpu.New(cpu.Options{Threads: 1})
	defer be.Close()
	var names []string
	ev := Events{Step: func(s EvalStep) {
		if s.Name != "importance" || s.Done == 0 {
			names = append(names, s.Name)
		}
		if s.String() == "" || s.String() == s.Name {
			t.Errorf("step %+v has no text", s)
		}
	}}
	if _, err := tr.EvaluateWith(context.Background(), be, filepath.Join(v1Model, "shop.csv"), tr.Meta.Read, t.TempDir(), true, 1, ev); err != nil {
		t.Fatal(err)
	}
	want := []string{"predict", "importance", "noise", "bootstrap", "report", "write"}
	if !slices.Equal(names, want) {
		t.Errorf("steps %v, want %v", names, want)
	}
}
