package job

import (
	"context"
	"fmt"

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
	MetricsPath     string           `json:"metrics_path"`
	ReportPath      string           `json:"report_path"`
}

// Evaluate reads labelled data (read must have a Horizon), scores its
// customers with the trained model and its baseline, and writes report.html
// and metrics.json into out. With testOnly, only customers that the stable
// hash puts in the test split are scored: the right choice when the data
// holds the customers the model was trained on.
func (t *Trained) Evaluate(ctx context.Context, be kernels.Backend, data string, read clv.Options, out string, testOnly bool, importance int) (*Evaluation, error) {
	if read.Horizon.IsZero() {
		return nil, fmt.Errorf("job: evaluate: a holdout horizon is required (the model was trained for %.1f weeks)", t.Meta.HorizonWeeks)
	}
	ds, err := clv.Load(ctx, data, read)
	if err != nil {
		return nil, fmt.Errorf("job: %w", err)
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
	if res.ReportPath, res.MetricsPath, err = rep.Write(ctx, out); err != nil {
		return nil, fmt.Errorf("job: %w", err)
	}
	return res, nil
}
