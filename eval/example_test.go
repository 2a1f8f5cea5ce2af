package eval_test

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/cohort-clv/cohort/eval"
)

// Score a model's predicted holdout spend against what customers spent.
func ExampleCompute() {
	actual := []float64{0, 10, 0, 30, 60}
	pred := []float64{1, 2, 3, 4, 5}
	pAlive := []float64{0.2, 0.9, 0.1, 0.8, 0.95}

	m, err := eval.Compute(pred, actual, eval.WithReturnScore(pAlive))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("normalized Gini %.3f, Spearman %.3f, AUC %.3f, AUC(p) %.3f, spend ratio %.2f\n",
		m.NormalizedGini, m.Spearman, m.AUC, m.AUCReturn, m.SpendRatio)
	// Output:
	// normalized Gini 0.950, Spearman 0.821, AUC 0.833, AUC(p) 1.000, spend ratio 0.15
}

// Undefined metrics are NaN in Go and null in JSON.
func ExampleMetrics_MarshalJSON() {
	m, _ := eval.Compute([]float64{1, 2}, []float64{0, 0})
	b, _ := json.Marshal(struct {
		Gini eval.Float `json:"gini"`
		RMSE eval.Float `json:"rmse"`
	}{eval.Float(m.NormalizedGini), eval.Float(m.RMSE)})
	fmt.Println(string(b))
	// Output:
	// {"gini":null,"rmse":1.5811388300841898}
}

// Rank features by how much shuffling each one hurts the normalized Gini.
func ExamplePermutationImportance() {
	// Two features per customer; the "model" only looks at the first.
	X := []float32{1, 5, 2, 3, 3, 9, 4, 1, 5, 7, 6, 2}
	actual := []float64{0, 2, 0, 8, 12, 20}
	predict := func(X []float32, rows int) []float64 {
		out := make([]float64, rows)
		for r := range rows {
			out[r] = float64(X[r*2])
		}
		return out
	}
	imp, err := eval.PermutationImportance(context.Background(), X, 6, 2,
		[]string{"recency", "noise"}, actual, predict, eval.MetricNormalizedGini, 1, 5)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, f := range imp.Features {
		fmt.Printf("%s: drop %.2f\n", f.Feature, f.Mean)
	}
	// Output:
	// recency: drop 0.76
	// noise: drop 0.00
}
