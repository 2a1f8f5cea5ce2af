package job_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/cohort-clv/cohort/clv"
	"github.com/cohort-clv/cohort/job"
	"github.com/cohort-clv/cohort/kernels"
	"github.com/cohort-clv/cohort/kernels/cpu"
	"github.com/cohort-clv/cohort/model"
)

// TestTrainWithStep ensures TrainWith hands the swapped training step the
// prepared split (matrices row-aligned with the customers, each
// customer's Features being its row: the features are held once) and
// finishes the job from what the step returns exactly as Train does.
func TestTrainWithStep(t *testing.T) {
	dir := t.TempDir()
	data := writeShop(t, dir, shopCustomers)
	be := cpu.New(cpu.Options{Threads: 1})
	defer be.Close()
	want, err := job.Train(context.Background(), be, smallSpec(t, data, filepath.Join(dir, "a")), job.Events{})
	if err != nil {
		t.Fatal(err)
	}
	var seen *job.Prepared
	step := func(ctx context.Context, be kernels.Backend, p *job.Prepared, ev job.Events) (*model.Model, model.History, error) {
		seen = p
		return job.Local(ctx, be, p, ev)
	}
	got, err := job.TrainWith(context.Background(), be, smallSpec(t, data, filepath.Join(dir, "b")), job.Events{}, step)
	if err != nil {
		t.Fatal(err)
	}
	if seen == nil {
		t.Fatal("the training step was not called")
	}
	if seen.TrainData.Rows != len(seen.Train) || seen.ValData.Rows != len(seen.Val) || len(seen.Train) != got.Split.Train {
		t.Errorf("prepared %d/%d train rows/customers, %d/%d validation; result split %+v",
			seen.TrainData.Rows, len(seen.Train), seen.ValData.Rows, len(seen.Val), got.Split)
	}
	for _, part := range []struct {
		name string
		cs   []*clv.Customer
		d    model.Data
	}{{"train", seen.Train, seen.TrainData}, {"validation", seen.Val, seen.ValData}} {
		cols := part.d.Cols
		for i, c := range part.cs {
			if y := float64(part.d.Y[i]); y != float64(float32(c.HoldoutSpend)) {
				t.Fatalf("%s row %d has label %v, customer %s spent %v", part.name, i, y, c.ID, c.HoldoutSpend)
			}
			if &c.Features[0] != &part.d.X[i*cols] {
				t.Fatalf("%s customer %s: Features is not row %d of the matrix, a second copy", part.name, c.ID, i)
			}
		}
	}
	if got.Model != want.Model || got.BaselineMetrics != want.BaselineMetrics {
		t.Errorf("TrainWith(Local) metrics %+v, Train %+v", got.Model, want.Model)
	}
}

// TestTrainWithStepError ensures a failing step fails the job with the
// step's error wrapped, and no run directory is written.
func TestTrainWithStepError(t *testing.T) {
	dir := t.TempDir()
	data := writeShop(t, dir, 500)
	boom := errors.New("worker lost")
	step := func(context.Context, kernels.Backend, *job.Prepared, job.Events) (*model.Model, model.History, error) {
		return nil, model.History{}, boom
	}
	be := cpu.New(cpu.Options{Threads: 1})
	defer be.Close()
	out := filepath.Join(dir, "run")
	_, err := job.TrainWith(context.Background(), be, smallSpec(t, data, out), job.Events{}, step)
	if !errors.Is(err, boom) {
		t.Fatalf("error %v, want the step's", err)
	}
	if m, _ := filepath.Glob(filepath.Join(out, "*")); len(m) != 0 {
		t.Errorf("run directory has %v after a failed step", m)
	}
}
