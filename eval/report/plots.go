package report

import (
	"bytes"
	"cmp"
	"encoding/base64"
	"fmt"
	"html/template"
	"image/color"
	"math"
	"slices"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"github.com/cohort-clv/cohort/eval"
)

// Plot geometry: wide enough to read on a laptop, rendered at 2× so that
// lines stay crisp on high-density screens.
const (
	plotDPI       = 144
	plotWidth     = 7 * vg.Inch
	plotHeight    = 4.2 * vg.Inch
	halfWidth     = 5 * vg.Inch
	maxGainPoints = 800
	topFeatures   = 20
)

// Series colours, from the Tableau 10 palette that colour-blind readers can
// tell apart.
const (
	modelRGB    = 0x1f77b4
	baselineRGB = 0xff7f0e
	perfectRGB  = 0x2ca02c
	randomRGB   = 0x7f7f7f
)

func rgb(hex uint32) color.RGBA {
	return color.RGBA{R: uint8(hex >> 16), G: uint8(hex >> 8), B: uint8(hex), A: 255}
}

// pngURI renders p to a PNG and returns it as a data: URI. The URI is built
// here from our own bytes, so marking it safe for html/template is sound.
func pngURI(p *plot.Plot, w, h vg.Length, dpi int) (template.URL, error) {
	c := vgimg.NewWith(vgimg.UseWH(w, h), vgimg.UseDPI(dpi))
	// A small margin: gonum sets tick labels flush with the canvas edge.
	m := vg.Points(8)
	p.Draw(draw.Crop(draw.New(c), m, -m, m/2, -m/2))
	var buf bytes.Buffer
	if _, err := (vgimg.PngCanvas{Canvas: c}).WriteTo(&buf); err != nil {
		return "", fmt.Errorf("encode png: %w", err)
	}
	return template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(buf.Bytes())), nil
}

// newPlot returns a plot with the page's look: sans-serif text (set per
// plot, since gonum's DefaultFont is a package variable we must not touch),
// a light grid and labelled axes.
func newPlot(title, x, y string) *plot.Plot {
	p := plot.New()
	sans := func(f *font.Font) { f.Variant = "Sans" }
	for _, f := range []*font.Font{&p.Title.TextStyle.Font, &p.Legend.TextStyle.Font,
		&p.X.Label.TextStyle.Font, &p.Y.Label.TextStyle.Font,
		&p.X.Tick.Label.Font, &p.Y.Tick.Label.Font} {
		sans(f)
	}
	p.Title.TextStyle.Font.Size = vg.Points(13)
	p.X.Tick.Marker, p.Y.Tick.Marker = niceTicks{}, niceTicks{}
	p.Title.Text = title
	p.Title.Padding = vg.Points(6)
	p.X.Label.Text = x
	p.Y.Label.Text = y
	p.Add(plotter.NewGrid())
	return p
}

// gainCurve is one predictor's gain chart for the plot.
type gainCurve struct {
	name string
	gini float64
	rgb  uint32
	pred []float64
}

// gainPlot draws the gain charts of the predictors with the perfect ranking
// and the random diagonal. It returns nil when actual spend sums to 0, where
// the gain chart is undefined. noun names what actual counts ("spend",
// "purchase days").
func gainPlot(actual []float64, curves []gainCurve, noun string) (*plot.Plot, error) {
	perfect, err := eval.GainCurve(actual, actual)
	if err != nil {
		return nil, nil
	}
	p := newPlot("Gain chart: share of holdout "+noun+" captured by the top-ranked customers",
		"share of customers, ranked by predicted "+noun+" (highest first)", "share of actual holdout "+noun)
	p.X.Min, p.X.Max, p.Y.Min, p.Y.Max = 0, 1, 0, 1
	p.Legend.Top, p.Legend.Left = false, false
	p.Legend.XOffs, p.Legend.YOffs = -vg.Points(8), vg.Points(8)

	random, err := plotter.NewLine(plotter.XYs{{X: 0, Y: 0}, {X: 1, Y: 1}})
	if err != nil {
		return nil, err
	}
	random.Color, random.Dashes = rgb(randomRGB), []vg.Length{vg.Points(4), vg.Points(3)}
	if err := addGain(p, perfect, "perfect ranking", perfectRGB, true); err != nil {
		return nil, err
	}
	for _, c := range curves {
		g, err := eval.GainCurve(c.pred, actual)
		if err != nil {
			return nil, err
		}
		if err := addGain(p, g, fmt.Sprintf("%s (normalized Gini %s)", c.name, fmtScore(c.gini)), c.rgb, false); err != nil {
			return nil, err
		}
	}
	p.Add(random)
	p.Legend.Add("random ranking", random)
	return p, nil
}

