package model

import (
	"math"
	"testing"
)

// TestDistributionAgreesWithPredict ensures the predictive distribution's
// mean p*exp(mu + sigma^2/2) is the expected spend Predict returns.
func TestDistributionAgreesWithPredict(t *testing.T) {
	be := testBackend(t)
	train, _, log1p := synthetic(600, 3)
	val, _, _ := synthetic(200, 4)
	cfg := smallConfig()
	cfg.MaxEpochs = 3
	m, _, err := Train(t.Context(), be, train, val, cfg, TrainOptions{Log1p: log1p})
	if err != nil {
		t.Fatal(err)
	}
	p, spend := m.Predict(be, val.X, val.Rows)
	dp, mu, sigma := m.Distribution(be, val.X, val.Rows)
	for i := range spend {
		if math.Abs(dp[i]-p[i]) > 1e-6 {
			t.Fatalf("row %d: p %v, Predict says %v", i, dp[i], p[i])
		}
		mean := dp[i] * math.Exp(mu[i]+sigma[i]*sigma[i]/2)
		if math.Abs(mean-spend[i]) > 1e-4*math.Max(1, spend[i]) {
			t.Fatalf("row %d: p*exp(mu+sigma^2/2) = %v, Predict says %v", i, mean, spend[i])
		}
		if !(sigma[i] > 0) {
			t.Fatalf("row %d: sigma %v, want > 0", i, sigma[i])
		}
	}
}
