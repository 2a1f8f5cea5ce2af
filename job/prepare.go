package job

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/cohort-clv/cohort/baseline"
	"github.com/cohort-clv/cohort/clv"
	"github.com/cohort-clv/cohort/eval"
	"github.com/cohort-clv/cohort/kernels"
	"github.com/cohort-clv/cohort/model"
)

// TrainStep is the training stage of a job: it fits a model on the prepared
// training and validation rows, reporting epochs through ev.Epoch. Local is
// the single-process step; the coordinator provides a distributed one.
type TrainStep func(ctx context.Context, be kernels.Backend, p *Prepared, ev Events) (*model.Model, model.History, error)

// Prepared is a job after its first stages (read, split, baseline): what a
// training step needs, and what Finish needs to evaluate and write.
type Prepared struct {
	Spec    Spec
	Dataset *clv.Dataset
	// Train, Val and Test are the customers of each part of the split, in
	// Dataset order; TrainData and ValData are Train and Val as matrices,
	// row i being customer i. Prepare keeps the features once: a customer's
	// Features is its row of the matrix of its part, so both are read-only.
	Train, Val, Test   []*clv.Customer
	TrainData, ValData model.Data
	Baseline           Baseline
	// BaselineWarnings are the baseline fits' findings (a fit that did not
	// converge), which Finish reports with the input checks.
	BaselineWarnings []string
	// Workers is how many processes trained the model, for the report: a
	// distributed TrainStep sets it to its last generation's workers; 0
	// means this process alone.
	Workers int
	// testData is Test as a matrix, as Prepare laid it out; a Prepared
	// built without Prepare has none, and Finish then builds it.
	testData model.Data
}

// Prepare validates spec, reads the transaction log, splits the customers
// and fits the baseline.
func Prepare(ctx context.Context, spec Spec, ev Events) (*Prepared, error) {
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	ev.stage("read")
	read := spec.Read
	read.Progress = ev.Read
	read.Threads = spec.Threads
	ds, err := clv.Load(ctx, spec.Data, read)
	if err != nil {
		return nil, fmt.Errorf("job: %w", err)
	}
	p := split(ds)
	if len(p.train) == 0 || len(p.val) == 0 || len(p.test) == 0 {
		return nil, fmt.Errorf("job: %s has %d customers, split into %d train / %d validation / %d test: every part needs customers",
			spec.Data, len(ds.Customers), len(p.train), len(p.val), len(p.test))
	}
	if !anyLabel(p.train) {
		// clv refuses a holdout past the data, but one that holds only
		// new customers' purchases still gives all-zero labels: training
		// would fit nothing, and the metrics would divide by zero spend.
		r := ds.Report
		return nil, fmt.Errorf("job: none of the %d training customers bought in the holdout %s to %s: every label is zero; is the calibration end right for %s?",
			len(p.train), r.CalibrationEnd.AddDate(0, 0, 1).Format(time.DateOnly), r.HoldoutEnd.Format(time.DateOnly), spec.Data)
	}
	ev.stage("baseline")
	bl, blWarnings, err := fitBaseline(ctx, p.train)
	if errors.Is(err, baseline.ErrNoRepeats) {
		r := ds.Report
		return nil, fmt.Errorf("%w: none of the %d training customers bought on two days of the calibration window %s to %s (%s), which may be too short; choose a later calibration end",
			err, len(p.train), r.FirstDate.Format(time.DateOnly), r.CalibrationEnd.Format(time.DateOnly), span(daysBetween(r.FirstDate, r.CalibrationEnd)+1))
	}
	if err != nil {
		return nil, err
	}
	cols := len(ds.FeatureNames)
	return &Prepared{
		Spec: spec, Dataset: ds, Train: p.train, Val: p.val, Test: p.test,
		TrainData: adopt(p.train, cols), ValData: adopt(p.val, cols), testData: adopt(p.test, cols),
		Baseline: bl, BaselineWarnings: blWarnings,
	}, nil
}

