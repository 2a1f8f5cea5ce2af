package report

import (
	"encoding/json"
	"fmt"
	"github.com/cohort-clv/cohort/internal/atomicfile"
	"io"
	"time"

	"github.com/cohort-clv/cohort/eval"
)

// metricsDoc is the layout of metrics.json. Scores appear under "model" and
// "baseline" with eval.Metrics' keys (normalized_gini, spearman,
// decile_mape, auc, rmse, spend_ratio, ...), undefined ones as null;
// "baseline" is null when the run had no baseline.
type metricsDoc struct {
	TestCustomers int                    `json:"test_customers"`
	Model         map[string]any         `json:"model"`
	Baseline      map[string]any         `json:"baseline"`
	Run           runDoc                 `json:"run"`
	Importance    *eval.Importances      `json:"feature_importance,omitempty"`
	ModelNoise    *eval.Noise            `json:"model_noise,omitempty"`
	Bootstrap     *eval.Bootstrap        `json:"bootstrap,omitempty"`
	History       []epochDoc             `json:"history,omitempty"`
	Deciles       map[string][]decileDoc `json:"deciles"`
}

// decileDoc is eval.Decile with an APE that may be null.
type decileDoc struct {
	Index         int        `json:"index"`
	Lower         float64    `json:"lower"`
	Upper         float64    `json:"upper"`
	Count         int        `json:"count"`
	MeanPredicted float64    `json:"mean_predicted"`
	MeanActual    float64    `json:"mean_actual"`
	APE           eval.Float `json:"ape"`
}

func decileDocs(ds []eval.Decile) []decileDoc {
	out := make([]decileDoc, len(ds))
	for i, d := range ds {
		out[i] = decileDoc{d.Index, d.Lower, d.Upper, d.Count, d.MeanPredicted, d.MeanActual, eval.Float(d.APE)}
	}
	return out
}

type runDoc struct {
	DataFile   string `json:"data_file,omitempty"`
	Customers  int    `json:"customers,omitempty"`
	Train      int    `json:"train,omitempty"`
	Validation int    `json:"validation,omitempty"`
	Test       int    `json:"test,omitempty"`
	SplitRule  string `json:"split_rule"`
	// Scored is the customers scored, "test" or "all" (Summary.Scored);
	// with "all", InSample is how many of them trained the model or chose
	// its epoch (run.train + run.validation), absent otherwise.
	Scored   string `json:"scored"`
	InSample *int   `json:"in_sample_customers,omitempty"`
	// Quantity is what the predictions count: "spend" or "purchase days".
	Quantity         string `json:"quantity"`
	CalibrationStart string `json:"calibration_start,omitempty"`
	CalibrationEnd   string `json:"calibration_end,omitempty"`
	HoldoutStart     string `json:"holdout_start,omitempty"`
	HoldoutEnd       string `json:"holdout_end,omitempty"`
	Horizon          string `json:"horizon,omitempty"`
	Backend          string `json:"backend,omitempty"`
	Workers          int    `json:"workers,omitempty"`
	BestEpoch        int    `json:"best_epoch,omitempty"`
	Generated        string `json:"generated,omitempty"`
	// Ingest is what reading the log counted; Warnings the Summary's.
	Ingest   *ingestDoc `json:"ingest,omitempty"`
	Warnings []string   `json:"warnings,omitempty"`
	// Settings, Calibration and Version say how to repeat the run.
	Settings    any    `json:"settings,omitempty"`
	Calibration string `json:"calibration,omitempty"`
	Version     string `json:"cohort_version,omitempty"`
}

// ingestDoc is Ingest in metrics.json: bad_rows is an object ({} when none)
// and skipped_share the share of data rows skipped, so that a reader need not
// sum the reasons.
type ingestDoc struct {
	Rows              int64            `json:"rows"`
	Transactions      int64            `json:"transactions"`
	BadRows           map[string]int64 `json:"bad_rows"`
	Skipped           int64            `json:"skipped"`
	SkippedShare      float64          `json:"skipped_share"`
	FirstBadRow       string           `json:"first_bad_row,omitempty"`
	NegativeRows      int64            `json:"negative_rows"`
	DroppedNegative   int64            `json:"dropped_negative"`
	ReturnOnlyDays    int64            `json:"return_only_days"`
	RowsAfterEnd      int64            `json:"rows_after_end"`
	ExcludedCustomers int              `json:"excluded_customers"`
}

