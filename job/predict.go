package job

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/cohort-clv/cohort/clv"
	"github.com/cohort-clv/cohort/kernels"
	"github.com/cohort-clv/cohort/model"
)

// Trained is a saved model with the metadata a training job stored beside it.
type Trained struct {
	Net  *model.Model
	Meta Meta
}

// LoadTrained loads a model directory written by Train.
func LoadTrained(dir string) (*Trained, error) {
	net, err := model.Load(dir)
	if err != nil {
		// A run directory holds the model one level down: say so rather
		// than report a missing model.json.
		if inner := filepath.Join(dir, "model"); errors.Is(err, fs.ErrNotExist) {
			if _, serr := os.Stat(filepath.Join(inner, model.ManifestFile)); serr == nil {
				return nil, fmt.Errorf("job: load model: %s is a run directory; the model is %s", dir, inner)
			}
		}
		return nil, fmt.Errorf("job: %w", err)
	}
	var meta Meta
	if len(net.Meta) == 0 {
		return nil, fmt.Errorf("job: load %s: no job metadata: the model was not written by cohort train", dir)
	}
	if err := json.Unmarshal(net.Meta, &meta); err != nil {
		return nil, fmt.Errorf("job: load %s: job metadata: %w", dir, err)
	}
	if !(meta.SpendCap > 0) {
		return nil, fmt.Errorf("job: load %s: job metadata spend_cap %v, want > 0", dir, meta.SpendCap)
	}
	if !(meta.SpendScale > 0) {
		return nil, fmt.Errorf("job: load %s: job metadata spend_scale %v, want > 0", dir, meta.SpendScale)
	}
	if meta.Calibration != nil {
		if err := meta.Calibration.validate(); err != nil {
			return nil, fmt.Errorf("job: load %s: job metadata %w", dir, err)
		}
	}
	if meta.Format != metaFormat {
		return nil, fmt.Errorf("job: load %s: job metadata format %q, want %q", dir, meta.Format, metaFormat)
	}
	return &Trained{Net: net, Meta: meta}, nil
}

// Prediction is one customer's scores.
type Prediction struct {
	Customer string `json:"customer_id" parquet:"customer_id"`
	// PReturn is the deep model's probability of spending in the horizon.
	PReturn float64 `json:"p_return" parquet:"p_return"`
	// ExpectedSpend is the deep model's expected spend over the horizon.
	ExpectedSpend float64 `json:"expected_spend" parquet:"expected_spend"`
	// Decile ranks ExpectedSpend: 1 is the top tenth of customers.
	Decile int `json:"decile" parquet:"decile"`
	// The baseline's expected purchases, P(alive) and expected spend over
	// the same horizon.
	BaselinePurchases float64 `json:"baseline_expected_purchases" parquet:"baseline_expected_purchases"`
	BaselinePAlive    float64 `json:"baseline_p_alive" parquet:"baseline_p_alive"`
	BaselineSpend     float64 `json:"baseline_expected_spend" parquet:"baseline_expected_spend"`
}

// Scored is a scored data set: predictions in customer-id order, the
// dataset's ingestion report and the horizon the scores cover.
type Scored struct {
	Predictions  []Prediction
	Ingest       clv.IngestReport
	HorizonWeeks float64
	Warnings     []string // as Result.Warnings
}

// Score reads data with read (its Horizon must be zero: features come from
// everything up to read.CalibrationEnd, the last date by default) and scores
// every customer with the trained model and its baseline.
func (t *Trained) Score(ctx context.Context, be kernels.Backend, data string, read clv.Options) (*Scored, error) {
	if !read.Horizon.IsZero() {
		return nil, fmt.Errorf("job: score: horizon %s given, want none: the model predicts over the %.1f weeks it was trained for", read.Horizon, t.Meta.HorizonWeeks)
	}
	ds, err := clv.Load(ctx, data, read)
	if err != nil {
		return nil, fmt.Errorf("job: %w", err)
	}
	if err := t.checkFeatures(ds.FeatureNames); err != nil {
		return nil, err
	}
	cs := make([]*clv.Customer, len(ds.Customers))
	for i := range ds.Customers {
		cs[i] = &ds.Customers[i]
	}
	d := adopt(cs, len(ds.FeatureNames))
	p, spend := t.predict(be, d.X, d.Rows)
	out := &Scored{Predictions: make([]Prediction, len(cs)), Ingest: ds.Report, HorizonWeeks: t.Meta.HorizonWeeks,
		Warnings: warningsOf(censoredLog(ds.Report, "the customers are scored"), outlierFirstDate(ds), farAsOf(ds.Report, t.Meta.HorizonWeeks),
			featureShift(t.Net.Pipeline, d.X, d.Rows))}
	out.Warnings = append(out.Warnings, DataWarnings(ds)...)
	dec := deciles(spend)
	for i, c := range cs {
		blSpend, alive := t.Meta.Baseline.predict(c, t.Meta.HorizonWeeks)
		out.Predictions[i] = Prediction{
			Customer: c.ID, PReturn: p[i], ExpectedSpend: spend[i], Decile: dec[i],
			BaselinePurchases: t.Meta.Baseline.BGNBD.ExpectedPurchases(rfmOf(c), t.Meta.HorizonWeeks),
			BaselinePAlive:    alive, BaselineSpend: blSpend,
		}
	}
	return out, nil
}

