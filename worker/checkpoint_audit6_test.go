package worker

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cohort-clv/cohort/model"
	cohortv1 "github.com/cohort-clv/cohort/proto/cohort/v1"
)

// TestCheckpointFailureReported ensures a checkpoint rank 0 cannot write
// is reported to the coordinator (CheckpointPointer.error) and logged with
// the job's id, and that training goes on (save returns nil).
func TestCheckpointFailureReported(t *testing.T) {
	dir := t.TempDir()
	afile := filepath.Join(dir, "afile")
	if err := os.WriteFile(afile, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, dir string
		wantErr   string // in the report's error; "" for a good checkpoint
	}{
		{"directory under a file", filepath.Join(afile, "out", "checkpoints"), "not a directory"},
		{"good directory", filepath.Join(dir, "ck"), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logs bytes.Buffer
			var got []*cohortv1.CheckpointPointer
			c := &checkpointer{dir: tc.dir, job: "job-abc", gen: 3,
				log: slog.New(slog.NewJSONHandler(&logs, nil)),
				report: func(_ context.Context, p *cohortv1.CheckpointPointer) error {
					got = append(got, p)
					return nil
				}}
			st := &model.TrainState{Epoch: 1}
			st.Adam.Step = 20
			if err := c.save(t.Context(), st); err != nil {
				t.Fatalf("save = %v, want nil (a checkpoint is not fatal)", err)
			}
			if len(got) != 1 {
				t.Fatalf("%d reports, want 1", len(got))
			}
			p := got[0]
			if tc.wantErr == "" {
				if p.GetError() != "" || p.GetSha256() == "" {
					t.Errorf("good checkpoint reported as %v", p)
				}
				return
			}
			if !strings.Contains(p.GetError(), tc.wantErr) || p.GetStep() != 20 || p.GetPath() == "" {
				t.Errorf("report %v, want step 20 with an error containing %q", p, tc.wantErr)
			}
			if r := (&cohortv1.ReportRequest{JobId: "job-abc", Generation: 3, Worker: "w1",
				Report: &cohortv1.ReportRequest_Checkpoint{Checkpoint: p}}); r.Validate() != nil {
				t.Errorf("the failure report does not validate: %v", r.Validate())
			}
			if !strings.Contains(logs.String(), `"job":"job-abc"`) || !strings.Contains(logs.String(), "checkpoint failed") {
				t.Errorf("log %q does not name the job and the failure", logs.String())
			}
		})
	}
}
