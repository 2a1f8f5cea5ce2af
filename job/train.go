package job

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"path/filepath"
	"time"

	"github.com/cohort-clv/cohort/baseline"
	"github.com/cohort-clv/cohort/clv"
	"github.com/cohort-clv/cohort/eval"
	"github.com/cohort-clv/cohort/kernels"
	"github.com/cohort-clv/cohort/model"
)

// ModelDir is the model's directory inside a run directory; report.Write
// names metrics.json and report.html beside it.
const ModelDir = "model"

// Baseline holds the fitted classic model.
type Baseline struct {
	BGNBD      baseline.BGNBD      `json:"bgnbd"`
	GammaGamma baseline.GammaGamma `json:"gamma_gamma"`
}

// Meta is stored in the model directory next to the weights: what Predict
// needs to read new data the way training read it and to score the baseline.
type Meta struct {
	Format         string      `json:"format"`
	Data           string      `json:"data"`
	Read           clv.Options `json:"read"`
	CalibrationEnd time.Time   `json:"calibration_end"`
	HoldoutEnd     time.Time   `json:"holdout_end"`
	HorizonWeeks   float64     `json:"horizon_weeks"`
	Baseline       Baseline    `json:"baseline"`
	// SpendScale multiplies the network's expected spend (after
	// Calibration, when there is one). The ZILN mean exp(mu + sigma^2/2) is
	// biased upward when the lognormal's tail is heavier than the data's;
	// one factor fitted on the training and validation customers (total
	// actual / total predicted) removes that bias without touching the
	// ranking. It is also the scale of the simulated holdouts of the
	// sampling-noise band.
	SpendScale float64 `json:"spend_scale"`
	// SpendCap bounds a customer's expected spend: the largest holdout
	// spend of any training or validation customer. A ZILN network that
	// extrapolates at the edge of the feature space can put exp(sigma^2/2)
	// in the thousands; no customer is predicted to outspend everyone the
	// model learned from.
	SpendCap float64 `json:"spend_cap"`
	// Calibration, when present, maps the network's expected spend to
	// calibrated spend before SpendScale multiplies it: an isotonic fit on
	// the validation customers, which the network never trained on. It
	// bends the spend curve where one factor cannot and keeps every
	// customer's rank. Absent (models written before it existed, and
	// Finish's today: see Calibration), the one factor does it all.
	Calibration *Calibration `json:"calibration,omitempty"`
}

// metaFormat versions Meta; Predict refuses other versions.
const metaFormat = "cohort.job.meta/v1"

// SplitCounts is how many customers each part of the split holds.
type SplitCounts struct {
	Train      int `json:"train"`
	Validation int `json:"validation"`
	Test       int `json:"test"`
}

// Result is what a finished training job reports.
type Result struct {
	Ingest          clv.IngestReport `json:"ingest"`
	Split           SplitCounts      `json:"split"`
	Baseline        Baseline         `json:"baseline"`
	Model           eval.Metrics     `json:"model_metrics"`
	BaselineMetrics eval.Metrics     `json:"baseline_metrics"`
	// Quantity is what the metrics count: spend, or purchase days.
	Quantity eval.Quantity `json:"quantity"`
	// ModelNoise is how far the model's test metrics would scatter from
	// sampling noise alone if the model were exactly right.
	ModelNoise *eval.Noise `json:"model_noise"`
	// Bootstrap is how far the test metrics, and the model's lead over the
	// baseline, would move on another test set of the same size.
	Bootstrap   *eval.Bootstrap `json:"bootstrap"`
	History     model.History   `json:"history"`
	ModelDir    string          `json:"model_dir"`
	MetricsPath string          `json:"metrics_path"`
	ReportPath  string          `json:"report_path"`
	Elapsed     time.Duration   `json:"elapsed_ns"`
	// Warnings are findings about the input that can make the results
	// meaningless (inputcheck.go); report.html and metrics.json hold them
	// too.
	Warnings []string `json:"warnings,omitempty"`
}

