package report

import (
	"context"
	_ "embed"
	"fmt"
	"github.com/cohort-clv/cohort/internal/atomicfile"
	"html/template"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cohort-clv/cohort/eval"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/vg"
)

//go:embed report.tmpl
var pageSource string

// page is the template's view of a Report: every value already formatted.
type page struct {
	Title, Generated        string
	Summary                 []row
	Warnings                []string
	Notes                   []string
	ModelName, BaselineName string
	HasBaseline             bool
	Metrics                 []metricRow
	HasBootstrap            bool
	BootstrapNote           string
	// Legend explains the ticks under the metrics table.
	Legend string
	// Noun is what the run predicts, in prose: "spend" or "purchase days".
	Noun              string
	Verdict           []string
	Gain              *figure
	GainNote          string
	Deciles           []figure
	Loss              *figure
	Importance        *figure
	ImportanceNote    string
	BGNBD, GammaGamma []row
	// BaselineIntro heads the parameters; GammaGammaNote replaces the
	// Gamma-Gamma table when the spend per purchase is a constant, not fitted.
	BaselineIntro, GammaGammaNote string
	GammaGammaTitle               string
	// BaselineFormula ends the footer: how the baseline predicts.
	BaselineFormula string
}

type row struct{ Label, Value string }

type figure struct {
	Src          template.URL
	Alt, Caption string
}

type metricRow struct {
	Label, Dir, Help string
	Model, Baseline  cell
	// ModelBetter is the share of bootstrap resamples in which the model
	// scores better, "" without a bootstrap.
	ModelBetter string
}

type cell struct {
	Text string
	Best bool
	// Interval is the 90% bootstrap interval, "" without one.
	Interval string
}

// WriteHTML renders the report page to w. Plotting is the slow part; ctx is
// checked between plots.
func (r *Report) WriteHTML(ctx context.Context, w io.Writer) error {
	tmpl, err := template.New("report").Parse(pageSource)
	if err != nil {
		return fmt.Errorf("report: parse template: %w", err)
	}
	pg, err := r.page(ctx)
	if err != nil {
		return err
	}
	if err := tmpl.Execute(w, pg); err != nil {
		return fmt.Errorf("report: render html: %w", err)
	}
	return nil
}

// WriteHTMLFile renders the report page to path atomically.
func (r *Report) WriteHTMLFile(ctx context.Context, path string) error {
	if err := atomicfile.Write(path, func(w io.Writer) error { return r.WriteHTML(ctx, w) }); err != nil {
		return fmt.Errorf("report: write html: %w", err)
	}
	return nil
}

