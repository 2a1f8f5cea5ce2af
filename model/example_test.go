package model_test

import (
	"context"
	"fmt"
	"log"
	"math"
	"math/rand/v2"
	"os"

	"github.com/cohort-clv/cohort/kernels/cpu"
	"github.com/cohort-clv/cohort/model"
)

// Customers with two features, past spend and weeks since the last
// purchase; recent big spenders buy more often and spend more.
func exampleData(rows int, seed uint64) model.Data {
	rng := rand.New(rand.NewPCG(seed, 1))
	d := model.Data{X: make([]float32, rows*2), Y: make([]float32, rows), Rows: rows, Cols: 2}
	for i := range rows {
		spend, recency := math.Exp(3+rng.NormFloat64()), 52*rng.Float64()
		d.X[2*i], d.X[2*i+1] = float32(spend), float32(recency)
		if rng.Float64() < 1/(1+math.Exp(recency/10-2)) {
			d.Y[i] = float32(spend * math.Exp(0.5*rng.NormFloat64()))
		}
	}
	return d
}

// Train a model, save it, load it back and score customers.
func Example() {
	be := cpu.New(cpu.Options{Threads: 1})
	defer be.Close()

	cfg := model.DefaultConfig()
	cfg.MaxEpochs = 20
	opts := model.TrainOptions{
		FeatureNames: []string{"past_spend", "recency_weeks"},
		Log1p:        []bool{true, false}, // money is heavy-tailed
	}
	m, hist, err := model.Train(context.Background(), be, exampleData(2000, 1), exampleData(500, 2), cfg, opts)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("validation loss improved:", hist.BestValLoss < hist.Epochs[0].ValLoss)

	dir, err := os.MkdirTemp("", "cohort-model")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	if err := m.Save(dir); err != nil {
		log.Fatal(err)
	}
	loaded, err := model.Load(dir)
	if err != nil {
		log.Fatal(err)
	}

	// A recent big spender and a lapsed small one.
	p, spend := loaded.Predict(be, []float32{400, 1, 5, 50}, 2)
	fmt.Println("recent customer more likely to buy:", p[0] > p[1])
	fmt.Println("recent customer worth more:", spend[0] > spend[1])
	// Output:
	// validation loss improved: true
	// recent customer more likely to buy: true
	// recent customer worth more: true
}
