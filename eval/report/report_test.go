package report

import (
	"bytes"
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"errors"
	"image/png"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cohort-clv/cohort/eval"
)

// sampleData builds a CLV-like test set of n customers: most spend nothing,
// the model ranks them well, the baseline less well.
func sampleData(t testing.TB, n int) Data {
	t.Helper()
	rng := rand.New(rand.NewPCG(3, 4))
	const cols = 24
	X := make([]float32, n*cols)
	actual := make([]float64, n)
	model := make([]float64, n)
	base := make([]float64, n)
	pModel := make([]float64, n)
	pBase := make([]float64, n)
	names := make([]string, cols)
	for c := range names {
		names[c] = "feature_" + string(rune('a'+c))
	}
	names[0], names[1], names[2] = "frequency", "recency_weeks", "monetary_mean"
	for i := range n {
		for c := range cols {
			X[i*cols+c] = float32(rng.NormFloat64())
		}
		value := math.Exp(float64(X[i*cols]) + 0.5*float64(X[i*cols+1]) + 0.1*float64(X[i*cols+2]) + 3)
		if rng.Float64() < 0.3+0.4*sigmoid(float64(X[i*cols])) {
			actual[i] = math.Round(value*math.Exp(0.5*rng.NormFloat64())*100) / 100
		}
		pModel[i] = 0.3 + 0.4*sigmoid(float64(X[i*cols]))
		model[i] = pModel[i] * value
		pBase[i] = sigmoid(float64(X[i*cols]) + rng.NormFloat64())
		base[i] = pBase[i] * value * math.Exp(0.8*rng.NormFloat64())
	}
	predict := func(X []float32, rows int) []float64 {
		out := make([]float64, rows)
		for i := range rows {
			x0 := float64(X[i*cols])
			out[i] = (0.3 + 0.4*sigmoid(x0)) * math.Exp(x0+0.5*float64(X[i*cols+1])+0.1*float64(X[i*cols+2])+3)
		}
		return out
	}
	imp, err := eval.PermutationImportance(context.Background(), X, n, cols, names, actual, predict, eval.MetricNormalizedGini, 1, 3)
	if err != nil {
		t.Fatal(err)
	}
	boot, err := eval.PairedBootstrap(context.Background(), actual, model, base, 50, 1)
	if err != nil {
		t.Fatal(err)
	}
	var hist []Epoch
	for e := 1; e <= 30; e++ {
		hist = append(hist, Epoch{e, 3 + 2*math.Exp(-float64(e)/5), 3.3 + 2*math.Exp(-float64(e)/6) + 0.002*float64(e*e)/10})
	}
	day := func(s string) time.Time { v, _ := time.Parse(time.DateOnly, s); return v }
	return Data{
		Summary: Summary{
			DataFile: "CDNOW_master.txt", Customers: n * 100 / 15, Train: n * 70 / 15, Validation: n, Test: n,
			CalibrationStart: day("1997-01-01"), CalibrationEnd: day("1997-09-30"),
			HoldoutStart: day("1997-10-01"), HoldoutEnd: day("1998-06-30"), Horizon: "39w",
			Backend: "cpu", Workers: 2, Model: "MLP 6-8-3 with a ZILN head; seed 1",
		},
		Actual:   actual,
		Model:    Predictor{Name: "ZILN DNN", Spend: model, PReturn: pModel},
		Baseline: Predictor{Name: "BG/NBD + Gamma-Gamma", Spend: base, PReturn: pBase},
		BaselineParams: BaselineParams{
			BGNBD:      BGNBD{R: 0.243, Alpha: 4.414, A: 0.793, B: 2.426},
			GammaGamma: GammaGamma{P: 6.25, Q: 3.74, V: 15.44},
		},
		History: hist, BestEpoch: 21, Importance: &imp, Bootstrap: &boot,
	}
}

func sigmoid(x float64) float64 { return 1 / (1 + math.Exp(-x)) }

