package baseline

import (
	"context"
	"testing"
)

// Fit times on the CDNOW sample (2357 customers): go test -bench Fit ./baseline/

func BenchmarkFitBGNBDCDNOW(b *testing.B) {
	d := loadCDNOW(b)
	for b.Loop() {
		if _, _, err := FitBGNBD(context.Background(), d.rfm); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkFitMBGNBDCDNOW(b *testing.B) {
	d := loadCDNOW(b)
	for b.Loop() {
		if _, _, err := FitMBGNBD(context.Background(), d.rfm); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkFitParetoNBDCDNOW(b *testing.B) {
	d := loadCDNOW(b)
	for b.Loop() {
		if _, _, err := FitParetoNBD(context.Background(), d.rfm); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkFitGammaGammaCDNOW(b *testing.B) {
	d := loadCDNOW(b)
	x := make([]float64, len(d.rfm))
	for i, c := range d.rfm {
		x[i] = c.X
	}
	for b.Loop() {
		if _, _, err := FitGammaGamma(context.Background(), x, d.zbar); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPredictCDNOW scores every CDNOW customer with each model's
// 39-week forecast and P(alive).
func BenchmarkPredictCDNOW(b *testing.B) {
	d := loadCDNOW(b)
	models := map[string]Forecaster{"bgnbd": cdnowBG, "mbgnbd": cdnowMBG, "pareto": cdnowPareto}
	for name, m := range models {
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				for _, c := range d.rfm {
					_ = m.ExpectedPurchases(c, 39) + m.PAlive(c)
				}
			}
		})
	}
}
