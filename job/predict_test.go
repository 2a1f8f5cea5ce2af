package job_test

import (
	"bufio"
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cohort-clv/cohort/baseline"
	"github.com/cohort-clv/cohort/clv"
	"github.com/cohort-clv/cohort/eval"
	"github.com/cohort-clv/cohort/job"
	"github.com/cohort-clv/cohort/model"
)

// loadRun loads the model directory of r.
func loadRun(t *testing.T, r run) *job.Trained {
	t.Helper()
	tr, err := job.LoadTrained(r.res.ModelDir)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	return tr
}

// scoreOptions is how predict reads the shop: the training mapping, no
// calibration end and no horizon.
func scoreOptions(tr *job.Trained) clv.Options {
	read := tr.Meta.Read
	read.CalibrationEnd, read.Horizon = time.Time{}, clv.Horizon{}
	return read
}

// testLoadTrained ensures LoadTrained gives back the metadata Train stored:
// how the data was read, the windows, the baseline and a positive spend
// scale, and a network over the dataset's features.
func testLoadTrained(t *testing.T, r run) {
	tr := loadRun(t, r)
	m := tr.Meta
	if m.Data != r.spec.Data || !reflect.DeepEqual(m.Read, r.spec.Read) {
		t.Errorf("meta data %q read %+v, want %q %+v", m.Data, m.Read, r.spec.Data, r.spec.Read)
	}
	calEnd := r.spec.Read.CalibrationEnd
	if !m.CalibrationEnd.Equal(calEnd) || !m.HoldoutEnd.Equal(calEnd.AddDate(0, 0, 39*7)) || m.HorizonWeeks != 39 {
		t.Errorf("windows: calibration end %v, holdout end %v, %v weeks", m.CalibrationEnd, m.HoldoutEnd, m.HorizonWeeks)
	}
	if m.Baseline != r.res.Baseline {
		t.Errorf("baseline %+v, trained %+v", m.Baseline, r.res.Baseline)
	}
	if !(m.SpendScale > 0) || math.IsInf(m.SpendScale, 0) {
		t.Errorf("spend scale %v", m.SpendScale)
	}
	ds, err := clv.Load(context.Background(), r.spec.Data, r.spec.Read)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(tr.Net.Pipeline.FeatureNames, ds.FeatureNames) || tr.Net.Inputs() != len(ds.FeatureNames) {
		t.Errorf("model features %v, data features %v", tr.Net.Pipeline.FeatureNames, ds.FeatureNames)
	}
	if want := r.spec.Model.WithDefaults(); !reflect.DeepEqual(tr.Net.Config, want) {
		t.Errorf("model config %+v, want %+v", tr.Net.Config, want)
	}

	// Saving the loaded model again loses nothing.
	dir := filepath.Join(t.TempDir(), "copy")
	if err := tr.Net.Save(dir); err != nil {
		t.Fatal(err)
	}
	again, err := job.LoadTrained(dir)
	if err != nil {
		t.Fatalf("reload: %v", err)
	}
	if !reflect.DeepEqual(again.Meta, tr.Meta) || !slices.Equal(again.Net.Params(), tr.Net.Params()) {
		t.Error("a saved and reloaded model differs")
	}
}

// testLoadTrainedRejects ensures LoadTrained refuses model directories that
// cohort train did not write whole: no model, no job metadata, a spend scale
// that is not positive, another metadata format.
func testLoadTrainedRejects(t *testing.T, r run) {
	net, err := model.Load(r.res.ModelDir)
	if err != nil {
		t.Fatal(err)
	}
	withMeta := func(edit func(map[string]any)) json.RawMessage {
		var m map[string]any
		if err := json.Unmarshal(net.Meta, &m); err != nil {
			t.Fatal(err)
		}
		edit(m)
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	tests := []struct {
		name string
		meta json.RawMessage // nil: no model saved at all
		want string
	}{
		{"no model", nil, "model: load"},
		{"no metadata", json.RawMessage{}, "no job metadata"},
		{"zero spend scale", withMeta(func(m map[string]any) { m["spend_scale"] = 0 }), "spend_scale 0, want > 0"},
		{"negative spend scale", withMeta(func(m map[string]any) { m["spend_scale"] = -2 }), "spend_scale -2, want > 0"},
		{"missing spend scale", withMeta(func(m map[string]any) { delete(m, "spend_scale") }), "spend_scale 0, want > 0"},
		{"other format", withMeta(func(m map[string]any) { m["format"] = "cohort.job.meta/v0" }), `format "cohort.job.meta/v0"`},
		{"not an object", json.RawMessage(`[1,2]`), "job metadata"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "model")
			if tt.meta != nil {
				bad := *net
				bad.Meta = tt.meta
				if err := bad.Save(dir); err != nil {
					t.Fatal(err)
				}
			}
			tr, err := job.LoadTrained(dir)
			if err == nil {
				t.Fatalf("loaded %+v, want an error containing %q", tr.Meta, tt.want)
			}
			if !strings.HasPrefix(err.Error(), "job: ") || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q, want job: ... %q", err, tt.want)
			}
		})
	}
}