// parsedPage is what the tests read back from the rendered HTML.
type parsedPage struct {
	sections map[string]bool
	imgs     []string
	best     map[string][]string // metrics row label -> text of its bold cells, intervals left out
	ci       map[string][]string // metrics row label -> its bootstrap intervals
	cells    map[string][]string // metrics row label -> text of its cells after the label, intervals left out
	text     string
	external []string // src/href values that are not data: URIs or anchors
}

// parseHTML reads the page with encoding/xml in its lenient HTML mode, so a
// malformed page fails the test instead of slipping through a regexp.
func parseHTML(t *testing.T, doc []byte) parsedPage {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(doc))
	d.Strict, d.AutoClose, d.Entity = false, xml.HTMLAutoClose, xml.HTMLEntity
	p := parsedPage{sections: map[string]bool{}, best: map[string][]string{}, ci: map[string][]string{}, cells: map[string][]string{}}
	var text strings.Builder
	var rowLabel string
	inBest, inCI, cellNo := false, false, 0
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("page does not parse: %v", err)
		}
		switch tk := tok.(type) {
		case xml.StartElement:
			attr := map[string]string{}
			for _, a := range tk.Attr {
				attr[a.Name.Local] = a.Value
			}
			switch tk.Name.Local {
			case "section":
				p.sections[attr["id"]] = true
			case "img":
				p.imgs = append(p.imgs, attr["src"])
			case "tr":
				rowLabel, cellNo = "", 0
			case "td":
				cellNo++
				inBest = strings.Contains(attr["class"], "best")
				if cellNo > 1 && rowLabel != "" {
					p.cells[rowLabel] = append(p.cells[rowLabel], "")
				}
			case "span":
				inCI = attr["class"] == "ci"
			case "link", "script", "iframe":
				p.external = append(p.external, "<"+tk.Name.Local+">")
			}
			for _, k := range []string{"src", "href"} {
				if v, ok := attr[k]; ok && !strings.HasPrefix(v, "data:") && !strings.HasPrefix(v, "#") {
					p.external = append(p.external, v)
				}
			}
		case xml.EndElement:
			switch tk.Name.Local {
			case "td":
				inBest = false
			case "span":
				inCI = false
			}
		case xml.CharData:
			s := strings.TrimSpace(string(tk))
			text.WriteString(string(tk))
			if cellNo == 1 && rowLabel == "" && s != "" {
				rowLabel = s
			}
			switch {
			case s == "" || cellNo < 2:
			case inCI:
				p.ci[rowLabel] = append(p.ci[rowLabel], s)
			default:
				if c := p.cells[rowLabel]; len(c) > 0 {
					c[len(c)-1] += s
				}
				if inBest {
					p.best[rowLabel] = append(p.best[rowLabel], s)
				}
			}
		}
	}
	p.text = strings.Join(strings.Fields(text.String()), " ")
	return p
}

// checkPNG ensures src is a PNG data URI that image/png decodes, and returns
// its width.
func checkPNG(t *testing.T, src string) int {
	t.Helper()
	b64, ok := strings.CutPrefix(src, "data:image/png;base64,")
	if !ok {
		t.Fatalf("img src %.40q is not a PNG data URI", src)
	}
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		t.Fatalf("img base64: %v", err)
	}
	img, err := png.Decode(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("img does not decode as PNG: %v", err)
	}
	return img.Bounds().Dx()
}

// render renders d's page; lowRes trades pixels for speed where a test
// checks structure, not legibility.
func render(t *testing.T, d Data, lowRes bool) (*Report, []byte) {
	t.Helper()
	r, err := New(d)
	if err != nil {
		t.Fatal(err)
	}
	if lowRes {
		r.dpi = 24
	}
	var buf bytes.Buffer
	if err := r.WriteHTML(context.Background(), &buf); err != nil {
		t.Fatal(err)
	}
	return r, buf.Bytes()
}

