package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/cohort-clv/cohort/internal/freeport"
	cohortv1 "github.com/cohort-clv/cohort/proto/cohort/v1"
	"github.com/cohort-clv/cohort/rpcerr"
)

// TestJobsCLIFailsFastWhenNothingListens ensures the job commands give up
// within about refuseGrace, not the whole --timeout, when nothing listens
// at --coordinator, with the hint to start a cluster.
func TestJobsCLIFailsFastWhenNothingListens(t *testing.T) {
	addr := freeport.Addr(t) // free: nothing listens there
	for _, args := range [][]string{
		{"status"},
		{"status", "j1"},
		{"watch", "j1"},
		{"cancel", "j1"},
		{"submit", writeJobYAML(t, jobYAML)},
	} {
		t.Run(args[0], func(t *testing.T) {
			t.Parallel() // each waits out the grace
			began := time.Now()
			_, _, err := runCohort(t, append(args, "--coordinator", addr)...)
			took := time.Since(began)
			if err == nil || !strings.Contains(err.Error(), "no coordinator listens at --coordinator "+addr) ||
				!strings.Contains(err.Error(), "is `cohort up` running?") {
				t.Errorf("%v: error %v, want one saying nothing listens, with the hint", args, err)
			}
			if took > refuseGrace+4*time.Second {
				t.Errorf("%v gave up after %v, want about %v (--timeout is 30s)", args, took, refuseGrace)
			}
			if !errors.Is(err, rpcerr.ErrUnavailable) {
				t.Errorf("%v: error %v does not wrap UNAVAILABLE", args, err)
			}
		})
	}
}

// TestJobsCLIWaitsForAStartingCoordinator ensures a coordinator that starts
// listening within the grace is found: refusals at first are not fatal.
func TestJobsCLIWaitsForAStartingCoordinator(t *testing.T) {
	addr := freeport.Addr(t)
	f := &fakeJobs{jobs: []*cohortv1.Job{{Id: "j1", State: sRunning, Spec: &cohortv1.JobSpec{Name: "late"}}}}
	go func() {
		time.Sleep(time.Second)
		lis, err := net.Listen("tcp", addr)
		if err != nil {
			t.Errorf("listen on %s: %v", addr, err)
			return
		}
		gs := grpc.NewServer(grpc.ChainUnaryInterceptor(rpcerr.UnaryServerInterceptor()))
		cohortv1.RegisterJobsServer(gs, f)
		t.Cleanup(gs.Stop)
		_ = gs.Serve(lis)
	}()
	out, _, err := runCohort(t, "status", "--coordinator", addr)
	if err != nil || !strings.Contains(out, "late") {
		t.Fatalf("status against a coordinator that starts late: %v\n%s", err, out)
	}
}

// TestJobsCLIRefusedButStandbyAnswers ensures the fast failure applies only
// when nothing answers at all: with a standby answering NOT_LEADER next to
// a refused address (a failover in progress), the CLI keeps trying for the
// whole --timeout.
func TestJobsCLIRefusedButStandbyAnswers(t *testing.T) {
	dead := freeport.Addr(t)
	standby := serveJobs(t, &fakeJobs{standby: true})
	timeout := refuseGrace + 2*time.Second
	began := time.Now()
	_, _, err := runCohort(t, "status", "--coordinator", dead+","+standby, "--timeout", timeout.String())
	if took := time.Since(began); took < timeout {
		t.Errorf("gave up after %v, want the whole --timeout %v while a standby answers", took, timeout)
	}
	if err == nil || !strings.Contains(err.Error(), "no leading coordinator answered") {
		t.Errorf("error %v, want the --timeout one", err)
	}
}

