package main

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cohort-clv/cohort/job"
	"github.com/cohort-clv/cohort/model"
	"github.com/cohort-clv/cohort/sweeprun"
)

// TestSweepStatusState ensures sweep status tells a running sweep from one
// that no process runs: while a process trains a trial, the sweep and the
// trial read running; once it has stopped (cleanly, or killed without
// recording its stop), the sweep reads stopped with the command that
// resumes it, and no trial reads running, in text and in --json.
func TestSweepStatusState(t *testing.T) {
	dir := t.TempDir()
	sweeps := filepath.Join(dir, "sweeps")
	spec, err := sweeprun.ParseSpecFile(writeTinySpec(t, dir, "spec.yaml", "", ""))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, id    string
		recordStops bool
		trial       sweeprun.Status // the trial's status once the sweep has stopped
	}{
		{"clean stop", "clean", true, sweeprun.Stopped},
		{"killed", "killed", false, sweeprun.Interrupted},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &sweepFlags{dir: sweeps}
			cli, release, _, err := f.open(context.Background(), tc.id, connectCreate)
			if err != nil {
				t.Fatal(err)
			}
			defer func() { release() }()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			training := make(chan struct{})
			step := func(ctx context.Context, _ sweeprun.Trial, _ *job.Prepared, ev job.Events) (*model.Model, model.History, error) {
				ev.Epoch(model.EpochStats{Epoch: 1, ValLoss: 2.5})
				close(training)
				<-ctx.Done()
				return nil, model.History{}, ctx.Err()
			}
			ended := make(chan error, 1)
			go func() {
				_, err := sweeprun.Start(ctx, cli, tc.id, spec, sweeprun.Options{Out: f.sweepDir(tc.id), Step: step, RecordStops: tc.recordStops})
				ended <- err
			}()
			<-training
			doc := sweepStatus(t, sweeps, tc.id)
			if doc.State != sweeprun.StateRunning || doc.Holder == nil || doc.Holder.PID != os.Getpid() || doc.Resume != "" ||
				len(doc.Trials) != 1 || doc.Trials[0].Status != sweeprun.Running {
				t.Errorf("while a trial trains: %+v; want the sweep and its trial running, held by this process", doc)
			}
			cancel()
			if err := <-ended; !errors.Is(err, context.Canceled) {
				t.Fatalf("stopped sweep: error %v, want context.Canceled", err)
			}
			release()
			release = func() {}

			doc = sweepStatus(t, sweeps, tc.id)
			resume := "cohort sweep --resume " + tc.id + " --dir " + sweeps
			if doc.State != sweeprun.StateStopped || doc.Holder != nil || doc.Resume != resume || doc.Trials[0].Status != tc.trial {
				t.Errorf("once stopped: %+v; want the sweep stopped, resumed with %q, its trial %s", doc, resume, tc.trial)
			}
			stdout, stderr, err := runCohort(t, "sweep", "status", tc.id, "--dir", sweeps)
			if err != nil {
				t.Fatalf("status: %v\n%s", err, stderr)
			}
			if strings.Contains(stdout, string(sweeprun.Running)) || !strings.Contains(stdout, string(tc.trial)) ||
				!strings.Contains(stdout, "sweep "+tc.id+" is stopped") || !strings.Contains(stdout, resume) {
				t.Errorf("status of the stopped sweep:\n%s\nwant its trial %s, none running, and %q", stdout, tc.trial, resume)
			}
		})
	}
}

// sweepStatus runs sweep status ID --json and decodes what it prints.
func sweepStatus(t *testing.T, sweeps, id string) sweepStatusDoc {
	t.Helper()
	stdout, stderr, err := runCohort(t, "sweep", "status", id, "--dir", sweeps, "--json")
	if err != nil {
		t.Fatalf("status --json: %v\n%s", err, stderr)
	}
	var doc sweepStatusDoc
	if err := json.Unmarshal([]byte(stdout), &doc); err != nil {
		t.Fatalf("status --json: %v\n%s", err, stdout)
	}
	return doc
}