// TestHTMLRendersEverySection ensures the page has every section, each plot
// is an inline PNG that decodes, nothing is fetched from outside, and the
// better predictor is the one marked in the metrics table.
func TestHTMLRendersEverySection(t *testing.T) {
	d := sampleData(t, 600)
	r, doc := render(t, d, false)
	p := parseHTML(t, doc)

	for _, id := range []string{"summary", "metrics", "gain", "deciles", "training", "importance", "baseline"} {
		if !p.sections[id] {
			t.Errorf("section %q missing", id)
		}
	}
	if len(p.external) > 0 {
		t.Errorf("page references outside resources: %v", p.external)
	}
	// Gain, two decile charts, loss, importance.
	if len(p.imgs) != 5 {
		t.Fatalf("%d images, want 5", len(p.imgs))
	}
	for _, src := range p.imgs {
		if w := checkPNG(t, src); w < 600 {
			t.Errorf("image %d px wide, want at least 600 to be readable", w)
		}
	}
	for _, want := range []string{
		"70/15/15 stable hash split of customer ids: train 2,800, validation 600, test 600",
		"The 600 test customers were not used for training or early stopping",
		"CDNOW_master.txt", "1997-01-01 to 1997-09-30", "1997-10-01 to 1998-06-30 (39w)",
		"kept epoch 21", "MLP 6-8-3 with a ZILN head; seed 1", "0.243", "4.414", "15.44", "ZILN DNN", "BG/NBD + Gamma-Gamma",
	} {
		if !strings.Contains(p.text, want) {
			t.Errorf("page text lacks %q", want)
		}
	}

	m, _ := r.BaselineMetrics()
	if !(r.ModelMetrics().NormalizedGini > m.NormalizedGini) {
		t.Fatalf("sample data should favour the model: %v vs %v", r.ModelMetrics().NormalizedGini, m.NormalizedGini)
	}
	want := fmtScore(r.ModelMetrics().NormalizedGini)
	if got := p.best["Normalized Gini"]; len(got) != 1 || got[0] != want {
		t.Errorf("bold Normalized Gini cells %q, want just the model's %q", got, want)
	}
	if got := p.best["Total predicted spend"]; len(got) != 0 {
		t.Errorf("total predicted spend has bold cells %q, want none", got)
	}

	// Bootstrap intervals under the scores, and how often the model led.
	b := d.Bootstrap
	wantCI := []string{fmtInterval(b.Model[eval.MetricNormalizedGini], fmtScore), fmtInterval(b.Baseline[eval.MetricNormalizedGini], fmtScore)}
	if got := p.ci["Normalized Gini"]; !slices.Equal(got, wantCI) {
		t.Errorf("Normalized Gini intervals %q, want %q", got, wantCI)
	}
	if got := p.ci["RMSE"]; len(got) != 2 || !strings.Contains(got[0], ".") {
		t.Errorf("RMSE intervals %q, want two money intervals", got)
	}
	for _, label := range []string{"AUC of P(return)", "Total predicted spend"} {
		if got := p.ci[label]; len(got) != 0 {
			t.Errorf("%s has intervals %q, want none: the bootstrap does not cover it", label, got)
		}
	}
	share := eval.FormatShare(float64(b.ModelBetter[eval.MetricNormalizedGini]))
	if got := p.cells["Normalized Gini"]; len(got) != 4 || got[2] != share {
		t.Errorf("Normalized Gini cells %q, want model, baseline, %q, help", got, share)
	}
	if !strings.Contains(p.text, "90% intervals over 50 resamples of the 600 test customers") {
		t.Error("page does not explain the intervals")
	}
	// The verdict opens the metrics, each sentence once.
	if len(b.Verdict.Text) == 0 {
		t.Fatal("the fixture's bootstrap has no verdict")
	}
	for _, line := range b.Verdict.Text {
		if n := strings.Count(p.text, line); n != 1 {
			t.Errorf("verdict %q appears %d times, want once", line, n)
		}
	}
}