// parts is the dataset cut by the stable hash split.
type parts struct {
	train, val, test []*clv.Customer
}

func split(ds *clv.Dataset) parts {
	var p parts
	for i := range ds.Customers {
		c := &ds.Customers[i]
		switch clv.SplitOf(c.ID) {
		case clv.Train:
			p.train = append(p.train, c)
		case clv.Validation:
			p.val = append(p.val, c)
		default:
			p.test = append(p.test, c)
		}
	}
	return p
}

// Train runs the whole job on backend be and writes the run directory,
// training in this process (model.Train).
func Train(ctx context.Context, be kernels.Backend, spec Spec, ev Events) (*Result, error) {
	return TrainWith(ctx, be, spec, ev, Local)
}

// Local is the single-process training step: model.Train on be.
func Local(ctx context.Context, be kernels.Backend, p *Prepared, ev Events) (*model.Model, model.History, error) {
	opts := model.TrainOptions{FeatureNames: p.Dataset.FeatureNames, Log1p: p.Dataset.Log1p, OnEpoch: ev.Epoch}
	if k := p.Spec.CheckpointEvery; k > 0 {
		dir := CheckpointDir(p.Spec.Out)
		fp, err := p.Fingerprint()
		if err != nil {
			return nil, model.History{}, err
		}
		opts.CheckpointEvery = k
		opts.Checkpoint = func(st *model.TrainState) error { return SaveCheckpointWith(dir, "local", st, fp) }
	}
	if p.Spec.Resume != "" {
		st, err := model.LoadCheckpoint(p.Spec.Resume)
		if err != nil {
			return nil, model.History{}, fmt.Errorf("job: resume: %w", err)
		}
		opts.Resume = st
	}
	return model.Train(ctx, be, p.TrainData, p.ValData, p.Spec.Model, opts)
}

// TrainWith runs the whole job like Train, with step as the training stage:
// Prepare, step, then Finish. The distributed runtime passes a step that
// trains on workers; reading, the baseline, calibration, evaluation and the
// run directory stay the same code. With spec.Resume, the checkpoint must
// be this run's (Prepared.CheckResume) before any step starts.
//
// A spec with CheckpointEvery > 0 owns CheckpointDir(spec.Out), where its
// step writes the checkpoints: without Resume it refuses to start while
// that directory holds checkpoints (CheckFresh: they are another run's,
// and a resume would take whichever has the higher step), and once the
// run directory is written it removes them (RemoveCheckpoints), with the
// one it resumed from, so that the same spec can run again. A run that
// fails or is cancelled keeps them for a resume. A coordinator's job sets
// no CheckpointEvery in its spec: its workers' checkpoints are tracked by
// the pointers in etcd, which a coordinator that takes over resumes from
// without Resume, so TrainWith leaves its directory alone.
func TrainWith(ctx context.Context, be kernels.Backend, spec Spec, ev Events, step TrainStep) (*Result, error) {
	start := time.Now()
	dir := CheckpointDir(spec.Out)
	if spec.CheckpointEvery > 0 && spec.Resume == "" {
		if err := CheckFresh(dir); err != nil {
			return nil, fmt.Errorf("%w: resume from them, or remove them (or train into another directory) to start over", err)
		}
	}
	p, err := Prepare(ctx, spec, ev)
	if err != nil {
		return nil, err
	}
	if spec.Resume != "" {
		if err := p.CheckResume(ctx, spec.Resume); err != nil {
			return nil, err
		}
	}
	ev.stage("train")
	net, hist, err := step(ctx, be, p, ev)
	if err != nil {
		return nil, fmt.Errorf("job: %w", err)
	}
	res, err := p.Finish(ctx, be, net, hist, ev)
	if err != nil {
		return nil, err
	}
	if spec.CheckpointEvery > 0 || (spec.Resume != "" && filepath.Dir(filepath.Clean(spec.Resume)) == filepath.Clean(dir)) {
		// The model is written: the checkpoints have served. One left
		// behind costs disk, and the next run here is refused until it
		// goes, which the warning says.
		if _, err := RemoveCheckpoints(dir); err != nil {
			slog.WarnContext(ctx, "the run finished, but its checkpoints could not all be removed: remove them before training into this directory again",
				"dir", dir, "err", err)
		}
	}
	res.Elapsed = time.Since(start)
	return res, nil
}