// TestCancelFinishedJobOneLine ensures cancelling a finished job says so in
// one line naming how it ended, without the layers of the coordinator's
// error, and still fails (the job was not stopped by this command).
func TestCancelFinishedJobOneLine(t *testing.T) {
	for _, st := range []cohortv1.JobState{sDone, sFailed} {
		f := &fakeJobs{jobs: []*cohortv1.Job{{Id: "job-x", State: st}}}
		_, _, err := runCohort(t, "cancel", "job-x", "--coordinator", serveJobs(t, f))
		want := fmt.Sprintf("cancel job-x: the job already finished (%s), nothing to stop; cohort status job-x shows how it ended", stateName(st))
		if err == nil || err.Error() != want {
			t.Errorf("cancel of a %s job: error %q, want %q", stateName(st), err, want)
		}
		if !errors.Is(err, rpcerr.ErrFinished) {
			t.Errorf("error %v does not wrap ErrFinished", err)
		}
	}
	_, _, err := runCohort(t, "cancel", "job-y", "--coordinator", serveJobs(t, &fakeJobs{}))
	if want := `cancel job-y: job "job-y" not found; cohort status lists the jobs`; err == nil || err.Error() != want {
		t.Errorf("cancel of a missing job: error %q, want %q", err, want)
	}
}

// TestJobViewsBeforeValidation ensures watch and status show "-" for both
// losses before the first epoch reported any (the record holds zeros), and
// the message of a waiting job.
func TestJobViewsBeforeValidation(t *testing.T) {
	const msg = "waiting for workers: 2 live, needs 5"
	waiting := &cohortv1.Job{Id: "job-w", State: sPending, CreatedAt: timestamppb.Now(), Message: msg,
		Spec: &cohortv1.JobSpec{Name: "wait", MinWorkers: 5}}
	line := eventLine(&cohortv1.JobEvent{Kind: kProgress, Job: waiting, Message: msg})
	if !strings.Contains(line, "loss -") || !strings.Contains(line, "val -") || strings.Contains(line, "0.0000") {
		t.Errorf("event line before any epoch: %q, want - for both losses", line)
	}
	if !strings.HasSuffix(line, msg) {
		t.Errorf("event line %q lacks the message %q", line, msg)
	}
	// Checkpoints move the step within the first epoch: still no losses.
	ckpt := &cohortv1.Job{Id: "job-c", State: sRunning, Step: 10, CheckpointStep: 10, CreatedAt: timestamppb.Now()}
	if line := eventLine(&cohortv1.JobEvent{Kind: cohortv1.JobEvent_KIND_CHECKPOINT, Job: ckpt}); strings.Contains(line, "0.0000") {
		t.Errorf("event line after a checkpoint in epoch 1: %q, want - for both losses", line)
	}
	trainedJob := &cohortv1.Job{Id: "job-t", State: sRunning, Epoch: 1, Step: 33, Loss: 1.5, ValLoss: 1.25}
	if line := eventLine(&cohortv1.JobEvent{Kind: kProgress, Job: trainedJob}); !strings.Contains(line, "loss 1.5000") ||
		!strings.Contains(line, "val 1.2500") {
		t.Errorf("event line after an epoch: %q, want both losses", line)
	}

	var b strings.Builder
	if err := writeJob(&b, waiting, time.Now()); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "message") || !strings.Contains(b.String(), msg) || !strings.Contains(b.String(), "val loss -") {
		t.Errorf("status detail of a waiting job lacks the message or shows a loss:\n%s", b.String())
	}
	b.Reset()
	if err := writeJobTable(&b, []*cohortv1.Job{waiting}, time.Now()); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "0.0000") {
		t.Errorf("status table shows a loss before any epoch:\n%s", b.String())
	}
}