// TestHTMLOptionalParts ensures a run without baseline, history or
// importance, and one where nobody spent, still render, saying what is missing.
func TestHTMLOptionalParts(t *testing.T) {
	t.Run("model only", func(t *testing.T) {
		d := sampleData(t, 200)
		d.Baseline, d.History, d.Importance = Predictor{}, nil, nil
		boot, err := eval.PairedBootstrap(context.Background(), d.Actual, d.Model.Spend, nil, 20, 1)
		if err != nil {
			t.Fatal(err)
		}
		d.Bootstrap = &boot
		_, doc := render(t, d, true)
		p := parseHTML(t, doc)
		if got := p.cells["Normalized Gini"]; len(got) != 2 || len(p.ci["Normalized Gini"]) != 1 || strings.Contains(p.text, "Model better in") {
			t.Errorf("model-only Gini cells %q, intervals %q; want the model's score with its interval, and the help", got, p.ci["Normalized Gini"])
		}
		if p.sections["baseline"] || len(p.imgs) != 2 {
			t.Errorf("baseline section %v, %d images; want none and 2 (gain, model deciles)", p.sections["baseline"], len(p.imgs))
		}
		for _, want := range []string{"No training history", "not computed"} {
			if !strings.Contains(p.text, want) {
				t.Errorf("page lacks %q", want)
			}
		}
	})
	t.Run("nobody spent", func(t *testing.T) {
		d := sampleData(t, 200)
		d.Actual = make([]float64, len(d.Actual))
		for i := range d.History {
			d.History[i].ValidationLoss = math.NaN() // trained without validation rows
		}
		r, doc := render(t, d, true)
		p := parseHTML(t, doc)
		if !strings.Contains(p.text, "gain chart is undefined") || len(p.imgs) != 4 {
			t.Errorf("%d images; want the gain chart replaced by a note and 4 others", len(p.imgs))
		}
		if !math.IsNaN(r.ModelMetrics().NormalizedGini) || !strings.Contains(p.text, "n/a") {
			t.Error("undefined Gini is not shown as n/a")
		}
		for _, src := range p.imgs {
			checkPNG(t, src)
		}
	})
}