// fitBaseline fits BG/NBD on the training customers' calibration summaries
// and Gamma-Gamma on those of them with repeat purchases. The baseline sees
// no holdout data, like the deep model.
func fitBaseline(ctx context.Context, train []*clv.Customer) (Baseline, []string, error) {
	rfm := make([]baseline.RFM, len(train))
	var x, m []float64
	for i, c := range train {
		rfm[i] = rfmOf(c)
		if c.X > 0 && c.RepeatMeanSpend > 0 {
			x = append(x, c.X)
			m = append(m, c.RepeatMeanSpend)
		}
	}
	// baseline's errors name the fit ("baseline: fit BG/NBD: ...").
	bg, bgInfo, err := baseline.FitBGNBD(ctx, rfm)
	if err != nil {
		return Baseline{}, nil, fmt.Errorf("job: %w", err)
	}
	gg, ggInfo, err := baseline.FitGammaGamma(ctx, x, m)
	if err != nil {
		return Baseline{}, nil, fmt.Errorf("job: %w", err)
	}
	warnings := warningsOf(
		unconverged("BG/NBD", bgInfo, fmt.Sprintf("r %.4g, alpha %.4g, a %.4g, b %.4g", bg.R, bg.Alpha, bg.A, bg.B)),
		unconverged("Gamma-Gamma", ggInfo, fmt.Sprintf("p %.4g, q %.4g, v %.4g", gg.P, gg.Q, gg.V)))
	return Baseline{BGNBD: bg, GammaGamma: gg}, warnings, nil
}

// unconverged warns when a baseline fit stopped without converging: its
// parameters are then an optimizer's stopping point, perhaps at the edge
// of the parameter space (a BG/NBD whose dropout probability ran to 1e-15
// on yearly donations), and every comparison with the baseline rests on
// them.
func unconverged(fit string, info baseline.FitInfo, params string) string {
	if info.Converged {
		return ""
	}
	return fmt.Sprintf("the baseline's %s fit did not converge (%s) and stopped at %s: every comparison with the baseline rests on that fit, "+
		"so read its metrics and the verdict with care", fit, info.Status, params)
}

// predict returns the baseline's expected holdout spend and P(alive).
func (b Baseline) predict(c *clv.Customer, weeks float64) (spend, alive float64) {
	r := rfmOf(c)
	spend = baseline.ExpectedHoldoutSpend(b.BGNBD, b.GammaGamma, r, c.RepeatMeanSpend, weeks)
	alive = b.BGNBD.PAlive(r)
	if math.IsNaN(spend) {
		spend = 0
	}
	return spend, alive
}

// calibrate returns the factor f that makes the calibrated total over the
// given (training and validation, never test) customers equal their actual
// total, with each prediction capped as predict caps it:
// sum min(f*spend, SpendCap) = sum actual. It is 1 when either total is not
// positive. It is Meta.SpendScale, the whole calibration of models without
// a Calibration and the unit the Calibration is stored in.
//
// Without the cap in the sum, a few wild predictions on training customers
// (one of 6.2e5 against a largest label of 5,763 in an ensemble on CDNOW)
// pulled the factor down for every customer; with it, the out-of-sample
// validation decile MAPE and spend ratio were better for every ensemble
// size tried (BENCHMARKS.md).
func (t *Trained) calibrate(be kernels.Backend, parts ...model.Data) float64 {
	var actual float64
	var all []float64
	for _, d := range parts {
		_, spend := t.Net.Predict(be, d.X, d.Rows)
		for _, y := range d.Y {
			actual += float64(y)
		}
		all = append(all, spend...)
	}
	return cappedFactor(all, actual, t.Meta.SpendCap)
}