func addGain(p *plot.Plot, gain []float64, label string, hex uint32, dashed bool) error {
	n := len(gain)
	pts := make(plotter.XYs, 0, min(n, maxGainPoints)+1)
	pts = append(pts, plotter.XY{})
	// Thin long curves to maxGainPoints evenly spaced customers; the last
	// point is always kept so every curve ends at (1, 1).
	step := max(1, n/maxGainPoints)
	for i := step - 1; i < n; i += step {
		pts = append(pts, plotter.XY{X: float64(i+1) / float64(n), Y: gain[i]})
	}
	if pts[len(pts)-1].X != 1 {
		pts = append(pts, plotter.XY{X: 1, Y: gain[n-1]})
	}
	l, err := plotter.NewLine(pts)
	if err != nil {
		return err
	}
	l.Color, l.Width = rgb(hex), vg.Points(1.8)
	if dashed {
		l.Dashes = []vg.Length{vg.Points(6), vg.Points(3)}
		l.Width = vg.Points(1.2)
	}
	p.Add(l)
	p.Legend.Add(label, l)
	return nil
}

// decilePlot draws mean predicted next to mean actual spend per prediction
// decile for one predictor, the highest predictions on the left and
// numbered as cohort predict numbers its decile column: 1 is the top tenth
// (decileBars). noun names what is predicted ("spend", "purchase days").
func decilePlot(name string, hex uint32, ds []eval.Decile, noun string) (*plot.Plot, error) {
	p := newPlot(name, fmt.Sprintf(decileAxis, noun), "mean holdout "+noun+" per customer")
	p.Legend.Top, p.Legend.Left = true, false
	p.Legend.XOffs, p.Legend.YOffs = -vg.Points(8), -vg.Points(4)
	bars := decileBars(ds)
	pred := make(plotter.Values, len(bars))
	act := make(plotter.Values, len(bars))
	labels := make([]string, len(bars))
	for i, b := range bars {
		pred[i], act[i], labels[i] = b.pred, b.act, b.label
	}
	w := vg.Points(11)
	bp, err := plotter.NewBarChart(pred, w)
	if err != nil {
		return nil, err
	}
	bp.Color, bp.LineStyle.Width, bp.Offset = rgb(hex), 0, -w/2
	ba, err := plotter.NewBarChart(act, w)
	if err != nil {
		return nil, err
	}
	ba.Color, ba.LineStyle.Width, ba.Offset = color.RGBA{R: 0x44, G: 0x44, B: 0x44, A: 255}, 0, w/2
	p.Add(bp, ba)
	p.Legend.Add("predicted", bp)
	p.Legend.Add("actual", ba)
	p.NominalX(labels...)
	p.Y.Min = math.Min(0, p.Y.Min)
	p.Y.Max += 0.12 * (p.Y.Max - p.Y.Min) // room for the legend above the tallest bar
	return p, nil
}

// decileAxis is the decile chart's x-axis label, for what is predicted.
const decileAxis = "decile of predicted %s (1 = top tenth, as in cohort predict)"

// decileBar is one bucket of the decile chart.
type decileBar struct {
	// label names the tenths of customers the bucket holds, counted from
	// the highest predictions as cohort predict's decile column counts
	// them: "1" is the top tenth, "10" the bottom one, and "5–9" a bucket
	// that tied predictions made of several tenths.
	label     string
	pred, act float64
}

// decileBars orders ds, which eval.Deciles (and metrics.json, following
// google/lifetime_value's decile_stats) lists lowest predictions first,
// highest first, and labels each bucket with the tenths it spans, counting
// customers from the top. Ten buckets are labelled 1 to 10.
func decileBars(ds []eval.Decile) []decileBar {
	n := 0
	for _, d := range ds {
		n += d.Count
	}
	out := make([]decileBar, 0, len(ds))
	above := 0 // customers in the buckets already laid out
	for i := len(ds) - 1; i >= 0; i-- {
		d := ds[i]
		label := strconv.Itoa(len(ds) - i)
		if n > 0 {
			// A bucket's edges are quantiles, so it holds whole tenths give
			// or take a customer: round its ends to the nearest tenth.
			first := int(math.Floor(float64(above)*10/float64(n)+0.5)) + 1
			last := max(first, int(math.Floor(float64(above+d.Count)*10/float64(n)+0.5)))
			label = strconv.Itoa(first)
			if last > first {
				label += "–" + strconv.Itoa(last)
			}
		}
		out = append(out, decileBar{label: label, pred: d.MeanPredicted, act: d.MeanActual})
		above += d.Count
	}
	return out
}

