// Package report turns a holdout evaluation into the two files a training
// run leaves behind: report.html, one self-contained page (CSS inline, plots
// drawn with gonum/plot and inlined as PNG data: URIs, so it opens offline
// and survives being mailed around), and metrics.json for machines.
//
// The caller (the CLI) fills a Data with what it knows: the run summary,
// each test customer's actual holdout spend, both predictors' predictions,
// the training history, permutation importance and the baseline's fitted
// parameters. New scores both predictors with eval.Compute once; the writers
// only format. Both files are written to a temporary file, synced and renamed
// into place, so a reader never sees half a report.
package report

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/cohort-clv/cohort/eval"
)

// Summary describes the run in the report's header. Zero fields are left
// out of the page.
type Summary struct {
	// Title heads the page; empty gives DefaultTitle.
	Title string
	// DataFile is the transaction file the run read.
	DataFile string
	// Customers is the number of customers in the data set.
	Customers int
	// Train, Validation and Test are the sizes of the customer split.
	// With Scored ScoredAll they count the scored customers by the split
	// rule instead, and sum to the number scored (or are all 0).
	Train, Validation, Test int
	// SplitRule says how customers were split; empty gives DefaultSplitRule.
	SplitRule string
	// Scored says which customers were scored: ScoredTest (or empty), the
	// test part of the split, which training never saw; or ScoredAll,
	// every customer, of whom Train and Validation trained the model or
	// chose its epoch when the data are the model's own (in-sample).
	Scored string
	// CalibrationStart..CalibrationEnd is the window the features come
	// from; HoldoutStart..HoldoutEnd the one whose spend is predicted.
	CalibrationStart, CalibrationEnd time.Time
	HoldoutStart, HoldoutEnd         time.Time
	// Horizon is the holdout length as the user gave it ("39w").
	Horizon string
	// Model describes the network ("MLP 34-128-64-3 with a ZILN head");
	// empty leaves the line out.
	Model string
	// Backend and Workers say where the model trained ("cuda:0", 4).
	Backend string
	Workers int
	// Settings are the training settings (model.Config), written to
	// metrics.json as run.settings so a run can be repeated; Calibration
	// names the spend calibration ("factor" or "isotonic"). Either may be
	// empty.
	Settings    any
	Calibration string
	// Version is the cohort build that made the run (buildinfo.Info.Short).
	Version string
	// Generated stamps the page; zero leaves the stamp out, which keeps
	// reports of identical runs byte-identical.
	Generated time.Time
	// Notes are extra lines for the summary, shown as given.
	Notes []string
	// Ingest is what reading the transaction log counted: rows, bad rows
	// skipped, returns; nil leaves it out.
	Ingest *Ingest
	// Warnings are findings about the input that can make the results
	// meaningless (a log censored by skipped rows, too few test customers,
	// an outlier date), one sentence each: the page shows them above the
	// notes, metrics.json under run.warnings.
	Warnings []string
}

// Ingest is what reading the transaction log counted. Its fields are plain
// values so that this package need not import clv.
type Ingest struct {
	// Rows is the data rows read, good and bad; Transactions the rows
	// accepted.
	Rows, Transactions int64
	// BadRows counts the malformed rows skipped, by reason; FirstBadRow
	// quotes the first of them ("FILE:LINE: column ...").
	BadRows     map[string]int64
	FirstBadRow string
	// NegativeRows counts the rows with a negative amount (returns), and
	// DroppedNegative those of them dropped. ReturnOnlyDays counts the
	// customer-days with returns only: netting has no purchase to subtract
	// them from, so they are ignored.
	NegativeRows, DroppedNegative, ReturnOnlyDays int64
	// RowsAfterEnd counts the rows dated after the holdout end (after the
	// calibration end without a holdout), ignored.
	RowsAfterEnd int64
	// ExcludedCustomers first bought after the calibration end and were
	// left out.
	ExcludedCustomers int
}

