package job

import (
	"context"
	"fmt"
	"math"

	"github.com/cohort-clv/cohort/clv"
	"github.com/cohort-clv/cohort/eval"
	"github.com/cohort-clv/cohort/kernels"
)

// Evaluation is what Evaluate reports and where it wrote it.
type Evaluation struct {
	Ingest          clv.IngestReport `json:"ingest"`
	Customers       int              `json:"customers"` // evaluated
	Model           eval.Metrics     `json:"model_metrics"`
	BaselineMetrics eval.Metrics     `json:"baseline_metrics"`
	ModelNoise      *eval.Noise      `json:"model_noise"`
	Bootstrap       *eval.Bootstrap  `json:"bootstrap"`
	Warnings        []string         `json:"warnings,omitempty"` // as Result.Warnings
	MetricsPath     string           `json:"metrics_path"`
	ReportPath      string           `json:"report_path"`
}

// Evaluate reads labelled data (read must have a Horizon, of the length the
// model was trained to predict), scores its
// customers with the trained model and its baseline, and writes report.html
// and metrics.json into out. With testOnly, only customers that the stable
// hash puts in the test split are scored: the right choice when the data
// holds the customers the model was trained on.
func (t *Trained) Evaluate(ctx context.Context, be kernels.Backend, data string, read clv.Options, out string, testOnly bool, importance int) (*Evaluation, error) {
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
	rep, err := evaluation{data: data, ds: ds, test: cs, importance: importance, seed: t.Net.Config.Seed, trained: t, be: be}.report(ctx)
	if err != nil {
		return nil, err
	}
	res := &Evaluation{Ingest: ds.Report, Customers: len(cs), Model: rep.ModelMetrics(), ModelNoise: rep.ModelNoise(), Bootstrap: rep.Bootstrap()}
	res.BaselineMetrics, _ = rep.BaselineMetrics()
	who := "test customers"
	if !testOnly {
		who = "customers"
	}
	res.Warnings = warningsOf(censoredLog(ds.Report, "the metrics are computed"), outlierFirstDate(ds), smallTestSet(len(cs), who))
	annotate(rep, ds.Report, res.Warnings)
	if res.ReportPath, res.MetricsPath, err = rep.Write(ctx, out); err != nil {
		return nil, fmt.Errorf("job: %w", err)
	}
	return res, nil
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
