package job

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/cohort-clv/cohort/clv"
	"github.com/cohort-clv/cohort/internal/shareddata"
	"github.com/cohort-clv/cohort/kernels"
	"github.com/cohort-clv/cohort/kernels/cpu"
	"github.com/cohort-clv/cohort/model"
)

// TestGroceryCountOnly ensures a count-only job runs end to end on
// BTYDplus's groceryElog (cust,date: no spend column) read with amount
// "none", calibration through 2006-12-31 and a 52-week holdout: the deep
// model learns each customer's holdout purchase days, the baseline is
// BG/NBD times the constant Gamma-Gamma model of 1, both rank the test
// customers far better than chance, the run's metrics.json keeps the
// Gamma-Gamma keys, and the saved model scores the log count-only again.
func TestGroceryCountOnly(t *testing.T) {
	h, err := clv.ParseHorizon("52w")
	if err != nil {
		t.Fatal(err)
	}
	spec := DefaultSpec()
	spec.Data, spec.Out = shareddata.Path(t, "groceryElog.csv"), t.TempDir()
	spec.Read.Amount = clv.AmountNone
	spec.Read.CalibrationEnd = time.Date(2006, 12, 31, 0, 0, 0, 0, time.UTC)
	spec.Read.Horizon = h
	spec.ImportanceRepeats = 0
	be := cpu.New(cpu.Options{})
	defer be.Close()

	// The training step sees the labels the network learns from.
	checked := false
	step := func(ctx context.Context, be kernels.Backend, p *Prepared, ev Events) (*model.Model, model.History, error) {
		for _, part := range []struct {
			cs []*clv.Customer
			d  model.Data
		}{{p.Train, p.TrainData}, {p.Val, p.ValData}} {
			for i, c := range part.cs {
				if c.HoldoutSpend != float64(c.HoldoutPurchases) || part.d.Y[i] != float32(c.HoldoutPurchases) {
					t.Errorf("customer %s: label %v, holdout spend %v; want its %d holdout purchase days",
						c.ID, part.d.Y[i], c.HoldoutSpend, c.HoldoutPurchases)
				}
			}
		}
		for _, c := range p.Test {
			if c.HoldoutSpend != float64(c.HoldoutPurchases) {
				t.Errorf("test customer %s: holdout spend %v, want its %d purchase days", c.ID, c.HoldoutSpend, c.HoldoutPurchases)
			}
		}
		checked = true
		return Local(ctx, be, p, ev)
	}
	res, err := TrainWith(context.Background(), be, spec, Events{}, step)
	if err != nil {
		t.Fatal(err)
	}
	if !checked {
		t.Fatal("the training step never ran")
	}
	m, b := res.Model, res.BaselineMetrics
	t.Logf("test customers %d: gini %.4f vs %.4f, spearman %.4f vs %.4f, AUC %.4f vs %.4f, decile MAPE %.4f vs %.4f, spend ratio %.4f vs %.4f",
		res.Split.Test, m.NormalizedGini, b.NormalizedGini, m.Spearman, b.Spearman, m.AUC, b.AUC, m.DecileMAPE, b.DecileMAPE, m.SpendRatio, b.SpendRatio)
	if r := res.Ingest; r.Customers != 1525 || r.Columns.Amount != clv.AmountNone || r.TotalAmount != float64(r.PurchaseDays) {
		t.Errorf("ingest %+v: want 1,525 customers read count-only", r)
	}
	if verdict := strings.Join(res.Bootstrap.Verdict.Text, " "); !strings.Contains(verdict, "total purchase days") || strings.Contains(verdict, "spend") {
		t.Errorf("verdict %q, want it to speak of purchase days, not spend", verdict)
	}
	if v, ok := res.Baseline.GammaGamma.Constant(); !ok || v != 1 {
		t.Errorf("Gamma-Gamma %+v, want the constant model of 1 purchase day", res.Baseline.GammaGamma)
	}
	// Chance is 0 (0.5 for the AUC); both models are well clear of it.
	for _, s := range []struct {
		name             string
		model, base, min float64
	}{
		{"normalized Gini", m.NormalizedGini, b.NormalizedGini, 0.5},
		{"Spearman", m.Spearman, b.Spearman, 0.5},
		{"AUC", m.AUC, b.AUC, 0.75},
	} {
		if !(s.model > s.min && s.base > s.min) {
			t.Errorf("%s: model %.4f, baseline %.4f: want both above %v", s.name, s.model, s.base, s.min)
		}
	}
	for name, v := range map[string]float64{"model": m.SpendRatio, "baseline": b.SpendRatio} {
		if !(v > 0.6 && v < 1.6) {
			t.Errorf("%s predicts %.4f times the test customers' holdout purchase days, want 0.6-1.6", name, v)
		}
	}

	// metrics.json keeps p, q and v: the constant model's.
	raw, err := os.ReadFile(res.MetricsPath)
	if err != nil {
		t.Fatal(err)
	}
	var metrics struct {
		Baseline struct {
			Params struct {
				GammaGamma map[string]float64 `json:"gamma_gamma"`
			} `json:"params"`
		} `json:"baseline"`
	}
	if err := json.Unmarshal(raw, &metrics); err != nil {
		t.Fatal(err)
	}
	if gg := metrics.Baseline.Params.GammaGamma; gg["p"] == 0 || gg["q"] != gg["p"]+1 || gg["v"] != 1 {
		t.Errorf("metrics.json gamma_gamma %v, want p, q = p+1 and v = 1", gg)
	}

	// The model reads new data count-only, as it was trained.
	tr, err := LoadTrained(res.ModelDir)
	if err != nil {
		t.Fatal(err)
	}
	if !tr.Meta.Read.CountOnly() {
		t.Fatalf("saved read options %+v, want amount none", tr.Meta.Read)
	}
	read := tr.Meta.Read
	read.CalibrationEnd, read.Horizon = time.Time{}, clv.Horizon{}
	scored, err := tr.Score(context.Background(), be, spec.Data, read)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range scored.Predictions {
		if !(p.ExpectedSpend >= 0) || math.Abs(p.BaselineSpend-p.BaselinePurchases) > 1e-12*max(1, p.BaselinePurchases) {
			t.Fatalf("prediction %+v: want expected purchase days >= 0, the baseline's spend its purchases", p)
		}
	}

	// The same run's report and an eval of its model speak of purchase days.
	t.Run("report wording", func(t *testing.T) { checkCountOnlyReport(t, be, spec.Data, res) })
}

// TestSpecValidateCountOnly ensures a spec that reads count-only is valid
// with the default negative policy, and that one asking for another policy
// is refused before any work starts, naming the read options.
func TestSpecValidateCountOnly(t *testing.T) {
	tests := []struct {
		negative clv.NegativePolicy
		want     string // in the error; "" for valid
	}{
		{clv.NetNegative, ""},
		{clv.DropNegative, "job: invalid spec: read: clv: negative policy drop: a count-only log (amount none) has no amounts"},
		{clv.ErrorNegative, "job: invalid spec: read: clv: negative policy error: a count-only log (amount none) has no amounts"},
	}
	for _, tt := range tests {
		spec := DefaultSpec()
		spec.Data, spec.Out = "grocery.csv", "run"
		spec.Read = clv.Options{Amount: clv.AmountNone, Horizon: clv.Horizon{Days: 364}, Negative: tt.negative}
		err := spec.Validate()
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%v: %v", tt.negative, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("%v: error %v, want %q", tt.negative, err, tt.want)
		}
	}
}
