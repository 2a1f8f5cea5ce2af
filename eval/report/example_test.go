package report_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/cohort-clv/cohort/eval/report"
)

// Write report.html and metrics.json for a model and the baseline.
func Example() {
	dir, err := os.MkdirTemp("", "cohort-report-")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)

	r, err := report.New(report.Data{
		Summary: report.Summary{
			DataFile:       "CDNOW_master.txt",
			Customers:      20,
			Train:          14,
			Validation:     3,
			Test:           3,
			CalibrationEnd: time.Date(1997, 9, 30, 0, 0, 0, 0, time.UTC),
			HoldoutEnd:     time.Date(1998, 6, 30, 0, 0, 0, 0, time.UTC),
			Horizon:        "39w",
		},
		Actual:   []float64{0, 12.5, 80},
		Model:    report.Predictor{Name: "ZILN DNN", Spend: []float64{3, 15, 60}},
		Baseline: report.Predictor{Name: "BG/NBD + Gamma-Gamma", Spend: []float64{10, 9, 30}},
		BaselineParams: report.BaselineParams{
			BGNBD:      report.BGNBD{R: 0.243, Alpha: 4.414, A: 0.793, B: 2.426},
			GammaGamma: report.GammaGamma{P: 6.25, Q: 3.74, V: 15.44},
		},
		History: []report.Epoch{{Epoch: 1, TrainLoss: 4.1, ValidationLoss: 4.3}, {Epoch: 2, TrainLoss: 3.6, ValidationLoss: 3.9}},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	htmlPath, metricsPath, err := r.Write(context.Background(), dir)
	if err != nil {
		fmt.Println(err)
		return
	}
	m := r.ModelMetrics()
	fmt.Println(filepath.Base(htmlPath), filepath.Base(metricsPath))
	fmt.Printf("model: normalized Gini %.2f, spend ratio %.2f\n", m.NormalizedGini, m.SpendRatio)
	// Output:
	// report.html metrics.json
	// model: normalized Gini 1.00, spend ratio 0.84
}
