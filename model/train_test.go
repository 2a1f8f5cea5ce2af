package model

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"
)

// smallConfig trains quickly on the synthetic data.
func smallConfig() Config {
	c := DefaultConfig()
	c.Hidden = []int{16, 8}
	c.Batch = 128
	c.MaxEpochs = 30
	c.Patience = 5
	c.LR = 5e-3
	c.Seed = 42
	return c
}

// TestTrainLearnsSyntheticSpend ensures training lowers the loss and that the
// model ranks held-out customers by spend nearly as well as the true
// expected spend does.
func TestTrainLearnsSyntheticSpend(t *testing.T) {
	be := testBackend(t)
	train, _, log1p := synthetic(3000, 1)
	val, _, _ := synthetic(800, 2)
	test, truth, _ := synthetic(2000, 3)
	m, hist, err := Train(context.Background(), be, train, val, smallConfig(), TrainOptions{Log1p: log1p})
	if err != nil {
		t.Fatal(err)
	}
	first := hist.Epochs[0]
	if hist.BestValLoss >= first.ValLoss || hist.Epochs[len(hist.Epochs)-1].TrainLoss >= first.TrainLoss {
		t.Errorf("loss did not decrease: first epoch %+v, best val %v", first, hist.BestValLoss)
	}
	p, spend := m.Predict(be, test.X, test.Rows)
	actual := f64s(test.Y)
	got, oracle := spearman(spend, actual), spearman(truth, actual)
	t.Logf("epochs %d, best %d, val loss %.4f -> %.4f, Spearman %.3f (oracle %.3f)",
		len(hist.Epochs), hist.BestEpoch, first.ValLoss, hist.BestValLoss, got, oracle)
	if got < 0.5 || got < oracle-0.05 {
		t.Errorf("Spearman(pred, actual) = %.3f, want > 0.5 and within 0.05 of the oracle's %.3f", got, oracle)
	}
	if s := spearman(spend, truth); s < 0.9 {
		t.Errorf("Spearman(pred, true expectation) = %.3f, want > 0.9", s)
	}
	for i := range p {
		if !(p[i] >= 0 && p[i] <= 1) || !(spend[i] >= 0) {
			t.Fatalf("row %d: p = %v, spend = %v", i, p[i], spend[i])
		}
	}
}

// valLoss recomputes the mean validation loss of a model's weights.
func valLoss(t *testing.T, m *Model, val Data) float64 {
	be := testBackend(t)
	net := NewNet(be, m.Layout)
	if err := net.SetParams(m.Params()); err != nil {
		t.Fatal(err)
	}
	x := make([]float32, len(val.X))
	m.Pipeline.Apply(x, val.X, val.Rows)
	xb, yb := be.Alloc(len(x)), be.Alloc(val.Rows)
	be.Upload(xb, x)
	be.Upload(yb, val.Y)
	return net.Loss(xb, yb, val.Rows)
}

// TestTrainStopsEarlyWithBestWeights ensures training stops Patience epochs
// after the best validation loss and returns that epoch's weights.
func TestTrainStopsEarlyWithBestWeights(t *testing.T) {
	be := testBackend(t)
	train, _, log1p := synthetic(400, 4)
	val, _, _ := synthetic(400, 5)
	cfg := smallConfig()
	cfg.Hidden = []int{32, 32}
	cfg.LR, cfg.WeightDecay, cfg.MaxEpochs, cfg.Patience, cfg.Batch = 1e-2, 0, 200, 3, 32 // overfits fast
	var seen int
	m, hist, err := Train(context.Background(), be, train, val, cfg, TrainOptions{Log1p: log1p, OnEpoch: func(EpochStats) { seen++ }})
	if err != nil {
		t.Fatal(err)
	}
	if !hist.StoppedEarly || len(hist.Epochs) != hist.BestEpoch+cfg.Patience {
		t.Fatalf("stopped early %v after %d epochs, best %d, want stop %d epochs after best",
			hist.StoppedEarly, len(hist.Epochs), hist.BestEpoch, cfg.Patience)
	}
	if seen != len(hist.Epochs) {
		t.Errorf("OnEpoch called %d times for %d epochs", seen, len(hist.Epochs))
	}
	if got := valLoss(t, m, val); math.Abs(got-hist.BestValLoss) > 1e-5*math.Abs(hist.BestValLoss) {
		t.Errorf("returned weights have val loss %v, best epoch had %v", got, hist.BestValLoss)
	}
	if last := hist.Epochs[len(hist.Epochs)-1]; last.Best || last.ValLoss <= hist.BestValLoss {
		t.Errorf("last epoch %+v should be worse than best %v", last, hist.BestValLoss)
	}
}

