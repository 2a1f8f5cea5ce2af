package coordinator

import (
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cohort-clv/cohort/job"
	"github.com/cohort-clv/cohort/membership"
	cohortv1 "github.com/cohort-clv/cohort/proto/cohort/v1"
	"github.com/cohort-clv/cohort/rpcerr"
)

// TestSubmitChecksPaths ensures the leader refuses, before it records
// anything, a spec whose paths are relative (they would resolve against
// the coordinator's working directory), a data_path it cannot read, an
// out_dir or checkpoint_dir it cannot write, and an out_dir holding a
// finished run unless overwrite is set; each error names the field and
// the coordinator's host.
func TestSubmitChecksPaths(t *testing.T) {
	cli := jobsEtcd(t)
	dir := t.TempDir()
	data := filepath.Join(dir, "data.csv")
	afile := filepath.Join(dir, "afile")
	done := filepath.Join(dir, "done")
	trained := filepath.Join(dir, "trained")
	for _, f := range []string{data, afile, filepath.Join(done, "metrics.json")} {
		if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f, []byte("x\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(filepath.Join(trained, "model"), 0o755); err != nil {
		t.Fatal(err)
	}
	spec := func(change func(*cohortv1.JobSpec)) *cohortv1.JobSpec {
		s := &cohortv1.JobSpec{Source: &cohortv1.JobSpec_DataPath{DataPath: data},
			OutDir: filepath.Join(dir, "runs", t.Name()), Read: &cohortv1.ReadOptions{Horizon: "39w"}}
		if change != nil {
			change(s)
		}
		return s
	}
	svc := NewJobsService(cli, fakeLeadership{}, JobsOptions{Name: "c1", Host: "vm"})
	tests := []struct {
		name   string
		change func(*cohortv1.JobSpec)
		want   []string // "" when accepted
	}{
		{"absolute paths that work", nil, nil},
		{"out_dir not yet there", func(s *cohortv1.JobSpec) { s.OutDir = filepath.Join(dir, "new", "deep", "out") }, nil},
		{"relative data_path", func(s *cohortv1.JobSpec) { s.Source = &cohortv1.JobSpec_DataPath{DataPath: "mydata.txt"} },
			[]string{`spec.data_path: "mydata.txt" is a relative path`, "absolute path", "spec file's directory"}},
		{"relative out_dir and checkpoint_dir", func(s *cohortv1.JobSpec) { s.OutDir, s.CheckpointDir = "relruns/out", "ck" },
			[]string{`spec.out_dir: "relruns/out" is a relative path`, `spec.checkpoint_dir: "ck" is a relative path`}},
		{"missing data", func(s *cohortv1.JobSpec) {
			s.Source = &cohortv1.JobSpec_DataPath{DataPath: filepath.Join(dir, "nope.csv")}
		}, []string{"spec.data_path " + filepath.Join(dir, "nope.csv") + ": no such file on coordinator c1 (host vm)"}},
		{"data is a directory", func(s *cohortv1.JobSpec) { s.Source = &cohortv1.JobSpec_DataPath{DataPath: dir} },
			[]string{"spec.data_path " + dir + ": is a directory"}},
		{"out_dir under a file", func(s *cohortv1.JobSpec) { s.OutDir = filepath.Join(afile, "out") },
			[]string{"spec.out_dir " + filepath.Join(afile, "out") + ": cannot be written on coordinator c1 (host vm)", "not a directory"}},
		{"checkpoint_dir under a file", func(s *cohortv1.JobSpec) { s.CheckpointDir = filepath.Join(afile, "ck") },
			[]string{"spec.checkpoint_dir", "cannot be written"}},
		{"finished run", func(s *cohortv1.JobSpec) { s.OutDir = done },
			[]string{"spec.out_dir " + done + ": holds a finished run (metrics.json)", "overwrite: true"}},
		{"finished model", func(s *cohortv1.JobSpec) { s.OutDir = trained }, []string{"holds a finished run (model)"}},
		{"finished run, overwrite", func(s *cohortv1.JobSpec) { s.OutDir, s.Overwrite = done, true }, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := countEtcdKeys(t, cli, membership.JobsPrefix)
			resp, err := svc.Submit(t.Context(), &cohortv1.SubmitRequest{Spec: spec(tc.change)})
			if tc.want == nil {
				if err != nil {
					t.Fatalf("Submit = %v, want it accepted", err)
				}
				// Accepted: cancel it, so its out_dir is free again.
				if _, err := svc.Cancel(t.Context(), &cohortv1.CancelRequest{JobId: resp.GetJob().GetId()}); err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, rpcerr.ErrInvalidArgument) {
				t.Fatalf("Submit = %v, want ErrInvalidArgument", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "cohort: invalid argument") {
				t.Errorf("error %q repeats the sentinel's text", err)
			}
			if after := countEtcdKeys(t, cli, membership.JobsPrefix); after != before {
				t.Errorf("a refused Submit wrote to etcd: %d job keys, had %d", after, before)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(dir, "new")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the write check left a directory behind: %v", err)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".cohort-write-check-*")); len(left) > 0 {
		t.Errorf("the write check left files behind: %v", left)
	}
}

// TestSubmitRefusesBusyOutDir ensures a second job cannot take the out_dir
// of a PENDING or RUNNING job (the error names that job), that a retry of
// the first Submit still returns its job, and that the out_dir is free
// again once the job ends.
func TestSubmitRefusesBusyOutDir(t *testing.T) {
	cli := jobsEtcd(t)
	ctx := t.Context()
	svc := newTestJobs(cli, fakeLeadership{}, JobsOptions{})
	first := validSpecProto()
	first.Name = "first"
	a, err := svc.Submit(ctx, &cohortv1.SubmitRequest{Spec: first, RequestId: "req-a"})
	if err != nil {
		t.Fatal(err)
	}
	id := a.GetJob().GetId()
	putJobRecord(t, cli, &cohortv1.Job{Id: "job-running", State: cohortv1.JobState_JOB_STATE_RUNNING,
		Spec: &cohortv1.JobSpec{OutDir: "/runs/busy", Source: &cohortv1.JobSpec_DataPath{DataPath: "/d"}}})
	putJobRecord(t, cli, &cohortv1.Job{Id: "job-done", State: cohortv1.JobState_JOB_STATE_SUCCEEDED,
		Spec: &cohortv1.JobSpec{OutDir: "/runs/old", Source: &cohortv1.JobSpec_DataPath{DataPath: "/d"}}})
	for _, tc := range []struct {
		name, out string
		want      string // "" when accepted
	}{
		{"same out_dir as a PENDING job", "/runs/cdnow", "spec.out_dir /runs/cdnow: job " + id + " (first), PENDING, writes there"},
		{"same directory spelled differently", "/runs//cdnow/", "job " + id},
		{"same out_dir as a RUNNING job", "/runs/busy", "job job-running, RUNNING, writes there"},
		{"out_dir of a finished job", "/runs/old", ""},
		{"another out_dir", "/runs/other", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := validSpecProto()
			s.OutDir = tc.out
			_, err := svc.Submit(ctx, &cohortv1.SubmitRequest{Spec: s})
			if tc.want == "" {
				if err != nil {
					t.Errorf("Submit = %v, want it accepted", err)
				}
				return
			}
			if !errors.Is(err, rpcerr.ErrInvalidArgument) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Submit = %v, want ErrInvalidArgument containing %q", err, tc.want)
			}
		})
	}
	retry, err := svc.Submit(ctx, &cohortv1.SubmitRequest{Spec: first, RequestId: "req-a"})
	if err != nil || retry.GetJob().GetId() != id {
		t.Errorf("retry of the first Submit = %v, %v; want job %s", retry.GetJob().GetId(), err, id)
	}
	if _, err := svc.Cancel(ctx, &cohortv1.CancelRequest{JobId: id}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Submit(ctx, &cohortv1.SubmitRequest{Spec: validSpecProto()}); err != nil {
		t.Errorf("Submit after the holder was cancelled = %v, want it accepted", err)
	}
}

// TestSameDir ensures two spellings of one directory compare equal: extra
// slashes, a symbolic link on the way, a tail that does not exist yet.
func TestSameDir(t *testing.T) {
	root := t.TempDir()
	runs := filepath.Join(root, "runs")
	if err := os.MkdirAll(filepath.Join(runs, "j7"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(runs, filepath.Join(root, "runs-link")); err != nil {
		t.Fatal(err)
	}
	want := func(p string) string { r, _ := filepath.EvalSymlinks(root); return filepath.Join(r, p) }
	for _, tc := range []struct{ dir, want string }{
		{filepath.Join(root, "runs", "j7"), want("runs/j7")},
		{root + "/runs//j7/", want("runs/j7")},
		{filepath.Join(root, "runs-link", "j7"), want("runs/j7")},
		{filepath.Join(root, "runs-link", "new", "deeper"), want("runs/new/deeper")},
		{"/no/such/dir", "/no/such/dir"},
	} {
		if got := sameDir(tc.dir); got != tc.want {
			t.Errorf("sameDir(%s) = %s, want %s", tc.dir, got, tc.want)
		}
	}
}

// TestNotLeaderCarriesLeader ensures a standby's NOT_LEADER answer names
// the leader both in its text, as before, and in its ErrorInfo metadata,
// which clients read without parsing the text.
func TestNotLeaderCarriesLeader(t *testing.T) {
	cli := jobsEtcd(t)
	for _, tc := range []struct {
		name, leader, text string
	}{
		{"leader known", "10.0.0.2:7070", "; the leader is 10.0.0.2:7070"},
		{"leader unknown", "", "leader unknown"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := serveJobs(t, newTestJobs(cli, fakeLeadership{standby: true, leader: tc.leader}, JobsOptions{}))
			for op, call := range map[string]func() error{
				"get": func() error { _, err := c.Get(t.Context(), &cohortv1.GetRequest{JobId: "job-a"}); return err },
				"submit": func() error {
					_, err := c.Submit(t.Context(), &cohortv1.SubmitRequest{Spec: validSpecProto()})
					return err
				},
			} {
				err := call()
				if !errors.Is(err, rpcerr.ErrNotLeader) || !strings.Contains(err.Error(), tc.text) {
					t.Errorf("%s = %v, want ErrNotLeader containing %q", op, err, tc.text)
				}
				if got := LeaderFromError(err); got != tc.leader {
					t.Errorf("%s: LeaderFromError = %q, want %q", op, got, tc.leader)
				}
			}
		})
	}
}

// TestCancelReasonOnce ensures a cancellation's text says "cancelled" once,
// whether the reason says it too (older clients) or not, and that a
// record's error reads back as the same cancellation.
func TestCancelReasonOnce(t *testing.T) {
	for _, tc := range []struct{ reason, want string }{
		{"", "cancelled"},
		{"by ann on vm (cohort cancel)", "cancelled: by ann on vm (cohort cancel)"},
		{"cancelled by root on vm (cohort cancel)", "cancelled by root on vm (cohort cancel)"},
		{"Cancelled: wrong data", "Cancelled: wrong data"},
	} {
		got := errCancelRequested{reason: tc.reason}.Error()
		if got != tc.want {
			t.Errorf("reason %q: %q, want %q", tc.reason, got, tc.want)
		}
		back := cancelOf(&cohortv1.Job{State: cohortv1.JobState_JOB_STATE_CANCELLED, Error: got})
		if back == nil || back.Error() != got {
			t.Errorf("reason %q: record %q reads back as %v", tc.reason, got, back)
		}
	}
}

// TestGenerationEvent ensures a generation's event says how many workers
// it has in good English and why it started, from the record's message.
func TestGenerationEvent(t *testing.T) {
	running := cohortv1.JobState_JOB_STATE_RUNNING
	for _, tc := range []struct {
		name     string
		prev     *cohortv1.Job
		cur      *cohortv1.Job
		wantKind cohortv1.JobEvent_Kind
		want     string
	}{
		{"one worker, lost lease", &cohortv1.Job{State: running, Generation: 1, Workers: 2},
			&cohortv1.Job{State: running, Generation: 2, Workers: 1, Message: "generation 2: worker up-w1 lost its lease"},
			cohortv1.JobEvent_KIND_GENERATION, "generation 2: 1 worker (worker up-w1 lost its lease)"},
		{"three workers, no reason", &cohortv1.Job{State: running, Generation: 1, Workers: 2},
			&cohortv1.Job{State: running, Generation: 2, Workers: 3},
			cohortv1.JobEvent_KIND_GENERATION, "generation 2: 3 workers"},
		{"stale message of another generation", &cohortv1.Job{State: running, Generation: 2, Workers: 2},
			&cohortv1.Job{State: running, Generation: 3, Workers: 2, Message: "generation 2: worker w1 joined"},
			cohortv1.JobEvent_KIND_GENERATION, "generation 3: 2 workers"},
		{"checkpoint failed", &cohortv1.Job{State: running, Generation: 1, Workers: 1},
			&cohortv1.Job{State: running, Generation: 1, Workers: 1, Message: "checkpoint failed at step 20 (worker w1): boom"},
			cohortv1.JobEvent_KIND_PROGRESS, "checkpoint failed at step 20 (worker w1): boom"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			kind, msg := describeChange(tc.prev, tc.cur)
			if kind != tc.wantKind || msg != tc.want {
				t.Errorf("describeChange = %v %q, want %v %q", kind, msg, tc.wantKind, tc.want)
			}
		})
	}
}

// TestCheckpointFailureRecorded ensures rank 0's report of a checkpoint it
// could not write shows in the job's message (what status and watch show)
// without recording a checkpoint, and that the next good checkpoint clears
// it.
func TestCheckpointFailureRecorded(t *testing.T) {
	cli := jobsEtcd(t)
	ctx := t.Context()
	j := newJob(Config{Client: cli, JobID: "ckpt-fail", Logger: slog.New(slog.DiscardHandler), CheckpointDir: "/x/ok"}, "")
	if err := j.put(ctx, nil); err != nil {
		t.Fatal(err)
	}
	req := &cohortv1.ReportRequest{JobId: "ckpt-fail", Generation: 1, Rank: 0, Worker: "w1"}
	steps := []struct {
		name      string
		ptr       *cohortv1.CheckpointPointer
		wantMsg   string
		wantStep  uint64
		wantValid bool
	}{
		{"failed", &cohortv1.CheckpointPointer{Step: 20, Path: "/x/afile/out/ck", Error: "mkdir /x/afile: not a directory"},
			"checkpoint failed at step 20 (worker w1): mkdir /x/afile: not a directory", 0, true},
		{"good", &cohortv1.CheckpointPointer{Step: 40, Path: "/x/ok/" + job.CheckpointName("ckpt-fail", 40), Sha256: strings.Repeat("ab", 32), Bytes: 10},
			"", 40, true},
	}
	for _, s := range steps {
		r := &cohortv1.ReportRequest{JobId: req.JobId, Generation: req.Generation, Rank: req.Rank, Worker: req.Worker,
			Report: &cohortv1.ReportRequest_Checkpoint{Checkpoint: s.ptr}}
		if err := r.Validate(); (err == nil) != s.wantValid {
			t.Errorf("%s: Validate = %v", s.name, err)
		}
		if err := j.checkpointed(ctx, r, s.ptr); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		rec, err := ReadJob(ctx, cli, "ckpt-fail")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(rec.GetMessage(), s.wantMsg) || (s.wantMsg == "") != (rec.GetMessage() == "") {
			t.Errorf("%s: message %q, want %q...", s.name, rec.GetMessage(), s.wantMsg)
		}
		if rec.GetCheckpointStep() != s.wantStep {
			t.Errorf("%s: checkpoint step %d, want %d", s.name, rec.GetCheckpointStep(), s.wantStep)
		}
	}
	bad := &cohortv1.ReportRequest{JobId: "ckpt-fail", Generation: 1, Worker: "w1",
		Report: &cohortv1.ReportRequest_Checkpoint{Checkpoint: &cohortv1.CheckpointPointer{Step: 60, Path: "/x"}}}
	if err := bad.Validate(); !errors.Is(err, rpcerr.ErrInvalidArgument) {
		t.Errorf("a checkpoint with neither sha256 nor error: Validate = %v, want ErrInvalidArgument", err)
	}
}