// adopt is matrix, which then points each customer's Features at its row
// of the matrix. The matrix is not a second copy for long: once every
// customer of a dataset is adopted, nothing reaches the block clv.Load
// computed the features into. Matrices built beside it held the features
// of every customer in them twice, through training and evaluation (at 1M
// customers a quarter of the live heap; BENCHMARKS.md).
func adopt(cs []*clv.Customer, cols int) model.Data {
	d := matrix(cs, cols)
	for i, c := range cs {
		// Capped at the row, as clv caps it, so that an append to one
		// customer's features cannot overwrite the next customer's.
		c.Features = d.X[i*cols : (i+1)*cols : (i+1)*cols]
	}
	return d
}

// anyLabel reports whether any of cs spent in the holdout.
func anyLabel(cs []*clv.Customer) bool {
	for _, c := range cs {
		if c.HoldoutSpend > 0 {
			return true
		}
	}
	return false
}

// Finish calibrates the trained net, evaluates it and the baseline on the
// test customers and writes the run directory. Result.Elapsed is left for
// the caller, who knows when the job began.
func (p *Prepared) Finish(ctx context.Context, be kernels.Backend, net *model.Model, hist model.History, ev Events) (*Result, error) {
	ev.stage("evaluate")
	ds, spec := p.Dataset, p.Spec
	t := &Trained{Net: net, Meta: Meta{
		Format: metaFormat, Data: spec.Data, Read: spec.Read,
		CalibrationEnd: ds.Report.CalibrationEnd, HoldoutEnd: ds.Report.HoldoutEnd,
		HorizonWeeks: ds.Report.HoldoutWeeks, Baseline: p.Baseline, SpendScale: 1,
	}}
	t.Meta.SpendCap = maxLabel(p.TrainData, p.ValData)
	t.Meta.SpendScale = t.calibrate(be, p.TrainData, p.ValData)
	if spec.Calibration == "isotonic" {
		t.Meta.Calibration = t.calibrateValidation(be, p.ValData)
	}
	e := evaluation{
		data: spec.Data, ds: ds, test: p.Test, train: len(p.Train), val: len(p.Val),
		importance: spec.ImportanceRepeats, seed: spec.Model.Seed, trained: t, be: be, hist: hist, workers: max(p.Workers, 1), ev: ev,
	}
	if p.testData.X != nil && p.testData.Rows == len(p.Test) {
		// Prepare's matrix: a new one would hold the test features twice
		// through the evaluation.
		e.x = &p.testData
	}
	rep, err := e.report(ctx)
	if err != nil {
		return nil, err
	}
	mm := rep.ModelMetrics()
	bm, _ := rep.BaselineMetrics()
	warnings := warningsOf(censoredLog(ds.Report, "the model is trained and scored"), outlierFirstDate(ds), smallTestSet(len(p.Test), "test customers"))
	warnings = append(warnings, DataWarnings(ds)...)
	warnings = append(warnings, p.BaselineWarnings...)
	annotate(rep, ds.Report, warnings)

	ev.stage("write")
	meta, err := json.Marshal(t.Meta)
	if err != nil {
		return nil, fmt.Errorf("job: encode model metadata: %w", err)
	}
	net.Meta = meta
	res := &Result{
		Ingest: ds.Report, Baseline: p.Baseline, Model: mm, BaselineMetrics: bm, ModelNoise: rep.ModelNoise(), Bootstrap: rep.Bootstrap(), History: hist,
		Warnings: warnings, Quantity: eval.Spend,
		Split:    SplitCounts{len(p.Train), len(p.Val), len(p.Test)},
		ModelDir: filepath.Join(spec.Out, ModelDir),
	}
	if spec.Read.CountOnly() {
		res.Quantity = eval.PurchaseDays
	}
	if err := net.Save(res.ModelDir); err != nil {
		return nil, fmt.Errorf("job: %w", err)
	}
	if res.ReportPath, res.MetricsPath, err = rep.Write(ctx, spec.Out); err != nil {
		return nil, fmt.Errorf("job: %w", err)
	}
	return res, nil
}
