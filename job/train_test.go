package job_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cohort-clv/cohort/clv"
	"github.com/cohort-clv/cohort/eval"
	"github.com/cohort-clv/cohort/job"
	"github.com/cohort-clv/cohort/kernels/cpu"
	"github.com/cohort-clv/cohort/model"
	"github.com/cohort-clv/cohort/synth"
)

// shopCustomers keeps every training in these tests around a second under -race.
const shopCustomers = 3000

// writeShop writes a synthetic CDNOW-like shop (78 weeks from 1997-01-01)
// as CSV into dir and returns its path.
func writeShop(t *testing.T, dir string, customers int) string {
	t.Helper()
	cfg := synth.DefaultConfig(synth.BGNBD)
	cfg.Customers = customers
	var buf bytes.Buffer
	if err := synth.WriteCSV(context.Background(), &buf, cfg); err != nil {
		t.Fatalf("generate shop: %v", err)
	}
	path := filepath.Join(dir, "shop.csv")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// readOptions cuts the synthetic shop into 39 weeks of calibration and 39 of holdout.
func readOptions(t *testing.T) clv.Options {
	t.Helper()
	h, err := clv.ParseHorizon("39w")
	if err != nil {
		t.Fatal(err)
	}
	return clv.Options{CalibrationEnd: time.Date(1997, 9, 30, 0, 0, 0, 0, time.UTC), Horizon: h}
}

// smallSpec is a fast job: few epochs, one permutation per feature.
func smallSpec(t *testing.T, data, out string) job.Spec {
	t.Helper()
	s := job.DefaultSpec()
	s.Data, s.Out, s.Read = data, out, readOptions(t)
	s.Model.MaxEpochs = 5
	s.ImportanceRepeats = 1
	return s
}

// run is a finished training job and what it was trained on.
type run struct {
	spec job.Spec
	res  *job.Result
	be   *cpu.Backend
}

// trainShop trains smallSpec on a fresh shop in a temporary directory.
func trainShop(t *testing.T, ev job.Events) run {
	t.Helper()
	dir := t.TempDir()
	spec := smallSpec(t, writeShop(t, dir, shopCustomers), filepath.Join(dir, "run"))
	be := cpu.New(cpu.Options{Threads: 2})
	t.Cleanup(func() { be.Close() })
	res, err := job.Train(context.Background(), be, spec, ev)
	if err != nil {
		t.Fatalf("train: %v", err)
	}
	return run{spec: spec, res: res, be: be}
}

// sameMetrics compares two Metrics exactly, NaN equal to NaN, through their
// JSON encoding (shortest round-trip floats, null for NaN).
func sameMetrics(t *testing.T, what string, got, want eval.Metrics) {
	t.Helper()
	g, err := json.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	w, err := json.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(g, w) {
		t.Errorf("%s:\n got %s\nwant %s", what, g, w)
	}
}

// TestTrainedJob ensures a training job on a small synthetic shop writes a
// complete run and that the model it saved loads, scores, calibrates and
// evaluates as documented. Rendering a report costs seconds under -race,
// so the subtests share one training.
func TestTrainedJob(t *testing.T) {
	var stages []string
	epochs := 0
	r := trainShop(t, job.Events{
		Stage: func(name string) { stages = append(stages, name) },
		Epoch: func(model.EpochStats) { epochs++ },
	})
	t.Run("events", func(t *testing.T) {
		if want := []string{"read", "baseline", "train", "evaluate", "write"}; !slices.Equal(stages, want) {
			t.Errorf("stages %v, want %v", stages, want)
		}
		if epochs == 0 || epochs != len(r.res.History.Epochs) || epochs > r.spec.Model.MaxEpochs {
			t.Errorf("%d epoch events, history has %d epochs, max %d", epochs, len(r.res.History.Epochs), r.spec.Model.MaxEpochs)
		}
	})
	t.Run("run directory", func(t *testing.T) { testRunDirectory(t, r) })
	t.Run("metrics.json", func(t *testing.T) { testMetricsJSON(t, r) })
	t.Run("split", func(t *testing.T) { testSplit(t, r) })
	t.Run("load", func(t *testing.T) { testLoadTrained(t, r) })
	t.Run("load rejects", func(t *testing.T) { testLoadTrainedRejects(t, r) })
	t.Run("score", func(t *testing.T) { testScore(t, r) })
	t.Run("score refuses other features", func(t *testing.T) { testScoreRefusesFeatures(t, r) })
	t.Run("score warns of split ids", func(t *testing.T) { testScoreWarnsSplitIDs(t, r) })
	t.Run("spend scale", func(t *testing.T) { testSpendScale(t, r) })
	t.Run("evaluate", func(t *testing.T) { testEvaluate(t, r) })
}

// testRunDirectory ensures the run directory holds exactly model/,
// metrics.json and report.html, at the paths the Result gives.
func testRunDirectory(t *testing.T, r run) {
	out := r.spec.Out
	if r.res.ModelDir != filepath.Join(out, job.ModelDir) || r.res.MetricsPath != filepath.Join(out, "metrics.json") ||
		r.res.ReportPath != filepath.Join(out, "report.html") {
		t.Errorf("paths %q %q %q", r.res.ModelDir, r.res.MetricsPath, r.res.ReportPath)
	}
	entries, err := os.ReadDir(out)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if want := []string{"metrics.json", "model", "report.html"}; !slices.Equal(names, want) {
		t.Errorf("run directory holds %v, want %v (no temp files)", names, want)
	}
	html, err := os.ReadFile(r.res.ReportPath)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(html, []byte("<html")) || !bytes.Contains(html, []byte("data:image/png;base64,")) {
		t.Errorf("report.html (%d bytes) is not a self-contained HTML page with inline plots", len(html))
	}
	if r.res.Elapsed <= 0 {
		t.Errorf("elapsed %v", r.res.Elapsed)
	}
}

// testMetricsJSON ensures metrics.json holds the required keys and that its
// numbers are the Result's metrics and baseline parameters.
func testMetricsJSON(t *testing.T, r run) {
	raw, err := os.ReadFile(r.res.MetricsPath)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("metrics.json: %v", err)
	}
	if n, ok := doc["test_customers"].(float64); !ok || int(n) != r.res.Split.Test {
		t.Errorf("test_customers %v, want %d", doc["test_customers"], r.res.Split.Test)
	}
	for _, section := range []string{"model", "baseline"} {
		m, ok := doc[section].(map[string]any)
		if !ok {
			t.Fatalf("%s: %T, want an object", section, doc[section])
		}
		for _, k := range []string{"normalized_gini", "spearman", "decile_mape", "auc", "rmse", "spend_ratio"} {
			if _, ok := m[k].(float64); !ok {
				t.Errorf("%s.%s = %v, want a number", section, k, m[k])
			}
		}
	}
	params, _ := doc["baseline"].(map[string]any)["params"].(map[string]any)
	b := r.res.Baseline
	wantParams := map[string]map[string]float64{
		"bgnbd":       {"r": b.BGNBD.R, "alpha": b.BGNBD.Alpha, "a": b.BGNBD.A, "b": b.BGNBD.B},
		"gamma_gamma": {"p": b.GammaGamma.P, "q": b.GammaGamma.Q, "v": b.GammaGamma.V},
	}
	for group, keys := range wantParams {
		g, ok := params[group].(map[string]any)
		if !ok {
			t.Errorf("baseline.params.%s missing in %v", group, params)
			continue
		}
		for k, want := range keys {
			if got, ok := g[k].(float64); !ok || got != want || !(got > 0) {
				t.Errorf("baseline.params.%s.%s = %v, want %v (> 0)", group, k, g[k], want)
			}
		}
	}

	var typed struct {
		Model, Baseline eval.Metrics
	}
	if err := json.Unmarshal(raw, &typed); err != nil {
		t.Fatal(err)
	}
	sameMetrics(t, "metrics.json model vs Result.Model", typed.Model, r.res.Model)
	sameMetrics(t, "metrics.json baseline vs Result.BaselineMetrics", typed.Baseline, r.res.BaselineMetrics)
	if r.res.Model.Customers != r.res.Split.Test || r.res.BaselineMetrics.Customers != r.res.Split.Test {
		t.Errorf("metrics over %d / %d customers, test split has %d", r.res.Model.Customers, r.res.BaselineMetrics.Customers, r.res.Split.Test)
	}
}