// TestMetricsJSONKeys ensures metrics.json has every key the CLI promises,
// with the values Compute gives, and null for undefined values.
func TestMetricsJSONKeys(t *testing.T) {
	d := sampleData(t, 300)
	d.Summary.Settings = map[string]any{"seed": 7, "lr": 0.001}
	d.Summary.Calibration, d.Summary.Version = "factor", "v1.2.3 abcdef"
	r, err := New(d)
	if err != nil {
		t.Fatal(err)
	}
	b, err := r.MetricsJSON()
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	lookup := func(path string) (any, bool) {
		var cur any = doc
		for _, k := range strings.Split(path, ".") {
			m, ok := cur.(map[string]any)
			if !ok {
				return nil, false
			}
			if cur, ok = m[k]; !ok {
				return nil, false
			}
		}
		return cur, true
	}
	if v, _ := lookup("test_customers"); v != float64(300) {
		t.Errorf("test_customers = %v, want 300", v)
	}
	bm, _ := r.BaselineMetrics()
	for _, sec := range []struct {
		name string
		m    eval.Metrics
	}{{"model", r.ModelMetrics()}, {"baseline", bm}} {
		for _, k := range []eval.Metric{eval.MetricNormalizedGini, eval.MetricSpearman, eval.MetricDecileMAPE,
			eval.MetricAUC, eval.MetricRMSE, eval.MetricSpendRatio} {
			v, ok := lookup(sec.name + "." + string(k))
			if f, isNum := v.(float64); !ok || !isNum || f != sec.m.Get(k) {
				t.Errorf("%s.%s = %v, want %v", sec.name, k, v, sec.m.Get(k))
			}
		}
	}
	params := map[string]float64{
		"baseline.params.bgnbd.r": 0.243, "baseline.params.bgnbd.alpha": 4.414,
		"baseline.params.bgnbd.a": 0.793, "baseline.params.bgnbd.b": 2.426,
		"baseline.params.gamma_gamma.p": 6.25, "baseline.params.gamma_gamma.q": 3.74,
		"baseline.params.gamma_gamma.v": 15.44,
	}
	for k, want := range params {
		if v, ok := lookup(k); !ok || v != want {
			t.Errorf("%s = %v, want %v", k, v, want)
		}
	}
	for k, want := range map[string]any{"run.settings.seed": 7.0, "run.settings.lr": 0.001, "run.calibration": "factor", "run.cohort_version": "v1.2.3 abcdef"} {
		if v, ok := lookup(k); !ok || v != want {
			t.Errorf("%s = %v, want %v", k, v, want)
		}
	}
	if v, ok := lookup("feature_importance.metric"); !ok || v != "normalized_gini" {
		t.Errorf("feature_importance.metric = %v", v)
	}
	boot := map[string]float64{
		"bootstrap.draws":                                float64(d.Bootstrap.Draws),
		"bootstrap.model.normalized_gini.p5":             float64(d.Bootstrap.Model[eval.MetricNormalizedGini].P5),
		"bootstrap.baseline.spend_ratio.p95":             float64(d.Bootstrap.Baseline[eval.MetricSpendRatio].P95),
		"bootstrap.model_minus_baseline.spearman.median": float64(d.Bootstrap.Difference[eval.MetricSpearman].Median),
		"bootstrap.model_better_share.normalized_gini":   float64(d.Bootstrap.ModelBetter[eval.MetricNormalizedGini]),
	}
	for k, want := range boot {
		if v, ok := lookup(k); !ok || v != want {
			t.Errorf("%s = %v, want %v", k, v, want)
		}
	}
	for k, want := range map[string]string{"bootstrap.verdict.ranking": d.Bootstrap.Verdict.Ranking, "bootstrap.verdict.level": d.Bootstrap.Verdict.Level} {
		if v, ok := lookup(k); !ok || v != want || want == "" {
			t.Errorf("%s = %v, want %q (not empty)", k, v, want)
		}
	}

	t.Run("undefined and absent", func(t *testing.T) {
		d.Actual = make([]float64, len(d.Actual))
		d.Baseline = Predictor{}
		d.History[0].ValidationLoss = math.NaN()
		r, err := New(d)
		if err != nil {
			t.Fatal(err)
		}
		b, err := r.MetricsJSON()
		if err != nil {
			t.Fatal(err)
		}
		doc = nil
		if err := json.Unmarshal(b, &doc); err != nil {
			t.Fatal(err)
		}
		if v, ok := lookup("model.normalized_gini"); !ok || v != nil {
			t.Errorf("model.normalized_gini = %v (present %v), want null", v, ok)
		}
		if v, ok := lookup("baseline"); !ok || v != nil {
			t.Errorf("baseline = %v (present %v), want null", v, ok)
		}
		if h, _ := doc["history"].([]any); len(h) != 30 || h[0].(map[string]any)["validation_loss"] != nil {
			t.Errorf("history %.80v, want 30 epochs, the first with a null validation loss", h)
		}
	})
}