func (r *Report) page(ctx context.Context) (*page, error) {
	d := r.data
	pg := &page{
		Title: d.Summary.Title, Generated: stampHuman(d.Summary.Generated),
		Summary: r.summaryRows(), Warnings: d.Summary.Warnings, Notes: append(slices.Clip(d.Summary.Notes), r.noiseNotes()...),
		ModelName: d.Model.Name, BaselineName: d.Baseline.Name, HasBaseline: r.hasBaseline,
		Metrics: r.metricRows(), HasBootstrap: d.Bootstrap != nil, BootstrapNote: r.bootstrapNote(),
		Legend: fmt.Sprintf("Bold with a tick: the better of the two; for the %s, the one nearer 1 on a log scale "+
			"(2 is as far from 1 as 0.5). n/a: the holdout data leave the metric undefined.", strings.ToLower(r.ratioLabel())),
		Noun: r.noun(),
	}
	if d.Bootstrap != nil {
		pg.Verdict = d.Bootstrap.Verdict.Text
	}

	// render draws one plot, unless ctx has ended.
	render := func(what string, p *plot.Plot, w, h vg.Length, alt, caption string) (*figure, error) {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("report: %s plot: %w", what, err)
		}
		src, err := pngURI(p, w, h, r.dpi)
		if err != nil {
			return nil, fmt.Errorf("report: %s plot: %w", what, err)
		}
		return &figure{Src: src, Alt: alt, Caption: caption}, nil
	}

	curves := []gainCurve{{d.Model.Name, r.model.NormalizedGini, modelRGB, d.Model.Spend}}
	if r.hasBaseline {
		curves = append(curves, gainCurve{d.Baseline.Name, r.baseline.NormalizedGini, baselineRGB, d.Baseline.Spend})
	}
	gp, err := gainPlot(d.Actual, curves, r.noun())
	if err != nil {
		return nil, fmt.Errorf("report: gain plot: %w", err)
	}
	if gp == nil {
		pg.GainNote = fmt.Sprintf("The gain chart is undefined: no %s %s anything in the holdout window.", r.who(false), r.verb())
	} else if pg.Gain, err = render("gain", gp, plotWidth, plotHeight, "gain chart", fmt.Sprintf(
		"Customers sorted by predicted %s, highest first; the curve shows the share of all actual holdout %s "+
			"they account for. The higher the curve, the better the ranking; the normalized Gini is the area between "+
			"a curve and the diagonal, relative to the perfect ranking's.", r.noun(), r.noun())); err != nil {
		return nil, err
	}

	type decileView struct {
		name string
		hex  uint32
		ds   []eval.Decile
		m    eval.Metrics
	}
	decs := []decileView{{d.Model.Name, modelRGB, r.modelDec, r.model}}
	if r.hasBaseline {
		decs = append(decs, decileView{d.Baseline.Name, baselineRGB, r.baseDec, r.baseline})
	}
	for _, dc := range decs {
		p, err := decilePlot(dc.name, dc.hex, dc.ds, r.noun())
		if err != nil {
			return nil, fmt.Errorf("report: decile plot: %w", err)
		}
		caption := fmt.Sprintf("Customers cut into tenths by %s's prediction, highest first: decile 1 is the top tenth, "+
			"as in cohort predict's decile column. Decile MAPE %s over %d deciles.",
			dc.name, fmtScore(dc.m.DecileMAPE), dc.m.DecileBuckets)
		if slices.ContainsFunc(decileBars(dc.ds), func(b decileBar) bool { return strings.Contains(b.label, "–") }) {
			caption += " Tied predictions merged some tenths into one bar, labelled with the tenths it spans."
		}
		f, err := render("decile", p, halfWidth, plotHeight, dc.name+" deciles", caption)
		if err != nil {
			return nil, err
		}
		pg.Deciles = append(pg.Deciles, *f)
	}

	if len(d.History) > 0 {
		p, err := lossPlot(d.History, d.BestEpoch)
		if err != nil {
			return nil, fmt.Errorf("report: loss plot: %w", err)
		}
		if pg.Loss, err = render("loss", p, plotWidth, plotHeight, "training and validation loss",
			"Mean ZILN loss per epoch on the training and validation customers; early stopping watches the validation loss."); err != nil {
			return nil, err
		}
	}

	pg.ImportanceNote = "Permutation importance was not computed for this run."
	if imp := d.Importance; imp != nil {
		p, h, err := importancePlot(imp)
		if err != nil {
			return nil, fmt.Errorf("report: importance plot: %w", err)
		}
		if p == nil {
			pg.ImportanceNote = "Permutation importance is undefined for every feature."
		} else if pg.Importance, err = render("importance", p, plotWidth, h, "permutation importance", fmt.Sprintf(
			"How much the model's %s drops (from %s) when one feature's column is shuffled, "+
				"breaking its link to %s. Bars: mean over %d shuffles; whiskers: ±1 standard deviation.%s",
			metricLabel(imp.Metric), fmtScore(float64(imp.Reference)), r.noun(), imp.Repeats, importanceSampleNote(imp))); err != nil {
			return nil, err
		}
	}

	p := d.BaselineParams
	pg.BGNBD = []row{{"r", fmtParam(p.BGNBD.R)}, {"α (alpha)", fmtParam(p.BGNBD.Alpha)},
		{"a", fmtParam(p.BGNBD.A)}, {"b", fmtParam(p.BGNBD.B)}}
	pg.BaselineIntro = d.Baseline.Name + ": maximum-likelihood estimates."
	pg.GammaGammaTitle = "Gamma-Gamma (spend per purchase)"
	pg.BaselineFormula = "the baseline multiplies BG/NBD expected purchases by the Gamma-Gamma expected spend per purchase."
	switch gg := p.GammaGamma; {
	case gg.Constant && r.countOnly():
		pg.BaselineIntro = "BG/NBD: maximum-likelihood estimates."
		pg.GammaGammaTitle = "Gamma-Gamma (value per purchase day)"
		pg.GammaGammaNote = fmt.Sprintf("Not fitted: this is a count-only log, where every purchase day counts %s, "+
			"so the value per purchase day is %s for every customer and the baseline predicts BG/NBD's expected purchase days.",
			fmtParam(gg.V), fmtParam(gg.V))
		pg.BaselineFormula = "the baseline is BG/NBD's expected number of purchase days (each counts " + fmtParam(gg.V) + ")."
	case gg.Constant:
		pg.BaselineIntro = "BG/NBD: maximum-likelihood estimates."
		pg.GammaGammaNote = fmt.Sprintf("Not fitted: every repeat purchase in the calibration window is worth %s, "+
			"so the expected spend per purchase is %s for every customer.", fmtParam(gg.V), fmtParam(gg.V))
		pg.BaselineFormula = "the baseline multiplies BG/NBD expected purchases by the constant spend per purchase, " + fmtParam(gg.V) + "."
	default:
		pg.GammaGamma = []row{{"p", fmtParam(gg.P)}, {"q", fmtParam(gg.Q)}, {"v", fmtParam(gg.V)}}
	}
	return pg, nil
}

