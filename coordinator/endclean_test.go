package coordinator

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	cohortv1 "github.com/cohort-clv/cohort/proto/cohort/v1"
)

// TestEndRemovesCheckpointsOnSuccess ensures a job that succeeded removes
// its own checkpoint files (a cut-short one's temporary file included) and
// leaves other runs' and other files alone, while a failed job keeps its.
func TestEndRemovesCheckpointsOnSuccess(t *testing.T) {
	cli := jobsEtcd(t)
	for _, tc := range []struct {
		name string
		err  error
		left []string
	}{
		{"succeeded", nil, []string{"notes.txt", "other-step-0000000010.ckpt"}},
		{"failed", errors.New("worker lost"), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := "clean-" + tc.name
			dir := t.TempDir()
			all := []string{id + "-step-0000000010.ckpt", id + "-step-0000000020.ckpt", "." + id + "-step-0000000030.ckpt.tmp-x1",
				"notes.txt", "other-step-0000000010.ckpt"}
			for _, f := range all {
				if err := os.WriteFile(filepath.Join(dir, f), []byte("x"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			j := newJob(Config{Client: cli, JobID: id, CheckpointDir: dir}, "")
			if err := j.put(t.Context(), func(r *cohortv1.Job) { r.State = cohortv1.JobState_JOB_STATE_RUNNING }); err != nil {
				t.Fatal(err)
			}
			if err := j.End(t.Context(), nil, tc.err); err != nil {
				t.Fatalf("End: %v", err)
			}
			entries, err := os.ReadDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, e := range entries {
				got = append(got, e.Name())
			}
			want := tc.left
			if want == nil {
				want = slices.Clone(all)
			}
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("left %q, want %q", got, want)
			}
		})
	}
}