// TestSweepStderrOneFormat ensures cohort sweep's stderr, not a terminal,
// holds one format: with --log-format auto human progress lines and text
// trial events (as cohort train prints), with json only JSON records.
func TestSweepStderrOneFormat(t *testing.T) {
	dir := t.TempDir()
	data := writeShop(t, dir, "shop.csv", "customer_id,date,amount")
	spec := filepath.Join(dir, "spec.yaml")
	yaml := fmt.Sprintf(`
data: %s
calibration_end: "%s"
horizon: 39w
model: {max_epochs: 1, batch: 512}
space:
  parameters:
    - {name: lr, type: float, min: 0.0005, max: 0.01, log: true}
sampler: {algorithm: random}
trials: 2
parallel: 2
threads: 2
early_stopping: {rule: none}
`, data, calibrationEnd)
	if err := os.WriteFile(spec, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	sweeps := filepath.Join(dir, "sweeps")

	_, stderr, err := runCohort(t, "sweep", spec, "--id", "auto1", "--dir", sweeps)
	if err != nil {
		t.Fatalf("sweep: %v\n%s", err, stderr)
	}
	if strings.Contains(stderr, `"msg"`) || !strings.Contains(stderr, `msg="trial started"`) || !strings.Contains(stderr, "trials 2/2 done") {
		t.Errorf("--log-format auto, stderr not a terminal: want text trial events and human progress, no JSON:\n%s", stderr)
	}

	_, stderr, err = runCohort(t, "--log-format", "json", "sweep", spec, "--id", "json1", "--dir", sweeps)
	if err != nil {
		t.Fatalf("sweep: %v\n%s", err, stderr)
	}
	var msgs []string
	sc := bufio.NewScanner(strings.NewReader(stderr))
	for sc.Scan() {
		var rec struct {
			Msg  string  `json:"msg"`
			Done float64 `json:"done"`
		}
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Errorf("--log-format json: line %q is not a JSON record", sc.Text())
			continue
		}
		msgs = append(msgs, rec.Msg)
		if rec.Msg == "sweep progress" && math.IsNaN(rec.Done) {
			t.Errorf("progress record %q lacks done", sc.Text())
		}
	}
	joined := strings.Join(msgs, "|")
	for _, want := range []string{"sweep started", "trial started", "sweep progress"} {
		if !strings.Contains(joined, want) {
			t.Errorf("--log-format json: no %q record in %q", want, joined)
		}
	}
}

// TestJobsByName ensures status, watch and cancel take a job's name where
// they take an id when exactly one job has it, and list the ids when
// several have.
func TestJobsByName(t *testing.T) {
	jobs := func() []*cohortv1.Job {
		return []*cohortv1.Job{
			{Id: "job-3f2a9c1d7e44", State: sRunning, Workers: 1, Spec: &cohortv1.JobSpec{Name: "cdnow"}},
			{Id: "job-0b1c2d3e4f50", State: sDone, Spec: &cohortv1.JobSpec{Name: "dup"}},
			{Id: "job-9a8b7c6d5e4f", State: sFailed, Spec: &cohortv1.JobSpec{Name: "dup"}},
		}
	}
	ambiguous := []string{`2 jobs are named "dup"`, "job-0b1c2d3e4f50 (SUCCEEDED), job-9a8b7c6d5e4f (FAILED)", "give the id of one"}
	for _, tc := range []struct {
		args    []string
		want    string
		wantErr []string
	}{
		{args: []string{"status", "cdnow"}, want: "job-3f2a9c1d7e44 (cdnow)"},
		{args: []string{"status", "job-3f2a9c1d7e44"}, want: "job-3f2a9c1d7e44 (cdnow)"},
		{args: []string{"status", "dup"}, wantErr: ambiguous},
		{args: []string{"status", "nope"}, wantErr: []string{`status: job "nope" not found`}},
		{args: []string{"watch", "cdnow"}, want: "job cdnow-1 SUCCEEDED"},
		{args: []string{"watch", "dup"}, wantErr: ambiguous},
		{args: []string{"watch", "nope"}, wantErr: []string{`watch nope: job "nope" not found`}},
		{args: []string{"cancel", "cdnow"}, want: "cancel requested: job-3f2a9c1d7e44 stops at its next step"},
		{args: []string{"cancel", "dup"}, wantErr: ambiguous},
		{args: []string{"cancel", "nope"}, wantErr: []string{`cancel nope: job "nope" not found`}},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			f := &fakeJobs{jobs: jobs(), streams: [][]*cohortv1.JobEvent{runJob(sDone)}, ends: []error{nil}}
			out, _, err := runCohort(t, append(tc.args, "--coordinator", serveJobs(t, f))...)
			if tc.wantErr == nil {
				if err != nil || !strings.Contains(out, tc.want) {
					t.Fatalf("%v: %v, output:\n%s\nwant %q", tc.args, err, out, tc.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("%v succeeded:\n%s", tc.args, out)
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%v: error %q lacks %q", tc.args, err, w)
				}
			}
			if n := f.count(func() int { return len(f.cancels) }); tc.args[0] == "cancel" && n != 1 {
				t.Errorf("%d Cancel calls, want 1 (by id, then no second)", n)
			}
		})
	}
}

