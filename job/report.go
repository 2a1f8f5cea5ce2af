package job

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"
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
	x  *model.Data
	ev Events // Step receives the sub-steps
	// impCap overrides importanceCap (tests); 0 keeps it.
	impCap int
}

// importanceCap is the most test customers the permutation importance
// scores: it ranks features, which a sample of this size does stably, and
// without a cap it is the one evaluation step that grows without bound
// (97 predictions of every test customer at the default 3 repeats).
const importanceCap = 50_000

// importanceSample returns the indices, in order, of at most limit of cs
// chosen by a hash of their ids: the same customers whatever the order of
// the data or the size of the shop beyond them, independent of the
// train/validation/test split's hash. nil: all of cs.
func importanceSample(cs []*clv.Customer, limit int) []int {
	if len(cs) <= limit {
		return nil
	}
	type keyed struct {
		h uint64
		i int
	}
	ks := make([]keyed, len(cs))
	for i, c := range cs {
		ks[i] = keyed{sampleHash(c.ID), i}
	}
	slices.SortFunc(ks, func(a, b keyed) int {
		if c := cmp.Compare(a.h, b.h); c != 0 {
			return c
		}
		return cmp.Compare(a.i, b.i)
	})
	idx := make([]int, limit)
	for k := range idx {
		idx[k] = ks[k].i
	}
	slices.Sort(idx)
	return idx
}

// sampleHash is FNV-1a 64 of the id, salted, through splitmix64's
// finalizer so that it is unrelated to clv.SplitOf's FNV-1a modulo 100.
func sampleHash(id string) uint64 {
	h := uint64(14695981039346656037)
	for _, b := range []byte("importance sample:") {
		h ^= uint64(b)
		h *= 1099511628211
	}
	for i := 0; i < len(id); i++ {
		h ^= uint64(id[i])
		h *= 1099511628211
	}
	h ^= h >> 30
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 27
	h *= 0x94d049bb133111eb
	h ^= h >> 31
	return h
}

// withoutPipeline returns t with a model that feeds its input to the net
// as it is: its predictions of rows that t.Net.Pipeline has already
// transformed are t's predictions of the raw rows, bit for bit (the
// identity pipeline computes (x-0)/1 in float64 and rounds back to x).
func (t *Trained) withoutPipeline() *Trained {
	net := *t.Net
	cols := len(net.Pipeline.Mean)
	std := make([]float32, cols)
	for j := range std {
		std[j] = 1
	}
	net.Pipeline = model.Pipeline{FeatureNames: net.Pipeline.FeatureNames, Log1p: make([]bool, cols), Mean: make([]float32, cols), Std: std}
	tt := *t
	tt.Net = &net
	return &tt
}

// permutationImportance is the model's permutation importance of the
// normalized Gini on X, the matrix of test with actual spend actual, on at
// most importanceCap of the customers. The pipeline's transform is applied
// once and the transformed columns are shuffled: it is per column and
// elementwise, so shuffling a transformed column is transforming the
// shuffled one, and each shuffle costs one pass through the net.
func (e evaluation) permutationImportance(ctx context.Context, X *model.Data, actual []float64) (*eval.Importances, error) {
	rows, cols := X.Rows, X.Cols
	raw, y := X.X, actual
	limit := importanceCap
	if e.impCap > 0 {
		limit = e.impCap
	}
	sample := importanceSample(e.test, limit)
	if sample != nil {
		raw, y = make([]float32, 0, len(sample)*cols), make([]float64, len(sample))
		for k, i := range sample {
			raw = append(raw, X.X[i*cols:(i+1)*cols]...)
			y[k] = actual[i]
		}
		rows = len(sample)
	}
	xt := make([]float32, len(raw))
	e.trained.Net.Pipeline.Apply(xt, raw, rows)
	bare := e.trained.withoutPipeline()
	predict := func(X []float32, rows int) []float64 {
		_, s := bare.predict(e.be, X, rows)
		return s
	}
	step := EvalStep{Name: "importance", Total: cols, Customers: rows, Repeats: e.importance}
	if sample != nil {
		step.Of = len(e.test)
	}
	e.ev.step(step)
	progress := eval.WithImportanceProgress(func(done, total int) {
		step.Done = done
		e.ev.step(step)
	})
	r, err := eval.PermutationImportance(ctx, xt, rows, cols, e.ds.FeatureNames,
		y, predict, eval.MetricNormalizedGini, e.seed, e.importance, progress)
	if err != nil {
		return nil, fmt.Errorf("job: %w", err)
	}
	r.SampledFrom = step.Of
	return &r, nil
}

// draws is how many holdouts eval.ZILNNoise simulates, and how many
// resamples eval.PairedBootstrap scores, for n test customers: 200, enough
// for stable 5th and 95th percentiles, up to 200,000 customers (a few
// seconds on 2 cores); fewer past that, so that each costs about as much as
// 200 draws of 200,000 however large the shop, and never under 20. The
// intervals narrow as customers grow, so coarser percentiles matter less
// there.
func draws(n int) int {
	const full, work = 200, 200 * 200_000
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
	e.ev.step(EvalStep{Name: "predict", Customers: len(test)})
	pReturn, spend := e.trained.predict(e.be, X.X, X.Rows)

	var imp *eval.Importances
	if e.importance > 0 {
		var err error
		if imp, err = e.permutationImportance(ctx, X, actual); err != nil {
			return nil, err
		}
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
	e.ev.step(EvalStep{Name: "noise", Total: draws(len(test)), Customers: len(test)})
	noise, err := eval.ZILNNoise(ctx, spend, dp, mu, sigma, scale, draws(len(test)), e.seed)
	if err != nil {
		return nil, fmt.Errorf("job: %w", err)
	}
	e.ev.step(EvalStep{Name: "bootstrap", Total: draws(len(test)), Customers: len(test)})
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
	e.ev.step(EvalStep{Name: "report", Customers: len(test)})
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
