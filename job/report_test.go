package job

import (
	"context"
	"math"
	"path/filepath"
	"testing"

	"github.com/cohort-clv/cohort/clv"
	"github.com/cohort-clv/cohort/eval"
	"github.com/cohort-clv/cohort/kernels/cpu"
)

// TestBaselinePReturnIsPurchaseChance ensures the report scores the
// baseline's AUC of P(return) by BG/NBD's probability of a purchase within
// the horizon (BGNBD.PReturn), the quantity the ZILN head's p estimates, and
// not by P(alive), which is 1 for everyone without a repeat purchase and
// ranked CDNOW's returners below its non-returners.
func TestBaselinePReturnIsPurchaseChance(t *testing.T) {
	tr, err := LoadTrained(filepath.Join(v1Model, "model"))
	if err != nil {
		t.Fatal(err)
	}
	be := cpu.New(cpu.Options{Threads: 1})
	defer be.Close()
	shop := filepath.Join(v1Model, "shop.csv")
	ev, err := tr.Evaluate(context.Background(), be, shop, tr.Meta.Read, t.TempDir(), false, 0)
	if err != nil {
		t.Fatal(err)
	}

	ds, err := clv.Load(context.Background(), shop, tr.Meta.Read)
	if err != nil {
		t.Fatal(err)
	}
	weeks := tr.Meta.HorizonWeeks
	n := len(ds.Customers)
	actual, spend, pReturn, alive := make([]float64, n), make([]float64, n), make([]float64, n), make([]float64, n)
	for i := range ds.Customers {
		c := &ds.Customers[i]
		actual[i] = c.HoldoutSpend
		spend[i], alive[i] = tr.Meta.Baseline.predict(c, weeks)
		pReturn[i] = tr.Meta.Baseline.BGNBD.PReturn(rfmOf(c), weeks)
	}
	want, err := eval.Compute(spend, actual, eval.WithReturnScore(pReturn))
	if err != nil {
		t.Fatal(err)
	}
	byAlive, err := eval.Compute(spend, actual, eval.WithReturnScore(alive))
	if err != nil {
		t.Fatal(err)
	}
	got := ev.BaselineMetrics.AUCReturn
	t.Logf("%d customers: baseline AUC of P(return) %.4f; scored by P(alive) it would be %.4f", n, got, byAlive.AUCReturn)
	if ev.Customers != n || got != want.AUCReturn {
		t.Errorf("baseline AUC of P(return) %v over %d customers, want %v over %d: BGNBD.PReturn over the %v-week horizon",
			got, ev.Customers, want.AUCReturn, n, weeks)
	}
	if !(got > 0.5) || math.Abs(got-byAlive.AUCReturn) < 1e-3 {
		t.Errorf("baseline AUC of P(return) %v: want above chance and unlike P(alive)'s %v", got, byAlive.AUCReturn)
	}
}