// TestFollowExitStatus ensures watch and submit --wait exit with a status
// that tells how the job ended from a lost coordinator: 0 SUCCEEDED, 2
// FAILED, 3 CANCELLED, 4 no leader answered.
func TestFollowExitStatus(t *testing.T) {
	cancelled := runJob(sDone)
	last := proto.CloneOf(cancelled[len(cancelled)-1])
	last.Job.State, last.Job.Error = cohortv1.JobState_JOB_STATE_CANCELLED, "cancelled: by ann on vm (cohort cancel)"
	cancelled = append(cancelled[:len(cancelled)-1:len(cancelled)-1], last)
	for _, tc := range []struct {
		name    string
		events  []*cohortv1.JobEvent
		standby bool
		code    int
		msg     string
	}{
		{name: "succeeded", events: runJob(sDone), code: 0},
		{name: "failed", events: runJob(sFailed), code: exitJobFailed, msg: "job cdnow-1 FAILED: worker w1: out of memory"},
		{name: "cancelled", events: cancelled, code: exitJobCancelled, msg: "job cdnow-1 CANCELLED: cancelled: by ann"},
		{name: "no leader", standby: true, code: exitUnreachable, msg: "no leading coordinator answered"},
	} {
		for _, cmd := range []string{"watch", "submit"} {
			t.Run(tc.name+"/"+cmd, func(t *testing.T) {
				if tc.standby && cmd == "submit" {
					t.Skip("submit needs a leader to queue the job")
				}
				f := &fakeJobs{jobs: []*cohortv1.Job{{Id: "cdnow-1"}}, streams: [][]*cohortv1.JobEvent{tc.events}, ends: []error{nil},
					standby: tc.standby}
				args := []string{"watch", "cdnow-1"}
				if cmd == "submit" {
					args = []string{"submit", writeJobYAML(t, jobYAML), "--wait"}
				}
				_, _, err := runCohort(t, append(args, "--coordinator", serveJobs(t, f), "--timeout", "500ms")...)
				if tc.code == 0 {
					if err != nil {
						t.Fatalf("%s: %v", cmd, err)
					}
					return
				}
				msg, code := exitMessage(err, nil)
				if code != tc.code || !strings.Contains(msg, tc.msg) {
					t.Errorf("%s: exit %d %q, want %d and %q", cmd, code, msg, tc.code, tc.msg)
				}
			})
		}
	}
	// The statuses are documented where scripts look.
	for cmd, want := range map[string][]string{
		"watch":  {"2 the job FAILED", "3 the job was CANCELLED", "4 no leading coordinator answered", "130 interrupted"},
		"submit": {"2 FAILED", "3 CANCELLED", "4 no leading coordinator answered", "130 Ctrl-C"},
	} {
		out, _, err := runCohort(t, cmd, "--help")
		if err != nil {
			t.Fatal(err)
		}
		flat := strings.Join(strings.Fields(out), " ")
		for _, w := range want {
			if !strings.Contains(flat, w) {
				t.Errorf("%s --help does not document %q:\n%s", cmd, w, out)
			}
		}
	}
}