// Skipped is the number of bad rows skipped.
func (in Ingest) Skipped() int64 {
	var n int64
	for _, k := range in.BadRows {
		n += k
	}
	return n
}

// SkippedShare is the share of the data rows skipped as bad, 0 without rows.
func (in Ingest) SkippedShare() float64 {
	if in.Rows <= 0 {
		return 0
	}
	return float64(in.Skipped()) / float64(in.Rows)
}

// Values of Summary.Scored.
const (
	ScoredTest = "test"
	ScoredAll  = "all"
)

// Defaults for the empty fields of Summary.
const (
	DefaultTitle     = "Customer lifetime value: holdout evaluation"
	DefaultSplitRule = "70/15/15 stable hash split of customer ids"
)

// Predictor is one model's predictions for the test customers, in the same
// order as Data.Actual.
type Predictor struct {
	// Name labels the predictor in tables and legends.
	Name string
	// Spend is the predicted holdout spend per customer.
	Spend []float64
	// PReturn is an optional probability of spending anything in the
	// holdout (the ZILN head's p; for the baseline, BG/NBD's probability of
	// a purchase within the horizon, not P(alive)); nil skips the AUC that
	// uses it.
	PReturn []float64
}

// Epoch is one epoch of training history.
type Epoch struct {
	Epoch                     int
	TrainLoss, ValidationLoss float64
}

// BGNBD holds the fitted BG/NBD parameters (Fader, Hardie & Lee 2005).
type BGNBD struct{ R, Alpha, A, B float64 }

// GammaGamma holds the fitted Gamma-Gamma spend parameters (Fader, Hardie &
// Lee 2005b). Constant marks the constant-spend model that
// baseline.FitGammaGamma returns, without fitting, when every purchase is
// worth the same V (a count-only log: 1): P and Q then only stand for
// infinity, and the report shows V alone.
type GammaGamma struct {
	P, Q, V  float64
	Constant bool
}

// BaselineParams are the baseline's fitted parameters. They are plain values
// so that this package need not import baseline.
type BaselineParams struct {
	BGNBD      BGNBD
	GammaGamma GammaGamma
}

// Data is everything the report shows.
type Data struct {
	Summary Summary
	// Actual is each test customer's holdout spend.
	Actual []float64
	// Quantity is what Actual and the predictions count: eval.Spend (the
	// default, also for empty) or eval.PurchaseDays for a count-only log,
	// whose report speaks of purchase days instead of money.
	Quantity eval.Quantity
	// Model is the deep model; Model.Spend is required.
	Model Predictor
	// Baseline is the BG/NBD + Gamma-Gamma yardstick; a nil Baseline.Spend
	// means no baseline was fitted, and the report shows the model alone.
	Baseline Predictor
	// BaselineParams are shown, and written to metrics.json, with the
	// baseline.
	BaselineParams BaselineParams
	// History is the loss per epoch; BestEpoch the one early stopping kept
	// (0 when unknown).
	History   []Epoch
	BestEpoch int
	// Importance is the model's permutation importance; nil leaves the
	// section out.
	Importance *eval.Importances
	// Noise is how far the model's metrics would scatter on this test set
	// if the model were exactly right (eval.ZILNNoise); nil leaves it out.
	Noise *eval.Noise
	// Bootstrap holds the metrics' intervals over resampled test customers
	// (eval.PairedBootstrap); nil leaves them out.
	Bootstrap *eval.Bootstrap
}

// Report is a scored Data, ready to be written.
type Report struct {
	data              Data
	model, baseline   eval.Metrics
	hasBaseline       bool
	modelDec, baseDec []eval.Decile
	// dpi is plotDPI; tests that only check structure lower it, because
	// rasterizing is most of a render's time under the race detector.
	dpi int
}

// File names Write uses inside its directory.
const (
	HTMLFile    = "report.html"
	MetricsFile = "metrics.json"
)