// testScore ensures Score gives one prediction per customer in id order,
// ten deciles of (nearly) equal size with decile 1 the biggest spenders, and
// baseline columns from the stored BG/NBD + Gamma-Gamma fit.
func testScore(t *testing.T, r run) {
	tr := loadRun(t, r)
	read := scoreOptions(tr)
	sc, err := tr.Score(context.Background(), r.be, r.spec.Data, read)
	if err != nil {
		t.Fatalf("score: %v", err)
	}
	ds, err := clv.Load(context.Background(), r.spec.Data, read)
	if err != nil {
		t.Fatal(err)
	}
	ps := sc.Predictions
	if len(ps) != len(ds.Customers) || len(ps) != shopCustomers || sc.Ingest.Customers != len(ps) || sc.HorizonWeeks != 39 {
		t.Fatalf("%d predictions, %d customers in the data, ingest %d, horizon %v weeks",
			len(ps), len(ds.Customers), sc.Ingest.Customers, sc.HorizonWeeks)
	}
	b := tr.Meta.Baseline
	minSpend, maxSpend := make([]float64, 11), make([]float64, 11)
	count := make([]int, 11)
	for d := range minSpend {
		minSpend[d], maxSpend[d] = math.Inf(1), math.Inf(-1)
	}
	for i, p := range ps {
		c := ds.Customers[i]
		if p.Customer != c.ID {
			t.Fatalf("prediction %d is for %q, customer %d is %q", i, p.Customer, i, c.ID)
		}
		if !(p.PReturn >= 0 && p.PReturn <= 1) || !(p.ExpectedSpend >= 0) || math.IsInf(p.ExpectedSpend, 0) ||
			!(p.BaselinePAlive >= 0 && p.BaselinePAlive <= 1) || !(p.BaselinePurchases >= 0) || !(p.BaselineSpend >= 0) {
			t.Fatalf("prediction out of range: %+v", p)
		}
		rfm := baseline.RFM{X: c.X, Tx: c.Tx, T: c.T}
		if want := b.BGNBD.ExpectedPurchases(rfm, 39); p.BaselinePurchases != want {
			t.Fatalf("%s: baseline purchases %v, BG/NBD gives %v", c.ID, p.BaselinePurchases, want)
		}
		if want := baseline.ExpectedHoldoutSpend(b.BGNBD, b.GammaGamma, rfm, c.RepeatMeanSpend, 39); p.BaselineSpend != want {
			t.Fatalf("%s: baseline spend %v, BG/NBD + Gamma-Gamma gives %v", c.ID, p.BaselineSpend, want)
		}
		if p.Decile < 1 || p.Decile > 10 {
			t.Fatalf("%s: decile %d", c.ID, p.Decile)
		}
		count[p.Decile]++
		minSpend[p.Decile] = min(minSpend[p.Decile], p.ExpectedSpend)
		maxSpend[p.Decile] = max(maxSpend[p.Decile], p.ExpectedSpend)
	}
	for d := 1; d <= 10; d++ {
		if n := len(ps) / 10; count[d] < n || count[d] > n+1 {
			t.Errorf("decile %d holds %d of %d customers", d, count[d], len(ps))
		}
		if d < 10 && minSpend[d] < maxSpend[d+1] {
			t.Errorf("decile %d spends down to %v, decile %d up to %v: decile 1 must hold the highest spend",
				d, minSpend[d], d+1, maxSpend[d+1])
		}
	}
	if !(maxSpend[1] > minSpend[10]) {
		t.Errorf("expected spend is constant (%v): the model learned nothing", maxSpend[1])
	}
}