// testSplit ensures the split counts add up to the customers and follow
// clv.SplitOf.
func testSplit(t *testing.T, r run) {
	ds, err := clv.Load(context.Background(), r.spec.Data, r.spec.Read)
	if err != nil {
		t.Fatal(err)
	}
	var want job.SplitCounts
	for _, c := range ds.Customers {
		switch clv.SplitOf(c.ID) {
		case clv.Train:
			want.Train++
		case clv.Validation:
			want.Validation++
		case clv.Test:
			want.Test++
		}
	}
	s := r.res.Split
	if s != want || s.Train+s.Validation+s.Test != len(ds.Customers) || r.res.Ingest.Customers != len(ds.Customers) {
		t.Errorf("split %+v, want %+v summing to the %d customers (ingest says %d)", s, want, len(ds.Customers), r.res.Ingest.Customers)
	}
	if s.Test == 0 || s.Validation == 0 || s.Train < s.Test {
		t.Errorf("split %+v is not a 70/15/15 split", s)
	}
}

// TestSpecValidate ensures Validate names each missing or out-of-range field
// and accepts a complete spec.
func TestSpecValidate(t *testing.T) {
	valid := smallSpec(t, "shop.csv", "run")
	tests := []struct {
		name  string
		edit  func(*job.Spec)
		wants []string // substrings of the error; none = valid
	}{
		{"valid", func(*job.Spec) {}, nil},
		{"no data", func(s *job.Spec) { s.Data = "" }, []string{"data:"}},
		{"no out", func(s *job.Spec) { s.Out = "" }, []string{"out:"}},
		{"no horizon", func(s *job.Spec) { s.Read.Horizon = clv.Horizon{} }, []string{"horizon:", "39w"}},
		{"negative threads", func(s *job.Spec) { s.Threads = -1 }, []string{"threads: -1"}},
		{"negative importance", func(s *job.Spec) { s.ImportanceRepeats = -2 }, []string{"importance repeats: -2"}},
		{"bad model", func(s *job.Spec) { s.Model.Hidden = []int{8, 0} }, []string{"hidden[1]"}},
		{"everything missing", func(s *job.Spec) { *s = job.Spec{} }, []string{"data:", "out:", "horizon:"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := valid
			s.Model.Hidden = slices.Clone(valid.Model.Hidden)
			tt.edit(&s)
			err := s.Validate()
			if len(tt.wants) == 0 {
				if err != nil {
					t.Fatalf("valid spec: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("no error, want one naming %v", tt.wants)
			}
			if !strings.HasPrefix(err.Error(), "job: invalid spec: ") {
				t.Errorf("error %q lacks the operation's name", err)
			}
			for _, w := range tt.wants {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

// TestTrainFailsEarly ensures Train validates the spec and honours a
// cancelled context before writing anything.
func TestTrainFailsEarly(t *testing.T) {
	dir := t.TempDir()
	data := writeShop(t, dir, 200)
	be := cpu.New(cpu.Options{Threads: 1})
	defer be.Close()

	out := filepath.Join(dir, "invalid")
	spec := smallSpec(t, data, out)
	spec.Read.Horizon = clv.Horizon{}
	if _, err := job.Train(context.Background(), be, spec, job.Events{}); err == nil || !strings.Contains(err.Error(), "horizon") {
		t.Errorf("no horizon: got %v", err)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("invalid spec created %s (%v)", out, err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	out = filepath.Join(dir, "cancelled")
	if _, err := job.Train(ctx, be, smallSpec(t, data, out), job.Events{}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: got %v, want context.Canceled", err)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("cancelled run created %s (%v)", out, err)
	}
}
