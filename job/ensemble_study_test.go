package job

import (
	"context"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cohort-clv/cohort/eval"
	"github.com/cohort-clv/cohort/kernels/cpu"
	"github.com/cohort-clv/cohort/model"
)

// ensembleSeedsEnv and ensembleSizesEnv widen TestCDNOWEnsembleOnValidation
// for scripts/bench-accuracy.sh, which prints its table into BENCHMARKS.md.
const (
	ensembleSeedsEnv = "COHORT_ENSEMBLE_SEEDS"
	ensembleSizesEnv = "COHORT_ENSEMBLE_SIZES"
)

// TestCDNOWEnsembleOnValidation trains packed ensembles of several sizes on
// CDNOW (the literature's split, default settings otherwise) and scores
// them on the validation customers only, with Finish's calibration: the
// evidence the default ensemble size is chosen on, before any test metric
// is read. Each row also shows the decile MAPE and spend ratio with the
// uncapped factor used before (total actual / total predicted) and the
// largest raw prediction on the training and validation customers; then,
// per ensemble size, the mean predicted / mean actual spend in each decile
// of the prediction, averaged over the seeds, on the training and the
// validation customers. It
// ensures the capped calibration factor makes the training and
// validation customers' calibrated total their actual total, and that over
// the seeds an ensemble ranks the validation customers better (normalized
// Gini) than a single network, which is what an ensemble is for.
func TestCDNOWEnsembleOnValidation(t *testing.T) {
	if testing.Short() {
		t.Skip("trains on 23,570 customers")
	}
	spec := cdnowSpec(t)
	seeds := envInts(t, ensembleSeedsEnv, "1")
	sizes := envInts(t, ensembleSizesEnv, "1 3")
	if sizes[0] != 1 {
		t.Fatalf("%s must start with 1, the single network the others are compared with", ensembleSizesEnv)
	}
	be := cpu.New(cpu.Options{})
	defer be.Close()
	ctx := context.Background()
	p, err := Prepare(ctx, spec, Events{})
	if err != nil {
		t.Fatal(err)
	}
	actual := make([]float64, p.ValData.Rows)
	for i, y := range p.ValData.Y {
		actual[i] = float64(y)
	}
	gini := make(map[int]float64)
	// shape[k][part][d] sums, over the seeds, mean predicted / mean actual
	// in decile d of the prediction (0 the lowest) on the training (part
	// 0) and validation (part 1) customers.
	shape := make(map[int]*[2][10]float64)
	for _, k := range sizes {
		shape[k] = new([2][10]float64)
		for _, seed := range seeds {
			p.Spec.Model.Seed, p.Spec.Model.Ensemble = uint64(seed), k
			start := time.Now()
			net, hist, err := Local(ctx, be, p, Events{})
			if err != nil {
				t.Fatal(err)
			}
			tr := &Trained{Net: net, Meta: Meta{SpendScale: 1, SpendCap: maxLabel(p.TrainData, p.ValData)}}
			tr.Meta.SpendScale = tr.calibrate(be, p.TrainData, p.ValData)
			var got, want float64
			for _, d := range []model.Data{p.TrainData, p.ValData} {
				_, spend := tr.predict(be, d.X, d.Rows)
				for i, s := range spend {
					got += s
					want += float64(d.Y[i])
				}
			}
			if math.Abs(got-want) > 1e-9*want {
				t.Errorf("ensemble %d, seed %d: calibrated train+validation total %v, actual %v", k, seed, got, want)
			}
			_, v := tr.predict(be, p.ValData.X, p.ValData.Rows)
			m := compute(t, v, actual)
			gini[k] += m.NormalizedGini / float64(len(seeds))
			for part, d := range []model.Data{p.TrainData, p.ValData} {
				_, pred := tr.predict(be, d.X, d.Rows)
				y := make([]float64, d.Rows)
				for i, v := range d.Y {
					y[i] = float64(v)
				}
				ds, err := eval.Deciles(pred, y)
				if err != nil {
					t.Fatal(err)
				}
				if len(ds) != 10 {
					t.Fatalf("ensemble %d, seed %d: %d deciles, want 10", k, seed, len(ds))
				}
				for i, dc := range ds {
					shape[k][part][i] += dc.MeanPredicted / dc.MeanActual / float64(len(seeds))
				}
			}
			// For comparison, the factor as it was before it was capped:
			// total actual / total predicted, the cap applied afterwards.
			var pred, largest float64
			for _, d := range []model.Data{p.TrainData, p.ValData} {
				_, spend := net.Predict(be, d.X, d.Rows)
				for _, s := range spend {
					pred += s
					largest = max(largest, s)
				}
			}
			old := &Trained{Net: net, Meta: Meta{SpendScale: want / pred, SpendCap: tr.Meta.SpendCap}}
			_, vo := old.predict(be, p.ValData.X, p.ValData.Rows)
			mo := compute(t, vo, actual)
			t.Logf("| %d | %d | %.4f | %.4f | %.4f | %.4f | %.1f | %d | %.1f s | %.4f | %.4f | %.3g |", k, seed, m.NormalizedGini, m.Spearman,
				m.DecileMAPE, m.SpendRatio, m.RMSE, hist.BestEpoch, time.Since(start).Seconds(), mo.DecileMAPE, mo.SpendRatio, largest)
		}
	}
	// The calibrated predictions' shape, decile by decile: in-sample on the
	// training customers, out of sample on the validation customers
	// (BENCHMARKS.md reads the gap between the two).
	for _, k := range sizes {
		for part, name := range []string{"training", "validation"} {
			line := fmt.Sprintf("D| %d | %s |", k, name)
			for _, r := range shape[k][part] {
				line += fmt.Sprintf(" %.2f |", r)
			}
			t.Log(line)
		}
	}
	for _, k := range sizes[1:] {
		if !(gini[k] > gini[1]) {
			t.Errorf("validation Gini over seeds %v: ensemble of %d %.4f, single network %.4f; want the ensemble higher", seeds, k, gini[k], gini[1])
		}
	}
}

// envInts reads a space-separated list of positive integers from env, or
// def when it is unset.
func envInts(t *testing.T, env, def string) []int {
	t.Helper()
	f := strings.Fields(os.Getenv(env))
	if len(f) == 0 {
		f = strings.Fields(def)
	}
	out := make([]int, len(f))
	for i, s := range f {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("%s: %q is not a positive integer", env, s)
		}
		out[i] = n
	}
	return out
}