// TestTrainDeterministic ensures a seed fixes the weights bit for bit, also
// across CPU thread counts (which data-parallel workers rely on), and that a
// different seed changes them.
func TestTrainDeterministic(t *testing.T) {
	train, _, log1p := synthetic(500, 6)
	val, _, _ := synthetic(200, 7)
	cfg := smallConfig()
	cfg.MaxEpochs = 3
	run := func(seed uint64, threads int) []float32 {
		c := cfg
		c.Seed = seed
		m, _, err := Train(context.Background(), testBackendThreads(t, threads), train, val, c, TrainOptions{Log1p: log1p})
		if err != nil {
			t.Fatal(err)
		}
		return m.Params()
	}
	a, b, c, one := run(1, 2), run(1, 2), run(2, 2), run(1, 1)
	same := func(x, y []float32) bool {
		for i := range x {
			if math.Float32bits(x[i]) != math.Float32bits(y[i]) {
				return false
			}
		}
		return true
	}
	if !same(a, b) {
		t.Error("two runs with seed 1 gave different weights")
	}
	if !same(a, one) {
		t.Error("one and two threads gave different weights")
	}
	if same(a, c) {
		t.Error("seeds 1 and 2 gave identical weights")
	}
}

// TestTrainHonoursCancellation ensures a cancelled context ends training
// with an error wrapping context.Canceled and the history so far.
func TestTrainHonoursCancellation(t *testing.T) {
	be := testBackend(t)
	train, _, _ := synthetic(300, 8)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, hist, err := Train(ctx, be, train, Data{}, smallConfig(), TrainOptions{OnEpoch: func(s EpochStats) {
		if s.Epoch == 2 {
			cancel()
		}
	}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if len(hist.Epochs) != 2 {
		t.Errorf("history has %d epochs, want the 2 finished before cancel", len(hist.Epochs))
	}
}

// TestTrainWithoutValidation ensures training with no validation rows runs
// every epoch and keeps the last weights.
func TestTrainWithoutValidation(t *testing.T) {
	be := testBackend(t)
	train, _, _ := synthetic(200, 9)
	cfg := smallConfig()
	cfg.MaxEpochs = 4
	_, hist, err := Train(context.Background(), be, train, Data{}, cfg, TrainOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(hist.Epochs) != 4 || hist.BestEpoch != 4 || !math.IsNaN(hist.Epochs[0].ValLoss) {
		t.Errorf("history %+v, want 4 epochs, best the last, NaN val loss", hist)
	}
}

// TestTrainRejectsBadInput ensures malformed data and configs fail with an
// error naming the offending row, column or field.
func TestTrainRejectsBadInput(t *testing.T) {
	good := func() Data { d, _, _ := synthetic(20, 10); return d }
	names := []string{"spend", "count", "recency", "a", "b", "noise"}
	tests := []struct {
		name   string
		mutate func(tr, va *Data, c *Config)
		want   string
	}{
		{"NaN feature", func(tr, _ *Data, _ *Config) { tr.X[3*6+2] = float32(math.NaN()) }, `row 3 column 2 ("recency")`},
		{"negative label", func(tr, _ *Data, _ *Config) { tr.Y[5] = -1 }, "row 5: label"},
		{"short labels", func(tr, _ *Data, _ *Config) { tr.Y = tr.Y[:4] }, "labels"},
		{"val columns", func(_, va *Data, _ *Config) { va.Cols, va.X = 5, va.X[:va.Rows*5] }, "validation data has 5 columns"},
		{"inf val feature", func(_, va *Data, _ *Config) { va.X[0] = float32(math.Inf(1)) }, "validation data: row 0"},
		{"no rows", func(tr, _ *Data, _ *Config) { *tr = Data{Cols: 6} }, "0 rows"},
		{"bad lr", func(_, _ *Data, c *Config) { c.LR = -1 }, "lr"},
		{"bad hidden", func(_, _ *Data, c *Config) { c.Hidden = []int{4, -2} }, "hidden[1]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr, va, c := good(), good(), smallConfig()
			tt.mutate(&tr, &va, &c)
			_, _, err := Train(context.Background(), testBackend(t), tr, va, c, TrainOptions{FeatureNames: names})
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "model: train: ") {
				t.Errorf("err = %v, want it to mention %q", err, tt.want)
			}
		})
	}
}

// TestHistoryJSON ensures a history without validation losses still encodes,
// with null where there is no loss.
func TestHistoryJSON(t *testing.T) {
	h := History{Epochs: []EpochStats{{Epoch: 1, TrainLoss: 2.5, ValLoss: math.NaN()}}, BestEpoch: 1, BestValLoss: math.NaN()}
	raw, err := json.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	var back struct {
		Epochs []struct {
			Epoch     int      `json:"epoch"`
			TrainLoss float64  `json:"train_loss"`
			ValLoss   *float64 `json:"val_loss"`
		} `json:"epochs"`
		BestValLoss *float64 `json:"best_val_loss"`
	}
	if err := json.Unmarshal(raw, &back); err != nil {
		t.Fatal(err)
	}
	if len(back.Epochs) != 1 || back.Epochs[0].ValLoss != nil || back.Epochs[0].TrainLoss != 2.5 || back.BestValLoss != nil {
		t.Errorf("round trip of %s = %+v", raw, back)
	}
	h.Epochs[0].ValLoss, h.BestValLoss = 1.25, 1.25
	raw, _ = json.Marshal(h)
	if !strings.Contains(string(raw), `"val_loss":1.25`) || !strings.Contains(string(raw), `"best_val_loss":1.25`) {
		t.Errorf("finite losses encoded as %s", raw)
	}
}