// New validates d and scores its predictors. It fails, naming the field,
// when predictions and actual values disagree in length or are not finite,
// or when Summary.Test contradicts the number of actual values.
func New(d Data) (*Report, error) {
	n := len(d.Actual)
	switch s := d.Summary; s.Scored {
	case "", ScoredTest:
		if s.Test != 0 && s.Test != n {
			return nil, fmt.Errorf("report: summary counts %d test customers but Actual holds %d values", s.Test, n)
		}
	case ScoredAll:
		if k := s.Train + s.Validation + s.Test; k != 0 && k != n {
			return nil, fmt.Errorf("report: summary splits %d scored customers (train %d, validation %d, test %d) but Actual holds %d values",
				k, s.Train, s.Validation, s.Test, n)
		}
	default:
		return nil, fmt.Errorf("report: summary scored %q, want %q or %q", s.Scored, ScoredTest, ScoredAll)
	}
	switch d.Quantity {
	case "":
		d.Quantity = eval.Spend
	case eval.Spend, eval.PurchaseDays:
	default:
		return nil, fmt.Errorf("report: quantity %q, want %q or %q", d.Quantity, eval.Spend, eval.PurchaseDays)
	}
	if d.Summary.Title == "" {
		d.Summary.Title = DefaultTitle
	}
	if d.Summary.SplitRule == "" {
		d.Summary.SplitRule = DefaultSplitRule
	}
	if d.Model.Name == "" {
		d.Model.Name = "model"
	}
	if d.Baseline.Name == "" {
		d.Baseline.Name = "baseline"
	}
	r := &Report{data: d, hasBaseline: d.Baseline.Spend != nil, dpi: plotDPI}
	var err error
	if r.model, r.modelDec, err = score(d.Model, d.Actual); err != nil {
		return nil, fmt.Errorf("report: model %q: %w", d.Model.Name, err)
	}
	if r.hasBaseline {
		if r.baseline, r.baseDec, err = score(d.Baseline, d.Actual); err != nil {
			return nil, fmt.Errorf("report: baseline %q: %w", d.Baseline.Name, err)
		}
	}
	return r, nil
}

func score(p Predictor, actual []float64) (eval.Metrics, []eval.Decile, error) {
	var opts []eval.Option
	if p.PReturn != nil {
		opts = append(opts, eval.WithReturnScore(p.PReturn))
	}
	m, err := eval.Compute(p.Spend, actual, opts...)
	if err != nil {
		return eval.Metrics{}, nil, err
	}
	dec, err := eval.Deciles(p.Spend, actual)
	return m, dec, err
}

// ModelMetrics returns the deep model's scores.
func (r *Report) ModelMetrics() eval.Metrics { return r.model }

// BaselineMetrics returns the baseline's scores, and false when the Data had
// no baseline.
func (r *Report) BaselineMetrics() (eval.Metrics, bool) { return r.baseline, r.hasBaseline }

// ModelNoise is the Data's sampling-noise band of the model's metrics, or nil.
func (r *Report) ModelNoise() *eval.Noise { return r.data.Noise }

// Bootstrap is the Data's bootstrap intervals, or nil.
func (r *Report) Bootstrap() *eval.Bootstrap { return r.data.Bootstrap }

// SetIngest sets Summary.Ingest, for a caller that builds the Data before it
// has the counts at hand.
func (r *Report) SetIngest(in Ingest) { r.data.Summary.Ingest = &in }

// Warn adds warnings to Summary.Warnings.
func (r *Report) Warn(warnings ...string) {
	r.data.Summary.Warnings = append(r.data.Summary.Warnings, warnings...)
}

// Write renders report.html and metrics.json into dir (which must exist) and
// returns their paths.
func (r *Report) Write(ctx context.Context, dir string) (htmlPath, metricsPath string, err error) {
	htmlPath = filepath.Join(dir, HTMLFile)
	metricsPath = filepath.Join(dir, MetricsFile)
	if err := r.WriteHTMLFile(ctx, htmlPath); err != nil {
		return "", "", err
	}
	if err := r.WriteMetricsFile(metricsPath); err != nil {
		return "", "", err
	}
	return htmlPath, metricsPath, nil
}
