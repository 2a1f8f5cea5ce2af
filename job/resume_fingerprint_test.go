package job_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cohort-clv/cohort/clv"
	"github.com/cohort-clv/cohort/job"
	"github.com/cohort-clv/cohort/kernels/cpu"
	"github.com/cohort-clv/cohort/model"
)

// resumeSpec is a run whose checkpoints the resume tests continue: early
// stopping off and a constant learning rate, so a run cut after some
// epochs and resumed to more equals a run trained to more at once.
func resumeSpec(t *testing.T, data, out string, epochs int) job.Spec {
	t.Helper()
	s := smallSpec(t, data, out)
	s.Model.MaxEpochs, s.Model.Patience, s.Model.Batch = epochs, -1, 256
	s.CheckpointEvery = 3
	s.ImportanceRepeats = 0
	return s
}

func trainSpec(t *testing.T, spec job.Spec) (*job.Result, error) {
	t.Helper()
	be := cpu.New(cpu.Options{Threads: 2})
	defer be.Close()
	return job.Train(context.Background(), be, spec, job.Events{})
}

func params(t *testing.T, res *job.Result) []float32 {
	t.Helper()
	m, err := model.Load(res.ModelDir)
	if err != nil {
		t.Fatal(err)
	}
	return m.Params()
}

// captureWarnings sends slog's records to a buffer for the test.
func captureWarnings(t *testing.T) *bytes.Buffer {
	t.Helper()
	var buf bytes.Buffer
	old := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelWarn})))
	t.Cleanup(func() { slog.SetDefault(old) })
	return &buf
}

// wholeAndCut trains a shop for 4 epochs in dir/whole, and in dir/cut
// the same run cut short after 2 epochs, whose checkpoints the resume
// tests start from (a run that finishes removes its checkpoints).
func wholeAndCut(t *testing.T) (dir, data string, whole *job.Result, cut string) {
	t.Helper()
	dir = t.TempDir()
	data = writeShop(t, dir, shopCustomers)
	whole, err := trainSpec(t, resumeSpec(t, data, filepath.Join(dir, "whole"), 4))
	if err != nil {
		t.Fatal(err)
	}
	cut = filepath.Join(dir, "cut")
	interrupt(t, resumeSpec(t, data, cut, 4), 2)
	return dir, data, whole, cut
}

