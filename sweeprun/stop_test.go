package sweeprun_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/cohort-clv/cohort/job"
	"github.com/cohort-clv/cohort/model"
	"github.com/cohort-clv/cohort/sweeprun"
)

// interruption is how a test ends a sweep's running trial.
type interruption string

const (
	stop  interruption = "stop"  // ctx cancelled, the stop recorded: Ctrl-C, SIGTERM
	crash interruption = "crash" // ctx cancelled, nothing recorded: as SIGKILL leaves it
)

// interrupt runs sweep id (Start the first time, else Resume) until its
// first trial has reported an epoch, checks that Inspect then says the
// sweep runs, and ends it by how.
func interrupt(t *testing.T, cli *clientv3.Client, id string, spec *sweeprun.Spec, out string, how interruption) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var seen *sweeprun.Overview
	var inspectErr error
	step := func(sctx context.Context, _ sweeprun.Trial, _ *job.Prepared, ev job.Events) (*model.Model, model.History, error) {
		ev.Epoch(model.EpochStats{Epoch: 1, ValLoss: 2.5})
		seen, inspectErr = sweeprun.Inspect(sctx, cli, id, false)
		cancel()
		<-sctx.Done()
		return nil, model.History{}, sctx.Err()
	}
	opts := sweeprun.Options{Out: out, Step: step, RecordStops: how == stop}
	var err error
	if spec != nil {
		_, err = sweeprun.Start(ctx, cli, id, spec, opts)
	} else {
		_, err = sweeprun.Resume(ctx, cli, id, opts)
	}
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("%s: error %v, want context.Canceled", how, err)
	}
	if inspectErr != nil || seen == nil || seen.State != sweeprun.StateRunning || seen.Holder == nil ||
		seen.Holder.PID != os.Getpid() || len(seen.Trials) != 1 || seen.Trials[0].Status != sweeprun.Running {
		t.Errorf("%s: Inspect while the trial trains: %+v (%v), want running, held by this process, its trial running", how, seen, inspectErr)
	}
}

// TestStopIsNotACrash ensures a clean stop of a sweep (its context
// cancelled, the stop recorded) re-queues the running trial without
// counting an attempt against retries, while a crash (the trial left
// running in etcd) still counts; that a trial's epochs are those of its
// last attempt; and that Inspect shows a sweep no process runs as stopped,
// with no trial running.
func TestStopIsNotACrash(t *testing.T) {
	dir := t.TempDir()
	cli := etcd(t)
	shop := writeShop(t, dir)
	for _, tc := range []struct {
		name     string
		retries  string
		events   []interruption
		want     sweeprun.Status // the trial's status at the end
		attempts int
	}{
		{"three stops, no retries", "0", []interruption{stop, stop, stop}, sweeprun.Completed, 1},
		{"a crash, no retries", "0", []interruption{crash}, sweeprun.Failed, 1},
		{"a stop and a crash, one retry", "1", []interruption{stop, crash, stop}, sweeprun.Completed, 2},
		{"two crashes, one retry", "1", []interruption{crash, stop, crash}, sweeprun.Failed, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := strings.ReplaceAll(tc.name, " ", "-")
			id = strings.ReplaceAll(id, ",", "")
			out := filepath.Join(dir, id)
			yaml := strings.Replace(tinySweep(shop, "0.01"), "trials: 2", "trials: 1\nretries: "+tc.retries, 1)
			spec := parse(t, yaml)
			for i, how := range tc.events {
				s := spec
				if i > 0 {
					s = nil
				}
				interrupt(t, cli, id, s, out, how)
				ov, err := sweeprun.Inspect(context.Background(), cli, id, false)
				if err != nil {
					t.Fatal(err)
				}
				want := map[interruption]sweeprun.Status{stop: sweeprun.Stopped, crash: sweeprun.Interrupted}[how]
				if got := ov.Trials[0]; ov.State != sweeprun.StateStopped || got.Status != want || got.Epochs != 1 {
					t.Errorf("after %s %d: sweep %s, trial %s after %d epochs; want stopped, %s after 1", how, i+1, ov.State, got.Status, got.Epochs, want)
				}
			}
			res, err := sweeprun.Resume(context.Background(), cli, id, sweeprun.Options{Out: out, RecordStops: true})
			if (err == nil) != (tc.want == sweeprun.Completed) {
				t.Errorf("final resume: error %v, want one only when the trial fails", err)
			}
			ov, err := sweeprun.Inspect(context.Background(), cli, id, false)
			if err != nil {
				t.Fatal(err)
			}
			got := ov.Trials[0]
			if got.Status != tc.want || got.Attempts != tc.attempts {
				t.Errorf("trial: %s after %d attempts (%s), want %s after %d", got.Status, got.Attempts, got.Reason, tc.want, tc.attempts)
			}
			switch tc.want {
			case sweeprun.Completed:
				if ov.State != sweeprun.StateDone || res == nil || res.Epochs != 2 || got.Epochs != 2 {
					t.Errorf("sweep %s, trial epochs %d, want done and 2 (its last attempt's)", ov.State, got.Epochs)
				}
			case sweeprun.Failed:
				if ov.State != sweeprun.StateFailed || !strings.Contains(got.Reason, "process died") || !strings.Contains(ov.Error, "no trial completed") {
					t.Errorf("sweep %s (%s), trial reason %q; want failed, no trial completed, the process died", ov.State, ov.Error, got.Reason)
				}
			}
		})
	}
}

// TestInspectAlone ensures that a caller that holds the sweep's lock itself
// sees it stopped even though a holder key is left in etcd, as a killed
// process's lingers in its restarted embedded etcd.
func TestInspectAlone(t *testing.T) {
	dir := t.TempDir()
	cli := etcd(t)
	spec := parse(t, strings.Replace(tinySweep(writeShop(t, dir), "0.01"), "trials: 2", "trials: 1", 1))
	var inStep [2]*sweeprun.Overview
	step := func(ctx context.Context, _ sweeprun.Trial, _ *job.Prepared, _ job.Events) (*model.Model, model.History, error) {
		for i, alone := range []bool{false, true} {
			ov, err := sweeprun.Inspect(ctx, cli, "alone", alone)
			if err != nil {
				return nil, model.History{}, err
			}
			inStep[i] = ov
		}
		return nil, model.History{}, errors.New("no model")
	}
	if _, err := sweeprun.Start(context.Background(), cli, "alone", spec, sweeprun.Options{Out: filepath.Join(dir, "alone"), Step: step}); err == nil {
		t.Fatal("a sweep whose only trial fails: no error")
	}
	if held, alone := inStep[0], inStep[1]; held.State != sweeprun.StateRunning || alone.State != sweeprun.StateStopped ||
		alone.Trials[0].Status != sweeprun.Interrupted {
		t.Errorf("while the trial trains: %s, and alone %s with its trial %s; want running, and stopped with it interrupted",
			held.State, alone.State, alone.Trials[0].Status)
	}
}