// checkFeatures refuses data whose features differ from the model's. The
// usual cause is a column mapping (quantity, extra columns) that differs
// from training, so the error names the features that differ and the flag
// that fixes each, not the two whole lists.
func (t *Trained) checkFeatures(names []string) error {
	want := t.Net.Pipeline.FeatureNames
	if slices.Equal(want, names) {
		return nil
	}
	filterNames := func(ns []string, keep func(string) bool) []string {
		var out []string
		for _, n := range ns {
			if keep(n) {
				out = append(out, n)
			}
		}
		return out
	}
	missing := filterNames(want, func(n string) bool { return !slices.Contains(names, n) }) // the model's, absent from the data
	added := filterNames(names, func(n string) bool { return !slices.Contains(want, n) })   // the data's, unknown to the model
	isQty := func(n string) bool { return strings.HasPrefix(n, "quantity_") }
	isExtra := func(n string) bool { return strings.HasPrefix(n, "extra_") }
	isLag := func(n string) bool { return strings.HasPrefix(n, "spend_lag") || strings.HasPrefix(n, "days_lag") }
	var why []string
	if q := filterNames(missing, isQty); len(q) > 0 {
		why = append(why, fmt.Sprintf("the model uses %s: map the quantity column with --quantity COL", strings.Join(q, ", ")))
	}
	if q := filterNames(added, isQty); len(q) > 0 {
		why = append(why, fmt.Sprintf("the data gives %s, which the model was trained without: pass --quantity - to leave the quantity column out", strings.Join(q, ", ")))
	}
	if e := filterNames(missing, isExtra); len(e) > 0 {
		why = append(why, fmt.Sprintf("the model uses %s: map those columns with --extra as in training", strings.Join(e, ", ")))
	}
	if e := filterNames(added, isExtra); len(e) > 0 {
		why = append(why, fmt.Sprintf("the data gives %s, which the model was trained without: leave those columns out of --extra", strings.Join(e, ", ")))
	}
	if len(filterNames(missing, isLag))+len(filterNames(added, isLag)) > 0 {
		count := func(ns []string) int {
			return len(filterNames(ns, func(n string) bool { return strings.HasPrefix(n, "spend_lag") }))
		}
		why = append(why, fmt.Sprintf("the model uses %d recent periods, the data gives %d: read with the model's --periods and --period-days", count(want), count(names)))
	}
	other := func(n string) bool { return !isQty(n) && !isExtra(n) && !isLag(n) }
	if o := filterNames(missing, other); len(o) > 0 {
		why = append(why, fmt.Sprintf("the data lacks %s", strings.Join(o, ", ")))
	}
	if o := filterNames(added, other); len(o) > 0 {
		why = append(why, fmt.Sprintf("the data adds %s", strings.Join(o, ", ")))
	}
	if len(why) == 0 {
		why = append(why, "the data gives the model's features in another order (a model from another version of cohort?)")
	}
	return fmt.Errorf("job: the data's features differ from the model's: %s", strings.Join(why, "; "))
}

// deciles ranks values into ten groups of (nearly) equal size; 1 holds the
// largest values. Ties are broken by position, so equal scores may straddle
// a decile boundary.
func deciles(v []float64) []int {
	idx := make([]int, len(v))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return v[idx[a]] > v[idx[b]] })
	out := make([]int, len(v))
	for rank, i := range idx {
		out[i] = rank*10/len(v) + 1
	}
	return out
}