// TestFollowInterrupted ensures Ctrl-C on watch or submit --wait says that
// the job keeps running and how to follow or stop it, exiting 130.
func TestFollowInterrupted(t *testing.T) {
	for _, cmd := range []string{"watch", "submit"} {
		t.Run(cmd, func(t *testing.T) {
			f := &fakeJobs{jobs: []*cohortv1.Job{{Id: "cdnow-1"}}, hold: true,
				streams: [][]*cohortv1.JobEvent{runJob(sDone)[:3]}, ends: []error{nil}}
			addr := serveJobs(t, f)
			args := []string{"watch", "cdnow-1"}
			if cmd == "submit" {
				args = []string{"submit", writeJobYAML(t, jobYAML), "--wait"}
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			root := newRootCmd()
			var out strings.Builder
			root.SetOut(writerFunc(func(p []byte) (int, error) {
				out.Write(p)
				if strings.Contains(out.String(), "PROGRESS") {
					cancel() // Ctrl-C once the job is under way
				}
				return len(p), nil
			}))
			root.SetErr(io.Discard)
			root.SetArgs(append(args, "--coordinator", addr))
			err := root.ExecuteContext(ctx)
			msg, code := exitMessage(err, signalError{syscall.SIGINT})
			for _, w := range []string{"cohort: interrupted; job cdnow-1 keeps running on the cluster",
				"cohort watch cdnow-1 --coordinator " + addr, "cohort cancel cdnow-1 --coordinator " + addr} {
				if !strings.Contains(msg, w) {
					t.Errorf("message %q lacks %q", msg, w)
				}
			}
			if code != 130 {
				t.Errorf("exit %d, want 130", code)
			}
		})
	}
}

// TestStatusJSONNoJobs ensures status --json prints {"jobs": []} when no
// job matches, as its help says, not {}.
func TestStatusJSONNoJobs(t *testing.T) {
	for _, tc := range []struct {
		name string
		jobs []*cohortv1.Job
		args []string
	}{
		{name: "none at all"},
		{name: "none in state", jobs: []*cohortv1.Job{{Id: "j1", State: sRunning}}, args: []string{"--state", "failed"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, _, err := runCohort(t, append([]string{"status", "--json", "--coordinator", serveJobs(t, &fakeJobs{jobs: tc.jobs})}, tc.args...)...)
			if err != nil {
				t.Fatal(err)
			}
			var got map[string]any
			if err := json.Unmarshal([]byte(out), &got); err != nil {
				t.Fatalf("%q: %v", out, err)
			}
			if l, ok := got["jobs"].([]any); !ok || len(l) != 0 || len(got) != 1 {
				t.Errorf("status --json = %s, want {\"jobs\": []}", out)
			}
		})
	}
}

// TestStatusJSONSpecNames ensures status --json names fields as a job.yaml
// does (data_path, out_dir, val_loss), not in protojson's lowerCamelCase.
func TestStatusJSONSpecNames(t *testing.T) {
	job := &cohortv1.Job{Id: "job-3f2a9c1d7e44", State: sRunning, ValLoss: 2.5,
		Spec: &cohortv1.JobSpec{Name: "cdnow", Source: &cohortv1.JobSpec_DataPath{DataPath: "/data/x.csv"}, OutDir: "/runs/x", MinWorkers: 2}}
	addr := serveJobs(t, &fakeJobs{jobs: []*cohortv1.Job{job}})
	for _, args := range [][]string{{"status", "--json"}, {"status", job.Id, "--json"}} {
		out, _, err := runCohort(t, append(args, "--coordinator", addr)...)
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{`"data_path"`, `"out_dir"`, `"min_workers"`, `"val_loss"`} {
			if !strings.Contains(out, want) {
				t.Errorf("%v: %s lacks %s", args, out, want)
			}
		}
		if strings.Contains(out, `"dataPath"`) || strings.Contains(out, `"valLoss"`) {
			t.Errorf("%v: %s uses lowerCamelCase names", args, out)
		}
	}
}

// TestWorkerCounts ensures "1 worker", not "1 workers", in status's views.
func TestWorkerCounts(t *testing.T) {
	for _, tc := range []struct {
		n    uint32
		want []string
	}{
		{1, []string{"RUNNING on 1 worker\n", "1 (1 worker)"}},
		{3, []string{"RUNNING on 3 workers", "1 (3 workers)"}},
	} {
		var b strings.Builder
		if err := writeJob(&b, &cohortv1.Job{Id: "j", State: sRunning, Workers: tc.n, Generation: 1}, time.Now()); err != nil {
			t.Fatal(err)
		}
		for _, w := range tc.want {
			if !strings.Contains(b.String(), w) {
				t.Errorf("%d workers: detail lacks %q:\n%s", tc.n, w, b.String())
			}
		}
	}
}