// testScoreRefusesFeatures ensures Score and Evaluate refuse data whose
// features differ from the model's (an --extra column the model never saw),
// naming both feature lists and the flags to fix.
func testScoreRefusesFeatures(t *testing.T, r run) {
	tr := loadRun(t, r)
	src, err := os.Open(r.spec.Data)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	path := filepath.Join(t.TempDir(), "visits.csv")
	dst, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(src)
	w := bufio.NewWriter(dst)
	for first := true; sc.Scan(); first = false {
		extra := ",1"
		if first {
			extra = ",visits"
		}
		w.WriteString(sc.Text() + extra + "\n")
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}

	read := scoreOptions(tr)
	read.Extra = []string{"visits"}
	check := func(op string, err error) {
		t.Helper()
		if err == nil {
			t.Fatalf("%s accepted data with an extra feature", op)
		}
		for _, want := range []string{"extra_visits", "--extra"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%s: error %q does not name %q", op, err, want)
			}
		}
	}
	_, err = tr.Score(context.Background(), r.be, path, read)
	check("score", err)
	labelled := tr.Meta.Read
	labelled.Extra = []string{"visits"}
	out := t.TempDir()
	_, err = tr.Evaluate(context.Background(), r.be, path, labelled, out, true, 0)
	check("evaluate", err)
	if entries, _ := os.ReadDir(out); len(entries) != 0 {
		t.Errorf("refused evaluation wrote %v", entries)
	}

	// The same file read with the training mapping scores fine.
	if _, err := tr.Score(context.Background(), r.be, path, scoreOptions(tr)); err != nil {
		t.Errorf("the extra column left unmapped: %v", err)
	}
}

// testSpendScale ensures the stored spend scale is total actual over total
// predicted spend on the training and validation customers, and that
// predictions scale by exactly that factor while probabilities and deciles
// stay put.
func testSpendScale(t *testing.T, r run) {
	tr := loadRun(t, r)
	ds, err := clv.Load(context.Background(), r.spec.Data, r.spec.Read)
	if err != nil {
		t.Fatal(err)
	}
	var X []float32
	var actual, maxSpend float64
	rows := 0
	for _, c := range ds.Customers {
		if clv.SplitOf(c.ID) != clv.Test {
			X = append(X, c.Features...)
			actual += float64(float32(c.HoldoutSpend))
			maxSpend = max(maxSpend, float64(float32(c.HoldoutSpend)))
			rows++
		}
	}
	if tr.Meta.SpendCap != maxSpend {
		t.Errorf("spend cap %v, want the largest train+validation holdout spend %v", tr.Meta.SpendCap, maxSpend)
	}
	_, raw := tr.Net.Predict(r.be, X, rows)
	var calibrated float64
	for _, s := range raw {
		calibrated += min(s*tr.Meta.SpendScale, tr.Meta.SpendCap)
	}
	if math.Abs(calibrated-actual) > 1e-9*actual {
		t.Errorf("spend scale %v: capped calibrated total on train+validation %v, want the actual %v", tr.Meta.SpendScale, calibrated, actual)
	}

	read := scoreOptions(tr)
	tr.Meta.SpendScale, tr.Meta.SpendCap = 1, math.Inf(1)
	base, err := tr.Score(context.Background(), r.be, r.spec.Data, read)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []float64{0.25, 2.5, 1e3} {
		tr.Meta.SpendScale = s
		got, err := tr.Score(context.Background(), r.be, r.spec.Data, read)
		if err != nil {
			t.Fatal(err)
		}
		for i, p := range got.Predictions {
			b := base.Predictions[i]
			want := b
			want.ExpectedSpend = b.ExpectedSpend * s
			if p != want {
				t.Fatalf("scale %v: %+v, want %+v", s, p, want)
			}
		}
	}

	// A cap clips the largest predictions and leaves the others alone.
	tr.Meta.SpendScale = 1
	top := 0.0
	for _, p := range base.Predictions {
		top = max(top, p.ExpectedSpend)
	}
	tr.Meta.SpendCap = top / 2
	capped, err := tr.Score(context.Background(), r.be, r.spec.Data, read)
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range capped.Predictions {
		if want := min(base.Predictions[i].ExpectedSpend, top/2); p.ExpectedSpend != want {
			t.Fatalf("cap %v: customer %s spend %v, want %v", top/2, p.Customer, p.ExpectedSpend, want)
		}
	}
}