// countOnly reports whether the run predicts purchase days, not spend.
func (r *Report) countOnly() bool { return r.data.Quantity == eval.PurchaseDays }

// noun is what the run predicts, in prose: "spend" or "purchase days".
func (r *Report) noun() string {
	if r.countOnly() {
		return "purchase days"
	}
	return "spend"
}

// verb is what a customer who counts in the holdout did: "spent" or "bought".
func (r *Report) verb() string {
	if r.countOnly() {
		return "bought"
	}
	return "spent"
}

// ratioLabel names the spend ratio, as the metrics table labels it.
func (r *Report) ratioLabel() string {
	if r.countOnly() {
		return "Purchase-day ratio"
	}
	return "Spend ratio"
}

// who names the customers scored: the test customers, or with ScoredAll
// every customer, held out or not.
func (r *Report) who(capital bool) string {
	s := "test customer"
	if r.data.Summary.Scored == ScoredAll {
		s = "scored customer"
	}
	if capital {
		s = strings.ToUpper(s[:1]) + s[1:]
	}
	return s
}

// fmtAmount formats an amount of what the run predicts: money, or purchase
// days.
func (r *Report) fmtAmount(v float64) string {
	if r.countOnly() {
		return fmtDays(v)
	}
	return fmtMoney(v)
}

func (r *Report) summaryRows() []row {
	s := r.data.Summary
	var rows []row
	add := func(label, value string) {
		if value != "" {
			rows = append(rows, row{label, value})
		}
	}
	add("Data file", s.DataFile)
	if in := s.Ingest; in != nil {
		for _, r := range ingestRows(*in, s.HoldoutEnd.IsZero()) {
			add(r.Label, r.Value)
		}
	}
	if s.Customers > 0 {
		add("Customers", fmtInt(s.Customers))
	}
	n := len(r.data.Actual)
	split := s.SplitRule
	switch {
	case s.Scored == ScoredAll:
		// Every customer was scored: say how many of them the model has
		// seen, never that they were held out.
		v := fmt.Sprintf("None: all %s customers were scored, not only held-out test customers.", fmtInt(n))
		if s.Train+s.Validation+s.Test > 0 {
			v += fmt.Sprintf(" By the %s, %s of them trained the model and %s chose its epoch "+
				"(in-sample, if the model was trained on these customers); %s are test customers.",
				split, fmtInt(s.Train), fmtInt(s.Validation), fmtInt(s.Test))
		}
		add("Split", v)
	default:
		if s.Train > 0 || s.Validation > 0 {
			split += fmt.Sprintf(": train %s, validation %s, test %s", fmtInt(s.Train), fmtInt(s.Validation), fmtInt(n))
		}
		add("Split", split+fmt.Sprintf(". The %s test customers were not used for training or early stopping.", fmtInt(n)))
	}
	add("Calibration window", window(s.CalibrationStart, s.CalibrationEnd, ""))
	add("Holdout window", window(s.HoldoutStart, s.HoldoutEnd, s.Horizon))
	m := r.model
	add(r.who(true)+"s who "+r.verb(), fmt.Sprintf("%s of %s (%.1f%%); total holdout %s %s",
		fmtInt(m.Spenders), fmtInt(m.Customers), 100*float64(m.Spenders)/float64(m.Customers), r.noun(), r.fmtAmount(m.TotalActual)))
	if s.Backend != "" || s.Workers > 0 {
		v := s.Backend
		if s.Workers > 0 {
			v = strings.TrimPrefix(fmt.Sprintf("%s, %d worker%s", v, s.Workers, plural(s.Workers)), ", ")
		}
		add("Compute", v)
	}
	if s.Model != "" {
		add("Model", s.Model)
	}
	if h := r.data.History; len(h) > 0 {
		v := fmt.Sprintf("%d epoch%s", len(h), plural(len(h)))
		if r.data.BestEpoch > 0 {
			v += fmt.Sprintf("; kept epoch %d (lowest validation loss)", r.data.BestEpoch)
		}
		add("Training", v)
	}
	if r.countOnly() {
		add("Calibration of the predictions", s.Calibration)
	} else {
		add("Spend calibration", s.Calibration)
	}
	add("cohort version", s.Version)
	return rows
}