// TestNewRejects ensures inconsistent data fails with an error naming it.
func TestNewRejects(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Data)
		want   string
	}{
		{"model length", func(d *Data) { d.Model.Spend = d.Model.Spend[1:] }, `report: model "ZILN DNN": eval: compute: 99 predictions for 100`},
		{"baseline nan", func(d *Data) { d.Baseline.Spend[3] = math.NaN() }, `report: baseline "BG/NBD + Gamma-Gamma": eval: compute: prediction 3 is NaN`},
		{"return score", func(d *Data) { d.Model.PReturn = d.Model.PReturn[:5] }, "return score"},
		{"test count", func(d *Data) { d.Summary.Test = 99 }, "summary counts 99 test customers but Actual holds 100"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := sampleData(t, 100)
			tt.mutate(&d)
			_, err := New(d)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

// TestWriteIsAtomic ensures Write leaves both files complete, and a failed
// write neither replaces the old file nor leaves a temporary one behind.
func TestWriteIsAtomic(t *testing.T) {
	dir := t.TempDir()
	r, err := New(sampleData(t, 200))
	if err != nil {
		t.Fatal(err)
	}
	r.dpi = 24
	htmlPath, jsonPath, err := r.Write(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	before, err := os.ReadFile(htmlPath)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasSuffix(bytes.TrimSpace(before), []byte("</html>")) {
		t.Error("report.html is not complete")
	}
	if b, err := os.ReadFile(jsonPath); err != nil || !json.Valid(b) {
		t.Errorf("metrics.json unreadable or invalid: %v", err)
	}
	if fi, err := os.Stat(htmlPath); err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("report.html mode %v (%v), want 0644", fi.Mode(), err)
	}

	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	if err := r.WriteHTMLFile(cancelled, htmlPath); !errors.Is(err, context.Canceled) {
		t.Errorf("write with a cancelled context: %v, want context.Canceled", err)
	}
	fresh := filepath.Join(dir, "other.html")
	if err := r.WriteHTMLFile(cancelled, fresh); err == nil {
		t.Error("write with a cancelled context succeeded")
	}
	after, _ := os.ReadFile(htmlPath)
	if !bytes.Equal(before, after) {
		t.Error("failed write changed the existing report")
	}
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if strings.Join(names, ",") != "metrics.json,report.html" {
		t.Errorf("directory holds %v, want only metrics.json and report.html", names)
	}
	if _, _, err := r.Write(context.Background(), filepath.Join(dir, "missing")); err == nil {
		t.Error("write into a missing directory succeeded")
	}
}

// TestHTMLDeterministic ensures identical data render to identical bytes, so
// reports of reproducible runs can be compared with diff.
func TestHTMLDeterministic(t *testing.T) {
	d := sampleData(t, 150)
	_, a := render(t, d, true)
	_, b := render(t, d, true)
	if !bytes.Equal(a, b) {
		t.Error("two renders of the same data differ")
	}
}

// TestFormatting ensures the number formats the page relies on.
func TestFormatting(t *testing.T) {
	tests := []struct{ got, want string }{
		{fmtMoney(1234567.891), "1,234,567.89"},
		{fmtMoney(-12.5), "−12.50"},
		{fmtMoney(math.NaN()), "n/a"},
		{fmtInt(1000), "1,000"},
		{fmtInt(999), "999"},
		{fmtScore(0.71234), "0.712"},
		{fmtScore(math.Inf(1)), "n/a"},
		{fmtParam(0.24289), "0.2429"},
		{window(time.Time{}, time.Date(1997, 9, 30, 0, 0, 0, 0, time.UTC), "39w"), "up to 1997-09-30 (39w)"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
}

// predictDecile is cohort predict's decile column (job.deciles), restated
// here because job imports this package: customers ranked by prediction,
// highest first, rank*10/n + 1, so that 1 is the top tenth.
func predictDecile(pred []float64) []int {
	idx := make([]int, len(pred))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int { return cmp.Compare(pred[b], pred[a]) })
	out := make([]int, len(pred))
	for rank, i := range idx {
		out[i] = rank*10/len(pred) + 1
	}
	return out
}

// TestDecileChartFollowsPredict ensures the report's decile chart numbers
// and orders its bars as cohort predict numbers deciles: bar "1" on the
// left, holding exactly the customers predict puts in decile 1 (the top
// tenth), down to "10"; its axis and the page say so, and say that
// metrics.json keeps the reference's lowest-first order, which it does.
func TestDecileChartFollowsPredict(t *testing.T) {
	const n = 1000
	rng := rand.New(rand.NewPCG(5, 6))
	pred, actual := make([]float64, n), make([]float64, n)
	for i := range pred {
		pred[i] = math.Exp(rng.NormFloat64())
		actual[i] = pred[i] * rng.ExpFloat64()
	}
	ds, err := eval.Deciles(pred, actual)
	if err != nil {
		t.Fatal(err)
	}
	bars := decileBars(ds)
	if len(bars) != 10 {
		t.Fatalf("%d bars, want 10", len(bars))
	}
	dec := predictDecile(pred)
	for k, b := range bars {
		if want := strconv.Itoa(k + 1); b.label != want {
			t.Errorf("bar %d from the left is labelled %q, want %q", k, b.label, want)
		}
		// The customers predict puts in decile k+1 are the bar's customers.
		var sp, sa float64
		var m int
		for i, d := range dec {
			if d == k+1 {
				sp, sa, m = sp+pred[i], sa+actual[i], m+1
			}
		}
		if mp, ma := sp/float64(m), sa/float64(m); math.Abs(b.pred-mp) > 1e-9*mp || math.Abs(b.act-ma) > 1e-9*ma {
			t.Errorf("bar %q: mean predicted %v, actual %v; predict's decile %d has %v, %v", b.label, b.pred, b.act, k+1, mp, ma)
		}
	}

	p, err := decilePlot("model", modelRGB, ds, "spend")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(p.X.Label.Text, "1 = top tenth") {
		t.Errorf("x axis %q does not say that 1 is the top tenth", p.X.Label.Text)
	}
	var ticks []string
	for _, tk := range p.X.Tick.Marker.Ticks(p.X.Min, p.X.Max) {
		if tk.Label != "" {
			ticks = append(ticks, tk.Label)
		}
	}
	if want := []string{"1", "2", "3", "4", "5", "6", "7", "8", "9", "10"}; !slices.Equal(ticks, want) {
		t.Errorf("x tick labels left to right %q, want %q", ticks, want)
	}

	// The page, and metrics.json's order, which scripts read.
	r, doc := render(t, Data{Actual: actual, Model: Predictor{Name: "model", Spend: pred}}, true)
	text := parseHTML(t, doc).text
	for _, want := range []string{"decile 1 is the top tenth, as in cohort predict's decile column",
		"metrics.json lists the same buckets the other way round, lowest predictions first (index 0)"} {
		if !strings.Contains(strings.Join(strings.Fields(text), " "), want) {
			t.Errorf("page text lacks %q", want)
		}
	}
	raw, err := r.MetricsJSON()
	if err != nil {
		t.Fatal(err)
	}
	var doc2 struct {
		Deciles map[string][]decileDoc `json:"deciles"`
	}
	if err := json.Unmarshal(raw, &doc2); err != nil {
		t.Fatal(err)
	}
	js := doc2.Deciles["model"]
	if len(js) != 10 || js[0].Index != 0 || js[9].Index != 9 || !(js[0].MeanPredicted < js[9].MeanPredicted) ||
		js[0].MeanPredicted != bars[9].pred {
		t.Errorf("metrics.json deciles: want index 0 the lowest predictions (bar \"10\"), 9 the highest; got %+v", js)
	}
}

// TestDecileBarsTied ensures that when tied predictions merge tenths, the
// bars still read from the top, their labels cover 1 to 10 without gaps or
// overlaps, and the caption explains the ranges.
func TestDecileBarsTied(t *testing.T) {
	const n = 1000
	pred, actual := make([]float64, n), make([]float64, n)
	for i := range pred {
		pred[i] = float64(i)
		if i >= 300 && i < 800 { // half the customers tie: tenths 3-7 from the top merge
			pred[i] = 300
		}
		actual[i] = float64(i % 7)
	}
	ds, err := eval.Deciles(pred, actual)
	if err != nil {
		t.Fatal(err)
	}
	bars := decileBars(ds)
	next := 1
	for i, b := range bars {
		first, last, _ := strings.Cut(b.label, "–")
		if last == "" {
			last = first
		}
		f, err1 := strconv.Atoi(first)
		l, err2 := strconv.Atoi(last)
		if err1 != nil || err2 != nil || f != next || l < f {
			t.Fatalf("bar %d label %q: want tenths from %d on (labels %v)", i, b.label, next, bars)
		}
		if i > 0 && !(b.pred < bars[i-1].pred) {
			t.Errorf("bar %q mean prediction %v, not below the bar left of it (%v)", b.label, b.pred, bars[i-1].pred)
		}
		next = l + 1
	}
	if next != 11 {
		t.Errorf("labels end at tenth %d, want 10 (bars %v)", next-1, bars)
	}
	if !slices.ContainsFunc(bars, func(b decileBar) bool { return strings.Contains(b.label, "–") }) {
		t.Fatalf("no merged bar among %v: the fixture does not tie enough", bars)
	}
	_, doc := render(t, Data{Actual: actual, Model: Predictor{Name: "model", Spend: pred}}, true)
	if text := parseHTML(t, doc).text; !strings.Contains(text, "Tied predictions merged some tenths into one bar") {
		t.Error("caption does not explain the merged bars")
	}
}
