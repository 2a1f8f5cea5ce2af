package job

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/cohort-clv/cohort/clv"
	"github.com/cohort-clv/cohort/eval"
	"github.com/cohort-clv/cohort/eval/report"
	"github.com/cohort-clv/cohort/internal/buildinfo"
	"github.com/cohort-clv/cohort/kernels"
	"github.com/cohort-clv/cohort/model"
)

// evaluation scores the deep model and the baseline on the test customers
// and builds the report.
type evaluation struct {
	data       string
	ds         *clv.Dataset
	test       []*clv.Customer
	train, val int // sizes of the other parts, for the summary
	// all marks test as every customer of the data (eval --split all), not
	// the test part of the split: the summary then counts them by split.
	all        bool
	importance int    // permutation repeats; 0 skips importance
	seed       uint64 // of the permutations
	trained    *Trained
	be         kernels.Backend
	hist       model.History // empty when evaluating a saved model
	workers    int           // processes that trained the model; 0 leaves the line out
	// x is test as a matrix when the caller has built it (Evaluate, for
	// its feature-shift check); nil: report builds it.
	x *model.Data
}

// draws is how many holdouts eval.ZILNNoise simulates, and how many
// resamples eval.PairedBootstrap scores, for n test customers: 200, enough
// for stable 5th and 95th percentiles and a fraction of a second on 10^4
// customers; fewer past 20,000 customers, so that each costs about as much
// as 200 draws of 20,000 (a second or two) however large the shop. The
// intervals narrow as customers grow, so coarser percentiles matter less
// there.
func draws(n int) int {
	const full, work = 200, 200 * 20_000
	return max(20, min(full, work/max(n, 1)))
}

func (e evaluation) report(ctx context.Context) (*report.Report, error) {
	test := e.test
	X := e.x
	if X == nil {
		m := matrix(test, len(e.ds.FeatureNames))
		X = &m
	}
	actual := make([]float64, len(test))
	blSpend := make([]float64, len(test))
	// The baseline's P(return) is BG/NBD's chance of a purchase within the
	// horizon, the quantity the ZILN head's p estimates. P(alive) is not:
	// it is 1 for every customer without a repeat purchase, which ranked
	// CDNOW's returners below its non-returners (an AUC of 0.32).
	blReturn := make([]float64, len(test))
	weeks := e.trained.Meta.HorizonWeeks
	for i, c := range test {
		actual[i] = c.HoldoutSpend
		blSpend[i], _ = e.trained.Meta.Baseline.predict(c, weeks)
		blReturn[i] = e.trained.Meta.Baseline.BGNBD.PReturn(rfmOf(c), weeks)
	}
	pReturn, spend := e.trained.predict(e.be, X.X, X.Rows)

	var imp *eval.Importances
	if e.importance > 0 {
		predict := func(X []float32, rows int) []float64 {
			_, s := e.trained.predict(e.be, X, rows)
			return s
		}
		r, err := eval.PermutationImportance(ctx, X.X, X.Rows, X.Cols, e.ds.FeatureNames,
			actual, predict, eval.MetricNormalizedGini, e.seed, e.importance)
		if err != nil {
			return nil, fmt.Errorf("job: %w", err)
		}
		imp = &r
	}

	dp, mu, sigma := e.trained.Net.Distribution(e.be, X.X, X.Rows)
	scale := e.trained.Meta.SpendScale
	if e.trained.Meta.Calibration != nil {
		// The simulated holdouts come from the network's own distribution:
		// scale them to the calibrated predictions' level, which a
		// monotone calibration moves by more than SpendScale.
		var raw, cal float64
		for i := range spend {
			raw += dp[i] * math.Exp(mu[i]+sigma[i]*sigma[i]/2)
			cal += spend[i]
		}
		if raw > 0 && cal > 0 && !math.IsInf(raw, 0) {
			scale = cal / raw
		}
	}
	noise, err := eval.ZILNNoise(ctx, spend, dp, mu, sigma, scale, draws(len(test)), e.seed)
	if err != nil {
		return nil, fmt.Errorf("job: %w", err)
	}
	boot, err := eval.PairedBootstrap(ctx, actual, spend, blSpend, draws(len(test)), e.seed)
	if err != nil {
		return nil, fmt.Errorf("job: %w", err)
	}
	if e.trained.Meta.Read.CountOnly() {
		boot.Verdict = eval.NewVerdict(&boot, eval.PurchaseDays)
	}

	rep := e.ds.Report
	hist := make([]report.Epoch, len(e.hist.Epochs))
	for i, ep := range e.hist.Epochs {
		hist[i] = report.Epoch{Epoch: ep.Epoch, TrainLoss: ep.TrainLoss, ValidationLoss: ep.ValLoss}
	}
	b := e.trained.Meta.Baseline
	scored, train, val, held := report.ScoredTest, e.train, e.val, len(test)
	if e.all {
		scored = report.ScoredAll
		train, val, held = splitCounts(test)
	}
	quantity := eval.Spend
	if e.trained.Meta.Read.CountOnly() {
		quantity = eval.PurchaseDays
	}
	_, constant := b.GammaGamma.Constant()
	r, err := report.New(report.Data{
		Summary: report.Summary{
			DataFile: e.data, Customers: rep.Customers,
			Train: train, Validation: val, Test: held, Scored: scored,
			CalibrationStart: rep.FirstDate, CalibrationEnd: rep.CalibrationEnd,
			HoldoutStart: rep.CalibrationEnd.AddDate(0, 0, 1), HoldoutEnd: rep.HoldoutEnd,
			Horizon: rep.Horizon.String(), Backend: e.be.Name(), Workers: e.workers, Generated: time.Now().UTC(),
			Model:    e.trained.Net.Describe(),
			Settings: e.trained.Net.Config, Calibration: e.trained.Meta.calibrationName(),
			Version: buildinfo.Read().Short(),
		},
		Actual:   actual,
		Quantity: quantity,
		Model:    report.Predictor{Name: "deep ZILN model", Spend: spend, PReturn: pReturn},
		Baseline: report.Predictor{Name: "BG/NBD + Gamma-Gamma", Spend: blSpend, PReturn: blReturn},
		BaselineParams: report.BaselineParams{
			BGNBD:      report.BGNBD{R: b.BGNBD.R, Alpha: b.BGNBD.Alpha, A: b.BGNBD.A, B: b.BGNBD.B},
			GammaGamma: report.GammaGamma{P: b.GammaGamma.P, Q: b.GammaGamma.Q, V: b.GammaGamma.V, Constant: constant},
		},
		History:    hist,
		BestEpoch:  e.hist.BestEpoch,
		Importance: imp,
		Noise:      &noise,
		Bootstrap:  &boot,
	})
	if err != nil {
		return nil, fmt.Errorf("job: build report: %w", err)
	}
	return r, nil
}

// splitCounts counts cs by the split the model was trained with: how many
// trained it, chose its epoch, and were held out.
func splitCounts(cs []*clv.Customer) (train, val, test int) {
	for _, c := range cs {
		switch clv.SplitOf(c.ID) {
		case clv.Train:
			train++
		case clv.Validation:
			val++
		default:
			test++
		}
	}
	return train, val, test
}