// ingestRows are the summary's lines on what reading the log counted: every
// run shows its rows and bad rows (none is worth saying), the rest only when
// there is something to count.
func ingestRows(in Ingest, noHoldout bool) []row {
	rows := []row{{"Rows read", fmt.Sprintf("%s data rows; %s transactions accepted", fmtInt64(in.Rows), fmtInt64(in.Transactions))}}
	bad := "none"
	if n := in.Skipped(); n > 0 {
		reasons := make([]string, 0, len(in.BadRows))
		for reason, k := range in.BadRows {
			reasons = append(reasons, reason+" "+fmtInt64(k))
		}
		slices.Sort(reasons)
		bad = fmt.Sprintf("%s skipped (%.1f%% of the data rows): %s", fmtInt64(n), 100*in.SkippedShare(), strings.Join(reasons, ", "))
		if in.FirstBadRow != "" {
			bad += ". The first: " + in.FirstBadRow
		}
	}
	rows = append(rows, row{"Bad rows", bad})
	if in.NegativeRows > 0 || in.ReturnOnlyDays > 0 {
		v := fmt.Sprintf("%s row%s with a negative amount (%s dropped)", fmtInt64(in.NegativeRows), plural(int(min(in.NegativeRows, 2))), fmtInt64(in.DroppedNegative))
		if in.ReturnOnlyDays > 0 {
			v += fmt.Sprintf("; %s return-only day%s ignored (no purchase that day to net against)", fmtInt64(in.ReturnOnlyDays), plural(int(min(in.ReturnOnlyDays, 2))))
		}
		rows = append(rows, row{"Returns", v})
	}
	if in.RowsAfterEnd > 0 {
		end := "holdout"
		if noHoldout {
			end = "calibration"
		}
		rows = append(rows, row{"Rows ignored", fmt.Sprintf("%s dated after the %s end", fmtInt64(in.RowsAfterEnd), end)})
	}
	if in.ExcludedCustomers > 0 {
		rows = append(rows, row{"Customers left out", fmt.Sprintf("%s first seen after the calibration end", fmtInt(in.ExcludedCustomers))})
	}
	return rows
}