// lossPlot draws the training and validation loss per epoch, marking the
// epoch early stopping kept. Non-finite losses (a diverged epoch) are
// skipped rather than failing the report.
func lossPlot(history []Epoch, best int) (*plot.Plot, error) {
	p := newPlot("Training history", "epoch", "mean ZILN loss")
	p.Legend.Top = true
	p.Legend.XOffs, p.Legend.YOffs = -vg.Points(8), -vg.Points(4)
	var train, val plotter.XYs
	for _, e := range history {
		if finite(e.TrainLoss) {
			train = append(train, plotter.XY{X: float64(e.Epoch), Y: e.TrainLoss})
		}
		if finite(e.ValidationLoss) {
			val = append(val, plotter.XY{X: float64(e.Epoch), Y: e.ValidationLoss})
		}
	}
	for _, s := range []struct {
		name string
		pts  plotter.XYs
		hex  uint32
	}{{"training", train, modelRGB}, {"validation", val, baselineRGB}} {
		if len(s.pts) == 0 {
			continue
		}
		l, pts, err := plotter.NewLinePoints(s.pts)
		if err != nil {
			return nil, err
		}
		l.Color, l.Width = rgb(s.hex), vg.Points(1.6)
		pts.Color, pts.Shape, pts.Radius = rgb(s.hex), draw.CircleGlyph{}, vg.Points(2)
		p.Add(l, pts)
		p.Legend.Add(s.name, l, pts)
	}
	if best > 0 {
		ymin, ymax := math.Inf(1), math.Inf(-1)
		for _, pt := range slices.Concat(train, val) {
			ymin, ymax = math.Min(ymin, pt.Y), math.Max(ymax, pt.Y)
		}
		if ymin <= ymax {
			l, err := plotter.NewLine(plotter.XYs{{X: float64(best), Y: ymin}, {X: float64(best), Y: ymax}})
			if err != nil {
				return nil, err
			}
			l.Color, l.Dashes = rgb(randomRGB), []vg.Length{vg.Points(4), vg.Points(3)}
			p.Add(l)
			p.Legend.Add(fmt.Sprintf("kept epoch %d", best), l)
		}
	}
	// Leave room at the top for the legend and start the axis at epoch 0.
	p.X.Min = math.Min(p.X.Min, 0)
	p.Y.Max += 0.25 * (p.Y.Max - p.Y.Min)
	return p, nil
}

// importancePlot draws the top features' mean importance with ±1 standard
// deviation, the most important at the top. It also returns a height that
// fits the number of bars.
func importancePlot(imp *eval.Importances) (*plot.Plot, vg.Length, error) {
	feats := slices.Clone(imp.Features)
	feats = slices.DeleteFunc(feats, func(f eval.Importance) bool { return !finite(float64(f.Mean)) })
	slices.SortStableFunc(feats, func(a, b eval.Importance) int {
		return cmp.Compare(float64(b.Mean), float64(a.Mean))
	})
	feats = feats[:min(len(feats), topFeatures)]
	slices.Reverse(feats) // the bar chart counts from the bottom
	if len(feats) == 0 {
		return nil, 0, nil
	}
	p := newPlot(fmt.Sprintf("Permutation importance (top %d features)", len(feats)),
		fmt.Sprintf("drop in %s when the feature is shuffled (mean ± sd of %d repeats)", metricLabel(imp.Metric), imp.Repeats), "")
	vals := make(plotter.Values, len(feats))
	names := make([]string, len(feats))
	bars := struct {
		plotter.XYs
		plotter.XErrors
	}{make(plotter.XYs, len(feats)), make(plotter.XErrors, len(feats))}
	for i, f := range feats {
		vals[i], names[i] = float64(f.Mean), f.Feature
		sd := float64(f.Std)
		if !finite(sd) {
			sd = 0
		}
		bars.XYs[i] = plotter.XY{X: float64(f.Mean), Y: float64(i)}
		bars.XErrors[i] = struct{ Low, High float64 }{sd, sd}
	}
	b, err := plotter.NewBarChart(vals, vg.Points(11))
	if err != nil {
		return nil, 0, err
	}
	b.Horizontal, b.Color, b.LineStyle.Width = true, rgb(modelRGB), 0
	e, err := plotter.NewXErrorBars(bars)
	if err != nil {
		return nil, 0, err
	}
	e.Color = color.Black
	p.Add(b, e)
	p.NominalY(names...)
	// Keep the error bars' caps inside the frame.
	pad := 0.04 * (p.X.Max - p.X.Min)
	p.X.Max += pad
	if p.X.Min < 0 {
		p.X.Min -= pad
	} else {
		p.X.Min = 0
	}
	h := vg.Inch + vg.Points(17)*vg.Length(len(feats))
	return p, max(h, 2.5*vg.Inch), nil
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// niceTicks labels about five round values (1, 2 or 5 times a power of ten)
// with just the decimals they need; gonum's default labels as few as two
// ticks on some ranges ("0.00", "250.00").
type niceTicks struct{}

// Ticks implements plot.Ticker.
func (niceTicks) Ticks(lo, hi float64) []plot.Tick {
	if !(hi > lo) || !finite(lo) || !finite(hi) {
		return plot.DefaultTicks{}.Ticks(lo, hi)
	}
	raw := (hi - lo) / 5
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := mag
	for _, f := range []float64{2, 5, 10} {
		if raw/mag > f*0.75 {
			step = f * mag
		}
	}
	decimals := max(0, -int(math.Floor(math.Log10(step)+1e-9)))
	var ticks []plot.Tick
	// Minor ticks halve the step; even multiples of the half step are the
	// labelled ones. Counting in integers keeps values from drifting.
	minor := step / 2
	for i := math.Ceil(lo/minor - 1e-9); i*minor <= hi+minor*1e-9; i++ {
		t := plot.Tick{Value: i * minor}
		if math.Mod(i, 2) == 0 {
			v := t.Value
			if v == 0 {
				v = 0 // not "-0"
			}
			t.Label = strconv.FormatFloat(v, 'f', decimals, 64)
		}
		ticks = append(ticks, t)
	}
	return ticks
}
