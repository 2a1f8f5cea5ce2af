package job_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/cohort-clv/cohort/job"
	"github.com/cohort-clv/cohort/model"
)

// writeCheckpoint writes a checkpoint of run at step (epoch 1) into dir.
func writeCheckpoint(t *testing.T, dir, run string, step int) string {
	t.Helper()
	st := &model.TrainState{Epoch: 1}
	st.Adam.Step = step
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, job.CheckpointName(run, step))
	if err := model.SaveCheckpoint(path, st); err != nil {
		t.Fatal(err)
	}
	return path
}

// names are the file names in dir, sorted.
func names(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var s []string
	for _, e := range es {
		s = append(s, e.Name())
	}
	slices.Sort(s)
	return s
}

// TestSaveCheckpointPrunesOnlyOlder ensures SaveCheckpoint keeps the
// checkpoint it just wrote and the one before, removes the run's older
// ones, and leaves every other file alone: another run's, and files of the
// run's name with higher steps, which a run whose steps only grow cannot
// have written (a finished run's last two once removed each new
// checkpoint of a run started beside them).
func TestSaveCheckpointPrunesOnlyOlder(t *testing.T) {
	ck := func(run string, step int) string { return job.CheckpointName(run, step) }
	for _, tc := range []struct {
		name   string
		before []string // files already in the directory: run-step
		steps  []int    // the steps "local" saves, in order
		want   []string
	}{
		{name: "alone", steps: []int{3, 6, 9, 12},
			want: []string{ck("local", 9), ck("local", 12)}},
		{name: "beside higher steps of the same name",
			before: []string{ck("local", 3250), ck("local", 3300)}, steps: []int{20, 40, 60},
			want: []string{ck("local", 40), ck("local", 60), ck("local", 3250), ck("local", 3300)}},
		{name: "beside another run",
			before: []string{ck("train-1f", 5), ck("train-1f", 100)}, steps: []int{20, 40, 60},
			want: []string{ck("local", 40), ck("local", 60), ck("train-1f", 5), ck("train-1f", 100)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "checkpoints")
			for _, f := range tc.before {
				if err := os.MkdirAll(dir, 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(dir, f), []byte("not ours"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			for _, step := range tc.steps {
				st := &model.TrainState{Epoch: 1}
				st.Adam.Step = step
				if err := job.SaveCheckpoint(dir, "local", st); err != nil {
					t.Fatal(err)
				}
				if _, err := os.Stat(filepath.Join(dir, ck("local", step))); err != nil {
					t.Fatalf("the checkpoint of step %d is gone right after it was written: %v", step, err)
				}
			}
			if got := names(t, dir); !slices.Equal(got, tc.want) {
				t.Errorf("files %q, want %q", got, tc.want)
			}
		})
	}
}

// TestCheckFresh ensures CheckFresh accepts a checkpoint directory that
// is missing or holds no checkpoint, and refuses one with checkpoints,
// naming the directory and the newest readable one's epoch and step.
func TestCheckFresh(t *testing.T) {
	type file struct {
		name    string
		step    int  // a checkpoint of "local" at step, unless damaged
		damaged bool // other bytes under name
	}
	ckpt := func(step int) file { return file{name: job.CheckpointName("local", step), step: step} }
	junk := func(name string) file { return file{name: name, damaged: true} }
	for _, tc := range []struct {
		name       string
		files      []file // nil: no directory
		checkpoint int    // checkpoint files among them; 0: CheckFresh accepts
		latest     int    // the step of the newest readable one; -1: none
	}{
		{name: "missing"},
		{name: "empty", files: []file{}},
		{name: "other files", files: []file{junk("notes.txt"), junk(".local-step-0000000003.ckpt.tmp-1")}},
		{name: "checkpoints", files: []file{ckpt(3), ckpt(6)}, checkpoint: 2, latest: 6},
		{name: "newest damaged", files: []file{ckpt(3), junk(job.CheckpointName("local", 6))}, checkpoint: 2, latest: 3},
		{name: "only damaged", files: []file{junk(job.CheckpointName("train-1f", 9))}, checkpoint: 1, latest: -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "checkpoints")
			if tc.files != nil {
				if err := os.MkdirAll(dir, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			for _, f := range tc.files {
				if !f.damaged {
					writeCheckpoint(t, dir, "local", f.step)
				} else if err := os.WriteFile(filepath.Join(dir, f.name), []byte("damaged"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			err := job.CheckFresh(dir)
			if tc.checkpoint == 0 {
				if err != nil {
					t.Fatalf("CheckFresh: %v, want nil", err)
				}
				return
			}
			t.Log(err)
			var ce *job.CheckpointsExistError
			if !errors.As(err, &ce) || ce.Dir != dir || ce.Files != tc.checkpoint {
				t.Fatalf("CheckFresh: %v, want a *job.CheckpointsExistError for %s with %d files", err, dir, tc.checkpoint)
			}
			want := ""
			if tc.latest >= 0 {
				want = filepath.Join(dir, job.CheckpointName("local", tc.latest))
			}
			if ce.Latest != want || want != "" && (ce.Epoch != 1 || ce.Step != tc.latest) {
				t.Errorf("newest %q at epoch %d, step %d; want %q at epoch 1, step %d", ce.Latest, ce.Epoch, ce.Step, want, tc.latest)
			}
		})
	}
}

// TestTrainCheckpointLifecycle ensures a run's checkpoints outlive it only
// when it does not finish: an interrupted run keeps them; a fresh run
// beside them is refused before it reads any data; a resumed run that
// fails writing the model keeps them, with its own newer ones; the
// resumed run that finishes removes them all, so the fresh run then
// trains, and leaves none either.
func TestTrainCheckpointLifecycle(t *testing.T) {
	dir := t.TempDir()
	data := writeShop(t, dir, shopCustomers)
	out := filepath.Join(dir, "run")
	ckdir := job.CheckpointDir(out)
	spec := resumeSpec(t, data, out, 4)

	interrupt(t, spec, 2)
	path, st, err := job.LatestCheckpoint(ckdir)
	if err != nil || st.Done {
		t.Fatalf("the interrupted run left no checkpoint to resume: %v", err)
	}
	left := names(t, ckdir)

	fresh := spec
	fresh.Data = filepath.Join(dir, "missing.csv") // refused before it is read
	_, err = trainSpec(t, fresh)
	var ce *job.CheckpointsExistError
	if !errors.As(err, &ce) || ce.Dir != ckdir || ce.Latest != path || ce.Epoch != st.Epoch || ce.Step != st.Adam.Step {
		t.Fatalf("fresh run beside the checkpoints: %v, want a *job.CheckpointsExistError naming %s (epoch %d, step %d)",
			err, path, st.Epoch, st.Adam.Step)
	}
	if got := names(t, ckdir); !slices.Equal(got, left) {
		t.Errorf("the refused run changed the checkpoints: %q, were %q", got, left)
	}

	resume := spec
	resume.Resume = path
	blocker := filepath.Join(out, job.ModelDir) // a file where the model directory goes
	if err := os.WriteFile(blocker, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := trainSpec(t, resume); err == nil {
		t.Fatal("the resumed run wrote its model over a file")
	}
	path, later, err := job.LatestCheckpoint(ckdir)
	if err != nil || later.Adam.Step <= st.Adam.Step {
		t.Fatalf("after the run that failed writing its model: newest checkpoint %s (err %v), want one past step %d",
			path, err, st.Adam.Step)
	}
	if err := os.Remove(blocker); err != nil {
		t.Fatal(err)
	}

	resume.Resume = path
	res, err := trainSpec(t, resume)
	if err != nil {
		t.Fatalf("resume: %v", err)
	}
	if _, err := model.Load(res.ModelDir); err != nil {
		t.Fatalf("the resumed run's model: %v", err)
	}
	if _, err := os.Stat(ckdir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the finished run left %s: %v", ckdir, err)
	}

	if _, err := trainSpec(t, spec); err != nil {
		t.Fatalf("the fresh run after the finished one: %v", err)
	}
	if _, err := os.Stat(ckdir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the finished fresh run left %s: %v", ckdir, err)
	}
}

// TestRemoveRunCheckpoints ensures only the named run's checkpoints go,
// whatever glob characters its name holds, and the directory with them
// when nothing else is left.
func TestRemoveRunCheckpoints(t *testing.T) {
	for _, tc := range []struct {
		name, run string
		files     []string
		removed   int
		dirGone   bool
	}{
		{"only its own", "job-1", []string{"job-1-step-0000000005.ckpt", "job-10-step-0000000005.ckpt"}, 1, false},
		{"glob characters", "a[1]*", []string{"a[1]*-step-0000000005.ckpt", "a1-step-0000000005.ckpt", "ab-step-0000000005.ckpt"}, 1, false},
		{"dir emptied", "job-2", []string{"job-2-step-0000000005.ckpt", ".job-2-step-0000000006.ckpt.tmp-q"}, 1, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "checkpoints")
			if err := os.Mkdir(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			for _, f := range tc.files {
				if err := os.WriteFile(filepath.Join(dir, f), nil, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			n, err := job.RemoveRunCheckpoints(dir, tc.run)
			if err != nil || n != tc.removed {
				t.Fatalf("removed %d (%v), want %d", n, err, tc.removed)
			}
			entries, err := os.ReadDir(dir)
			if gone := errors.Is(err, fs.ErrNotExist); gone != tc.dirGone {
				t.Fatalf("dir gone %v (%v), want %v", gone, err, tc.dirGone)
			}
			if !tc.dirGone && len(entries) != len(tc.files)-tc.removed {
				t.Errorf("%d files left of %d, want %d", len(entries), len(tc.files), len(tc.files)-tc.removed)
			}
		})
	}
}
