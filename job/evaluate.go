package job

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/cohort-clv/cohort/clv"
	"github.com/cohort-clv/cohort/eval"
	"github.com/cohort-clv/cohort/kernels"
)

// Evaluation is what Evaluate reports and where it wrote it.
type Evaluation struct {
	Ingest    clv.IngestReport `json:"ingest"`
	Customers int              `json:"customers"` // evaluated
	// Scored is which customers were scored: "test", the test part of the
	// stable hash split, or "all". InSample counts those of them that the
	// split put in training or validation: customers that trained the model
	// or chose its epoch, when the data are the model's own (0 with "test").
	Scored          string          `json:"scored"`
	InSample        int             `json:"in_sample_customers"`
	Quantity        eval.Quantity   `json:"quantity"` // what the metrics count: spend, or purchase days
	Model           eval.Metrics    `json:"model_metrics"`
	BaselineMetrics eval.Metrics    `json:"baseline_metrics"`
	ModelNoise      *eval.Noise     `json:"model_noise"`
	Bootstrap       *eval.Bootstrap `json:"bootstrap"`
	Warnings        []string        `json:"warnings,omitempty"` // as Result.Warnings
	MetricsPath     string          `json:"metrics_path"`
	ReportPath      string          `json:"report_path"`
}

// Evaluate reads labelled data (read must have a Horizon, of the length the
// model was trained to predict), scores its
// customers with the trained model and its baseline, and writes report.html
// and metrics.json into out. With testOnly, only customers that the stable
// hash puts in the test split are scored: the right choice when the data
// holds the customers the model was trained on.
func (t *Trained) Evaluate(ctx context.Context, be kernels.Backend, data string, read clv.Options, out string, testOnly bool, importance int) (*Evaluation, error) {
	return t.EvaluateWith(ctx, be, data, read, out, testOnly, importance, Events{})
}

// EvaluateWith is Evaluate telling ev.Step the evaluation's sub-steps
// (the other Events fields are not used: read.Progress follows the read).
func (t *Trained) EvaluateWith(ctx context.Context, be kernels.Backend, data string, read clv.Options, out string, testOnly bool, importance int, ev Events) (*Evaluation, error) {
	if read.Horizon.IsZero() {
		return nil, fmt.Errorf("job: evaluate: a holdout horizon is required (the model was trained for %.1f weeks)", t.Meta.HorizonWeeks)
	}
	// A horizon of days is as long wherever it starts, so refuse a wrong
	// one before reading; one of calendar months is measured on the data.
	if read.Horizon.Months == 0 {
		if err := t.checkHorizon(read.Horizon, float64(read.Horizon.Days)/7); err != nil {
			return nil, err
		}
	}
	ds, err := clv.Load(ctx, data, read)
	if err != nil {
		return nil, fmt.Errorf("job: %w", err)
	}
	if err := t.checkHorizon(read.Horizon, ds.Report.HoldoutWeeks); err != nil {
		return nil, err
	}
	if err := t.checkFeatures(ds.FeatureNames); err != nil {
		return nil, err
	}
	var cs []*clv.Customer
	for i := range ds.Customers {
		if !testOnly || clv.SplitOf(ds.Customers[i].ID) == clv.Test {
			cs = append(cs, &ds.Customers[i])
		}
	}
	if len(cs) == 0 {
		return nil, fmt.Errorf("job: evaluate: %s has no customers to evaluate (%d in all)", data, len(ds.Customers))
	}
	scored := adopt(cs, len(ds.FeatureNames))
	rep, err := evaluation{data: data, ds: ds, test: cs, x: &scored, all: !testOnly, importance: importance, seed: t.Net.Config.Seed, trained: t, be: be, ev: ev}.report(ctx)
	if err != nil {
		return nil, err
	}
	res := &Evaluation{Ingest: ds.Report, Customers: len(cs), Scored: "test", Quantity: eval.Spend,
		Model: rep.ModelMetrics(), ModelNoise: rep.ModelNoise(), Bootstrap: rep.Bootstrap()}
	if t.Meta.Read.CountOnly() {
		res.Quantity = eval.PurchaseDays
	}
	res.BaselineMetrics, _ = rep.BaselineMetrics()
	who, inSample := "test customers", ""
	if !testOnly {
		train, val, _ := splitCounts(cs)
		who, res.Scored, res.InSample = "customers", "all", train+val
		inSample = t.inSampleWindow(ds.Report, len(cs), train, val)
	}
	res.Warnings = warningsOf(censoredLog(ds.Report, "the metrics are computed"), outlierFirstDate(ds), smallTestSet(len(cs), who), inSample,
		featureShift(t.Net.Pipeline, scored.X, scored.Rows))
	res.Warnings = append(res.Warnings, DataWarnings(ds)...)
	annotate(rep, ds.Report, res.Warnings)
	ev.step(EvalStep{Name: "write"})
	if res.ReportPath, res.MetricsPath, err = rep.Write(ctx, out); err != nil {
		return nil, fmt.Errorf("job: %w", err)
	}
	return res, nil
}

