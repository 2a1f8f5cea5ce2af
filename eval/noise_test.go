package eval

import (
	"context"
	"math"
	"strings"
	"testing"
)

// TestZILNNoise ensures simulated holdouts scatter the metrics around what a
// correct model earns: deterministic for a seed, a band that narrows as
// customers grow, and clear errors for bad input.
func TestZILNNoise(t *testing.T) {
	mk := func(n int) (pred, p, mu, sigma []float64) {
		for i := range n {
			pi := 0.1 + 0.8*float64(i%10)/9
			m := 2 + float64(i%7)/3
			s := 0.5 + float64(i%3)/4
			p, mu, sigma = append(p, pi), append(mu, m), append(sigma, s)
			pred = append(pred, 2*pi*math.Exp(m+s*s/2))
		}
		return pred, p, mu, sigma
	}
	ctx := context.Background()
	small, _ := mkNoise(t, ctx, mk, 300)
	again, _ := mkNoise(t, ctx, mk, 300)
	if small != again {
		t.Fatalf("same seed gave %+v then %+v", small, again)
	}
	large, _ := mkNoise(t, ctx, mk, 30000)
	width := func(b Band) float64 { return float64(b.P95 - b.P5) }
	if !(width(large.DecileMAPE) < width(small.DecileMAPE)) {
		t.Errorf("decile MAPE band with 30000 customers %+v, want narrower than with 300 %+v", large.DecileMAPE, small.DecileMAPE)
	}
	if r := large.SpendRatio; !(r.P5 < 1 && 1 < r.P95 && r.P95-r.P5 < 0.05) {
		t.Errorf("spend ratio band %+v with 30000 customers and exact expectations, want a narrow band around 1", r)
	}
	if !(large.DecileMAPE.Median < 0.05) {
		t.Errorf("decile MAPE median %v with 30000 customers and exact expectations, want < 0.05", large.DecileMAPE.Median)
	}
	if !(small.DecileMAPE.P5 <= small.DecileMAPE.Median && small.DecileMAPE.Median <= small.DecileMAPE.P95) {
		t.Errorf("band out of order: %+v", small.DecileMAPE)
	}

	pred, p, mu, sigma := mk(10)
	for _, tc := range []struct {
		name  string
		call  func() error
		wants string
	}{
		{"no customers", func() error { _, err := ZILNNoise(ctx, nil, nil, nil, nil, 1, 5, 1); return err }, "no customers"},
		{"lengths", func() error { _, err := ZILNNoise(ctx, pred, p[:3], mu, sigma, 1, 5, 1); return err }, "3 p"},
		{"draws", func() error { _, err := ZILNNoise(ctx, pred, p, mu, sigma, 1, 0, 1); return err }, "0 draws"},
		{"scale", func() error { _, err := ZILNNoise(ctx, pred, p, mu, sigma, 0, 5, 1); return err }, "scale 0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			if err == nil || !strings.Contains(err.Error(), tc.wants) {
				t.Fatalf("error %v, want it to mention %q", err, tc.wants)
			}
		})
	}
}

func mkNoise(t *testing.T, ctx context.Context, mk func(int) ([]float64, []float64, []float64, []float64), n int) (Noise, error) {
	t.Helper()
	pred, p, mu, sigma := mk(n)
	got, err := ZILNNoise(ctx, pred, p, mu, sigma, 2, 60, 7)
	if err != nil {
		t.Fatal(err)
	}
	return got, nil
}