func ingestDocOf(in *Ingest) *ingestDoc {
	if in == nil {
		return nil
	}
	bad := in.BadRows
	if bad == nil {
		bad = map[string]int64{}
	}
	return &ingestDoc{
		Rows: in.Rows, Transactions: in.Transactions, BadRows: bad, Skipped: in.Skipped(), SkippedShare: in.SkippedShare(),
		FirstBadRow: in.FirstBadRow, NegativeRows: in.NegativeRows, DroppedNegative: in.DroppedNegative,
		ReturnOnlyDays: in.ReturnOnlyDays, RowsAfterEnd: in.RowsAfterEnd, ExcludedCustomers: in.ExcludedCustomers,
	}
}

type epochDoc struct {
	Epoch          int        `json:"epoch"`
	TrainLoss      eval.Float `json:"train_loss"`
	ValidationLoss eval.Float `json:"validation_loss"`
}

// MetricsJSON returns the content of metrics.json, indented.
func (r *Report) MetricsJSON() ([]byte, error) {
	s := r.data.Summary
	scored, rule := ScoredTest, s.SplitRule
	var inSample *int
	if s.Scored == ScoredAll {
		scored = ScoredAll
		rule = "none: all customers scored, held out or not; train, validation and test count them by the " + s.SplitRule
		if s.Train+s.Validation+s.Test > 0 { // else unknown
			n := s.Train + s.Validation
			inSample = &n
		}
	}
	doc := metricsDoc{
		// test_customers is the number scored, whichever customers they
		// are: run.scored says which.
		TestCustomers: len(r.data.Actual),
		Run: runDoc{
			DataFile: s.DataFile, Customers: s.Customers,
			Train: s.Train, Validation: s.Validation, Test: s.Test, SplitRule: rule,
			Scored: scored, InSample: inSample, Quantity: string(r.data.Quantity),
			CalibrationStart: day(s.CalibrationStart), CalibrationEnd: day(s.CalibrationEnd),
			HoldoutStart: day(s.HoldoutStart), HoldoutEnd: day(s.HoldoutEnd),
			Horizon: s.Horizon, Backend: s.Backend, Workers: s.Workers,
			BestEpoch: r.data.BestEpoch, Generated: stamp(s.Generated),
			Ingest: ingestDocOf(s.Ingest), Warnings: s.Warnings,
			Settings: s.Settings, Calibration: s.Calibration, Version: s.Version,
		},
		Importance: r.data.Importance,
		ModelNoise: r.data.Noise,
		Bootstrap:  r.data.Bootstrap,
		Deciles:    map[string][]decileDoc{"model": decileDocs(r.modelDec)},
	}
	var err error
	if doc.Model, err = section(r.data.Model.Name, r.model); err != nil {
		return nil, err
	}
	if r.hasBaseline {
		if doc.Baseline, err = section(r.data.Baseline.Name, r.baseline); err != nil {
			return nil, err
		}
		p := r.data.BaselineParams
		doc.Baseline["params"] = map[string]any{
			"bgnbd": map[string]eval.Float{
				"r": eval.Float(p.BGNBD.R), "alpha": eval.Float(p.BGNBD.Alpha),
				"a": eval.Float(p.BGNBD.A), "b": eval.Float(p.BGNBD.B),
			},
			"gamma_gamma": map[string]eval.Float{
				"p": eval.Float(p.GammaGamma.P), "q": eval.Float(p.GammaGamma.Q), "v": eval.Float(p.GammaGamma.V),
			},
		}
		if p.GammaGamma.Constant {
			// Not fitted: every purchase is worth v, and p and q only
			// stand for infinity. A key of its own, not in gamma_gamma,
			// whose values scripts read as numbers.
			doc.Baseline["params"].(map[string]any)["gamma_gamma_constant"] = true
		}
		doc.Deciles["baseline"] = decileDocs(r.baseDec)
	}
	for _, e := range r.data.History {
		doc.History = append(doc.History, epochDoc{e.Epoch, eval.Float(e.TrainLoss), eval.Float(e.ValidationLoss)})
	}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("report: encode metrics.json: %w", err)
	}
	return append(b, '\n'), nil
}

// section is one predictor's scores as a JSON object, with its name.
func section(name string, m eval.Metrics) (map[string]any, error) {
	b, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("report: encode metrics of %q: %w", name, err)
	}
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("report: encode metrics of %q: %w", name, err)
	}
	out["name"] = name
	return out, nil
}

// WriteMetricsFile writes MetricsJSON to path atomically.
func (r *Report) WriteMetricsFile(path string) error {
	b, err := r.MetricsJSON()
	if err != nil {
		return err
	}
	if err := atomicfile.Write(path, func(w io.Writer) error {
		_, err := w.Write(b)
		return err
	}); err != nil {
		return fmt.Errorf("report: write metrics: %w", err)
	}
	return nil
}

func day(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.Format(time.DateOnly)
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.Format(time.RFC3339)
}