// interrupt trains spec and cancels it as epoch ends, as Ctrl-C would:
// the run fails with context.Canceled and leaves its checkpoints.
func interrupt(t *testing.T, spec job.Spec, epoch int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	be := cpu.New(cpu.Options{Threads: 2})
	defer be.Close()
	_, err := job.Train(ctx, be, spec, job.Events{Epoch: func(e model.EpochStats) {
		if e.Epoch == epoch {
			cancel()
		}
	}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("training cancelled after epoch %d: %v, want context.Canceled", epoch, err)
	}
}

// TestResumeFingerprint ensures a run resumes only from a checkpoint of a
// run with its data and trajectory settings: each difference is refused
// with a message naming it, while settings that only say when training
// stops (epochs, patience), another path to the same data (also the same
// data as a European export, read with --decimal ,), and post-training
// settings resume, bit-identical to an uninterrupted run.
func TestResumeFingerprint(t *testing.T) {
	dir, data, whole, cut := wholeAndCut(t)
	ckpt, st, err := job.LatestCheckpoint(job.CheckpointDir(cut))
	if err != nil {
		t.Fatal(err)
	}
	if _, fp, err := model.LoadCheckpointWith(ckpt); err != nil || fp == nil {
		t.Fatalf("checkpoint %s: fingerprint %s, err %v: want one", ckpt, fp, err)
	}
	if st.Done || st.Adam.Step == 0 {
		t.Fatalf("newest checkpoint at step %d (done %v), want one mid-run", st.Adam.Step, st.Done)
	}

	other := filepath.Join(dir, "other.csv") // another shop: other data, same columns
	if err := os.Rename(writeShop(t, t.TempDir(), shopCustomers/2), other); err != nil {
		t.Fatal(err)
	}
	otherEU := filepath.Join(dir, "other-eu.csv") // the other shop as a European export
	european(t, other, otherEU)
	day := func(s string) time.Time {
		d, err := time.Parse(time.DateOnly, s)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	horizon := func(s string) clv.Horizon {
		h, err := clv.ParseHorizon(s)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	for _, tc := range []struct {
		name string
		edit func(*job.Spec)
		want []string // all in the error
	}{
		{"seed", func(s *job.Spec) { s.Model.Seed = 9 },
			[]string{"the checkpoint was trained with seed 1, this run has seed 9"}},
		{"lr", func(s *job.Spec) { s.Model.LR = 0.01 },
			[]string{"the checkpoint was trained with lr 0.001, this run has lr 0.01"}},
		{"batch", func(s *job.Spec) { s.Model.Batch = 128 },
			[]string{"the checkpoint was trained with batch 256, this run has batch 128"}},
		{"weight decay", func(s *job.Spec) { s.Model.WeightDecay = 0.01 },
			[]string{"weight decay 0.0001, this run has weight decay 0.01"}},
		{"hidden", func(s *job.Spec) { s.Model.Hidden = []int{32} },
			[]string{"hidden layers 128,64, this run has hidden layers 32"}},
		{"ensemble", func(s *job.Spec) { s.Model.Ensemble = 2 },
			[]string{"ensemble 1, this run has ensemble 2"}},
		{"clip norm", func(s *job.Spec) { s.Model.ClipNorm = 1 },
			[]string{"clip norm 0, this run has clip norm 1"}},
		{"warmup", func(s *job.Spec) { s.Model.WarmupSteps = 10 },
			[]string{"warmup steps 0, this run has warmup steps 10"}},
		{"cosine", func(s *job.Spec) { s.Model.Cosine = true },
			[]string{"cosine decay off, this run has cosine decay on"}},
		{"two settings", func(s *job.Spec) { s.Model.Seed, s.Model.LR = 9, 0.01 },
			[]string{"the checkpoint was trained with seed 1 and lr 0.001, this run has seed 9 and lr 0.01"}},
		{"calibration end", func(s *job.Spec) { s.Read.CalibrationEnd = day("1997-08-31") },
			[]string{"the checkpoint was trained with calibration end 1997-09-30, this run has calibration end 1997-08-31",
				"the training data differ from the checkpoint's (", "the validation data differ"}},
		{"horizon", func(s *job.Spec) { s.Read.Horizon = horizon("26w") },
			[]string{"the checkpoint was trained with horizon 39w, this run has horizon 26w", "the training data differ from the checkpoint's"}},
		{"periods", func(s *job.Spec) { s.Read.Periods = 4 },
			[]string{"periods (default), this run has periods 4", "the features differ from the checkpoint's (32 vs 24 columns; only the checkpoint's: spend_lag8 spend_lag7"}},
		{"decimal", func(s *job.Spec) { s.Data, s.Read.Delimiter, s.Read.Decimal = otherEU, ";", "," },
			[]string{"delimiter (detected) and decimal separator ., this run has", "delimiter ; and decimal separator ,;",
				"the training data differ from the checkpoint's ("}},
		{"data file", func(s *job.Spec) { s.Data = other },
			[]string{"the checkpoint was trained with data file " + data + " (", "this run has data file " + other + " (",
				"the training data differ from the checkpoint's ("}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec := resumeSpec(t, data, cut, 4)
			tc.edit(&spec)
			spec.Resume = ckpt
			_, err := trainSpec(t, spec)
			t.Log(err)
			var mm *job.ResumeMismatchError
			if !errors.As(err, &mm) || mm.Path != ckpt || mm.Unfingerprinted {
				t.Fatalf("resume: %v, want a *job.ResumeMismatchError for %s", err, ckpt)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error\n%v\nwant it to say %q", err, w)
				}
			}
			if !strings.Contains(err.Error(), "train with --overwrite instead of --resume to start over") {
				t.Errorf("error %v does not say how to start over", err)
			}
		})
	}

	// The same shop as a European export, read with its decimal comma, is
	// the same data: it resumes (into another run directory, so the
	// checkpoint stays for the run below) to the uninterrupted run's weights.
	eu := filepath.Join(dir, "shop-eu.csv")
	european(t, data, eu)
	euSpec := resumeSpec(t, eu, filepath.Join(dir, "eu"), 4)
	euSpec.Read.Delimiter, euSpec.Read.Decimal = ";", ","
	euSpec.Resume = ckpt
	euRes, err := trainSpec(t, euSpec)
	if err != nil {
		t.Fatalf("resume from a European copy of the data with decimal \",\": %v", err)
	}
	if !slices.Equal(params(t, euRes), params(t, whole)) {
		t.Error("the run resumed on the European copy has other weights than the uninterrupted run")
	}

	// Settings that may change: more epochs (and patience), another path to
	// the same bytes, post-training settings. The resumed run equals the
	// uninterrupted one bit for bit.
	moved := filepath.Join(t.TempDir(), "moved.csv")
	raw, err := os.ReadFile(data)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(moved, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	spec := resumeSpec(t, moved, cut, 4)
	spec.Model.Patience = 50
	spec.Calibration = "isotonic"
	spec.ImportanceRepeats = 1
	spec.Resume = ckpt
	warn := captureWarnings(t)
	res, err := trainSpec(t, spec)
	if err != nil {
		t.Fatalf("resume with more epochs from a moved copy of the data: %v", err)
	}
	if !slices.Equal(params(t, res), params(t, whole)) {
		t.Error("the resumed run's weights differ from the uninterrupted run's")
	}
	if warn.Len() != 0 {
		t.Errorf("a fingerprinted resume warned: %s", warn)
	}
}

// european writes the shop CSV src to dst as a European export writes it:
// semicolons between the fields, decimal commas in the amounts.
func european(t *testing.T, src, dst string) {
	t.Helper()
	raw, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	eu := strings.NewReplacer(",", ";", ".", ",").Replace(string(raw))
	if err := os.WriteFile(dst, []byte(eu), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestResumeWithoutFingerprint ensures a checkpoint without a fingerprint
// (an older cohort's, or a distributed worker's) resumes with a warning
// when what its state shows agrees with this run, and is refused when its
// features, steps per epoch or learning rates do not.
func TestResumeWithoutFingerprint(t *testing.T) {
	_, data, whole, cut := wholeAndCut(t)
	src, st, err := job.LatestCheckpoint(job.CheckpointDir(cut))
	if err != nil {
		t.Fatal(err)
	}
	old := filepath.Join(t.TempDir(), "old-step-0000000001.ckpt")
	if err := model.SaveCheckpoint(old, st); err != nil {
		t.Fatal(err)
	}
	if _, fp, err := model.LoadCheckpointWith(old); err != nil || fp != nil {
		t.Fatalf("re-saved %s: fingerprint %s, err %v: want none", src, fp, err)
	}

	for _, tc := range []struct {
		name string
		edit func(*job.Spec)
		want string
	}{
		{"calibration end", func(s *job.Spec) { s.Read.CalibrationEnd = time.Date(1997, 8, 31, 0, 0, 0, 0, time.UTC) },
			"the training features differ from the checkpoint's (\""},
		{"periods", func(s *job.Spec) { s.Read.Periods = 4 }, "the features differ from the checkpoint's (32 vs 24 columns; only the checkpoint's: "},
		{"batch", func(s *job.Spec) { s.Model.Batch = 128 }, "the checkpoint was trained with steps per epoch "},
		{"lr", func(s *job.Spec) { s.Model.LR = 0.01 }, "the checkpoint was trained with learning rate 0.001 at step 9, this run has learning rate 0.01 at step 9"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec := resumeSpec(t, data, cut, 4)
			tc.edit(&spec)
			spec.Resume = old
			_, err := trainSpec(t, spec)
			t.Log(err)
			var mm *job.ResumeMismatchError
			if !errors.As(err, &mm) || !mm.Unfingerprinted {
				t.Fatalf("resume: %v, want an unfingerprinted *job.ResumeMismatchError", err)
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "the checkpoint has no fingerprint") {
				t.Errorf("error\n%v\nwant it to say %q and that the checkpoint has no fingerprint", err, tc.want)
			}
		})
	}

	spec := resumeSpec(t, data, cut, 4)
	spec.Resume = old
	warn := captureWarnings(t)
	res, err := trainSpec(t, spec)
	if err != nil {
		t.Fatalf("resume from the checkpoint without a fingerprint: %v", err)
	}
	if !slices.Equal(params(t, res), params(t, whole)) {
		t.Error("the resumed run's weights differ from the uninterrupted run's")
	}
	if !strings.Contains(warn.String(), "without a fingerprint") || !strings.Contains(warn.String(), old) {
		t.Errorf("warnings %q, want one naming %s as without a fingerprint", warn, old)
	}

	// A fingerprint of a format this cohort does not know is refused, not
	// taken for none.
	newer := filepath.Join(t.TempDir(), "newer-step-0000000001.ckpt")
	if err := model.SaveCheckpointWith(newer, st, []byte(`{"format":"cohort.job.fingerprint/v9"}`)); err != nil {
		t.Fatal(err)
	}
	spec.Resume = newer
	if _, err := trainSpec(t, spec); err == nil || !strings.Contains(err.Error(), `its fingerprint is "cohort.job.fingerprint/v9"`) {
		t.Errorf("resume from a fingerprint of another format: %v", err)
	}
}