// testEvaluate ensures Evaluate of the saved model on the training data and
// options, test customers only, reproduces the training run's test metrics
// exactly, and that it needs a horizon.
func testEvaluate(t *testing.T, r run) {
	tr := loadRun(t, r)
	out := t.TempDir()
	ev, err := tr.Evaluate(context.Background(), r.be, r.spec.Data, r.spec.Read, out, true, 0)
	if err != nil {
		t.Fatalf("evaluate: %v", err)
	}
	if ev.Customers != r.res.Split.Test {
		t.Errorf("evaluated %d customers, the test split has %d", ev.Customers, r.res.Split.Test)
	}
	sameMetrics(t, "evaluate vs train, deep model", ev.Model, r.res.Model)
	sameMetrics(t, "evaluate vs train, baseline", ev.BaselineMetrics, r.res.BaselineMetrics)
	if ev.MetricsPath != filepath.Join(out, "metrics.json") || ev.ReportPath != filepath.Join(out, "report.html") {
		t.Errorf("paths %q %q", ev.MetricsPath, ev.ReportPath)
	}
	raw, err := os.ReadFile(ev.MetricsPath)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct{ Model eval.Metrics }
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	sameMetrics(t, "evaluate's metrics.json", doc.Model, ev.Model)

	noHorizon := r.spec.Read
	noHorizon.Horizon = clv.Horizon{}
	if _, err := tr.Evaluate(context.Background(), r.be, r.spec.Data, noHorizon, t.TempDir(), true, 0); err == nil ||
		!strings.Contains(err.Error(), "horizon is required") || !strings.Contains(err.Error(), "39.0 weeks") {
		t.Errorf("no horizon: got %v", err)
	}
}

// TestLoadTrainedRunDirectory ensures a run directory given where its model
// directory belongs is named as such, with the path to use, and that a
// missing directory still says what is missing.
func TestLoadTrainedRunDirectory(t *testing.T) {
	_, err := job.LoadTrained("testdata/model-v1")
	if err == nil || !strings.Contains(err.Error(), "testdata/model-v1 is a run directory; the model is testdata/model-v1/model") {
		t.Errorf("run directory: %v", err)
	}
	_, err = job.LoadTrained(t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "model.json") {
		t.Errorf("empty directory: %v, want the missing model.json named", err)
	}
}

// testScoreWarnsSplitIDs ensures Score passes on the log's own warnings
// (DataWarnings): a customer whose id is written "000017" on one row and
// "17" on the others is named as spelled two ways.
func testScoreWarnsSplitIDs(t *testing.T, r run) {
	raw, err := os.ReadFile(r.spec.Data)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(raw)), "\n")
	for i := 1; i < len(lines); i++ { // c0000017 -> 17: all-digit ids
		id, rest, _ := strings.Cut(lines[i], ",")
		lines[i] = strings.TrimLeft(strings.TrimPrefix(id, "c"), "0") + "," + rest
	}
	id, rest, _ := strings.Cut(lines[1], ",")
	lines = append(lines, "000"+id+","+rest)
	path := filepath.Join(t.TempDir(), "shop-ids.csv")
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tr := loadRun(t, r)
	for _, data := range []struct {
		path string
		want bool
	}{{r.spec.Data, false}, {path, true}} {
		sc, err := tr.Score(context.Background(), r.be, data.path, scoreOptions(tr))
		if err != nil {
			t.Fatalf("score %s: %v", data.path, err)
		}
		got := slices.ContainsFunc(sc.Warnings, func(w string) bool { return strings.Contains(w, "spelled more than one way") })
		if got != data.want {
			t.Errorf("%s: split-id warning %v, want %v (warnings %q)", filepath.Base(data.path), got, data.want, sc.Warnings)
		}
	}
}
