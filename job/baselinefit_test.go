package job

import (
	"context"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/cohort-clv/cohort/clv"
)

// TestFitBaselineWarnsUnconverged ensures a BG/NBD fit that runs off to the
// edge of its parameter space is reported, and a fit that converges is not.
// Yearly buyers who all bought in their last year show no dropout at all:
// the dropout probability a heads for 0 (the donations data did this).
func TestFitBaselineWarnsUnconverged(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	loyal := make([]*clv.Customer, 2000)
	for i := range loyal {
		x := float64(rng.IntN(4))
		tx := 0.0
		if x > 0 {
			tx = 208 // bought again in the last year: nobody looks lost
		}
		loyal[i] = &clv.Customer{X: x, Tx: tx, T: 209, RepeatMeanSpend: 10 + float64(rng.IntN(20))}
	}
	mixed := make([]*clv.Customer, 2000)
	for i := range mixed {
		x := float64(rng.IntN(4))
		tx := 0.0
		if x > 0 {
			tx = float64(rng.IntN(200)) + 5 // some stopped long ago
		}
		mixed[i] = &clv.Customer{X: x, Tx: tx, T: 209, RepeatMeanSpend: 10 + float64(rng.IntN(20))}
	}
	tests := []struct {
		name string
		cs   []*clv.Customer
		want string // "" for no warning
	}{
		{"no dropout in sight", loyal, "the baseline's BG/NBD fit did not converge"},
		{"dropouts", mixed, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bl, warnings, err := fitBaseline(context.Background(), tt.cs)
			if err != nil {
				t.Fatal(err)
			}
			got := strings.Join(warnings, "\n")
			t.Logf("fit %+v, warnings %q", bl.BGNBD, got)
			if tt.want == "" && got != "" || tt.want != "" && !strings.Contains(got, tt.want) {
				t.Fatalf("fit %+v: warnings %q, want %q", bl.BGNBD, got, tt.want)
			}
		})
	}
}