// cappedFactor solves sum min(f*pred, limit) = total for f > 0, which
// exists when the limit leaves room for total; otherwise it returns the
// factor that caps every prediction. It is 1 when either total is not
// positive (or the predictions' is infinite). The sum grows with f, so
// bisection between the uncapped factor (a lower bound) and a doubling
// upper bound finds it.
func cappedFactor(pred []float64, total, limit float64) float64 {
	var sum float64
	for _, p := range pred {
		sum += p
	}
	if !(sum > 0) || !(total > 0) || math.IsInf(sum, 0) {
		return 1
	}
	f := total / sum
	calibrated := func(f float64) float64 {
		var s float64
		for _, p := range pred {
			s += min(f*p, limit)
		}
		return s
	}
	if math.IsInf(limit, 1) || !(limit > 0) || calibrated(f) >= total {
		return f
	}
	lo, hi := f, 2*f
	for calibrated(hi) < total {
		if hi > f*1e12 {
			return hi // the limit leaves no room for total
		}
		lo, hi = hi, 2*hi
	}
	for range 100 {
		mid := (lo + hi) / 2
		if calibrated(mid) < total {
			lo = mid
		} else {
			hi = mid
		}
	}
	return hi
}

// maxLabel is the largest label of the given data, the spend cap.
func maxLabel(parts ...model.Data) float64 {
	var m float64
	for _, d := range parts {
		for _, y := range d.Y {
			m = max(m, float64(y))
		}
	}
	return m
}

// calibrateValidation fits the spend calibration on the validation
// customers, relative to the stored SpendScale. Those customers only stopped
// training early, so their holdout spend is an honest check of the network's
// predictions, which the training customers' spend is not. It returns nil,
// leaving the one factor in charge, when the validation customers cannot
// support a fit (none of them spent anything). Finish calls it when the
// spec asks for isotonic calibration; it is not the default because on
// CDNOW it raised the test customers' decile MAPE (BENCHMARKS.md).
func (t *Trained) calibrateValidation(be kernels.Backend, val model.Data) *Calibration {
	_, raw := t.Net.Predict(be, val.X, val.Rows)
	actual := make([]float64, len(val.Y))
	for i, y := range val.Y {
		actual[i] = float64(y)
	}
	minBlock := (len(raw) + calibrationBlocks - 1) / calibrationBlocks
	c, err := fitCalibration(raw, actual, minBlock, t.Meta.SpendScale)
	if err != nil {
		return nil
	}
	return c
}

// predict scores rows of raw features: P(return) and calibrated, capped
// expected spend.
func (t *Trained) predict(be kernels.Backend, X []float32, rows int) (p, spend []float64) {
	p, spend = t.Net.Predict(be, X, rows)
	for i, s := range spend {
		if c := t.Meta.Calibration; c != nil {
			s = c.Apply(s)
		}
		spend[i] = min(s*t.Meta.SpendScale, t.Meta.SpendCap)
	}
	return p, spend
}

func rfmOf(c *clv.Customer) baseline.RFM { return baseline.RFM{X: c.X, Tx: c.Tx, T: c.T} }

// matrix lays the customers' features out row-major with spend labels.
func matrix(cs []*clv.Customer, cols int) model.Data {
	d := model.Data{X: make([]float32, 0, len(cs)*cols), Y: make([]float32, len(cs)), Rows: len(cs), Cols: cols}
	for i, c := range cs {
		d.X = append(d.X, c.Features...)
		d.Y[i] = float32(c.HoldoutSpend)
	}
	return d
}