// metricRows lays out the metrics table, marking the better predictor.
func (r *Report) metricRows() []metricRow {
	type spec struct {
		label, dir, help string
		get              func(eval.Metrics) float64
		format           func(float64) string
		better           eval.Metric // "" = nothing to compare
		boot             bool        // the bootstrap covers better
	}
	noun, amount := r.noun(), r.fmtAmount
	buys, buying := "spends", "spending"
	if r.countOnly() {
		buys, buying = "buys", "buying"
	}
	specs := []spec{
		{"Normalized Gini", "↑", "Gain-chart Gini divided by the perfect ranking's: how well the prediction orders customers by " + noun + ".",
			func(m eval.Metrics) float64 { return m.NormalizedGini }, fmtScore, eval.MetricNormalizedGini, true},
		{"Spearman", "↑", "Rank correlation of predicted and actual " + noun + " (ties share ranks).",
			func(m eval.Metrics) float64 { return m.Spearman }, fmtScore, eval.MetricSpearman, true},
		{"Decile MAPE", "↓", "Mean over prediction deciles of |mean predicted − mean actual| / mean actual: calibration across the range.",
			func(m eval.Metrics) float64 { return m.DecileMAPE }, fmtScore, eval.MetricDecileMAPE, true},
		{"AUC (" + buys + " in holdout)", "↑", "Chance that a customer who " + buys + " ranks above one who does not, by predicted " + noun + ".",
			func(m eval.Metrics) float64 { return m.AUC }, fmtScore, eval.MetricAUC, true},
	}
	if r.data.Model.PReturn != nil || r.data.Baseline.PReturn != nil {
		specs = append(specs, spec{"AUC of P(return)", "↑", "The same AUC, scored by the predicted probability of " + buying + " in the holdout (ZILN p; baseline: BG/NBD P(alive) × P(a purchase within the horizon | alive)).",
			func(m eval.Metrics) float64 { return m.AUCReturn }, fmtScore, eval.MetricAUC, false})
	}
	specs = append(specs,
		spec{"RMSE", "↓", "Root mean squared error of " + noun + " per customer.",
			func(m eval.Metrics) float64 { return m.RMSE }, amount, eval.MetricRMSE, true},
		spec{"MAE", "↓", "Mean absolute error of " + noun + " per customer.",
			func(m eval.Metrics) float64 { return m.MAE }, amount, eval.MetricMAE, true},
		spec{r.ratioLabel(), "→ 1", "Total predicted / total actual holdout " + noun + ": bias in aggregate. " +
			"The better is the one nearer 1 on a log scale: 2 is as far from 1 as 0.5.",
			func(m eval.Metrics) float64 { return m.SpendRatio }, fmtScore, eval.MetricSpendRatio, true},
		spec{"Total predicted " + noun, "", "Sum of predictions over the " + r.who(false) + "s.",
			func(m eval.Metrics) float64 { return m.TotalPredicted }, amount, "", false},
	)
	rows := make([]metricRow, len(specs))
	for i, s := range specs {
		a, b := s.get(r.model), s.get(r.baseline)
		rows[i] = metricRow{Label: s.label, Dir: s.dir, Help: s.help, Model: cell{Text: s.format(a)}}
		if r.hasBaseline {
			rows[i].Baseline = cell{Text: s.format(b)}
			if s.better != "" {
				rows[i].Model.Best = s.better.Better(a, b)
				rows[i].Baseline.Best = s.better.Better(b, a)
			}
		}
		if bs := r.data.Bootstrap; bs != nil && s.boot {
			rows[i].Model.Interval = fmtInterval(bs.Model[s.better], s.format)
			if bs.Baseline != nil {
				rows[i].Baseline.Interval = fmtInterval(bs.Baseline[s.better], s.format)
				rows[i].ModelBetter = eval.FormatShare(float64(bs.ModelBetter[s.better]))
			}
		}
	}
	return rows
}

// metricLabel names a metric in prose.
func metricLabel(k eval.Metric) string {
	switch k {
	case eval.MetricNormalizedGini:
		return "normalized Gini"
	case eval.MetricSpearman:
		return "Spearman correlation"
	case eval.MetricDecileMAPE:
		return "decile MAPE"
	case eval.MetricAUC:
		return "AUC"
	case eval.MetricRMSE:
		return "RMSE"
	case eval.MetricMAE:
		return "MAE"
	case eval.MetricSpendRatio:
		return "spend ratio"
	}
	return string(k)
}

func window(from, to time.Time, horizon string) string {
	var v string
	switch {
	case !from.IsZero() && !to.IsZero():
		v = day(from) + " to " + day(to)
	case !to.IsZero():
		v = "up to " + day(to)
	case !from.IsZero():
		v = "from " + day(from)
	}
	if horizon != "" {
		v = strings.TrimSpace(v + " (" + horizon + ")")
	}
	return v
}