// inSampleWindow warns, for eval --split all, when n scored customers
// include train training and val validation customers of the stable hash
// split and the holdout overlaps the one whose spend the model learned
// from: on the model's own log those customers' scores are in-sample (they
// fitted the weights or chose the epoch on these very labels), and flatter
// the model against a baseline that never saw the labels.
func (t *Trained) inSampleWindow(r clv.IngestReport, n, train, val int) string {
	if train+val == 0 || t.Meta.CalibrationEnd.IsZero() {
		return ""
	}
	learnedFrom, learnedTo := t.Meta.CalibrationEnd.AddDate(0, 0, 1), t.Meta.HoldoutEnd
	if learnedTo.IsZero() { // not recorded: the trained horizon
		learnedTo = t.Meta.CalibrationEnd.AddDate(0, 0, int(math.Round(t.Meta.HorizonWeeks*7)))
	}
	from, to := r.CalibrationEnd.AddDate(0, 0, 1), r.HoldoutEnd
	if from.After(learnedTo) || learnedFrom.After(to) {
		return ""
	}
	day := func(d time.Time) string { return d.Format(time.DateOnly) }
	return fmt.Sprintf("%d of the %d customers scored are training (%d) or validation (%d) customers of the split the model "+
		"was trained with, and the holdout %s to %s overlaps the one it learned from (%s to %s): on the model's own log "+
		"their scores are in-sample and flatter the model against the baseline; --split test scores only the held-out customers",
		train+val, n, train, val, day(from), day(to), day(learnedFrom), day(learnedTo))
}

// checkHorizon refuses a holdout of another length than the model was
// trained to predict: its expected spend over Meta.HorizonWeeks would be
// scored against labels over weeks, a mismatch no metric shows (a
// 39-week prediction against 26 weeks of labels overshoots by half). The
// horizon the model was trained with is accepted as it is: a horizon of
// calendar months varies by a few days with where it starts.
func (t *Trained) checkHorizon(h clv.Horizon, weeks float64) error {
	// Lengths in whole days differ by at least 1/7 week; the tolerance
	// only absorbs float rounding (39w and 273d are one length).
	const tol = 1e-6
	if h == t.Meta.Read.Horizon || math.Abs(weeks-t.Meta.HorizonWeeks) <= tol {
		return nil
	}
	trained := t.Meta.Read.Horizon
	if trained.IsZero() { // not recorded: name the trained length in days
		trained = clv.Horizon{Days: int(math.Round(t.Meta.HorizonWeeks * 7))}
	}
	return fmt.Errorf("job: evaluate: --horizon %s (%.1f weeks) differs from the %.1f weeks the model was trained to predict: evaluate with --horizon %s",
		h, weeks, t.Meta.HorizonWeeks, trained)
}