func stampHuman(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.Format("2006-01-02 15:04 MST")
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// fmtScore formats a unitless score; n/a for an undefined one.
func fmtScore(v float64) string {
	if !finite(v) {
		return "n/a"
	}
	return strconv.FormatFloat(v, 'f', 3, 64)
}

// fmtParam keeps four significant digits: fitted parameters span orders of
// magnitude (CDNOW's BG/NBD alpha is about 4, its b about 2.6).
func fmtParam(v float64) string {
	if !finite(v) {
		return "n/a"
	}
	return strconv.FormatFloat(v, 'g', 4, 64)
}

// fmtMoney formats an amount with two decimals and thousands separators.
func fmtMoney(v float64) string {
	if !finite(v) {
		return "n/a"
	}
	s := strconv.FormatFloat(math.Abs(v), 'f', 2, 64)
	whole, frac, _ := strings.Cut(s, ".")
	out := groupThousands(whole) + "." + frac
	if v < 0 {
		out = "−" + out
	}
	return out
}

// fmtDays formats a number of purchase days: a whole number (an actual
// total) without decimals, any other with two.
func fmtDays(v float64) string {
	if finite(v) && v == math.Trunc(v) && math.Abs(v) < 1<<53 {
		return fmtInt64(int64(v))
	}
	return fmtMoney(v) // two decimals and thousands separators, no currency
}

func fmtInt64(n int64) string {
	if n < 0 {
		return "−" + groupThousands(strconv.FormatInt(-n, 10))
	}
	return groupThousands(strconv.FormatInt(n, 10))
}

func fmtInt(n int) string { return fmtInt64(int64(n)) }

func groupThousands(digits string) string {
	var b strings.Builder
	for i, c := range digits {
		if i > 0 && (len(digits)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// fmtInterval formats a band's 90% interval with the metric's own format.
func fmtInterval(b eval.Band, format func(float64) string) string {
	return format(float64(b.P5)) + " – " + format(float64(b.P95))
}

// bootstrapNote explains the intervals under the metrics, and how often the
// model led on the Gini.
func (r *Report) bootstrapNote() string {
	d := r.data
	b := d.Bootstrap
	if b == nil {
		return ""
	}
	s := fmt.Sprintf("Grey: 90%% intervals over %d resamples of the %s %ss, drawn with replacement "+
		"(a paired bootstrap: both predictors are scored on the same resample). They show how far each score would move "+
		"on another test set of this size.", b.Draws, fmtInt(len(d.Actual)), r.who(false))
	if b.Baseline != nil {
		s += " \"Model better in\" is the share of resamples in which the model beat the baseline on that metric."
	}
	return s + " The decile MAPE's interval sits above its test-set value: a resample repeats customers, which adds " +
		"noise to every decile's mean, and MAPE only grows with noise."
}

// noiseNotes explains the sampling-noise band of the model's metrics.
func (r *Report) noiseNotes() []string {
	d := r.data
	n := d.Noise
	if n == nil {
		return nil
	}
	return []string{fmt.Sprintf("Sampling noise: if the %s were exactly right, holdouts drawn from its own predictive "+
		"distribution for these %d %ss would give a decile MAPE of %.3f (90%% of draws within %.3f-%.3f), "+
		"a %s of %.3f (%.3f-%.3f) and a normalized Gini of %.3f (%.3f-%.3f), over %d draws. "+
		"A score inside its band is as good as this test set can show.",
		d.Model.Name, len(d.Actual), r.who(false), n.DecileMAPE.Median, n.DecileMAPE.P5, n.DecileMAPE.P95, strings.ToLower(r.ratioLabel()),
		n.SpendRatio.Median, n.SpendRatio.P5, n.SpendRatio.P95,
		n.NormalizedGini.Median, n.NormalizedGini.P5, n.NormalizedGini.P95, n.Draws)}
}

// importanceSampleNote says, when the importance was scored on a sample of
// the customers, how large and how chosen.
func importanceSampleNote(imp *eval.Importances) string {
	if imp.SampledFrom == 0 {
		return ""
	}
	return fmt.Sprintf(" Scored on %d of the %d customers, a stable sample chosen by a hash of their ids: "+
		"the importance is capped at that many customers to bound its cost.", imp.Customers, imp.SampledFrom)
}
